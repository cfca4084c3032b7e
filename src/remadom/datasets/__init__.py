"""Data sets: small real subsets shipped in the package, and pooch loaders for larger ones."""

from ._bundled import her2st_b1, her2st_c2, lymph_node_s1
from ._patchseq import cluster_prior, patchseq_m1_unpaired
from ._remote import REGISTRY, fetch, lymph_node_full, pancreas_st
from ._synthetic import synthetic_spatial

__all__ = [
    "REGISTRY",
    "cluster_prior",
    "fetch",
    "her2st_b1",
    "her2st_c2",
    "lymph_node_full",
    "lymph_node_s1",
    "pancreas_st",
    "patchseq_m1_unpaired",
    "synthetic_spatial",
]
