"""A kNN graph computed beforehand, handed to :func:`scanpy.pp.neighbors` as its transformer."""

from __future__ import annotations

import ctypes
import gc

import scipy.sparse as sp


class PrecomputedKnnGraph:
    """``transformer=`` of :func:`scanpy.pp.neighbors` that returns a graph computed beforehand.

    scanpy calls ``fit_transform(X)`` once and weights the returned kNN distance graph (UMAP or
    Gaussian connectivities). Searching first and weighting second, with the search's memory
    released in between (:func:`release_memory`), keeps the two peaks apart: at 10^6 spots x 99
    features the kNN search plus scanpy's UMAP weights peaked 0.58 GB lower than inside one
    ``sc.pp.neighbors`` call, for the same graph (``benchmarks/README.md``).

    Parameters
    ----------
    graph
        ``(n_obs, n_obs)`` CSR kNN distance graph, ``n_neighbors`` entries per row with the
        observation itself (scikit-learn's ``KNeighborsTransformer`` layout, which pynndescent's
        transformer also returns).
    n_neighbors
        Neighbours per observation, self included, as the transformer that built ``graph``.

    Raises
    ------
    ValueError
        From ``fit_transform``, if ``X`` has another number of rows than ``graph``, or if it is
        called a second time (the graph is handed over, not kept).
    """

    def __init__(self, graph: sp.csr_matrix, n_neighbors: int):
        self.graph = graph
        self.n_neighbors = n_neighbors

    def get_params(self, deep: bool = True) -> dict:  # noqa: ARG002 - scikit-learn's signature
        """``{"n_neighbors": n_neighbors}``: what scanpy reads from a transformer instance."""
        return {"n_neighbors": self.n_neighbors}

    def fit_transform(self, X, y=None):  # noqa: ARG002, N803 - scikit-learn's signature
        """The graph, ``(n_obs, n_obs)``; this object keeps no reference to it afterwards."""
        if self.graph is None:
            raise ValueError("PrecomputedKnnGraph hands its graph over once; build a new one.")
        if X.shape[0] != self.graph.shape[0]:
            raise ValueError(
                f"the precomputed kNN graph has {self.graph.shape[0]} rows but the "
                f"representation has {X.shape[0]} observations."
            )
        graph, self.graph = self.graph, None
        return graph


def release_memory() -> None:
    """Collect garbage and, with glibc, return freed heap pages to the system (``malloc_trim``)."""
    gc.collect()
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):  # not glibc (macOS, musl, Windows): nothing to trim
        pass
