"""Tools on model outputs."""

from ._cluster import cluster

__all__ = ["cluster"]
