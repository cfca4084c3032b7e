"""MOSAICVI: the mosaic-first multimodal VAE."""

from ._model import LIKELIHOODS, MOSAICVI
from ._module import MOSAICVIModule
from ._presets import PRESETS, preset

__all__ = ["LIKELIHOODS", "MOSAICVI", "MOSAICVIModule", "PRESETS", "preset"]
