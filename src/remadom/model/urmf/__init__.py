from ._model import URMF
from ._module import URMFModule

__all__ = ["URMF", "URMFModule"]
