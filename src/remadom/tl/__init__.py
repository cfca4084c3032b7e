"""Tools on model outputs."""

from ._cluster import cluster
from ._smooth import neighbor_average

__all__ = ["cluster", "neighbor_average"]
