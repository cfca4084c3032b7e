"""Learned latent priors: standard normal, mixture of Gaussians, VampPrior."""

from __future__ import annotations

import torch
from torch import nn
from torch.distributions import Categorical, Independent, MixtureSameFamily, Normal

PRIORS = ("normal", "mog", "vamp")


class StandardNormalPrior(nn.Module):
    """``p(z) = N(0, I)``; no parameters (the KL has a closed form)."""

    def __init__(self, n_latent: int):
        super().__init__()
        self.n_latent = n_latent
        self.register_buffer("_zero", torch.zeros(n_latent))

    def distribution(self):
        """``torch.distributions`` object with ``log_prob``, ``sample``, ``mean``, ``stddev``."""
        return Independent(Normal(self._zero, torch.ones_like(self._zero)), 1)


class MixtureOfGaussiansPrior(nn.Module):
    """``p(z) = sum_k pi_k N(z; mu_k, diag(sigma_k^2))`` with learned ``pi``, ``mu``, ``sigma``.

    A learned mixture prior as in VaDE (Jiang et al., IJCAI 2017) and GMVAE (Dilokthanakul et al.
    2016); built on :class:`torch.distributions.MixtureSameFamily`.

    Parameters
    ----------
    n_latent
        Latent width.
    n_components
        Number of mixture components ``K``.
    """

    def __init__(self, n_latent: int, n_components: int = 10):
        super().__init__()
        self.logits = nn.Parameter(torch.zeros(n_components))
        self.means = nn.Parameter(torch.randn(n_components, n_latent))
        self.log_scales = nn.Parameter(torch.zeros(n_components, n_latent))

    def distribution(self):
        comp = Independent(Normal(self.means, self.log_scales.clamp(-6, 3).exp()), 1)
        return MixtureSameFamily(Categorical(logits=self.logits), comp)


class VampPrior(nn.Module):
    """VampPrior (Tomczak & Welling, AISTATS 2018): ``p(z) = 1/K sum_k q(z | u_k)``.

    ``u_k`` are ``K`` learned pseudo-inputs in the encoder's input space; ``encode`` maps them to
    the Gaussian parameters of the modality's encoder, so the prior follows the encoder.

    Parameters
    ----------
    encode
        Callable ``(K, n_input) -> (means, variances)``, each ``(K, n_latent)``.
    pseudo_inputs
        Initial ``(K, n_input)`` pseudo-inputs (e.g. transformed inputs of ``K`` random cells).
    """

    def __init__(self, encode, pseudo_inputs: torch.Tensor):
        super().__init__()
        self._encode = [encode]  # a list keeps the encoder out of this module's parameters
        self.pseudo_inputs = nn.Parameter(pseudo_inputs.clone().float())

    def distribution(self):
        mean, var = self._encode[0](self.pseudo_inputs)
        k = mean.shape[0]
        comp = Independent(Normal(mean, var.clamp_min(1e-8).sqrt()), 1)
        return MixtureSameFamily(Categorical(logits=torch.zeros(k, device=mean.device)), comp)


def make_prior(name: str, n_latent: int, n_components: int = 10, encode=None,
               pseudo_inputs: torch.Tensor | None = None) -> nn.Module:
    """Build the prior ``name`` (``"normal"``, ``"mog"`` or ``"vamp"``).

    Raises
    ------
    ValueError
        Unknown prior name or ``n_components < 1``.
    """
    if name not in PRIORS:
        raise ValueError(f"unknown prior '{name}'; choose one of {PRIORS}.")
    if not isinstance(n_components, int) or isinstance(n_components, bool) or n_components < 1:
        raise ValueError(f"n_components must be an int >= 1, got {n_components!r}.")
    if name == "normal":
        return StandardNormalPrior(n_latent)
    if name == "mog":
        return MixtureOfGaussiansPrior(n_latent, n_components)
    if encode is None or pseudo_inputs is None:
        raise ValueError("the VampPrior needs the modality's encoder and initial pseudo-inputs.")
    return VampPrior(encode, pseudo_inputs[:n_components])


def kl_monte_carlo(q: Normal, z: torch.Tensor, prior: nn.Module) -> torch.Tensor:
    """One-sample Monte Carlo ``KL(q || p) ~ log q(z) - log p(z)`` at ``z ~ q``, summed over latents.

    Unbiased, and non-negative in expectation; used where the KL has no closed form (mixture
    priors). Returns ``(batch,)`` (or ``(n_samples, batch)``).
    """
    return q.log_prob(z).sum(-1) - prior.distribution().log_prob(z)


