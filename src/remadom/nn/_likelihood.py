"""Per-modality decoders with their likelihoods (Gaussian on a representation, NB on counts)."""

from __future__ import annotations

import torch
from scvi.distributions import NegativeBinomial
from scvi.nn import FCLayers
from torch import nn


class _MLPDecoder(nn.Module):
    """Shared body: scvi-tools ``FCLayers`` (layer norm) and a linear output layer.

    ``n_cat_list`` gives the number of categories of each covariate injected into every hidden
    layer (one-hot, as in scvi-tools); the body is then called as ``self.body(z, *cats)``.
    """

    def __init__(self, n_latent: int, n_output: int, n_hidden: int = 128, n_layers: int = 1,
                 n_cat_list: list[int] | None = None):
        super().__init__()
        self.body = FCLayers(n_latent, n_hidden, n_cat_list=n_cat_list, n_layers=n_layers,
                             n_hidden=n_hidden, dropout_rate=0.0, use_batch_norm=False,
                             use_layer_norm=True)
        self.out = nn.Linear(n_hidden, n_output)


class GaussianDecoder(_MLPDecoder):
    """MLP decoder with a unit-variance Gaussian likelihood (MSE up to constants).

    ``-log p(x | z) = 0.5 * ||x - f(z)||^2`` summed over features, for a standardised
    representation such as PCA / LSI / CLR.
    """

    def forward(self, z: torch.Tensor, library: torch.Tensor | None = None) -> torch.Tensor:
        """Mean ``(batch, n_output)``."""
        return self.out(self.body(z))

    def nll(self, x: torch.Tensor, mean: torch.Tensor) -> torch.Tensor:
        """Per-observation negative log-likelihood ``(batch,)``."""
        return 0.5 * ((x - mean) ** 2).sum(-1)


class NegativeBinomialDecoder(_MLPDecoder):
    """MLP decoder with a negative binomial likelihood on counts (scVI, Lopez et al., 2018).

    Mean ``mu = l * softmax(f(z))`` with the observed library size ``l`` (total counts) and a
    learned per-feature inverse dispersion; likelihood from :class:`scvi.distributions.NegativeBinomial`.
    """

    def __init__(self, n_latent: int, n_output: int, n_hidden: int = 128, n_layers: int = 1):
        super().__init__(n_latent, n_output, n_hidden=n_hidden, n_layers=n_layers)
        self.log_theta = nn.Parameter(torch.zeros(n_output))

    def forward(self, z: torch.Tensor, library: torch.Tensor | None = None) -> torch.Tensor:
        """Mean counts ``(batch, n_output)``."""
        return torch.softmax(self.out(self.body(z)), dim=-1) * library

    def nll(self, x: torch.Tensor, mean: torch.Tensor) -> torch.Tensor:
        """Per-observation negative log-likelihood ``(batch,)``."""
        theta = torch.exp(torch.clamp(self.log_theta, -10, 10))
        return -NegativeBinomial(mu=mean.clamp_min(1e-8), theta=theta, validate_args=False).log_prob(x).sum(-1)


DECODERS = {"gaussian": GaussianDecoder, "nb": NegativeBinomialDecoder}
