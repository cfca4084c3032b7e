"""Deprecated: the YAML schema moved to :mod:`remadom.workflow` (one schema for the five models).

``remadom.config`` re-exports its names for one release and warns on import.
"""

from __future__ import annotations

import warnings

from .workflow._schema import (  # noqa: F401
    ClusterConfig,
    ConfigError,
    DataConfig,
    GraphConfig,
    ImageConfig,
    OutputsConfig,
    RunConfig,
    SetupConfig,
    TrainConfig,
    apply_overrides,
    check_inputs,
    load_yaml,
    parse_config,
)
from .workflow._signatures import MODELS  # noqa: F401

warnings.warn(
    "remadom.config is deprecated and will be removed in the next release; use "
    "remadom.workflow (parse_config, RunConfig, ...).",
    DeprecationWarning,
    stacklevel=2,
)
