"""KL divergence of a diagonal Gaussian posterior to the standard normal prior."""

from __future__ import annotations

import torch
from torch.distributions import Normal


def kl_standard_normal(q: Normal) -> torch.Tensor:
    r"""``KL(q || N(0, I))`` summed over the last (latent) dimension.

    Closed form for a diagonal Gaussian ``q = N(mu, diag(sigma^2))`` (Kingma & Welling, ICLR 2014,
    appendix B): ``sum_j [ (mu_j^2 + sigma_j^2 - 1) / 2 - log sigma_j ]``. The same value as
    :func:`torch.distributions.kl_divergence` against ``N(0, I)``, in about half the tensor
    operations (this term runs twice per URMF step).

    Parameters
    ----------
    q
        Posterior with ``loc`` and ``scale`` of shape ``(..., n_latent)``.

    Returns
    -------
    Tensor of shape ``q.loc.shape[:-1]`` (nats).
    """
    loc, scale = q.loc, q.scale
    return (0.5 * (loc.square() + scale.square() - 1.0) - scale.log()).sum(-1)
