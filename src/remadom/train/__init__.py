"""Training plans, callbacks and samplers shared by the models."""

from ._adversarial import INITS, LR_POLICIES, AdversarialTrainingPlan, init_weights
from ._callbacks import LatentBank, LatentStats
from ._checkpoint import ResumeCheckpoint, add_checkpointing
from ._distributed import is_main_process, loader_kwargs, prepare_parallel
from ._history import HistoryLogger, keep_history
from ._phases import PhaseSchedule
from ._plan import CheckedTrainingPlan, NonFiniteLossError
from ._prepare import prepare_trainer
from ._sampler import BalancedDataSplitter, GroupBalancedBatchSampler
from ._subgraph import SubgraphDataSplitter, edge_index_from_graph, spatial_tiles

__all__ = ["INITS", "LR_POLICIES", "AdversarialTrainingPlan", "PhaseSchedule", "init_weights", "BalancedDataSplitter", "CheckedTrainingPlan", "GroupBalancedBatchSampler", "HistoryLogger", "LatentBank", "LatentStats",
           "NonFiniteLossError", "ResumeCheckpoint", "SubgraphDataSplitter", "add_checkpointing", "edge_index_from_graph", "is_main_process", "keep_history", "loader_kwargs", "prepare_parallel", "prepare_trainer", "spatial_tiles"]
