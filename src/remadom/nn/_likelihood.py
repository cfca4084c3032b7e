"""Mean + negative log-likelihood decoders (URMF): Gaussian on a representation, NB on counts.

``forward`` returns the mean and ``nll(x, mean)`` the per-observation loss, which URMF needs to
decode one latent several times (fused and per modality). The NB decoder is
:class:`~remadom.nn.NBDecoder` (the distribution decoder of MOSAICVI and PRIORVI) with that
interface, so both model families share one NB parameterisation. The names are those of the
likelihood registry with ``mean_decoder=True`` (:data:`remadom.nn.MEAN_DECODER_LIKELIHOODS`).
"""

from __future__ import annotations

import torch

from ._decoders import NBDecoder, _MLPDecoder


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


class NegativeBinomialDecoder(NBDecoder):
    """MLP decoder with a negative binomial likelihood on counts (scVI, Lopez et al., 2018).

    Mean ``mu = l * softmax(f(z))`` with the observed library size ``l`` (total counts) and a
    learned per-feature inverse dispersion; likelihood from
    :class:`scvi.distributions.NegativeBinomial` through :meth:`NBDecoder.distribution`.
    """

    def __init__(self, n_latent: int, n_output: int, n_hidden: int = 128, n_layers: int = 1):
        super().__init__(n_latent, n_output, n_hidden=n_hidden, n_layers=n_layers)

    def forward(self, z: torch.Tensor, library: torch.Tensor | None = None) -> torch.Tensor:
        """Mean counts ``(batch, n_output)``."""
        return torch.softmax(self.out(self.body(z)), dim=-1) * library

    def nll(self, x: torch.Tensor, mean: torch.Tensor) -> torch.Tensor:
        """Per-observation negative log-likelihood ``(batch,)``."""
        return -self.distribution(mean).log_prob(x).sum(-1)


DECODERS = {"gaussian": GaussianDecoder, "nb": NegativeBinomialDecoder}
"""Mean + NLL decoder per likelihood name: the registry's
:data:`~remadom.nn.MEAN_DECODER_LIKELIHOODS` (``tests/test_nn_likelihoods.py`` checks they agree)."""
