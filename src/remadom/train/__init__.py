"""Training plans, callbacks and samplers shared by the models."""

from ._callbacks import LatentBank
from ._plan import CheckedTrainingPlan, NonFiniteLossError
from ._sampler import BalancedDataSplitter, GroupBalancedBatchSampler

__all__ = ["BalancedDataSplitter", "CheckedTrainingPlan", "GroupBalancedBatchSampler", "LatentBank",
           "NonFiniteLossError"]
