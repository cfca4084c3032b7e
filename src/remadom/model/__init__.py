"""Models: each a scvi-tools module (maths) and model class (user API)."""

from .base import DifferentialExpressionMixin, PosteriorPredictiveMixin, RemadomModelMixin
from .morphovi import MORPHOVI, MORPHOVIModule
from .mosaicvi import MOSAICVI, MOSAICVIModule
from .priorvi import PRIORVI, PRIORVIModule
from .stereomm import STEREOMM, STEREOMMModule
from .urmf import URMF, URMFModule

__all__ = ["DifferentialExpressionMixin", "MORPHOVI", "MORPHOVIModule", "MOSAICVI", "MOSAICVIModule", "PRIORVI", "PRIORVIModule", "PosteriorPredictiveMixin", "RemadomModelMixin", "STEREOMM", "STEREOMMModule", "URMF", "URMFModule"]
