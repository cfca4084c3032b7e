"""Graph convolution stacks on plain ``edge_index`` (torch_geometric GCNConv / GATConv)."""

from __future__ import annotations

import torch
from torch import nn

GNN_TYPES = ("GCN", "GAT")


def gnn_layer(kind: str, n_in: int, n_out: int, gat_heads: int = 1) -> nn.Module:
    """One graph layer: :class:`~torch_geometric.nn.GCNConv` (Kipf & Welling 2017) or
    :class:`~torch_geometric.nn.GATConv` (Velickovic et al. 2018, heads averaged).

    Raises
    ------
    ValueError
        If ``kind`` is not ``"GCN"`` or ``"GAT"``.
    """
    from torch_geometric.nn import GATConv, GCNConv

    kind = kind.upper()
    if kind == "GCN":
        return GCNConv(n_in, n_out)
    if kind == "GAT":
        return GATConv(n_in, n_out, heads=gat_heads, concat=False)
    raise ValueError(f"unknown graph layer type '{kind}'; choose one of {GNN_TYPES}.")


class GNNStack(nn.Module):
    """Graph layers ``n_in -> dims[0] -> ... -> dims[-1]``; activation and dropout between layers.

    Parameters
    ----------
    kind
        ``"GCN"`` or ``"GAT"``.
    n_in
        Input width.
    dims
        Output width of each layer.
    activation_last
        Apply the activation after the last layer too.
    dropout
        Dropout after each activation.
    """

    def __init__(self, kind: str, n_in: int, dims: list[int], activation_last: bool = True,
                 dropout: float = 0.0):
        super().__init__()
        widths = [n_in, *dims]
        self.layers = nn.ModuleList(gnn_layer(kind, a, b) for a, b in zip(widths[:-1], widths[1:], strict=True))
        self.activation_last = activation_last
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor, edge_index: torch.Tensor) -> torch.Tensor:
        """``x`` ``(n_nodes, n_in)``, ``edge_index`` ``(2, n_edges)`` -> ``(n_nodes, dims[-1])``."""
        last = len(self.layers) - 1
        for i, layer in enumerate(self.layers):
            x = layer(x, edge_index)
            if i < last or self.activation_last:
                x = self.dropout(torch.relu(x))
        return x
