"""Debiased entropic optimal transport (Sinkhorn divergence) between groups, via POT."""

from __future__ import annotations

import torch

from ._base import AlignmentHead, group_pairs, median_sq_dist


class SinkhornHead(AlignmentHead):
    """Pulls each group's ``z_bio`` onto the other groups by a Sinkhorn divergence.

    ``loss = mean_g S_eps(z[g], z[not g])`` with the debiased divergence
    ``S(a, b) = OT_eps(a, b) - (OT_eps(a, a) + OT_eps(b, b)) / 2`` (Genevay et al., AISTATS 2018;
    Feydy et al., AISTATS 2019), squared-Euclidean cost, uniform weights, computed by
    POT on torch tensors. Points are divided by the root median squared distance (scale-free), and the
    transport problems are solved in the log domain (``ot.sinkhorn2(..., method="sinkhorn_log")``,
    stable for small ``blur``); gradients reach the encoders through the cost matrix. ``O(batch^2)``.

    Parameters
    ----------
    blur
        Entropic regularisation relative to the median squared distance.
    n_iter
        Sinkhorn iterations.
    **kwargs
        ``weight``, ``warmup_epochs``, ``group_by``.
    """

    name = "sinkhorn"

    def __init__(self, blur: float = 0.05, n_iter: int = 30, **kwargs):
        super().__init__(**kwargs)
        if blur <= 0 or n_iter < 1:
            raise ValueError(f"head 'sinkhorn': blur must be > 0 and n_iter >= 1, got {blur}, {n_iter}.")
        self.blur, self.n_iter = float(blur), int(n_iter)

    def loss(self, z: torch.Tensor, groups: torch.Tensor, **context) -> torch.Tensor:
        scale = median_sq_dist(z).sqrt()
        terms = []
        for sel, rest in group_pairs(groups):
            a, b = z[sel] / scale, z[rest] / scale
            terms.append(self._ot(a, b) - 0.5 * self._ot(a, a) - 0.5 * self._ot(b, b))
        return torch.stack(terms).mean() if terms else z.new_zeros(())

    def _ot(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        """Entropic OT cost between uniform point clouds (POT, log-domain Sinkhorn)."""
        wa = torch.full((len(a),), 1.0 / len(a), dtype=a.dtype, device=a.device)
        wb = torch.full((len(b),), 1.0 / len(b), dtype=b.dtype, device=b.device)
        import ot

        return ot.sinkhorn2(wa, wb, torch.cdist(a, b).pow(2), self.blur, method="sinkhorn_log",
                            numItermax=self.n_iter, stopThr=1e-4)
