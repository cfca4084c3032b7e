"""What the five models share: one call dialect for the everyday methods."""

from ._mixin import RemadomModelMixin

__all__ = ["RemadomModelMixin"]
