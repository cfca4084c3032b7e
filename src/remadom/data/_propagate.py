"""Precomputed sparse graph propagation (SGC / SIGN) for minibatch-friendly linear GCN layers.

A linear GCN layer ``Â X W`` (Kipf & Welling, ICLR 2017) with the symmetric normalisation
``Â = D^-1/2 (A + I) D^-1/2`` factorises as ``(Â X) W``: the sparse product ``Â^k X`` is computed
once (Wu et al., SGC, ICML 2019; Frasca et al., SIGN, 2020) and the trainable weights then see
independent rows, so training minibatches over spots with memory that grows with the number of
edges, never with ``n_obs^2``.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
import torch


def normalized_adjacency(graph: sp.spmatrix) -> torch.Tensor:
    """GCN-normalised adjacency with self loops as a ``torch.sparse`` COO tensor.

    Parameters
    ----------
    graph
        Sparse ``(n_obs, n_obs)`` adjacency; weights are symmetrised (``max(A, A.T)``).

    Returns
    -------
    Sparse float32 tensor ``(n_obs, n_obs)`` holding ``D^-1/2 (A + I) D^-1/2``
    (normalisation by :class:`torch_geometric.transforms.GCNNorm`).
    """
    g = sp.csr_matrix(graph, dtype=np.float32)
    g = g.maximum(g.T).tocoo()
    g.setdiag(0)
    g.eliminate_zeros()
    from torch_geometric.data import Data
    from torch_geometric.transforms import GCNNorm
    from torch_geometric.utils import from_scipy_sparse_matrix

    edge_index, edge_weight = from_scipy_sparse_matrix(g)
    data = GCNNorm(add_self_loops=True)(
        Data(edge_index=edge_index, edge_weight=edge_weight.float(), num_nodes=g.shape[0])
    )
    return torch.sparse_coo_tensor(
        data.edge_index, data.edge_weight, (g.shape[0], g.shape[0]), check_invariants=False
    ).coalesce()


def neighbor_mean(graph: sp.spmatrix, x: np.ndarray, include_self: bool = True) -> np.ndarray:
    """Row-normalised one-hop average ``D^-1 (A + I) X`` (``D^-1 A X`` without ``include_self``).

    Parameters
    ----------
    graph
        Sparse ``(n_obs, n_obs)`` adjacency; its weights are used as given (self loops dropped).
    x
        Dense ``(n_obs, n_features)`` array.
    include_self
        Count each observation among its own neighbours.

    Returns
    -------
    ``(n_obs, n_features)`` float32 array; rows of isolated observations are ``x`` itself with
    ``include_self`` and zero without.
    """
    a = sp.csr_matrix(graph, dtype=np.float32)
    a.setdiag(0)
    a.eliminate_zeros()
    if include_self:
        a = a + sp.eye(a.shape[0], dtype=np.float32, format="csr")
    deg = np.asarray(a.sum(1)).ravel()
    deg[deg == 0] = 1.0
    return np.asarray(sp.diags(1.0 / deg) @ a @ np.asarray(x, dtype=np.float32), dtype=np.float32)


def propagate(graph: sp.spmatrix, x: np.ndarray, hops: tuple[int, ...] = (0, 1, 2)) -> np.ndarray:
    """Stack ``[Â^k X for k in hops]`` along features.

    Parameters
    ----------
    graph
        Sparse ``(n_obs, n_obs)`` adjacency.
    x
        Dense ``(n_obs, n_features)`` array.
    hops
        Powers of ``Â`` to keep (0 is ``X`` itself).

    Returns
    -------
    ``(n_obs, len(hops) * n_features)`` float32 array.
    """
    adj = normalized_adjacency(graph)
    cur = torch.as_tensor(np.asarray(x, dtype=np.float32))
    out = []
    for k in range(max(hops) + 1):
        if k in hops:
            out.append(cur)
        if k < max(hops):
            cur = torch.sparse.mm(adj, cur)
    return torch.cat(out, dim=1).numpy()


def ppr_propagate(graph: sp.spmatrix, x: np.ndarray, alpha: float = 0.1, n_iter: int = 10) -> np.ndarray:
    """Personalised-PageRank propagation of ``x`` over a graph (APPNP, Gasteiger et al., ICLR 2019).

    ``H_0 = X``, ``H_{k+1} = (1 - alpha) Â H_k + alpha X`` for ``n_iter`` steps with the GCN-normalised
    adjacency ``Â`` (:func:`normalized_adjacency`), computed once by the parameter-free
    :class:`torch_geometric.nn.APPNP` layer. ``H`` approximates ``alpha (I - (1 - alpha) Â)^-1 X``:
    a smoothing over about ``1 / alpha`` hops that keeps a share ``alpha`` of each spot's own
    signal. Memory grows with the number of edges.

    Parameters
    ----------
    graph
        Sparse ``(n_obs, n_obs)`` adjacency; symmetrised as in :func:`normalized_adjacency`.
    x
        Dense ``(n_obs, n_features)`` array.
    alpha
        Teleport (restart) probability in ``(0, 1]``; 1 returns ``x``.
    n_iter
        Power-iteration steps ``K``.

    Returns
    -------
    ``(n_obs, n_features)`` float32 array.

    Raises
    ------
    ValueError
        If ``alpha`` is not in ``(0, 1]`` or ``n_iter < 1``.
    """
    if not 0 < alpha <= 1:
        raise ValueError(f"`alpha` must be in (0, 1], got {alpha}.")
    if n_iter < 1:
        raise ValueError(f"`n_iter` must be >= 1, got {n_iter}.")
    from torch_geometric.nn import APPNP

    adj = normalized_adjacency(graph)
    layer = APPNP(K=int(n_iter), alpha=float(alpha), add_self_loops=False, normalize=False)
    with torch.no_grad():
        out = layer(torch.as_tensor(np.asarray(x, dtype=np.float32)), adj.indices(), adj.values())
    return out.numpy()
