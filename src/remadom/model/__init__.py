"""Models: each a scvi-tools module (maths) and model class (user API)."""

from .mosaicvi import MOSAICVI, MOSAICVIModule
from .urmf import URMF, URMFModule

__all__ = ["MOSAICVI", "MOSAICVIModule", "URMF", "URMFModule"]
