"""Reusable layers shared by the models, and the likelihood registry.

Names load on first use (:pep:`562`): ``from remadom.nn import LIKELIHOODS`` (the likelihood
registry, pure Python) does not import PyTorch or scvi-tools; the layers do.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

_EXPORTS = {
    "_adversarial": ("GAN_TYPES", "NORMS", "Discriminator", "discriminator_loss", "generator_loss"),
    "_attention": ("CrossModalAttention",),
    "_decoders": (
        "LIKELIHOOD_DECODERS",
        "BernoulliDecoder",
        "BetaBinomialDecoder",
        "GaussianFeatureDecoder",
        "NBDecoder",
        "PoissonDecoder",
        "ProteinMixtureDecoder",
        "make_decoder",
    ),
    "_dropout": ("ByteDropout",),
    "_fusion": (
        "Adapter",
        "AttentionPool",
        "ChannelGate",
        "euro_coefficients",
        "scale_grad",
        "uncertainty_logits",
    ),
    "_gnn": ("GNN_TYPES", "GNNStack", "gnn_layer"),
    "_grouped": ("GroupedFCLayers",),
    "_kl": ("kl_standard_normal",),
    "_likelihood": ("DECODERS", "GaussianDecoder", "NegativeBinomialDecoder"),
    "_likelihoods": (
        "COUNT_LIKELIHOODS",
        "LIBRARY_SIZE_LIKELIHOODS",
        "LIKELIHOODS",
        "MEAN_DECODER_LIKELIHOODS",
        "Likelihood",
        "check_likelihood",
    ),
    "_poe": ("product_of_experts",),
    "_priors": (
        "PRIORS",
        "MixtureOfGaussiansPrior",
        "StandardNormalPrior",
        "VampPrior",
        "kl_monte_carlo",
        "make_prior",
    ),
}
_WHERE = {name: mod for mod, names in _EXPORTS.items() for name in names}

if TYPE_CHECKING:  # static analysers and IDEs see ordinary imports
    from ._adversarial import GAN_TYPES, NORMS, Discriminator, discriminator_loss, generator_loss  # noqa: F401
    from ._attention import CrossModalAttention  # noqa: F401
    from ._decoders import (  # noqa: F401
        LIKELIHOOD_DECODERS,
        BernoulliDecoder,
        BetaBinomialDecoder,
        GaussianFeatureDecoder,
        NBDecoder,
        PoissonDecoder,
        ProteinMixtureDecoder,
        make_decoder,
    )
    from ._dropout import ByteDropout  # noqa: F401
    from ._fusion import (  # noqa: F401
        Adapter,
        AttentionPool,
        ChannelGate,
        euro_coefficients,
        scale_grad,
        uncertainty_logits,
    )
    from ._gnn import GNN_TYPES, GNNStack, gnn_layer  # noqa: F401
    from ._grouped import GroupedFCLayers  # noqa: F401
    from ._kl import kl_standard_normal  # noqa: F401
    from ._likelihood import DECODERS, GaussianDecoder, NegativeBinomialDecoder  # noqa: F401
    from ._likelihoods import (  # noqa: F401
        COUNT_LIKELIHOODS,
        LIBRARY_SIZE_LIKELIHOODS,
        LIKELIHOODS,
        MEAN_DECODER_LIKELIHOODS,
        Likelihood,
        check_likelihood,
    )
    from ._poe import product_of_experts  # noqa: F401
    from ._priors import (  # noqa: F401
        PRIORS,
        MixtureOfGaussiansPrior,
        StandardNormalPrior,
        VampPrior,
        kl_monte_carlo,
        make_prior,
    )


def __getattr__(name: str):
    mod = _WHERE.get(name)
    if mod is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{mod}", __name__), name)
    globals()[name] = value  # later look-ups skip this hook
    return value


__all__ = sorted(_WHERE)


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
