"""Graph Laplacian smoothness of ``z_bio`` over an ``obsp`` graph (e.g. the spatial graph)."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
import torch

from ._base import AlignmentHead, median_sq_dist


class GraphRegularizer(AlignmentHead):
    """Laplacian smoothness: neighbours in a graph should have nearby ``z_bio``.

    ``loss = sum_{i in batch, j} w_ij ||z_i - bank_j||^2 / sum w_ij / median squared distance``,
    the minibatch part of ``tr(Z^T L Z)`` (Belkin & Niyogi 2003). The neighbours' latents come
    from a memory bank of every cell's posterior mean, refreshed each epoch
    (:class:`remadom.train.LatentBank`), so neighbours need not share the minibatch and nothing
    is ``O(n_obs^2)``: memory is the bank ``(n_obs, n_latent)`` plus the graph's edges.

    Parameters
    ----------
    graph_key
        ``obsp`` key of the graph on the MuData (for example ``"spatial_connectivities"`` from
        :func:`remadom.data.spatial_graph`); validated when the model is built.
    **kwargs
        ``weight``, ``warmup_epochs`` (``group_by`` is unused).
    """

    name = "graph"
    requires = ("graph", "bank")
    needs_groups = False

    def __init__(self, graph_key: str = "spatial_connectivities", **kwargs):
        super().__init__(**kwargs)
        self.graph_key = graph_key
        self._graph: sp.csr_matrix | None = None

    def set_graph(self, graph: sp.spmatrix) -> None:
        """Attach the ``(n_obs, n_obs)`` graph (done by the model from ``obsp[graph_key]``)."""
        self._graph = sp.csr_matrix(graph)

    def loss(self, z: torch.Tensor, groups: torch.Tensor, indices: torch.Tensor | None = None,
             bank: torch.Tensor | None = None, **context) -> torch.Tensor:
        if self._graph is None or bank is None or indices is None:
            raise RuntimeError("GraphRegularizer needs a graph (set_graph), the latent bank and cell indices.")
        sub = self._graph[indices.cpu().numpy()].tocoo()
        if sub.nnz == 0:
            return z.new_zeros(())
        rows = torch.as_tensor(sub.row, dtype=torch.long, device=z.device)
        cols = torch.as_tensor(sub.col.astype(np.int64), device=z.device)
        w = torch.as_tensor(sub.data, dtype=z.dtype, device=z.device)
        d2 = (z[rows] - bank[cols].to(z.dtype)).pow(2).sum(1)
        return (w * d2).sum() / w.sum() / median_sq_dist(z)
