"""One YAML schema for the five models, validated before anything trains.

A file has the sections ``model``, ``data``, ``graph``, ``setup``, ``model_kwargs``, ``train`` and
``outputs`` (and, for MOSAICVI, ``problem`` and ``heads``). The run-level sections (``data``,
``graph``, ``outputs``) are fixed here; the model-level ones are checked against the model's own
signatures (:mod:`remadom.workflow._signatures`): ``setup`` against ``setup_mudata``,
``model_kwargs`` against the class, ``train`` against ``train()`` and the Lightning ``Trainer``.
Unknown keys are errors that name the key and the closest valid one; a key that belongs to
another model says so.

``model: morphovi`` files may also use the morpho_integration seed's spellings, translated on
load (:data:`MORPHO_SEED_KEYS`): top-level ``max_iter``, ``lr``, ``gen: {dim, latent}``,
``dis: {gan_type, dim, norm}``, ``loss_schedule: {kl_loss: 1, gan_loss: 2}``,
``phase_durations: {phase_1: 200}``, ``init: orthogonal``, ``dis.gan_type: wgan`` (WGAN-GP) and
``snapshot_save_iter`` / ``image_save_iter`` / ``knn_save_iter`` (every-N-iteration outputs).
"""

from __future__ import annotations

import copy
import difflib
from collections.abc import Iterable
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from ._signatures import MODELS, coerce, owners, parameters


class ConfigError(ValueError):
    """A configuration file that does not validate; the message lists each problem and its fix."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


#: bundled data sets a file can name as ``data.dataset`` (:mod:`remadom.datasets`)
DATASETS = ("lymph_node_s1", "her2st_b1", "her2st_c2", "synthetic_spatial")
#: models that train on a MuData opened with ``backed="r"`` (``data.backed: true``)
BACKED_MODELS = ("mosaicvi", "priorvi", "urmf")


class ImageConfig(_Strict):
    """H&E features per spot (:func:`remadom.pp.image_features`) -> an ``image`` modality.

    The image is the one in ``uns["spatial"]`` (Visium/squidpy convention), or the file at
    ``path`` (TIFF or JPEG, StereoMM's ``-i image.tif``), read with squidpy's ``ImageContainer``
    into ``uns["spatial"][library_id]`` with ``scale_factor`` as its scalefactor. The features
    land in ``obsm["X_image"]`` of the result file; ``features_from`` reads them back from a
    previous result instead of computing them again.
    """

    path: str | None = Field(
        None, description="H&E image file (TIFF or JPEG), read through squidpy.im.ImageContainer"
    )
    scale_factor: float = Field(
        1.0, gt=0, description="image pixels per spot-coordinate unit (with path)"
    )
    spot_diameter: float | None = Field(
        None, gt=0, description="spot diameter in coordinate units (with path; default: tile_size)"
    )
    library_id: str | None = Field(
        None, description="uns['spatial'] key (with path: default 'image')"
    )
    img_key: str = "hires"
    tile_size: float | None = Field(
        None, gt=0, description="crop side, full-res pixels (StereoMM -c)"
    )
    bin_size: float | None = Field(
        None, gt=0, description="full-res pixels per coordinate unit (-b)"
    )
    features: list[str] = Field(default_factory=lambda: ["summary", "histogram", "texture"])
    features_from: str | None = Field(
        None,
        description="a previous result .h5mu: read obsm['X_image'] from it instead of computing",
    )


class DataConfig(_Strict):
    """Where the data are and how each modality is preprocessed into ``obsm``."""

    path: str | None = Field(None, description=".h5mu or .h5ad file, or a MuData .zarr store")
    dataset: str | None = Field(
        None,
        description="bundled data set: lymph_node_s1, her2st_b1, her2st_c2, or synthetic_spatial (toy run)",
    )
    backed: bool = Field(
        False,
        description="open data.path (.h5mu) with mudata.read_h5mu(path, backed='r'), or a "
        "MuData .zarr store with remadom.data.read_zarr_lazy: the count matrices stay on disk "
        "and minibatches are read from it (mosaicvi, priorvi, urmf; docs/backed.md)",
    )
    modality_name: str = Field("rna", description="modality name for a .h5ad file")
    preprocess: dict[str, Literal["rna", "protein", "atac", "none"]] = Field(
        default_factory=dict, description="per modality: rna (PCA), protein (CLR+PCA), atac (LSI)"
    )
    n_comps: int = Field(50, gt=0)
    min_counts: int = Field(
        0,
        ge=0,
        description="drop observations with fewer total counts than this in any modality "
        "before setup (the number dropped is logged); 0 keeps all",
    )
    image: ImageConfig | None = Field(
        None,
        description="compute H&E features into an 'image' modality (obsm X_image is used if present)",
    )
    csv_a: str | None = Field(
        None,
        description="MORPHOVI CSV layout: cells x features of setup.modality_a (index column: cell id)",
    )
    csv_b: str | None = Field(
        None, description="MORPHOVI CSV layout: cells x features of setup.modality_b"
    )
    labels_csv_a: str | None = Field(
        None, description="CSV: cell id, label of modality A (obs 'label'; scoring)"
    )
    labels_csv_b: str | None = Field(None, description="CSV: cell id, label of modality B")
    cluster_csv_a: str | None = Field(
        None,
        description="CSV: cell id, cluster of modality A (seed's cluster_label_morpho.csv; obs 'cluster', for the prior loss)",
    )
    cluster_csv_b: str | None = Field(
        None, description="CSV: cell id, cluster of modality B (seed's cluster_label_GEX.csv)"
    )
    prior_csv: str | None = Field(
        None, description="CSV prior matrix: A clusters x B clusters (uns 'prior')"
    )
    input_dim_a: int | None = Field(
        None, gt=0, description="MORPHOVI: checked against modality A's width after setup"
    )
    input_dim_b: int | None = Field(
        None, gt=0, description="MORPHOVI: checked against modality B's width"
    )

    @field_validator("dataset")
    @classmethod
    def _known_dataset(cls, v):
        if v is not None and v not in DATASETS:
            raise ValueError(f"unknown bundled dataset '{v}'; use one of {DATASETS}")
        return v

    def csv_files(self) -> dict[str, str]:
        keys = (
            "csv_a",
            "csv_b",
            "labels_csv_a",
            "labels_csv_b",
            "cluster_csv_a",
            "cluster_csv_b",
            "prior_csv",
        )
        return {k: getattr(self, k) for k in keys if getattr(self, k) is not None}


class GraphConfig(_Strict):
    """Spatial graph (squidpy) or an existing ``obsp`` graph."""

    spatial_key: str | None = "spatial"
    n_neighs: int = Field(6, gt=0)
    radius: float | None = Field(None, gt=0)
    coord_type: Literal["grid", "generic"] | None = None
    library_key: str | None = None
    graph_key: str | None = Field(None, description="use this existing obsp graph instead")


class SetupConfig(BaseModel):
    """Arguments of the model's ``setup_mudata`` (checked against its signature: see the model tables)."""

    model_config = ConfigDict(extra="allow")


class TrainConfig(BaseModel):
    """Arguments of the model's ``train()`` and of the Lightning ``Trainer`` (checked against
    their signatures: see the model tables), plus the workflow's own keys below."""

    model_config = ConfigDict(extra="allow")

    seed: int = Field(0, description="scvi.settings.seed")
    trainer: dict[str, Any] = Field(
        default_factory=dict, description="more Lightning Trainer arguments"
    )


class ClusterConfig(_Strict):
    method: Literal["leiden", "kmeans", "gmm"] = "leiden"
    n_clusters: int | None = Field(None, gt=1)
    resolution: float = Field(1.0, gt=0)
    key: str = "domain"


class VisualizationConfig(_Strict):
    """The 2-D embedding of the latent in ``images/latent.png`` (the seed's ``visualization``)."""

    method: Literal["umap", "pca"] = "umap"
    umap_n_neighbors: int = Field(15, gt=1)
    umap_min_dist: float = Field(0.1, ge=0)
    umap_metric: str = "euclidean"


class OutputsConfig(_Strict):
    """The run directory: ``checkpoints/``, ``logs/`` (TensorBoard), ``images/``, ``result.h5mu``,
    ``scores.json``, ``config.yaml`` and ``model/``."""

    dir: str = Field(
        "remadom_out",
        description="run directory; refused if it holds a run, unless --resume or --overwrite",
    )
    latent_key: str | None = Field(None, description="obsm key of the latent (default X_<model>)")
    cluster: ClusterConfig | None = Field(
        default_factory=ClusterConfig,
        description="cluster the latent (default on, except for morphovi)",
    )
    labels_key: str | None = Field(None, description="obs column to score clusters against")
    save_model: bool = True
    overwrite: bool = Field(False, description="as --overwrite")
    plot: bool = True
    visualization: VisualizationConfig = Field(default_factory=VisualizationConfig)
    checkpoint_every: int | None = Field(
        None,
        gt=0,
        description="also keep checkpoints/iter_<N>.ckpt every N iterations (seed snapshot_save_iter)",
    )
    plot_every: int | None = Field(
        None,
        gt=0,
        description="write images/latent_iter_<N>.png every N iterations (seed image_save_iter)",
    )
    knn_every: int | None = Field(
        None,
        gt=0,
        description="morphovi: append the kNN accuracy to knn_accuracy.txt every N iterations (seed knn_save_iter)",
    )


#: the morpho_integration seed's top-level keys -> (section, key) of this schema
MORPHO_SEED_KEYS: dict[str, tuple[str, str]] = {
    **{
        k: ("train", k)
        for k in (
            "max_iter",
            "batch_size",
            "lr",
            "beta1",
            "beta2",
            "weight_decay",
            "lr_policy",
            "step_size",
            "gamma",
            "recon_x_w",
            "kl_w",
            "gan_w",
            "gw_w",
            "lambda_p",
            "prior_loss_warmup",
            "loss_schedule",
            "phase_durations",
            "seed",
        )
    },
    "init": ("model_kwargs", "init"),
    "prior_temperature": ("model_kwargs", "prior_temperature"),
    "gen.dim": ("model_kwargs", "n_hidden"),
    "gen.latent": ("model_kwargs", "n_latent"),
    "dis.gan_type": ("model_kwargs", "gan_type"),
    "dis.dim": ("model_kwargs", "dis_dim"),
    "dis.norm": ("model_kwargs", "dis_norm"),
    "input_dim_a": ("data", "input_dim_a"),
    "input_dim_b": ("data", "input_dim_b"),
    "visualization": ("outputs", "visualization"),
    "snapshot_save_iter": ("outputs", "checkpoint_every"),
    "image_save_iter": ("outputs", "plot_every"),
    "knn_save_iter": ("outputs", "knn_every"),
}
#: MORPHOVI ``data`` keys of the earlier remadom schema that are ``setup_mudata`` arguments
MORPHO_DATA_SETUP_KEYS = (
    "modality_a",
    "modality_b",
    "layers",
    "labels_key",
    "cluster_key_a",
    "cluster_key_b",
    "prior_key",
    "nan_policy",
)
#: the seed's spellings of values: ``dis.gan_type: wgan``
GAN_TYPE_ALIASES = {"wgan": "wgan-gp", "wgangp": "wgan-gp", "wgan_gp": "wgan-gp"}


def _seed_top_keys() -> list[str]:
    return sorted({k.split(".")[0] for k in MORPHO_SEED_KEYS})


def _loss_name(k: Any) -> Any:
    """``kl_loss`` -> ``kl`` (the seed's spelling of loss names)."""
    return k[: -len("_loss")] if isinstance(k, str) and k.endswith("_loss") else k


def _phase(k: Any) -> Any:
    """``phase_2`` or ``"2"`` -> 2 (the seed's spelling of phases)."""
    if isinstance(k, str):
        s = k.strip().lower().removeprefix("phase").lstrip("_ -")
        if s.isdigit():
            return int(s)
    return k


def _open_last_phase(train: dict) -> None:
    """The seed lists the durations of all phases but the last, which runs to the end of
    training (``loss_schedule: {gw_loss: 3}`` with ``phase_durations: {phase_1: 200, phase_2:
    400}``: phase 3 from iteration 600 on). Give that phase a duration of 0:
    :class:`remadom.train.PhaseSchedule` keeps the last phase on after its duration."""
    schedule, durations = train.get("loss_schedule"), train.get("phase_durations")
    if not isinstance(schedule, dict) or not isinstance(durations, dict):
        return
    listed = [p for p in durations if isinstance(p, int)]
    named = {p for p in schedule.values() if isinstance(p, int)}
    top = max(listed, default=1)
    if top + 1 in named and not any(p > top + 1 for p in named):
        durations[top + 1] = 0


def translate_morpho(doc: dict) -> dict:
    """A ``model: morphovi`` document in this schema's sections (a copy; the seed's spellings
    mapped by :data:`MORPHO_SEED_KEYS`, the value spellings normalised).

    Raises
    ------
    ValueError
        A key given both in the seed's place and in its section, an unknown key under ``gen`` or
        ``dis``, or ``gen``/``dis`` that is not a mapping.
    """
    doc = copy.deepcopy(doc)
    sections = {
        s: dict(doc.get(s) or {}) for s in ("data", "setup", "model_kwargs", "train", "outputs")
    }

    def put(section, key, value, where):
        if key in sections[section]:
            raise ValueError(f"'{where}' and '{section}.{key}' are the same setting; give it once")
        sections[section][key] = value

    for group in ("gen", "dis"):
        sub = doc.pop(group, None)
        if sub is None:
            continue
        if not isinstance(sub, dict):
            raise ValueError(f"'{group}' must be a mapping, e.g. {group}: {{dim: 64}}")
        valid = sorted(k.split(".")[1] for k in MORPHO_SEED_KEYS if k.startswith(f"{group}."))
        for k, v in sub.items():
            if f"{group}.{k}" not in MORPHO_SEED_KEYS:
                near = difflib.get_close_matches(str(k), valid, n=1)
                hint = f" Did you mean '{near[0]}'?" if near else ""
                raise ValueError(f"unknown key '{group}.{k}'.{hint} Valid keys here: {valid}")
            put(*MORPHO_SEED_KEYS[f"{group}.{k}"], v, f"{group}.{k}")
    for k in list(doc):
        if k in MORPHO_SEED_KEYS:
            put(*MORPHO_SEED_KEYS[k], doc.pop(k), k)
    for k in MORPHO_DATA_SETUP_KEYS:  # the earlier remadom spelling: data.modality_a, ...
        if k in sections["data"]:
            put("setup", k, sections["data"].pop(k), f"data.{k}")
    data, setup = sections["data"], sections["setup"]
    for csv, col, key in (
        ("labels_csv_a", "label", "labels_key"),
        ("labels_csv_b", "label", "labels_key"),
        ("cluster_csv_a", "cluster", "cluster_key_a"),
        ("cluster_csv_b", "cluster", "cluster_key_b"),
        ("prior_csv", "prior", "prior_key"),
    ):
        if data.get(csv) is not None:
            setup.setdefault(key, col)
    train, mk = sections["train"], sections["model_kwargs"]
    if isinstance(train.get("loss_schedule"), dict):
        train["loss_schedule"] = {_loss_name(k): v for k, v in train["loss_schedule"].items()}
    if isinstance(train.get("phase_durations"), dict):
        train["phase_durations"] = {_phase(k): v for k, v in train["phase_durations"].items()}
    _open_last_phase(train)
    if isinstance(mk.get("gan_type"), str):
        mk["gan_type"] = GAN_TYPE_ALIASES.get(mk["gan_type"].lower(), mk["gan_type"])
    for s, v in sections.items():
        if v or s in doc:
            doc[s] = v
    return doc


def seed_origins(doc: dict) -> dict[str, str]:
    """``"section.key"`` -> the seed's spelling it was given as, for error messages."""
    if not isinstance(doc, dict) or doc.get("model") != "morphovi":
        return {}
    out = {}
    for k, (section, key) in MORPHO_SEED_KEYS.items():
        group, _, sub = k.partition(".")
        if (sub and isinstance(doc.get(group), dict) and sub in doc[group]) or (
            not sub and k in doc
        ):
            out[f"{section}.{key}"] = k
    for k in MORPHO_DATA_SETUP_KEYS:
        if isinstance(doc.get("data"), dict) and k in doc["data"]:
            out[f"setup.{k}"] = f"data.{k}"
    return out


class RunConfig(_Strict):
    """One run: data -> graph -> setup -> model -> train -> outputs (all five models)."""

    model: Literal["urmf", "mosaicvi", "stereomm", "priorvi", "morphovi"]
    problem: (
        Literal["paired", "unpaired", "bridge", "mosaic", "prediction", "hierarchical"] | None
    ) = Field(None, description="MOSAICVI preset (its problem= argument)")
    heads: list[dict[str, Any]] | None = Field(
        None, description="alignment heads (MOSAICVI heads=)"
    )
    data: DataConfig
    graph: GraphConfig = Field(default_factory=GraphConfig)
    setup: SetupConfig = Field(default_factory=SetupConfig)
    model_kwargs: dict[str, Any] = Field(
        default_factory=dict, description="the model class's arguments"
    )
    train: TrainConfig = Field(default_factory=TrainConfig)
    outputs: OutputsConfig = Field(default_factory=OutputsConfig)

    @model_validator(mode="before")
    @classmethod
    def _seed_spellings(cls, obj):
        if isinstance(obj, dict) and obj.get("model") == "morphovi":
            return translate_morpho(obj)
        return obj

    @model_validator(mode="after")
    def _data_source(self):
        d = self.data
        csv = d.csv_a is not None or d.csv_b is not None
        if csv and (d.csv_a is None or d.csv_b is None):
            raise ValueError("the CSV layout needs both data.csv_a and data.csv_b")
        if sum([d.path is not None, d.dataset is not None, csv]) != 1:
            raise ValueError(
                "give one data source: data.path (.h5mu/.h5ad), data.dataset (bundled) "
                "or data.csv_a + data.csv_b (MORPHOVI CSV layout)"
            )
        return self

    @property
    def setup_kwargs(self) -> dict[str, Any]:
        """The ``setup_mudata`` arguments given in the file."""
        return dict(self.setup.model_extra or {})

    @property
    def train_kwargs(self) -> dict[str, Any]:
        """The ``train()`` / Trainer arguments given in the file (without ``seed``, ``trainer``)."""
        return dict(self.train.model_extra or {})

    def cluster_config(self) -> ClusterConfig | None:
        """``outputs.cluster``; MORPHOVI clusters only when the file asks for it."""
        if self.model == "morphovi" and "cluster" not in self.outputs.model_fields_set:
            return None
        return self.outputs.cluster

    def input_files(self) -> dict[str, str]:
        """Input files the run reads, by configuration key."""
        out = {} if self.data.path is None else {"data.path": self.data.path}
        out.update({f"data.{k}": v for k, v in self.data.csv_files().items()})
        img = self.data.image
        if img is not None:
            for k in ("path", "features_from"):
                if getattr(img, k) is not None:
                    out[f"data.image.{k}"] = getattr(img, k)
        return out


def _valid_keys(loc: tuple, root: type[BaseModel], model: Any = None) -> list[str]:
    sub_model: type[BaseModel] = root
    for part in loc[:-1]:
        if isinstance(part, int):
            continue
        field = sub_model.model_fields.get(part)
        if field is None:
            return []
        ann = field.annotation
        candidates = [ann, *getattr(ann, "__args__", ())]
        sub = next(
            (c for c in candidates if isinstance(c, type) and issubclass(c, BaseModel)), None
        )
        if sub is None:
            return []
        sub_model = sub
    keys = list(sub_model.model_fields)
    if len(loc) == 1 and model == "morphovi":
        keys += [k for k in _seed_top_keys() if k not in keys]
    return keys


def _format_errors(err: ValidationError, root: type[BaseModel], model: Any = None) -> str:
    """Each problem of a validation error on one line: unknown keys with the nearest valid key."""
    lines = []
    for e in err.errors():
        loc = tuple(e["loc"])
        key = ".".join(str(p) for p in loc)
        if e["type"] == "extra_forbidden":
            valid = _valid_keys(loc, root, model)
            near = difflib.get_close_matches(str(loc[-1]), valid, n=1)
            hint = f" Did you mean '{near[0]}'?" if near else ""
            lines.append(f"- unknown key '{key}'.{hint} Valid keys here: {valid}.")
        elif e["type"] == "missing":
            lines.append(f"- missing required key '{key}'.")
        elif not loc or e["type"] == "value_error":
            msg = str(e["msg"]).removeprefix("Value error, ")
            lines.append(f"- '{key}': {msg}." if key else f"- {msg}.")
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
    keys = list(RunConfig.model_fields)
    if model == "morphovi" or model not in MODELS:
        keys += [k for k in _seed_top_keys() if k not in keys]
    return keys


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
        An item without ``=``, a value that is not valid YAML, a top-level key the schema does
        not have (with the nearest valid key), or a key below a value that is not a section.
    """
    if not isinstance(doc, dict):
        raise ConfigError("invalid configuration: the YAML top level must be a mapping.")
    out = copy.deepcopy(doc)
    parsed = []
    for item in overrides:
        key, sep, raw = item.partition("=")
        parts = key.strip().split(".")
        if not sep or not all(parts):
            raise ConfigError(
                f"--set '{item}': write KEY.SUB=VALUE, e.g. --set train.max_epochs=5."
            )
        try:
            value = yaml.safe_load(raw)
        except yaml.YAMLError:
            raise ConfigError(
                f"--set '{item}': the value is not valid YAML; quote it, "
                f"e.g. --set '{key}=\"{raw}\"'."
            ) from None
        parsed.append((item, parts, value))
    for _item, parts, value in parsed:  # 'model' first: it decides which top-level keys are valid
        if parts == ["model"]:
            out["model"] = value
    valid = _top_level_keys(out.get("model"))
    for item, parts, value in parsed:
        if parts[0] not in valid:
            near = difflib.get_close_matches(parts[0], valid, n=1)
            hint = f" Did you mean '{near[0]}'?" if near else ""
            raise ConfigError(
                f"--set '{item}': unknown top-level key '{parts[0]}'.{hint} Valid keys: {valid}."
            )
        node: Any = out
        for i, part in enumerate(parts):
            last = i == len(parts) - 1
            if isinstance(node, list):
                if not (part.isdigit() and int(part) < len(node)):
                    raise ConfigError(
                        f"--set '{item}': '{'.'.join(parts[:i])}' is a list of "
                        f"{len(node)}; index it with 0 to {len(node) - 1}."
                    )
                part = int(part)
            elif not isinstance(node, dict):
                raise ConfigError(
                    f"--set '{item}': '{'.'.join(parts[:i])}' is {node!r}, not a section with keys."
                )
            if last:
                node[part] = value
            else:
                if isinstance(node, dict) and node.get(part) is None:
                    node[part] = {}
                node = node[part]
    return out


def check_inputs(cfg: RunConfig) -> None:
    """Check that every input file of a validated configuration exists.

    Raises
    ------
    FileNotFoundError
        Naming each missing file and its key, on one line.
    """
    missing = [f"{key} '{p}'" for key, p in cfg.input_files().items() if not Path(p).exists()]
    if missing:
        verb = "does" if len(missing) == 1 else "do"
        raise FileNotFoundError(
            f"{' and '.join(missing)} {verb} not exist (relative paths are read "
            f"from the current directory, {Path.cwd()})."
        )


def parse_config(obj: dict | str | Path) -> RunConfig:
    """Validate a configuration given as a dict or a YAML file path.

    The run-level sections are validated by :class:`RunConfig`; ``setup``, ``model_kwargs`` and
    ``train`` against the model's signatures (which loads the model classes), with each value
    converted to the parameter's type.

    Returns
    -------
    The :class:`RunConfig`.

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
        raise ConfigError(
            f"invalid configuration:\n- 'model': unknown model {obj['model']!r}.{hint} "
            f"Models: {', '.join(MODELS)}."
        )
    try:
        cfg = RunConfig.model_validate(obj)
    except ValidationError as err:
        raise ConfigError(_format_errors(err, RunConfig, obj.get("model"))) from None
    except ValueError as err:  # the seed translation
        raise ConfigError(f"invalid configuration:\n- {err}.") from None
    problems = _model_specific_problems(cfg, given_setup="setup" in obj)
    origins = seed_origins(obj)
    for seed_key, (section_key) in ((v, k) for k, v in origins.items()):
        problems = [p.replace(f"'{section_key}'", f"'{seed_key}'", 1) for p in problems]
    if problems:
        raise ConfigError("invalid configuration:\n" + "\n".join(problems))
    return cfg


def likelihoods(model: str) -> tuple[str, ...]:
    """The likelihood names ``setup.likelihoods`` may use for ``model`` (empty: no choice), from
    the one registry :data:`remadom.nn.LIKELIHOODS`: URMF takes the names with a mean decoder,
    MOSAICVI and PRIORVI every name."""
    from remadom.nn import LIKELIHOODS, MEAN_DECODER_LIKELIHOODS

    if model == "urmf":
        return tuple(MEAN_DECODER_LIKELIHOODS)
    if model in ("mosaicvi", "priorvi"):
        return tuple(LIKELIHOODS)
    return ()


def _check_section(
    cfg: RunConfig, section: str, given: dict[str, Any], out: list[str]
) -> dict[str, Any]:
    """Problems with the keys of one model-level section; returns the converted values."""
    params = parameters(cfg.model, section)
    converted = {}
    for k, v in given.items():
        if k in params:
            try:
                converted[k] = coerce(params[k], v)
            except ValueError as e:
                out.append(f"- '{section}.{k}': {e}.")
            continue
        if section == "train" and k == "lr":  # plan_kwargs={"lr": ...} where train() has no lr
            converted[k] = v
            continue
        others = owners(section, k, cfg.model)
        near = difflib.get_close_matches(k, list(params), n=1)
        if others:
            out.append(
                f"- '{section}.{k}' is not a {cfg.model} setting; it is a {', '.join(others)} "
                f"setting. {cfg.model} {section} keys: {', '.join(params)}."
            )
        else:
            hint = f" Did you mean '{near[0]}'?" if near else ""
            out.append(
                f"- unknown key '{section}.{k}'.{hint} {cfg.model} {section} keys: "
                f"{', '.join(params)}."
            )
    return converted


def _model_specific_problems(cfg: RunConfig, given_setup: bool = True) -> list[str]:
    """Check ``setup``, ``model_kwargs`` and ``train`` against the model's signatures (the values
    are replaced by their converted form), and the few checks across sections."""
    out: list[str] = []
    m = cfg.model
    setup = _check_section(cfg, "setup", cfg.setup_kwargs, out)
    required = [k for k, p in parameters(m, "setup").items() if p.required and k not in setup]
    if required:
        where = "setup" if not given_setup else f"setup.{required[0]}"
        out.append(
            f"- missing required key '{where}' ({m}'s setup_mudata needs: {', '.join(required)})."
        )
    model_kwargs = _check_section(cfg, "model_kwargs", cfg.model_kwargs, out)
    train = _check_section(cfg, "train", cfg.train_kwargs, out)
    bad_trainer = sorted(set(cfg.train.trainer) - set(parameters(m, "train")))
    for k in bad_trainer:
        near = difflib.get_close_matches(k, list(parameters(m, "train")), n=1)
        hint = f" Did you mean '{near[0]}'?" if near else ""
        out.append(f"- unknown key 'train.trainer.{k}'.{hint} (Lightning Trainer arguments)")
    for k in ("problem", "heads"):
        if (
            k in cfg.model_fields_set
            and getattr(cfg, k) is not None
            and k not in parameters(m, "model_kwargs")
        ):
            who = ", ".join(owners("model_kwargs", k, m)) or "another model's"
            out.append(f"- '{k}' is a {who} setting; remove it for model: {m}.")
        if k in cfg.model_fields_set and k in model_kwargs:
            out.append(f"- '{k}' and 'model_kwargs.{k}' are the same setting; give it once.")
    mods = setup.get("modalities")
    if "likelihoods" in setup and setup["likelihoods"]:
        allowed = likelihoods(m)
        for mod, lik in setup["likelihoods"].items():
            if lik not in allowed:
                out.append(
                    f"- 'setup.likelihoods.{mod}': '{lik}' is not a {m} likelihood; choose "
                    f"one of {list(allowed)}."
                )
    if mods is not None:
        if cfg.data.image is not None and "image" not in mods:
            out.append(
                "- 'data.image' is set but 'setup.modalities' has no 'image'; add it, e.g. "
                f"modalities: [{', '.join([*mods, 'image'])}], or remove data.image."
            )
        if "image" in mods and len(mods) < 2:
            out.append(f"- 'setup.modalities': {m} needs 'rna' beside 'image', e.g. [rna, image].")
        unknown = set(cfg.data.preprocess) - set(mods)
        if unknown:
            out.append(
                f"- 'data.preprocess' names modalities not in 'setup.modalities': {sorted(unknown)}."
            )
    if m != "morphovi":
        for k in (
            "csv_a",
            "labels_csv_a",
            "cluster_csv_a",
            "prior_csv",
            "input_dim_a",
            "input_dim_b",
        ):
            if getattr(cfg.data, k) is not None:
                out.append(
                    f"- 'data.{k}' is a morphovi setting (two unpaired modalities); remove it for model: {m}."
                )
        if cfg.outputs.knn_every is not None:
            out.append(f"- 'outputs.knn_every' is a morphovi setting; remove it for model: {m}.")
    else:
        out += _morphovi_problems(cfg, setup, train)
    if cfg.data.backed:
        out += _backed_problems(cfg)
    for i, h in enumerate(cfg.heads or []):
        from remadom.heads import make_head

        try:
            make_head(h)
        except ValueError as e:
            out.append(f"- 'heads.{i}': {e}")
    if not out:
        cfg.setup = SetupConfig(**setup)
        cfg.model_kwargs = model_kwargs
        cfg.train = TrainConfig(seed=cfg.train.seed, trainer=cfg.train.trainer, **train)
    return out


def _backed_problems(cfg: RunConfig) -> list[str]:
    """``data.backed: true`` with a model, a data source or a data step that needs the data in
    memory."""
    out = []
    d, m = cfg.data, cfg.model
    if m not in BACKED_MODELS:
        out.append(
            f"- 'data.backed': {m} cannot train on backed data (its inputs must be in memory); "
            f"remove data.backed, or use one of {', '.join(BACKED_MODELS)}."
        )
    if d.dataset is not None:
        out.append(
            f"- 'data.backed' needs an .h5mu file at data.path, but data.dataset "
            f"'{d.dataset}' is a bundled data set, loaded into memory; remove data.backed, or "
            "write the data set once with .write_h5mu('data.h5mu') and set data.path to it."
        )
    elif d.csv_a is not None:
        out.append(
            "- 'data.backed' needs an .h5mu file at data.path, but the CSV layout "
            "(data.csv_a, data.csv_b) is read into memory; remove data.backed."
        )
    elif d.path is not None and Path(d.path).suffix not in (".h5mu", ".zarr"):
        out.append(
            f"- 'data.backed' opens an .h5mu file with mudata.read_h5mu(path, backed='r') or a "
            f"MuData .zarr store with remadom.data.read_zarr_lazy, but data.path '{d.path}' is "
            f"neither; convert it once, e.g. mudata.MuData("
            f"{{'{d.modality_name}': anndata.read_h5ad('{d.path}')}}).write_h5mu('data.h5mu'), "
            "and set data.path to the .h5mu file, or remove data.backed."
        )
    steps = sorted(k for k, v in d.preprocess.items() if v != "none")
    if steps:
        out.append(
            f"- 'data.preprocess' ({', '.join(steps)}) reads the whole matrix into memory, which "
            "data.backed avoids; compute the reduction once (e.g. remadom.pp.pca_rna on the "
            "data in memory), write it into the file's obsm and name it in setup.layers "
            "(e.g. {rna: X_pca}), or remove data.backed."
        )
    if d.image is not None:
        out.append(
            "- 'data.image' adds an 'image' modality in memory, which a backed file cannot take; "
            "write the image features into the file once (an 'image' modality), or remove "
            "data.backed."
        )
    if d.min_counts:
        out.append(
            "- 'data.min_counts' subsets the cells in memory, which data.backed avoids; filter "
            "the file once beforehand and set min_counts: 0, or remove data.backed."
        )
    return out


def _morphovi_problems(cfg: RunConfig, setup: dict, train: dict) -> list[str]:
    out = []
    schedule, durations = train.get("loss_schedule") or {}, train.get("phase_durations") or {}
    missing = sorted({p for p in schedule.values() if p not in durations and p != 1})
    if missing:
        out.append(
            f"- 'train.loss_schedule' names phase(s) {missing} that phase_durations lacks; add "
            f"them, e.g. phase_durations: {{{', '.join(f'{p}: 1000' for p in missing)}}}."
        )
    if (train.get("lambda_p") or 0) > 0 and not (
        setup.get("prior_key") and setup.get("cluster_key_a") and setup.get("cluster_key_b")
    ):
        out.append(
            "- 'lambda_p' > 0 needs a prior matrix and both modalities' clusters: data.prior_csv "
            "(or setup.prior_key) and data.cluster_csv_a/b (or setup.cluster_key_a/b)."
        )
    if cfg.data.csv_a is not None and cfg.data.csv_b is None:
        out.append("- the CSV layout needs both data.csv_a and data.csv_b.")
    return out
