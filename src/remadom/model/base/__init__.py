"""What the five models share: one call dialect for the everyday methods."""

from ._generative import DifferentialExpressionMixin, PosteriorPredictiveMixin
from ._manager import DerivedField, RemadomDataManager
from ._mixin import RemadomModelMixin, deprecated_mdata

__all__ = [
    "DerivedField",
    "DifferentialExpressionMixin",
    "PosteriorPredictiveMixin",
    "RemadomDataManager",
    "RemadomModelMixin",
    "deprecated_mdata",
]
