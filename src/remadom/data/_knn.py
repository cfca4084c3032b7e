"""pynndescent's kNN graph of the fitted data for :func:`scanpy.pp.neighbors`, without a query index."""

from __future__ import annotations

from pynndescent import PyNNDescentTransformer


class KnnGraphTransformer(PyNNDescentTransformer):
    """:class:`pynndescent.PyNNDescentTransformer` whose ``fit_transform`` keeps no index.

    ``fit_transform(X)`` returns the same kNN distance graph of ``X`` as
    :class:`~pynndescent.PyNNDescentTransformer` (the NN-descent graph of the fitted data, same
    parameters, same seed), then drops the index. pynndescent's own ``fit_transform`` compresses
    the index first, which builds search trees and a search graph for later queries; a graph of
    the fitted data never queries them, and :func:`scanpy.pp.neighbors` then copies the
    random-projection forest into ``uns``. At 10^6 spots x 99 features this lowered the
    search's peak memory from +1.51 GB to +0.95 GB (``benchmarks/README.md``, ``scale.py``).
    """

    def fit_transform(self, X, y=None, **fit_params):
        """kNN distance graph of ``X`` (CSR, ``n_neighbors + 1`` entries per row, self included)."""
        self.fit(X, compress_index=False)
        graph = self.transform(X=None)
        del self.index_
        return graph
