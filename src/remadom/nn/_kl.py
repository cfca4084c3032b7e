"""KL divergence of a diagonal Gaussian posterior to the standard normal prior."""

from __future__ import annotations

import torch
from torch.distributions import Normal, kl_divergence


def kl_standard_normal(q: Normal) -> torch.Tensor:
    """``KL(q || N(0, I))`` summed over the last (latent) dimension, shape ``q.loc.shape[:-1]``."""
    prior = Normal(torch.zeros_like(q.loc), torch.ones_like(q.loc), validate_args=False)
    return kl_divergence(q, prior).sum(-1)
