"""Maximum mean discrepancy between groups with a multi-scale Gaussian kernel."""

from __future__ import annotations

import torch

from ._base import AlignmentHead, median_sq_dist


def mmd2(x: torch.Tensor, y: torch.Tensor, scales: tuple[float, ...],
         bandwidth: torch.Tensor | None = None) -> torch.Tensor:
    """Biased (V-statistic) squared MMD with a sum of Gaussian kernels (Gretton et al., JMLR 2012).

    Parameters
    ----------
    x, y
        ``(n, d)`` and ``(m, d)`` samples.
    scales
        Multipliers of the bandwidth; the kernel is ``sum_s exp(-||a-b||^2 / (s * h))``.
    bandwidth
        ``h``; default the median squared distance of the pooled sample (with its gradient, so
        the MMD is invariant to a rescaling of the samples; from at most 1024 evenly spaced
        points, see :func:`~remadom.heads.median_sq_dist`).

    Returns
    -------
    Scalar, zero when ``x`` and ``y`` are the same sample.
    """
    xy = torch.cat([x, y])
    d2 = torch.cdist(xy, xy).pow(2)
    if bandwidth is None:
        bandwidth = median_sq_dist(xy)
    k = sum(torch.exp(-d2 / (s * bandwidth)) for s in scales)
    n = x.shape[0]
    return k[:n, :n].mean() + k[n:, n:].mean() - 2 * k[:n, n:].mean()


class MMDHead(AlignmentHead):
    """Pulls each group's ``z_bio`` distribution onto the pooled minibatch by MMD.

    ``loss = mean_g MMD^2(z[g], z)`` over the groups ``g`` present in the minibatch with at least
    two cells, with a multi-scale Gaussian kernel whose bandwidth is the median pairwise squared
    distance (as in scMMD-style batch correction and MultiVI's MMD option, Ashuach et al. 2023).
    ``O(batch^2)`` memory.

    Parameters
    ----------
    scales
        Bandwidth multipliers of the kernel.
    **kwargs
        ``weight``, ``warmup_epochs``, ``group_by`` of :class:`AlignmentHead`.
    """

    name = "mmd"

    def __init__(self, scales: tuple[float, ...] = (0.125, 0.25, 0.5, 1.0, 2.0, 4.0), **kwargs):
        super().__init__(**kwargs)
        if not scales or min(scales) <= 0:
            raise ValueError(f"head 'mmd': scales must be positive, got {scales}.")
        self.scales = tuple(float(s) for s in scales)

    def loss(self, z: torch.Tensor, groups: torch.Tensor, **context) -> torch.Tensor:
        terms = []
        for g in torch.unique(groups):
            sel = groups == g
            if sel.sum() >= 2:
                terms.append(mmd2(z[sel], z, self.scales))
        if not terms:
            return z.new_zeros(())
        return torch.stack(terms).mean()
