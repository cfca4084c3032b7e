"""``remadom fit``: one YAML schema, one pipeline and one run directory for the five models.

* :func:`main` -- the ``remadom`` command (``fit``, ``demo``).
* :class:`RunConfig` and :func:`parse_config` -- the schema; ``setup``, ``model_kwargs`` and
  ``train`` are checked against each model's own signatures (:func:`config_parameters`).
* :func:`run` -- the pipeline; :func:`prepare_run_dir` -- its overwrite rule.

Names load on first use (:pep:`562`): ``import remadom.workflow`` and ``remadom --help`` load
neither PyTorch nor scvi-tools.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

_NAMES = {
    "_cli": ("main",),
    "_schema": (
        "ConfigError",
        "RunConfig",
        "DataConfig",
        "ImageConfig",
        "GraphConfig",
        "SetupConfig",
        "TrainConfig",
        "ClusterConfig",
        "VisualizationConfig",
        "OutputsConfig",
        "DATASETS",
        "MORPHO_SEED_KEYS",
        "GAN_TYPE_ALIASES",
        "apply_overrides",
        "check_inputs",
        "load_yaml",
        "parse_config",
        "translate_morpho",
    ),
    "_signatures": ("MODELS",),
    "_pipeline": ("run", "prepare_run_dir"),
    "_inputs": (
        "as_mudata",
        "load_data",
        "read_csv_layout",
        "read_image",
        "read_image_features",
        "add_image_modality",
    ),
}
_ALIASES = {"config_parameters": ("_signatures", "parameters")}
_WHERE = {n: m for m, names in _NAMES.items() for n in names}

if TYPE_CHECKING:
    from ._cli import main  # noqa: F401
    from ._inputs import (  # noqa: F401
        add_image_modality,
        as_mudata,
        load_data,
        read_csv_layout,
        read_image,
        read_image_features,
    )
    from ._pipeline import prepare_run_dir, run  # noqa: F401
    from ._schema import (  # noqa: F401
        DATASETS,
        GAN_TYPE_ALIASES,
        MORPHO_SEED_KEYS,
        ClusterConfig,
        ConfigError,
        DataConfig,
        GraphConfig,
        ImageConfig,
        OutputsConfig,
        RunConfig,
        SetupConfig,
        TrainConfig,
        VisualizationConfig,
        apply_overrides,
        check_inputs,
        load_yaml,
        parse_config,
        translate_morpho,
    )
    from ._signatures import MODELS  # noqa: F401
    from ._signatures import parameters as config_parameters  # noqa: F401


def __getattr__(name: str):
    if name in _WHERE:
        value = getattr(importlib.import_module(f".{_WHERE[name]}", __name__), name)
    elif name in _ALIASES:
        mod, attr = _ALIASES[name]
        value = getattr(importlib.import_module(f".{mod}", __name__), attr)
    else:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    globals()[name] = value
    return value


__all__ = sorted([*_WHERE, *_ALIASES])


def __dir__() -> list[str]:
    return __all__
