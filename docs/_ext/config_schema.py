"""Sphinx extension: the YAML configuration reference, generated from the schema.

At ``builder-inited`` it writes ``docs/generated/config_schema.md`` (git-ignored, excluded
from the page list) from :class:`remadom.workflow.RunConfig` (the run-level sections) and, per
model, from the model's own signatures (:func:`remadom.workflow.config_parameters`: the keys of
``setup``, ``model_kwargs`` and ``train``); ``docs/config.md`` includes it (one heading level
down). The page therefore always matches the code the docs are built from.
"""

from __future__ import annotations

import inspect
import re
import types
from pathlib import Path
from typing import Any, Literal, Union, get_args, get_origin

import annotated_types as at
import yaml
from pydantic import BaseModel

OUT = Path(__file__).resolve().parent.parent / "generated" / "config_schema.md"


def _is_model(ann: Any) -> bool:
    return isinstance(ann, type) and issubclass(ann, BaseModel)


def _type(ann: Any, labels: dict[type, str]) -> str:
    """A readable type: ``int or null``, ``one of `a`, `b```, a link for a section."""
    if ann is type(None):
        return "null"
    if ann is Any:
        return "any"
    origin, args = get_origin(ann), get_args(ann)
    if origin is Literal:
        return "one of " + ", ".join(f"`{a}`" for a in args) if len(args) > 1 else f"`{args[0]}`"
    if origin in (Union, types.UnionType):
        return " or ".join(_type(a, labels) for a in args)
    if origin is list:
        return f"list of {_type(args[0], labels)}" if args else "list"
    if origin is dict:
        return (f"mapping {_type(args[0], labels)} → {_type(args[1], labels)}" if args
                else "mapping")
    if _is_model(ann):
        return f"section ({{ref}}`{labels[ann]}`)" if ann in labels else "section"
    return f"`{getattr(ann, '__name__', str(ann))}`"


def _yaml(value: Any) -> str:
    text = yaml.safe_dump(value, default_flow_style=True, width=10_000).strip()
    return text.removesuffix("...").strip()


def _default(field) -> str:
    if field.is_required():
        return "required"
    value = field.get_default(call_default_factory=True)
    if isinstance(value, BaseModel):
        return "its defaults"
    return f"`{_yaml(value)}`"


_BOUNDS = ((at.Gt, "gt", ">"), (at.Ge, "ge", "≥"), (at.Lt, "lt", "<"), (at.Le, "le", "≤"),
           (at.MinLen, "min_length", "at least"))


def _constraints(field) -> str:
    out = []
    for meta in field.metadata:
        for cls, attr, word in _BOUNDS:
            if isinstance(meta, cls):
                out.append(f"{word} {getattr(meta, attr)}" + (" item(s)" if cls is at.MinLen else ""))
    return ", ".join(out)


def _myst(text: str) -> str:
    """reST roles in a docstring (``:func:`x```) as MyST roles (``{func}`x```)."""
    return re.sub(r":(func|class|mod|meth|attr|data):`", r"{\1}`", text)


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _sections(root: type[BaseModel], prefix: str) -> list[tuple[str, type[BaseModel]]]:
    """(dotted key, model) for ``root`` and every section below it, depth first."""
    out = [("", root)]
    for name, field in root.model_fields.items():
        for ann in (field.annotation, *get_args(field.annotation)):
            if _is_model(ann):
                out += [(f"{name}.{k}" if k else name, m) for k, m in _sections(ann, prefix)]
    return out


def _schema(root: type[BaseModel], prefix: str, title: str) -> list[str]:
    sections = _sections(root, prefix)
    labels = {m: f"{prefix}-{k.replace('.', '-') or 'top'}" for k, m in sections}
    lines: list[str] = []
    for key, model in sections:
        lines += [f"({labels[model]})=", f"## `{key}`" if key else f"## {title}: top level", ""]
        doc = inspect.getdoc(model)
        if doc and model.__doc__:  # the class's own docstring, not BaseModel's
            lines += [_myst(doc), ""]
        lines += ["| key | type | default | constraints | description |",
                  "| --- | --- | --- | --- | --- |"]
        for name, field in model.model_fields.items():
            row = [f"`{name}`", _type(field.annotation, labels), _default(field),
                   _constraints(field), _myst(field.description or "")]
            lines.append("| " + " | ".join(_cell(c) for c in row) + " |")
        lines.append("")
    return lines


def _param_type(ann: Any) -> str:
    try:
        return _type(ann, {})
    except Exception:  # an annotation this page cannot spell
        return f"`{ann}`"


def _model_tables(model: str, cls_name: str) -> list[str]:
    from remadom.workflow import config_parameters

    lines = [f"({'config-model-' + model})=", f"## `model: {model}` ({{class}}`remadom.model.{cls_name}`)", ""]
    for section, what in (("setup", "setup_mudata"), ("model_kwargs", "the class"), ("train", "train()")):
        params = config_parameters(model, section)
        own = {k: p for k, p in params.items() if not p.source.startswith(("lightning.", "scvi.train."))}
        lines += [f"### `{section}` ({what})", ""]
        if len(own) < len(params):
            lines += ["Also every keyword argument of Lightning's `Trainer` (and scvi-tools' `Trainer`), "
                      "e.g. `accelerator`, `devices`, `precision`, `gradient_clip_val`.", ""]
        lines += ["| key | type | default | from | description |", "| --- | --- | --- | --- | --- |"]
        for name, p in own.items():
            default = "required" if p.required else f"`{_yaml(p.default)}`" if _plain(p.default) else f"`{p.default!r}`"
            row = [f"`{name}`", _param_type(p.annotation), default, f"`{p.source}`", _myst(p.description)]
            lines.append("| " + " | ".join(_cell(c) for c in row) + " |")
        lines.append("")
    return lines


def _plain(value: Any) -> bool:
    try:
        yaml.safe_dump(value)
    except yaml.YAMLError:
        return False
    return True


def _seed_table() -> list[str]:
    from remadom.workflow import GAN_TYPE_ALIASES, MORPHO_SEED_KEYS

    lines = ["(config-morphovi-seed)=", "## MORPHOVI: the seed's spellings", "",
             "A `model: morphovi` file may use the morpho_integration seed's top-level keys; they are "
             "moved into the sections above on load. Loss names may end in `_loss` "
             "(`loss_schedule: {kl_loss: 1, gan_loss: 2}`), phases may be written `phase_2`, and "
             "`dis.gan_type` accepts " + ", ".join(f"`{k}` (= `{v}`)" for k, v in GAN_TYPE_ALIASES.items())
             + ". The MORPHOVI `data` keys of the earlier schema (`data.modality_a`, `data.labels_key`, "
             "`data.nan_policy`, ...) are read as `setup` keys.", "",
             "| seed key | section | key |", "| --- | --- | --- |"]
    for k, (section, key) in MORPHO_SEED_KEYS.items():
        lines.append(f"| `{k}` | `{section}` | `{key}` |")
    lines.append("")
    return lines


def render() -> str:
    """The Markdown of the configuration reference."""
    from remadom.workflow import RunConfig
    from remadom.workflow._signatures import CLASSES

    lines = [
        "<!-- generated by docs/_ext/config_schema.py at build time; do not edit -->", "",
        "# Run-level sections (all models)", "",
        "Schema: {class}`remadom.workflow.RunConfig`.", "",
        *_schema(RunConfig, "config-run", "`model: urmf | mosaicvi | stereomm | priorvi | morphovi`"),
        "# Model-level sections, per model", "",
        "Read from each model's signatures ({func}`remadom.workflow.config_parameters`); a value is "
        "checked against the parameter's annotation.", "",
    ]
    for model, cls_name in CLASSES.items():
        lines += _model_tables(model, cls_name)
    lines += _seed_table()
    return "\n".join(lines)


def _write(app) -> None:
    OUT.parent.mkdir(parents=True, exist_ok=True)
    text = render()
    if not OUT.exists() or OUT.read_text() != text:  # keep the mtime: no needless rebuilds
        OUT.write_text(text)


def setup(app):
    app.connect("builder-inited", _write)
    return {"version": "1", "parallel_read_safe": True, "parallel_write_safe": True}
