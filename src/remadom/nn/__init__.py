"""Reusable layers shared by the models."""

from ._fusion import (
    Adapter,
    AttentionPool,
    ChannelGate,
    euro_coefficients,
    scale_grad,
    uncertainty_logits,
)
from ._likelihood import DECODERS, GaussianDecoder, NegativeBinomialDecoder

__all__ = [
    "DECODERS",
    "Adapter",
    "AttentionPool",
    "ChannelGate",
    "GaussianDecoder",
    "NegativeBinomialDecoder",
    "euro_coefficients",
    "scale_grad",
    "uncertainty_logits",
]
