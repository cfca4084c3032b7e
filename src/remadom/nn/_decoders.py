"""Covariate-aware decoders returning a likelihood per modality type (MOSAICVI, PRIORVI).

Each decoder maps a latent ``(batch, n_input)`` (and categorical covariates) to a
:class:`torch.distributions.Distribution` over one modality's features, using
:mod:`scvi.distributions` where a distribution exists there.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from scvi.distributions import (
    BetaBinomial,
    NegativeBinomial,
    NegativeBinomialMixture,
    Poisson,
    ZeroInflatedNegativeBinomial,
)
from scvi.nn import FCLayers
from torch import nn
from torch.distributions import Bernoulli, Normal

from ._likelihoods import check_likelihood


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


class _DistDecoder(_MLPDecoder):
    """Base: ``forward(z, library, *cats) -> Distribution`` with ``.log_prob`` and ``.mean``.

    ``library`` is per likelihood: total counts ``(batch, 1)`` for NB/ZINB/Poisson, the
    relative depth ``(batch, 1)`` for Bernoulli, the total-count matrix ``(batch, n_output)`` for
    the beta-binomial, and unused (``None``) for the Gaussian and the protein mixture.
    """

    #: whether the data must be non-negative integers
    counts: bool = True

    def hidden(self, z: torch.Tensor, cats: tuple) -> torch.Tensor:
        return self.body(z, *cats)


class NBDecoder(_DistDecoder):
    """Negative binomial (or zero-inflated NB) with the observed library size (scVI).

    Mean ``mu = l * softmax(f(z))``; per-feature inverse dispersion ``theta``; the ZINB adds
    per-cell, per-feature dropout logits (Lopez et al., Nat Methods 2018).
    """

    def __init__(self, *args, zero_inflated: bool = False, **kwargs):
        super().__init__(*args, **kwargs)
        n_hidden, n_output = self.out.in_features, self.out.out_features
        self.log_theta = nn.Parameter(torch.zeros(n_output))
        self.zi = nn.Linear(n_hidden, n_output) if zero_inflated else None

    def forward(self, z, library, *cats):
        h = self.hidden(z, cats)
        mu = torch.softmax(self.out(h), -1) * library
        return self.distribution(mu, self.zi(h) if self.zi is not None else None)

    def distribution(self, mu: torch.Tensor, zi_logits: torch.Tensor | None = None):
        """NB (ZINB with ``zi_logits``) with mean ``mu`` ``(batch, n_output)`` (clamped at 1e-8)
        and the learned inverse dispersion ``theta = exp(clamp(log_theta, -10, 10))``."""
        theta = torch.exp(self.log_theta.clamp(-10, 10))
        if zi_logits is not None:
            return ZeroInflatedNegativeBinomial(mu=mu.clamp_min(1e-8), theta=theta, zi_logits=zi_logits)
        return NegativeBinomial(mu=mu.clamp_min(1e-8), theta=theta)


class PoissonDecoder(_DistDecoder):
    """Poisson on counts with the observed library size (e.g. ATAC fragment counts, PoissonVI)."""

    def forward(self, z, library, *cats):
        rate = torch.softmax(self.out(self.hidden(z, cats)), -1) * library
        return Poisson(rate.clamp_min(1e-8))


class BernoulliDecoder(_DistDecoder):
    """Bernoulli on binarised accessibility with a region factor and a cell factor (PeakVI).

    ``logit p = f(z) + r_region + log(l_cell)``: ``r`` is a learned per-region bias (region
    factor), ``l_cell`` the cell's observed number of open regions relative to the mean (cell
    factor, Ashuach et al., Cell Syst 2022 learn it; here it is observed, as scVI's library size).
    """

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.region_factor = nn.Parameter(torch.zeros(self.out.out_features))

    def forward(self, z, library, *cats):
        logits = self.out(self.hidden(z, cats)) + self.region_factor + torch.log(library.clamp_min(1e-4))
        return Bernoulli(logits=logits.clamp(-20, 20), validate_args=False)


class ProteinMixtureDecoder(_DistDecoder):
    """Two-component NB background/foreground mixture for protein counts (totalVI).

    Background mean ``b = exp(beta_protein + g(z))``, foreground ``b * (1 + softplus(h(z)))``,
    mixing logit ``pi(z)`` (weight of the background), per-protein inverse dispersion; likelihood
    :class:`scvi.distributions.NegativeBinomialMixture` (Gayoso et al., Nat Methods 2021).
    """

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        n_hidden, n_output = self.out.in_features, self.out.out_features
        self.log_background = nn.Parameter(torch.zeros(n_output))
        self.background = nn.Linear(n_hidden, n_output)
        self.mixing = nn.Linear(n_hidden, n_output)
        self.log_theta = nn.Parameter(torch.full((n_output,), 2.0))

    def forward(self, z, library, *cats):
        h = self.hidden(z, cats)
        bg = torch.exp((self.log_background + self.background(h)).clamp(-10, 12))
        fg = bg * (1.0 + F.softplus(self.out(h)))
        theta = torch.exp(self.log_theta.clamp(-10, 10))
        return NegativeBinomialMixture(mu1=bg, mu2=fg, theta1=theta, mixture_logits=self.mixing(h))


class GaussianFeatureDecoder(_DistDecoder):
    """Gaussian with a learned per-feature standard deviation (CLR proteins, representations)."""

    counts = False

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.log_scale = nn.Parameter(torch.zeros(self.out.out_features))

    def forward(self, z, library, *cats):
        return Normal(self.out(self.hidden(z, cats)), torch.exp(self.log_scale.clamp(-5, 5)))


class BetaBinomialDecoder(_DistDecoder):
    """Beta-binomial on (methylated, total) counts per feature (methylVI, Weinberger & Lee 2023).

    Mean methylation ``mu = sigmoid(f(z))`` and a per-feature over-dispersion ``gamma`` in (0, 1);
    ``library`` is the total-count matrix; :class:`scvi.distributions.BetaBinomial`.
    """

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.logit_gamma = nn.Parameter(torch.full((self.out.out_features,), -2.0))

    def forward(self, z, library, *cats):
        mu = torch.sigmoid(self.out(self.hidden(z, cats))).clamp(1e-4, 1 - 1e-4)
        gamma = torch.sigmoid(self.logit_gamma).clamp(1e-4, 1 - 1e-4).expand_as(mu)
        return BetaBinomial(total_count=library, mu=mu, gamma=gamma)


#: Distribution decoder per name of the likelihood registry (:data:`remadom.nn.LIKELIHOODS`,
#: which says what each needs; ``tests/test_nn_likelihoods.py`` checks that the two list the same names).
LIKELIHOOD_DECODERS: dict[str, type[_DistDecoder]] = {
    "nb": NBDecoder,
    "zinb": NBDecoder,
    "poisson": PoissonDecoder,
    "bernoulli": BernoulliDecoder,
    "nbmixture": ProteinMixtureDecoder,
    "gaussian": GaussianFeatureDecoder,
    "betabinomial": BetaBinomialDecoder,
}


def make_decoder(likelihood: str, n_input: int, n_output: int, **kwargs) -> _DistDecoder:
    """Build the decoder for ``likelihood`` (a name of :data:`remadom.nn.LIKELIHOODS`).

    Raises
    ------
    ValueError
        If the likelihood is unknown.
    """
    check_likelihood(likelihood)
    extra = {"zero_inflated": True} if likelihood == "zinb" else {}
    return LIKELIHOOD_DECODERS[likelihood](n_input, n_output, **kwargs, **extra)
