"""Product of Gaussian experts over the modalities a cell has (Wu & Goodman, NeurIPS 2018)."""

from __future__ import annotations

import torch


def product_of_experts(
    means: torch.Tensor,
    variances: torch.Tensor,
    mask: torch.Tensor,
    prior_expert: bool = True,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Combine diagonal Gaussian experts by multiplying their densities.

    The product of Gaussians ``N(mu_j, s_j^2)`` is Gaussian with precision ``sum_j 1/s_j^2`` and
    precision-weighted mean (MVAE, Wu & Goodman 2018; used by MIDAS). Experts whose ``mask`` is 0
    contribute nothing, so a cell's posterior only depends on the modalities it has.

    Parameters
    ----------
    means, variances
        ``(n_experts, batch, n_latent)``; variances must be positive.
    mask
        ``(batch, n_experts)``, 1 where the cell has the modality, 0 where it does not.
    prior_expert
        Include the standard-normal prior ``N(0, I)`` as one more expert (so a cell with no
        expert gets the prior, and one expert alone is shrunk towards it, as in MVAE).

    Returns
    -------
    ``(mean, variance)``, each ``(batch, n_latent)``.
    """
    present = mask.T.unsqueeze(-1).bool()  # (n_experts, batch, 1)
    # `where`, not a product: an absent expert's output (even NaN/inf) can never leak in
    precision = torch.where(present, 1.0 / variances, torch.zeros_like(variances))
    weighted = torch.where(present, precision * means, torch.zeros_like(means))
    total_precision = precision.sum(0)
    total_weighted = weighted.sum(0)
    if prior_expert:
        total_precision = total_precision + 1.0
    var = 1.0 / total_precision.clamp_min(1e-8)
    return total_weighted * var, var
