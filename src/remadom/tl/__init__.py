"""Tools on model outputs."""

from ._cluster import cluster
from ._refine import refine_domains
from ._smooth import neighbor_average

__all__ = ["cluster", "neighbor_average", "refine_domains"]
