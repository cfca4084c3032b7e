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
        Sparse ``(n_obs, n_obs)`` adjacency; weights are symmetrised (``max(A, A.T)``), its
        diagonal is replaced by unit self loops.

    Returns
    -------
    Coalesced sparse float32 tensor ``(n_obs, n_obs)`` holding ``D^-1/2 (A + I) D^-1/2``: the
    indices and values of :class:`torch_geometric.transforms.GCNNorm` followed by ``coalesce()``
    (same degrees, by the same :func:`torch_geometric.utils.scatter`; same products), built in
    sorted order from the CSR structure, so that only one int64 copy of the edges is ever held
    (``tests/test_data.py`` checks the equality).
    """
    from torch_geometric.utils import scatter

    n = graph.shape[0]
    g = sp.csr_matrix(graph, dtype=np.float32)
    g = g.maximum(g.T).tocsr()
    # off-diagonal non-zero edges, in CSR order (the order GCNNorm sums the degrees in)
    g.data[_csr_rows(g) == g.indices] = 0
    g.eliminate_zeros()
    # degrees over the edges and then the unit self loops, as GCNNorm's add_remaining_self_loops
    col = torch.cat([torch.from_numpy(g.indices).long(), torch.arange(n)])
    weight = torch.cat([torch.from_numpy(g.data), torch.ones(n)])
    deg_inv_sqrt = scatter(weight, col, dim=0, dim_size=n, reduce="sum").pow_(-0.5)
    deg_inv_sqrt.masked_fill_(deg_inv_sqrt == float("inf"), 0)
    del col, weight
    a = g + sp.eye(n, dtype=np.float32, format="csr")  # weights, and 1 on the diagonal
    del g
    a.sort_indices()  # the coalesced (row, col) order
    index = torch.empty((2, a.nnz), dtype=torch.long)
    index[0] = torch.from_numpy(_csr_rows(a))
    index[1] = torch.from_numpy(a.indices)
    value = deg_inv_sqrt[index[0]].mul_(torch.from_numpy(a.data)).mul_(deg_inv_sqrt[index[1]])
    return torch.sparse_coo_tensor(index, value, (n, n), check_invariants=False, is_coalesced=True)


def _csr_rows(a: sp.csr_matrix) -> np.ndarray:
    """Row of each stored entry of a CSR matrix."""
    return np.repeat(np.arange(a.shape[0], dtype=a.indices.dtype), np.diff(a.indptr))


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
        Sparse ``(n_obs, n_obs)`` adjacency, or ``Â`` itself (the output of
        :func:`normalized_adjacency`, used as it is: computed once for several inputs).
    x
        Dense ``(n_obs, n_features)`` array.
    hops
        Powers of ``Â`` to keep (0 is ``X`` itself).

    Returns
    -------
    ``(n_obs, len(hops) * n_features)`` float32 array.
    """
    adj = _adjacency(graph)
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
        Sparse ``(n_obs, n_obs)`` adjacency, symmetrised as in :func:`normalized_adjacency`; or
        the output of :func:`normalized_adjacency`, used as it is.
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

    adj = _adjacency(graph)
    layer = APPNP(K=int(n_iter), alpha=float(alpha), add_self_loops=False, normalize=False)
    with torch.no_grad():
        out = layer(torch.as_tensor(np.asarray(x, dtype=np.float32)), adj.indices(), adj.values())
    return out.numpy()


def _adjacency(graph) -> torch.Tensor:
    """``Â`` of a sparse adjacency; a ``torch.sparse`` tensor is taken to be ``Â`` already."""
    return graph if isinstance(graph, torch.Tensor) else normalized_adjacency(graph)
