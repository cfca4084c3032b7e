"""The keys a YAML file may give each model, read from the model's own signatures.

``setup:`` is checked against ``setup_mudata``, ``model_kwargs:`` against ``__init__`` (and the
module's ``__init__`` where the model passes ``**module_kwargs`` on), ``train:`` against
``train()`` (and the Lightning / scvi-tools ``Trainer`` where ``train`` passes ``**kwargs`` on).
Each value is validated with pydantic against the parameter's annotation. Nothing here is a copy
of a signature: a new parameter of a model is a new YAML key.

Importing this module is light; the model classes (and with them PyTorch) load on first use.
"""

from __future__ import annotations

import functools
import inspect
import re
import typing
from dataclasses import dataclass
from typing import Any

from pydantic import ConfigDict, TypeAdapter, ValidationError

#: model name in a YAML file -> class name in :mod:`remadom.model`
CLASSES = {
    "urmf": "URMF",
    "mosaicvi": "MOSAICVI",
    "stereomm": "STEREOMM",
    "priorvi": "PRIORVI",
    "morphovi": "MORPHOVI",
}
#: every model a configuration file can name
MODELS = tuple(CLASSES)

SECTIONS = {"setup": "setup_mudata", "model_kwargs": "__init__", "train": "train"}

#: ``train()`` arguments the workflow sets itself (run directory, loggers, progress bar)
WORKFLOW_TRAIN_KEYS = (
    "checkpoint_dir",
    "resume",
    "ckpt_path",
    "logger",
    "callbacks",
    "enable_checkpointing",
    "enable_progress_bar",
    "default_root_dir",
)

# value constraints by parameter name, wherever the name appears (the signatures carry types only)
_POSITIVE = {
    "max_epochs",
    "max_iter",
    "max_steps",
    "batch_size",
    "n_latent",
    "n_hidden",
    "n_layers",
    "n_components",
    "step_size",
    "n_feature_neighbors",
    "n_dims",
    "num_heads",
    "dis_dim",
    "n_latent_tech",
    "lr",
}
_NON_NEGATIVE = {
    "weight_decay",
    "recon_x_w",
    "kl_w",
    "gan_w",
    "gw_w",
    "lambda_p",
    "prior_loss_warmup",
    "num_workers",
    "dropout_rate",
    "target_hops",
    "readout_hops",
}
_FRACTION = {"train_size"}
# allowed values by parameter name: the library's own lists of names (module, constant)
_CHOICES = {
    "gan_type": ("remadom.nn", "GAN_TYPES"),
    "dis_norm": ("remadom.nn", "NORMS"),
    "gnn_type": ("remadom.nn", "GNN_TYPES"),
    "decoder_type": ("remadom.nn", "GNN_TYPES"),
    "prior": ("remadom.nn", "PRIORS"),
    "dim_reduction_method": ("remadom.data", "REDUCTIONS"),
    "scale": ("remadom.data", "SCALES"),
    "init": ("remadom.train", "INITS"),
    "lr_policy": ("remadom.train", "LR_POLICIES"),
}


def choices(name: str) -> tuple | None:
    """The values a parameter accepts where the library lists them (e.g. ``remadom.nn.GAN_TYPES``)."""
    if name not in _CHOICES:
        return None
    import importlib

    mod, attr = _CHOICES[name]
    return tuple(getattr(importlib.import_module(mod), attr))


@dataclass(frozen=True)
class Param:
    """One YAML key: its name, annotation (resolved; ``Any`` if it cannot be), default and text."""

    name: str
    annotation: Any
    default: Any
    required: bool
    description: str
    source: str  # "Model.method" it was read from


def model_class(model: str):
    """The :mod:`remadom.model` class of a YAML model name (imports the models)."""
    from remadom import model as models

    return getattr(models, CLASSES[model])


def _resolve(ann: Any, func) -> Any:
    if ann is inspect.Parameter.empty:
        return Any
    if isinstance(ann, str):
        # the module that wrote the annotation (a decorated method's __globals__ are the decorator's)
        ns = {**vars(typing), **getattr(inspect.unwrap(func), "__globals__", {})}
        try:
            return eval(ann, ns)  # noqa: S307 - annotation strings of our own signatures
        except Exception:  # a name only imported for type checking
            return Any
    return ann


def _doc_params(func) -> dict[str, str]:
    """Parameter -> first sentence of its description in a numpy-style docstring."""
    doc = inspect.getdoc(func) or ""
    m = re.search(r"^Parameters\n-+\n(.*?)(?:^\w[\w ]*\n-+\n|\Z)", doc, re.S | re.M)
    if not m:
        return {}
    out: dict[str, str] = {}
    names: list[str] = []
    for line in m.group(1).splitlines():
        if line and not line.startswith(" "):
            names = [n.strip().lstrip("*").split(":")[0].strip() for n in line.split(",")]
            for n in names:
                out.setdefault(n, "")
        elif names and line.strip():
            for n in names:
                out[n] = (out[n] + " " + line.strip()).strip()
    # the first sentence: up to a full stop that is not part of "e.g." / "i.e."
    return {
        k: re.split(r"(?<!e\.g\.)(?<!i\.e\.)(?<=\.)\s", v, maxsplit=1)[0] for k, v in out.items()
    }


def _params_of(func, owner: str, skip_first: bool) -> tuple[dict[str, Param], bool]:
    sig = inspect.signature(func)
    docs = _doc_params(func)
    out: dict[str, Param] = {}
    var_kw = False
    items = list(sig.parameters.values())
    if items and items[0].name in ("self", "cls"):
        items = items[1:]
    if skip_first and items:
        items = items[1:]  # the data object
    for p in items:
        if p.kind is p.VAR_KEYWORD:
            var_kw = True
            continue
        if p.kind is p.VAR_POSITIONAL or p.name.startswith("_") or p.name == "kwargs":
            continue
        out[p.name] = Param(
            p.name,
            _resolve(p.annotation, func),
            None if p.default is p.empty else p.default,
            p.default is p.empty,
            docs.get(p.name, ""),
            owner,
        )
    return out, var_kw


def _trainer_params() -> dict[str, Param]:
    """Keyword arguments of Lightning's and scvi-tools' ``Trainer`` (what ``**kwargs`` reaches)."""
    from lightning.pytorch import Trainer as LightningTrainer
    from scvi.train import Trainer as ScviTrainer

    out: dict[str, Param] = {}
    for cls, name in ((LightningTrainer, "lightning.Trainer"), (ScviTrainer, "scvi.train.Trainer")):
        params, _ = _params_of(cls.__init__, name, skip_first=False)
        out.update({k: v for k, v in params.items() if not v.required})
    return out


@functools.cache
def parameters(model: str, section: str) -> dict[str, Param]:
    """The keys ``section`` (``setup``, ``model_kwargs`` or ``train``) takes for ``model``.

    Parameters
    ----------
    model
        A YAML model name (``urmf``, ``mosaicvi``, ``stereomm``, ``priorvi``, ``morphovi``).
    section
        ``"setup"``: :meth:`setup_mudata`; ``"model_kwargs"``: the class (and, where it passes
        ``**module_kwargs`` on, the module's defaulted parameters); ``"train"``: :meth:`train`
        (and, where it passes ``**kwargs`` on, the ``Trainer``'s keyword arguments), less what
        the workflow sets itself (:data:`WORKFLOW_TRAIN_KEYS`).

    Returns
    -------
    Key -> :class:`Param`, in signature order.
    """
    cls = model_class(model)
    method = SECTIONS[section]
    func = getattr(cls, method)
    params, var_kw = _params_of(func, f"{cls.__name__}.{method}", skip_first=section != "train")
    if section == "model_kwargs" and var_kw and getattr(cls, "_module_cls", None) is not None:
        mod, _ = _params_of(
            cls._module_cls.__init__, f"{cls._module_cls.__name__}", skip_first=False
        )
        params.update({k: v for k, v in mod.items() if not v.required and k not in params})
    if section == "train":
        if var_kw:
            params.update({k: v for k, v in _trainer_params().items() if k not in params})
        for k in WORKFLOW_TRAIN_KEYS:
            params.pop(k, None)
    return params


def _bounds_problem(name: str, value: Any) -> str | None:
    if value is None or isinstance(value, bool) or not isinstance(value, int | float):
        return None
    if name in _POSITIVE and not value > 0:
        return f"must be > 0 (got {value!r})"
    if name in _NON_NEGATIVE and not value >= 0:
        return f"must be >= 0 (got {value!r})"
    if name in _FRACTION and not 0 < value <= 1:
        return f"must be in (0, 1] (got {value!r})"
    return None


_LAX = ConfigDict(arbitrary_types_allowed=True)


def coerce(param: Param, value: Any) -> Any:
    """``value`` validated against the parameter's annotation (lists become tuples where the
    signature says ``tuple``).

    Raises
    ------
    ValueError
        The value does not fit the annotation or its bounds; the message says what was expected.
    """
    problem = _bounds_problem(param.name, value)
    if problem:
        raise ValueError(problem)
    allowed = choices(param.name)
    if allowed is not None and isinstance(value, str) and value not in allowed:
        raise ValueError(f"'{value}' is not one of {list(allowed)} ({param.source})")
    try:
        adapter = TypeAdapter(param.annotation, config=_LAX)
    except Exception:  # an annotation pydantic cannot build a schema for: checked by the model
        return value
    try:
        return adapter.validate_python(value)
    except ValidationError as err:
        ann = getattr(param.annotation, "__name__", None) or str(param.annotation).replace(
            "typing.", ""
        )
        msg = err.errors()[0]["msg"]
        raise ValueError(f"expected {ann} ({param.source}): {msg} (got {value!r})") from None


def owners(section: str, key: str, exclude: str) -> list[str]:
    """The other models whose ``section`` takes ``key``."""
    return [m for m in MODELS if m != exclude and key in parameters(m, section)]
