"""Models: each a scvi-tools module (maths) and model class (user API)."""

from .urmf import URMF, URMFModule

__all__ = ["URMF", "URMFModule"]
