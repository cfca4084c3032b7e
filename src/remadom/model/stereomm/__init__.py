from ._model import STEREOMM, default_radius
from ._module import STEREOMMModule

__all__ = ["STEREOMM", "STEREOMMModule", "default_radius"]
