"""Per-spot cross-modal attention between modality tokens (StereoMM-style fusion)."""

from __future__ import annotations

import torch
from torch import nn


class CrossModalAttention(nn.Module):
    r"""Attention across the modality tokens of each spot, linear in the number of spots.

    Every spot carries one token per modality, ``x`` of shape ``(n_obs, M, width)`` (for StereoMM
    ``M = 2``: transcript ``t`` and morphology ``m``). Each token attends over the ``M`` tokens of
    its own spot -- never across spots -- so the cost is ``O(n_obs M^2 width)``:

    * ``brief=False``: :class:`torch.nn.MultiheadAttention` (Vaswani et al. 2017) with
      ``num_heads`` heads, then residual + LayerNorm: ``X_a = LN(x + MHA(x, x, x))``.
    * ``brief=True`` (the lighter variant): one head, learned query/key projections and the raw
      tokens as values, ``X_a = LN(x + softmax(Q K^T / sqrt(width)) x)``.

    For two modalities the outputs are ``X_ta`` (transcript after attending to the image) and
    ``X_ma`` (image after attending to the transcript), the roles they play in StereoMM (Luo et
    al. 2024, "StereoMM: a graph fusion model for integrating spatial transcriptomic data and
    pathological images", preprint). The exact attention form is ours: StereoMM's is not
    reproduced from its code.

    Parameters
    ----------
    width
        Token width ``s`` (the common width every modality is reduced to).
    num_heads
        Number of heads; must divide ``width``.
    brief
        Use the lighter single-head variant.
    dropout
        Attention dropout.

    Raises
    ------
    ValueError
        If ``num_heads`` does not divide ``width``.
    """

    def __init__(self, width: int, num_heads: int = 4, brief: bool = False, dropout: float = 0.0):
        super().__init__()
        if num_heads < 1 or width % num_heads:
            raise ValueError(
                f"num_heads={num_heads} does not divide the token width {width}; choose num_heads "
                f"among the divisors of {width} (e.g. 1, 2, 4) or change the reduced width."
            )
        self.brief = brief
        self.width = width
        if brief:
            self.query = nn.Linear(width, width, bias=False)
            self.key = nn.Linear(width, width, bias=False)
        else:
            self.mha = nn.MultiheadAttention(width, num_heads, dropout=dropout, batch_first=True)
        self.norm = nn.LayerNorm(width)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Attend.

        Parameters
        ----------
        x
            ``(n_obs, M, width)`` modality tokens.

        Returns
        -------
        out
            ``(n_obs, M, width)`` attended tokens.
        weights
            ``(n_obs, M, M)`` attention weights (averaged over heads); row ``i`` is how much
            modality ``i`` draws from each modality.
        """
        if self.brief:
            scores = self.query(x) @ self.key(x).transpose(1, 2) / self.width**0.5
            weights = torch.softmax(scores, dim=-1)
            att = weights @ x
        else:
            att, weights = self.mha(x, x, x, need_weights=True, average_attn_weights=True)
        return self.norm(x + att), weights
