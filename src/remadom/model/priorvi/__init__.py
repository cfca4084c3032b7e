from ._model import PRIORVI
from ._module import PRIORVIModule

__all__ = ["PRIORVI", "PRIORVIModule"]
