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
    (normalisation by :func:`torch_geometric.nn.conv.gcn_conv.gcn_norm`).
    """
    g = sp.csr_matrix(graph, dtype=np.float32)
    g = g.maximum(g.T).tocoo()
    g.setdiag(0)
    g.eliminate_zeros()
    from torch_geometric.nn.conv.gcn_conv import gcn_norm
    from torch_geometric.utils import from_scipy_sparse_matrix

    edge_index, edge_weight = from_scipy_sparse_matrix(g)
    edge_index, edge_weight = gcn_norm(
        edge_index, edge_weight.float(), num_nodes=g.shape[0], add_self_loops=True
    )
    return torch.sparse_coo_tensor(
        edge_index, edge_weight, (g.shape[0], g.shape[0]), check_invariants=False
    ).coalesce()


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
