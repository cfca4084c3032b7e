"""Reusable layers shared by the models."""

from ._adversarial import GAN_TYPES, NORMS, Discriminator, discriminator_loss, generator_loss
from ._attention import CrossModalAttention
from ._decoders import (
    LIKELIHOOD_DECODERS,
    BernoulliDecoder,
    BetaBinomialDecoder,
    GaussianFeatureDecoder,
    NBDecoder,
    PoissonDecoder,
    ProteinMixtureDecoder,
    make_decoder,
)
from ._dropout import ByteDropout
from ._fusion import (
    Adapter,
    AttentionPool,
    ChannelGate,
    euro_coefficients,
    scale_grad,
    uncertainty_logits,
)
from ._gnn import GNN_TYPES, GNNStack, gnn_layer
from ._grouped import GroupedFCLayers
from ._kl import kl_standard_normal
from ._likelihood import DECODERS, GaussianDecoder, NegativeBinomialDecoder
from ._poe import product_of_experts
from ._priors import (
    PRIORS,
    MixtureOfGaussiansPrior,
    StandardNormalPrior,
    VampPrior,
    kl_monte_carlo,
    make_prior,
)

__all__ = [
    "DECODERS",
    "LIKELIHOOD_DECODERS",
    "BernoulliDecoder",
    "BetaBinomialDecoder",
    "ByteDropout",
    "GaussianFeatureDecoder",
    "GroupedFCLayers",
    "NBDecoder",
    "PoissonDecoder",
    "ProteinMixtureDecoder",
    "make_decoder",
    "product_of_experts",
    "PRIORS",
    "MixtureOfGaussiansPrior",
    "StandardNormalPrior",
    "VampPrior",
    "kl_monte_carlo",
    "make_prior",
    "Adapter",
    "AttentionPool",
    "ChannelGate",
    "Discriminator",
    "GAN_TYPES",
    "NORMS",
    "discriminator_loss",
    "generator_loss",
    "CrossModalAttention",
    "GNN_TYPES",
    "GNNStack",
    "gnn_layer",
    "GaussianDecoder",
    "NegativeBinomialDecoder",
    "euro_coefficients",
    "kl_standard_normal",
    "scale_grad",
    "uncertainty_logits",
]
