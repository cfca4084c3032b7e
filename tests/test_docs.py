"""The docs: every public name in the API reference; the configuration page generator runs."""

import importlib
import re
import sys
from pathlib import Path

import pytest

DOCS = Path(__file__).resolve().parent.parent / "docs"
SUBPACKAGES = ("data", "datasets", "heads", "metrics", "model", "nn", "pl", "pp", "tl", "train", "workflow")


def _api_sections() -> dict[str, set[str]]:
    """Namespace -> names listed under its ``## `remadom.<namespace>``` heading in docs/api.md."""
    sections: dict[str, set[str]] = {}
    current = None
    for line in (DOCS / "api.md").read_text().splitlines():
        head = re.match(r"## `remadom\.(\w+)`", line)
        if head:
            current = sections.setdefault(head.group(1), set())
            continue
        entry = re.match(r"\s+remadom\.(\w+)\.(\w+)\s*$", line)
        if entry:
            assert current is not None, f"{line.strip()} is above the first namespace heading"
            assert entry.group(1) == next(k for k, v in sections.items() if v is current), (
                f"{line.strip()} is listed under another namespace")
            current.add(entry.group(2))
    return sections


@pytest.mark.parametrize("sub", SUBPACKAGES)
def test_every_public_name_in_api_reference(sub):
    public = set(importlib.import_module(f"remadom.{sub}").__all__)
    listed = _api_sections().get(sub, set())
    assert not public - listed, f"missing from docs/api.md under remadom.{sub}: {sorted(public - listed)}"
    assert not listed - public, f"in docs/api.md but not in remadom.{sub}.__all__: {sorted(listed - public)}"


def test_config_reference_covers_the_schema():
    sys.path.insert(0, str(DOCS / "_ext"))
    try:
        import config_schema
    finally:
        sys.path.pop(0)
    from remadom.workflow import (
        MORPHO_SEED_KEYS,
        DataConfig,
        RunConfig,
        TrainConfig,
        config_parameters,
    )

    text = config_schema.render()
    for model in (RunConfig, TrainConfig, DataConfig):
        for key in model.model_fields:
            assert f"| `{key}` |" in text, key
    # the model-level keys come from the models' signatures, e.g. MORPHOVI.train's max_iter
    for model in ("urmf", "mosaicvi", "stereomm", "priorvi", "morphovi"):
        assert f"(config-model-{model})=" in text
        for section in ("setup", "model_kwargs"):
            for key in config_parameters(model, section):
                assert f"| `{key}` |" in text, (model, section, key)
    assert "| `max_iter` |" in text and "| `hops` |" in text
    for key in MORPHO_SEED_KEYS:
        assert f"| `{key}` |" in text, key
    assert "{ref}`config-run-train`" in text and "(config-run-train)=" in text
    assert "{include} generated/config_schema.md" in (DOCS / "config.md").read_text()
