"""Several independent MLPs of the same shape, evaluated as one batched matrix product."""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F

from ._dropout import ByteDropout


class GroupedFCLayers(nn.Module):
    """``n_groups`` independent MLPs ``Linear -> LayerNorm -> ReLU -> Dropout`` (x ``n_layers``).

    Each group has its own weights; the layer is the same as ``n_groups`` separate
    :class:`scvi.nn.FCLayers` (``use_batch_norm=False, use_layer_norm=True``, no covariates),
    but every layer of all groups is one :func:`torch.baddbmm` call instead of ``n_groups``
    ``Linear`` and ``LayerNorm`` calls. URMF uses it for the per-graph encoders of a modality
    (one group per graph: the input ``X`` and its propagations ``Â^k X`` all have the same
    width), where the per-call overhead of small matrices dominated the step time on CPU.
    Initialisation follows :class:`torch.nn.Linear` (uniform in ``±1/sqrt(fan_in)``).

    Parameters
    ----------
    n_groups
        Number of independent MLPs ``G``.
    n_in
        Input width of each group.
    n_out
        Hidden and output width.
    n_layers
        Layers per MLP.
    dropout_rate
        Dropout after each activation (:class:`~remadom.nn.ByteDropout`: the rate is rounded to a
        multiple of 1/256).
    """

    def __init__(self, n_groups: int, n_in: int, n_out: int, n_layers: int = 2,
                 dropout_rate: float = 0.1):
        super().__init__()
        dims = [n_in] + [n_out] * n_layers
        self.weights = nn.ParameterList()
        self.biases = nn.ParameterList()
        self.ln_weights = nn.ParameterList()
        self.ln_biases = nn.ParameterList()
        for d_in, d_out in zip(dims[:-1], dims[1:], strict=True):
            bound = 1 / math.sqrt(d_in)
            self.weights.append(nn.Parameter(torch.empty(n_groups, d_in, d_out).uniform_(-bound, bound)))
            self.biases.append(nn.Parameter(torch.empty(n_groups, 1, d_out).uniform_(-bound, bound)))
            self.ln_weights.append(nn.Parameter(torch.ones(n_groups, 1, d_out)))
            self.ln_biases.append(nn.Parameter(torch.zeros(n_groups, 1, d_out)))
        self.dropout = ByteDropout(dropout_rate)
        self.n_groups = n_groups

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Map ``(n_groups, batch, n_in)`` to ``(n_groups, batch, n_out)``."""
        if x.dim() != 3 or x.shape[0] != self.n_groups:
            raise ValueError(f"expected input of shape ({self.n_groups}, batch, n_in); got {tuple(x.shape)}.")
        h = x
        for w, b, g, beta in zip(self.weights, self.biases, self.ln_weights, self.ln_biases, strict=True):
            h = torch.baddbmm(b, h, w)
            h = torch.addcmul(beta, F.layer_norm(h, h.shape[-1:]), g)  # LayerNorm's affine, per group
            h = self.dropout(torch.relu(h))
        return h
