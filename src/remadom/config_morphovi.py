"""Deprecated: MORPHOVI files follow the one schema of :mod:`remadom.workflow` (the seed's
top-level spellings are translated on load); ``MorphoConfig`` is :class:`remadom.workflow.RunConfig`
for one release."""

from __future__ import annotations

import warnings

from .workflow._schema import RunConfig as MorphoConfig  # noqa: F401

warnings.warn(
    "remadom.config_morphovi is deprecated and will be removed in the next release; "
    "MORPHOVI files validate with remadom.workflow.RunConfig.",
    DeprecationWarning,
    stacklevel=2,
)
