"""Temporal ordering and smoothness of ``z_bio`` along a numeric ``time_key``."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ._base import AlignmentHead


class TemporalHead(AlignmentHead):
    """Cells close in time should be close in ``z_bio``, and one direction should order time.

    Two terms over the minibatch pairs (``O(batch^2)``):

    * smoothness: ``sum_ij k_ij ||z_i - z_j||^2 / sum_ij k_ij`` divided by the mean over all pairs,
      with ``k_ij = exp(-(t_i - t_j)^2 / (2 bandwidth^2))`` on standardised time -- a ratio, so
      shrinking ``z`` does not lower it;
    * ordering: a learned unit direction ``u`` with the pairwise ranking loss
      ``mean softplus(-(u.z_j - u.z_i) / tau)`` over pairs with ``t_j > t_i`` (RankNet, Burges et
      al. 2005), so ``u.z`` increases with time.

    No real time course is at hand: this head is tested on synthetic data only.

    Parameters
    ----------
    bandwidth
        Kernel width in units of the time's standard deviation.
    tau
        Temperature of the ranking term.
    n_latent
        Width of ``z_bio`` (set by the model).
    **kwargs
        ``weight``, ``warmup_epochs`` (``group_by`` is unused).
    """

    name = "temporal"
    requires = ("time",)
    needs_groups = False

    def __init__(self, bandwidth: float = 0.25, tau: float = 0.1, n_latent: int | None = None, **kwargs):
        super().__init__(**kwargs)
        if bandwidth <= 0 or tau <= 0:
            raise ValueError(f"head 'temporal': bandwidth and tau must be > 0, got {bandwidth}, {tau}.")
        self.bandwidth, self.tau = float(bandwidth), float(tau)
        self.direction = nn.Parameter(torch.randn(n_latent)) if n_latent else None

    def set_latent_width(self, n_latent: int) -> None:
        """Create the ordering direction (done by the model)."""
        if self.direction is None or self.direction.numel() != n_latent:
            self.direction = nn.Parameter(torch.randn(n_latent) / n_latent**0.5)

    def loss(self, z: torch.Tensor, groups: torch.Tensor, time: torch.Tensor | None = None,
             **context) -> torch.Tensor:
        if time is None:
            raise RuntimeError("TemporalHead needs time values (time_key in setup_mudata).")
        if self.direction is None:
            self.set_latent_width(z.shape[1])
        t = time.view(-1).to(z.dtype)
        if t.std() == 0:
            return z.new_zeros(())
        t = (t - t.mean()) / t.std()
        dt = t[:, None] - t[None, :]
        d2 = torch.cdist(z, z).pow(2)
        k = torch.exp(-dt.pow(2) / (2 * self.bandwidth**2))
        smooth = (k * d2).sum() / k.sum() / d2.mean().clamp_min(1e-8)
        proj = z @ F.normalize(self.direction.to(z.dtype), dim=0)
        later = dt < 0  # t_i < t_j  -> want proj_j > proj_i
        margin = proj[None, :] - proj[:, None]
        order = F.softplus(-margin[later] / self.tau).mean() if later.any() else z.new_zeros(())
        return smooth + order
