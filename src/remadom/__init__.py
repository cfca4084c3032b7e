"""remadom: multimodal single-cell and spatial omics integration for the scverse ecosystem.

The subpackages (:mod:`remadom.model`, :mod:`remadom.data`, :mod:`remadom.pl`, ...) are imported
on first attribute access (:pep:`562`), so ``import remadom`` and the ``remadom`` command start
without loading scvi-tools, Lightning or PyTorch; ``remadom.model.URMF`` and
``from remadom.model import URMF`` work as usual.
"""

from __future__ import annotations

import importlib
from importlib.metadata import PackageNotFoundError
from importlib.metadata import version as _metadata_version
from typing import TYPE_CHECKING

try:
    __version__ = _metadata_version("remadom")
except PackageNotFoundError:  # a source tree that is not installed
    __version__ = "0.0.0+unknown"

_SUBPACKAGES = ("data", "datasets", "heads", "metrics", "model", "nn", "pl", "pp", "tl", "train", "workflow")

if TYPE_CHECKING:  # static analysers and IDEs see ordinary imports
    from . import data, datasets, heads, metrics, model, nn, pl, pp, tl, train, workflow  # noqa: F401


def __getattr__(name: str):
    if name in _SUBPACKAGES:
        # import_module also binds the subpackage in this namespace: later look-ups skip this hook
        return importlib.import_module(f".{name}", __name__)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [*_SUBPACKAGES, "__version__"]


def __dir__() -> list[str]:
    return sorted(__all__)
