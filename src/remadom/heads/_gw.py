"""Entropic Gromov-Wasserstein alignment between groups that share no features, via POT."""

from __future__ import annotations

import warnings

import torch

from ._base import AlignmentHead, group_pairs, median_sq_dist


class GWHead(AlignmentHead):
    """Matches cells across groups by the geometry inside each group, then pulls matches together.

    For each group ``g`` against the rest, the intra-group squared-distance matrices of ``z_bio``
    (each divided by its maximum) are matched by entropic Gromov-Wasserstein
    (:func:`ot.gromov.entropic_gromov_wasserstein`, Peyré et al., ICML 2016); the coupling ``T``
    needs no shared features -- only similar geometry (as in SCOT, Demetci et al. 2022). The loss
    is the transport cost of ``z`` under that (fixed) coupling,
    ``sum_ij T_ij ||z_i - z_j||^2 / median squared distance``. ``O(batch^2)`` memory.

    Parameters
    ----------
    epsilon
        Entropic regularisation of GW (costs are scaled to [0, 1]); a pair of groups whose
        solve fails to give a finite plan is skipped for that step.
    max_iter
        Outer GW iterations.
    sinkhorn_max_iter, sinkhorn_rtol
        Each inner Sinkhorn projection stops once the plan's column sums are within
        ``sinkhorn_rtol`` (relative, root mean square) of the marginal, or after
        ``sinkhorn_max_iter`` iterations. POT's default (``stopThr=1e-9``, absolute) cannot be met
        in 100 iterations at ``epsilon=5e-3``: every projection warned and the final plans' sums
        were up to 3% off. A final plan whose row or column sums are off by more than 1% counts
        as unconverged (:attr:`n_unconverged` of :attr:`n_solves`) and is reported once, with a
        warning, not at every step.
    **kwargs
        ``weight``, ``warmup_epochs``, ``group_by``.
    """

    name = "gw"

    def __init__(self, epsilon: float = 5e-3, max_iter: int = 20, sinkhorn_max_iter: int = 500,
                 sinkhorn_rtol: float = 1e-3, **kwargs):
        super().__init__(**kwargs)
        if epsilon <= 0 or max_iter < 1 or sinkhorn_max_iter < 1 or sinkhorn_rtol <= 0:
            raise ValueError(f"head 'gw': epsilon and sinkhorn_rtol must be > 0, max_iter and "
                             f"sinkhorn_max_iter >= 1, got {epsilon}, {sinkhorn_rtol}, {max_iter}, "
                             f"{sinkhorn_max_iter}.")
        self.epsilon, self.max_iter = float(epsilon), int(max_iter)
        self.sinkhorn_max_iter, self.sinkhorn_rtol = int(sinkhorn_max_iter), float(sinkhorn_rtol)
        self.n_solves = self.n_unconverged = 0
        self._warned = False

    def coupling(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        """Entropic GW coupling ``(len(a), len(b))`` between two point clouds (no gradient).

        On CPU the solve runs on NumPy float64 arrays (about 3x faster than POT's torch backend
        for minibatch-sized matrices); on GPU it stays on the device.
        """
        with torch.no_grad():
            ca, cb = torch.cdist(a, a).pow(2), torch.cdist(b, b).pow(2)
            ca, cb = ca / ca.max().clamp_min(1e-12), cb / cb.max().clamp_min(1e-12)
            if a.device.type == "cpu":
                import numpy as np

                ca, cb = ca.double().numpy(), cb.double().numpy()
                p, q = np.full(len(ca), 1.0 / len(ca)), np.full(len(cb), 1.0 / len(cb))
            else:
                p = torch.full((len(a),), 1.0 / len(a), dtype=a.dtype, device=a.device)
                q = torch.full((len(b),), 1.0 / len(b), dtype=b.dtype, device=b.device)
            import ot

            # POT's own per-projection warnings are off (warn=False): convergence of the final
            # plan is checked below and reported once
            t = ot.gromov.entropic_gromov_wasserstein(
                ca, cb, p, q, "square_loss", epsilon=self.epsilon, max_iter=self.max_iter,
                numItermax=self.sinkhorn_max_iter, stopThr=self.sinkhorn_rtol / len(cb) ** 0.5, warn=False)
            t = torch.as_tensor(t, dtype=a.dtype, device=a.device)
            self._check_converged(t)
            return t

    def _check_converged(self, t: torch.Tensor) -> None:
        """Count (and, the first time, report) a plan whose marginals are more than 1% off."""
        n, m = t.shape
        off = torch.maximum((t.sum(1) * n - 1).abs().max(), (t.sum(0) * m - 1).abs().max())
        self.n_solves += 1
        if bool(torch.isfinite(off)) and float(off) <= 1e-2:
            return
        self.n_unconverged += 1
        if not self._warned:
            self._warned = True
            warnings.warn(
                f"head 'gw': entropic GW did not converge (plan marginals {float(off):.1%} off after "
                f"{self.sinkhorn_max_iter} Sinkhorn iterations); the loss uses the approximate plan. "
                "Raise epsilon or sinkhorn_max_iter. Reported once; GWHead.n_unconverged counts such "
                "solves.", RuntimeWarning, stacklevel=2)

    def loss(self, z: torch.Tensor, groups: torch.Tensor, **context) -> torch.Tensor:
        scale = median_sq_dist(z)
        terms = []
        pairs = list(group_pairs(groups))
        if len(pairs) == 2 and torch.equal(pairs[0][0], pairs[1][1]):
            pairs = pairs[:1]  # two groups: one solve (the coupling of B vs A is its transpose)
        for sel, rest in pairs:
            a, b = z[sel], z[rest]
            t = self.coupling(a.detach(), b.detach())
            if not torch.isfinite(t).all() or t.sum() <= 0:  # solver failed: skip this pair
                continue
            terms.append((t * torch.cdist(a, b).pow(2)).sum() / scale)
        return torch.stack(terms).mean() if terms else z.new_zeros(())
