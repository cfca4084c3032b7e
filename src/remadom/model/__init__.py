"""Models: each a scvi-tools module (maths) and model class (user API)."""

from .base import RemadomModelMixin
from .morphovi import MORPHOVI, MORPHOVIModule
from .mosaicvi import MOSAICVI, MOSAICVIModule
from .priorvi import PRIORVI, PRIORVIModule
from .stereomm import STEREOMM, STEREOMMModule
from .urmf import URMF, URMFModule

__all__ = ["MORPHOVI", "MORPHOVIModule", "MOSAICVI", "MOSAICVIModule", "PRIORVI", "PRIORVIModule", "RemadomModelMixin", "STEREOMM", "STEREOMMModule", "URMF", "URMFModule"]
