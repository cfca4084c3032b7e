"""Training plans, callbacks and samplers shared by the models."""

from ._callbacks import LatentBank
from ._plan import CheckedTrainingPlan, NonFiniteLossError
from ._sampler import BalancedDataSplitter, GroupBalancedBatchSampler
from ._subgraph import SubgraphDataSplitter, edge_index_from_graph, spatial_tiles

__all__ = ["BalancedDataSplitter", "CheckedTrainingPlan", "GroupBalancedBatchSampler", "LatentBank",
           "NonFiniteLossError", "SubgraphDataSplitter", "edge_index_from_graph", "spatial_tiles"]
