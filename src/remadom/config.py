"""YAML run configuration, validated with pydantic before anything trains.

A file has the sections ``model``, ``data``, ``graph``, ``setup``, ``model_kwargs``, ``train``
and ``outputs`` (and, for MOSAICVI, ``problem`` and ``heads``); unknown keys are errors that name
the key and the closest valid one; keys that belong to another model are errors too. A
``model: morphovi`` file follows its own schema (:class:`remadom.config_morphovi.MorphoConfig`).

The command line reads a file with :func:`load_yaml`, applies its ``--set KEY.SUB=VALUE``
overrides with :func:`apply_overrides`, validates with :func:`parse_config` and checks that the
input files exist with :func:`check_inputs`.
"""

from __future__ import annotations

import copy
import difflib
from collections.abc import Iterable
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from .config_morphovi import MorphoConfig

#: every model a configuration file can name
MODELS = ("urmf", "mosaicvi", "stereomm", "priorvi", "morphovi")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


_DATASETS = ("lymph_node_s1", "her2st_b1", "her2st_c2", "synthetic_spatial")


class ImageConfig(_Strict):
    """Per-spot H&E features (:func:`remadom.data.image_features`) -> an ``image`` modality."""

    library_id: str | None = None
    img_key: str = "hires"
    tile_size: float | None = Field(None, gt=0, description="crop side, full-res pixels (StereoMM -c)")
    bin_size: float | None = Field(None, gt=0, description="full-res pixels per coordinate unit (-b)")
    features: list[str] = Field(default_factory=lambda: ["summary", "histogram", "texture"])


class DataConfig(_Strict):
    """Where the data are and how each modality is preprocessed into ``obsm``."""

    path: str | None = Field(None, description=".h5mu or .h5ad file")
    dataset: str | None = Field(
        None, description="bundled data set: lymph_node_s1, her2st_b1, her2st_c2, or synthetic_spatial (toy run)")
    modality_name: str = Field("rna", description="modality name for a .h5ad file")
    preprocess: dict[str, Literal["rna", "protein", "atac", "none"]] = Field(
        default_factory=dict, description="per modality: rna (PCA), protein (CLR+PCA), atac (LSI)"
    )
    n_comps: int = Field(50, gt=0)
    min_counts: int = Field(
        0, ge=0, description="drop observations with fewer total counts than this in any modality "
        "before setup (the number dropped is logged); 0 keeps all")
    image: ImageConfig | None = Field(
        None, description="compute H&E features into an 'image' modality (obsm X_image is used if present)")

    @field_validator("dataset")
    @classmethod
    def _known_dataset(cls, v):
        if v is not None and v not in _DATASETS:
            raise ValueError(f"unknown bundled dataset '{v}'; use one of {_DATASETS}")
        return v


class GraphConfig(_Strict):
    """Spatial graph (squidpy) or an existing ``obsp`` graph."""

    spatial_key: str | None = "spatial"
    n_neighs: int = Field(6, gt=0)
    radius: float | None = Field(None, gt=0)
    coord_type: Literal["grid", "generic"] | None = None
    library_key: str | None = None
    graph_key: str | None = Field(None, description="use this existing obsp graph instead")


_URMF_SETUP = ("use_feature_graph", "n_feature_neighbors", "hops")
_MOSAICVI_SETUP = ("batch_key", "study_key", "time_key", "labels_key")
_STEREOMM_SETUP = ("n_dims", "dim_reduction_method", "scale")
_PRIORVI_SETUP = ("batch_key", "spatial_key")
_SETUP_KEYS = {"urmf": _URMF_SETUP, "mosaicvi": _MOSAICVI_SETUP, "stereomm": _STEREOMM_SETUP,
               "priorvi": _PRIORVI_SETUP}
_LIKELIHOODS = {"urmf": ("gaussian", "nb"),
                "mosaicvi": ("nb", "zinb", "poisson", "bernoulli", "nbmixture", "gaussian", "betabinomial"),
                "stereomm": ()}
_LIKELIHOODS["priorvi"] = _LIKELIHOODS["mosaicvi"]


class SetupConfig(_Strict):
    """Arguments of the model's ``setup_mudata``."""

    modalities: list[str] = Field(..., min_length=1)
    layers: dict[str, str | list[str]] = Field(default_factory=dict)
    likelihoods: dict[str, str] = Field(default_factory=dict)
    # URMF
    use_feature_graph: bool = True
    n_feature_neighbors: int = Field(10, gt=0)
    hops: list[int] = Field(default_factory=lambda: [1, 2])
    # MOSAICVI
    batch_key: str | None = None
    study_key: str | None = None
    time_key: str | None = None
    labels_key: str | None = None
    # PRIORVI: coordinates registered as a "spatial" modality
    spatial_key: str | None = None
    # STEREOMM (reference: --dim_reduction_method, --scale; graph.radius is --radiu_cutoff)
    n_dims: int = Field(200, gt=0, description="common width each modality is reduced to")
    dim_reduction_method: Literal["high_var", "pca"] = "high_var"
    scale: Literal["zscore", "none"] = "zscore"


class TrainConfig(_Strict):
    """Arguments of ``train()``; ``trainer`` is passed on to Lightning."""

    seed: int = 0
    max_epochs: int | None = Field(None, gt=0)
    batch_size: int | None = Field(None, gt=0, description="default: the model's (256; STEREOMM 20000-spot tiles)")
    lr: float | None = Field(None, gt=0, description="default: the model's (URMF 2e-3, MOSAICVI 1e-3, STEREOMM 1e-4)")
    opt: Literal["adam", "adamw", "sgd"] | None = Field(None, description="optimiser (STEREOMM --opt)")
    accelerator: str = "auto"
    devices: int | str = "auto"
    early_stopping: bool = False
    train_size: float = Field(1.0, gt=0, le=1)
    trainer: dict[str, Any] = Field(default_factory=dict)


class ClusterConfig(_Strict):
    method: Literal["leiden", "kmeans", "gmm"] = "leiden"
    n_clusters: int | None = Field(None, gt=1)
    resolution: float = Field(1.0, gt=0)
    key: str = "domain"


class OutputsConfig(_Strict):
    dir: str = "remadom_out"
    latent_key: str | None = None
    cluster: ClusterConfig | None = Field(default_factory=ClusterConfig)
    labels_key: str | None = Field(None, description="obs column to score clusters against")
    save_model: bool = True
    overwrite: bool = False
    plot: bool = True


class RunConfig(_Strict):
    """One run: data -> graph -> setup -> model -> train -> outputs."""

    model: Literal["urmf", "mosaicvi", "stereomm", "priorvi"]
    problem: Literal["paired", "unpaired", "bridge", "mosaic", "prediction", "hierarchical"] | None = None
    heads: list[dict[str, Any]] | None = Field(None, description="alignment heads (MOSAICVI)")
    data: DataConfig
    graph: GraphConfig = Field(default_factory=GraphConfig)
    setup: SetupConfig
    model_kwargs: dict[str, Any] = Field(default_factory=dict)
    train: TrainConfig = Field(default_factory=TrainConfig)
    outputs: OutputsConfig = Field(default_factory=OutputsConfig)

    def input_files(self) -> dict[str, str]:
        """Input files the run reads, by configuration key."""
        return {} if self.data.path is None else {"data.path": self.data.path}


def _valid_keys(loc: tuple, root: type[BaseModel] | None = None) -> list[str]:
    model: type[BaseModel] = root or RunConfig
    for part in loc[:-1]:
        if isinstance(part, int):
            continue
        field = model.model_fields.get(part)
        if field is None:
            return []
        ann = field.annotation
        args = getattr(ann, "__args__", ())
        candidates = [ann, *args]
        sub = next((c for c in candidates if isinstance(c, type) and issubclass(c, BaseModel)), None)
        if sub is None:
            return []
        model = sub
    return list(model.model_fields)


class ConfigError(ValueError):
    """A configuration file that does not validate; the message lists each problem and its fix."""


def _format(err: ValidationError) -> str:
    return _format_errors(err, RunConfig)


def _format_errors(err: ValidationError, root: type[BaseModel]) -> str:
    """Each problem of a validation error on one line: unknown keys with the nearest valid key."""
    lines = []
    for e in err.errors():
        loc = tuple(e["loc"])
        key = ".".join(str(p) for p in loc)
        if e["type"] == "extra_forbidden":
            valid = _valid_keys(loc, root)
            near = difflib.get_close_matches(str(loc[-1]), valid, n=1)
            hint = f" Did you mean '{near[0]}'?" if near else ""
            lines.append(f"- unknown key '{key}'.{hint} Valid keys here: {valid}.")
        elif e["type"] == "missing":
            lines.append(f"- missing required key '{key}'.")
        else:
            lines.append(f"- '{key}': {e['msg']} (got {e.get('input')!r}).")
    return "invalid configuration:\n" + "\n".join(lines)


def load_yaml(path: str | Path) -> Any:
    """Read a YAML configuration file (an empty file reads as ``{}``).

    Raises
    ------
    FileNotFoundError
        If the file does not exist.
    ConfigError
        If the file is not valid YAML; the message is one line with the line and column.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"config file '{path}' not found.")
    try:
        doc = yaml.safe_load(path.read_text())
    except yaml.MarkedYAMLError as err:
        mark = err.problem_mark or err.context_mark
        where = f", line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        what = " ".join(str(err.problem or err.context or "syntax error").split())
        raise ConfigError(f"'{path}'{where}: invalid YAML: {what}.") from None
    except yaml.YAMLError as err:
        raise ConfigError(f"'{path}': invalid YAML: {' '.join(str(err).split())}.") from None
    return {} if doc is None else doc


def _top_level_keys(model: Any) -> list[str]:
    if model == "morphovi":
        return list(MorphoConfig.model_fields)
    if model in MODELS:
        return list(RunConfig.model_fields)
    return sorted(set(RunConfig.model_fields) | set(MorphoConfig.model_fields))


def apply_overrides(doc: dict, overrides: Iterable[str]) -> dict:
    """Set ``KEY.SUB=VALUE`` items in a copy of a configuration dict (the ``--set`` option).

    Each value is read as YAML, as it would be in the file (``5`` is an int, ``true`` a bool,
    ``null`` None, ``[rna, prot]`` a list); missing sections are created, and a number indexes a
    list (``heads.0.weight=2``). Keys below the top level are checked when the result is
    validated (:func:`parse_config`).

    Parameters
    ----------
    doc
        The configuration as read from YAML (not modified).
    overrides
        Items ``"KEY.SUB=VALUE"``, applied in order.

    Returns
    -------
    The updated copy.

    Raises
    ------
    ConfigError
        An item without ``=``, a value that is not valid YAML, a top-level key the model's
        schema does not have (with the nearest valid key), or a key below a value that is not
        a section.
    """
    if not isinstance(doc, dict):
        raise ConfigError("invalid configuration: the YAML top level must be a mapping.")
    out = copy.deepcopy(doc)
    overrides = list(overrides)
    parsed = []
    for item in overrides:
        key, sep, raw = item.partition("=")
        parts = key.strip().split(".")
        if not sep or not all(parts):
            raise ConfigError(f"--set '{item}': write KEY.SUB=VALUE, e.g. --set train.max_epochs=5.")
        try:
            value = yaml.safe_load(raw)
        except yaml.YAMLError:
            raise ConfigError(f"--set '{item}': the value is not valid YAML; quote it, "
                              f"e.g. --set '{key}=\"{raw}\"'.") from None
        parsed.append((item, parts, value))
    for _item, parts, value in parsed:  # 'model' first: it decides which top-level keys are valid
        if parts == ["model"]:
            out["model"] = value
    valid = _top_level_keys(out.get("model"))
    for item, parts, value in parsed:
        if parts[0] not in valid:
            near = difflib.get_close_matches(parts[0], valid, n=1)
            hint = f" Did you mean '{near[0]}'?" if near else ""
            raise ConfigError(f"--set '{item}': unknown top-level key '{parts[0]}'.{hint} "
                              f"Valid keys: {valid}.")
        node: Any = out
        for i, part in enumerate(parts):
            last = i == len(parts) - 1
            if isinstance(node, list):
                if not (part.isdigit() and int(part) < len(node)):
                    raise ConfigError(f"--set '{item}': '{'.'.join(parts[:i])}' is a list of "
                                      f"{len(node)}; index it with 0 to {len(node) - 1}.")
                part = int(part)
            elif not isinstance(node, dict):
                raise ConfigError(f"--set '{item}': '{'.'.join(parts[:i])}' is {node!r}, not a "
                                  "section with keys.")
            if last:
                node[part] = value
            else:
                if isinstance(node, dict) and node.get(part) is None:
                    node[part] = {}
                node = node[part]
    return out


def check_inputs(cfg: RunConfig | MorphoConfig) -> None:
    """Check that every input file of a validated configuration exists.

    Raises
    ------
    FileNotFoundError
        Naming each missing file and its key, on one line.
    """
    missing = [f"{key} '{p}'" for key, p in cfg.input_files().items() if not Path(p).exists()]
    if missing:
        verb = "does" if len(missing) == 1 else "do"
        raise FileNotFoundError(f"{' and '.join(missing)} {verb} not exist (relative paths are read "
                                f"from the current directory, {Path.cwd()}).")


def parse_config(obj: dict | str | Path) -> RunConfig | MorphoConfig:
    """Validate a configuration given as a dict or a YAML file path.

    Returns
    -------
    A :class:`RunConfig`, or a :class:`~remadom.config_morphovi.MorphoConfig` for
    ``model: morphovi``.

    Raises
    ------
    ConfigError
        Listing every invalid, missing or unknown key with the closest valid key; an unknown
        model with the list of models; YAML that does not parse.
    FileNotFoundError
        If the YAML file does not exist.
    """
    if isinstance(obj, str | Path):
        obj = load_yaml(obj)
    if not isinstance(obj, dict):
        raise ConfigError("invalid configuration: the YAML top level must be a mapping.")
    if "model" in obj and obj["model"] not in MODELS:
        near = difflib.get_close_matches(str(obj["model"]), MODELS, n=1)
        hint = f" Did you mean '{near[0]}'?" if near else ""
        raise ConfigError(f"invalid configuration:\n- 'model': unknown model {obj['model']!r}.{hint} "
                          f"Models: {', '.join(MODELS)}.")
    if obj.get("model") == "morphovi":
        try:
            return MorphoConfig.model_validate(obj)
        except ValidationError as err:
            raise ConfigError(_format_errors(err, MorphoConfig)) from None
    try:
        cfg = RunConfig.model_validate(obj)
    except ValidationError as err:
        raise ConfigError(_format(err)) from None
    if cfg.data.path is None and cfg.data.dataset is None:
        raise ConfigError("invalid configuration:\n- 'data': give 'path' (a .h5mu/.h5ad file) or 'dataset'.")
    problems = _model_specific_problems(cfg)
    if problems:
        raise ConfigError("invalid configuration:\n" + "\n".join(problems))
    unknown = set(cfg.data.preprocess) - set(cfg.setup.modalities)
    if unknown:
        raise ConfigError(
            f"invalid configuration:\n- 'data.preprocess' names modalities not in "
            f"'setup.modalities': {sorted(unknown)}."
        )
    return cfg


def _model_specific_problems(cfg: RunConfig) -> list[str]:
    """Keys that belong to another model, likelihoods the model lacks, heads that do not build."""
    out = []
    mine = _SETUP_KEYS[cfg.model]
    other = {k for m, keys in _SETUP_KEYS.items() if m != cfg.model for k in keys} - set(mine)
    for k in sorted(other & cfg.setup.model_fields_set):
        out.append(f"- 'setup.{k}' is not a {cfg.model} setting; {cfg.model} setup keys: "
                   f"modalities, layers, likelihoods, {', '.join(mine)}.")
    if cfg.model != "mosaicvi":
        for k in ("problem", "heads"):
            if k in cfg.model_fields_set:
                out.append(f"- '{k}' is a mosaicvi setting; remove it for model: {cfg.model}.")
    if cfg.model == "stereomm":
        if cfg.setup.likelihoods:
            out.append("- 'setup.likelihoods': stereomm has no likelihood choice (MSE on z-scored inputs); remove it.")
        if "image" in cfg.setup.modalities and len(cfg.setup.modalities) < 2:
            out.append("- 'setup.modalities': stereomm needs 'rna' beside 'image', e.g. [rna, image].")
    elif cfg.train.opt is not None:
        out.append(f"- 'train.opt' is a stereomm setting; {cfg.model} uses Adam (set plan options in code).")
    for m, lik in cfg.setup.likelihoods.items():
        if lik not in _LIKELIHOODS[cfg.model]:
            out.append(f"- 'setup.likelihoods.{m}': '{lik}' is not a {cfg.model} likelihood; choose "
                       f"one of {list(_LIKELIHOODS[cfg.model])}.")
    for i, h in enumerate(cfg.heads or []):
        from remadom.heads import make_head

        try:
            make_head(h)
        except ValueError as e:
            out.append(f"- 'heads.{i}': {e}")
    return out
