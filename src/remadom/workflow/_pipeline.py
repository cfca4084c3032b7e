"""The pipeline behind ``remadom fit``, the same for the five models.

load -> image features -> preprocess -> graph -> ``setup_mudata`` -> model -> ``train`` ->
latent, clusters, scores, plots; everything goes into one run directory::

    <outputs.dir>/
      config.yaml      the configuration as run (the YAML with --set applied); --resume compares it
      checkpoints/     last.ckpt (every epoch; kept), iter_<N>.ckpt (outputs.checkpoint_every)
      logs/            TensorBoard events (scvi-tools' history is kept as model.history too)
      images/          loss.png, latent.png, domains.png, latent_iter_<N>.png
      result.h5mu      the data with obsm[<latent_key>] (and obsm["X_image"], cluster labels);
                       data.backed: without the modalities' .X (they stay in data.path)
      store/           data.backed: derived model inputs read from disk (URMF's propagations)
      scores.json      the JSON that ``remadom fit`` prints
      knn_accuracy.txt MORPHOVI: kNN accuracy (and FOSCTTM), per outputs.knn_every and final
      model/           model.save (outputs.save_model)

One overwrite rule: a directory that holds files is refused unless ``--resume`` (same
configuration, continue from ``checkpoints/last.ckpt``) or ``--overwrite`` (the new run is built
in a sibling staging folder and replaces the old one only once it has finished: a failed run
leaves the previous run, checkpoints included, as it was).

Under DDP (``train: {strategy: ddp, devices: N}``) every process runs the whole command: Lightning
starts the extra processes by running it again, ``torchrun`` or ``srun`` start all of them. Only
rank 0 applies the overwrite rule and writes the run directory; the other processes load and set
up the same data, train their share and return ``None``, keeping any scratch files (derived
inputs of backed data) in a temporary folder that is removed when they end.
"""

from __future__ import annotations

import contextlib
import inspect
import json
import logging
import os
import shutil
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from ._inputs import add_image_modality, load_data, without_matrices
from ._schema import RunConfig
from ._signatures import model_class, parameters

logger = logging.getLogger(__name__)

_PREP = {
    "rna": ("pca_rna", "X_pca"),
    "protein": ("pca_protein", "X_pca"),
    "atac": ("lsi_atac", "X_lsi"),
}
LAYOUT = ("checkpoints", "logs", "images")


def _holds_files(path: Path) -> bool:
    return path.is_dir() and any(path.iterdir())


def prepare_run_dir(run_dir: Path, doc: dict | None, resume: bool, overwrite: bool) -> Path:
    """Apply the overwrite rule; return the folder this run writes into.

    Raises
    ------
    FileExistsError
        ``run_dir`` holds files and neither ``resume`` nor ``overwrite`` is set; ``resume`` with
        another configuration than the saved ``config.yaml``.
    FileNotFoundError
        ``resume`` without ``checkpoints/last.ckpt``.
    ValueError
        Both ``resume`` and ``overwrite``.
    """
    if resume and overwrite:
        raise ValueError("--resume continues a run and --overwrite replaces it; pass one of them.")
    saved_path = run_dir / "config.yaml"
    saved = yaml.safe_load(saved_path.read_text()) if saved_path.is_file() else None
    if resume:
        last = run_dir / "checkpoints" / "last.ckpt"
        if not last.is_file():
            raise FileNotFoundError(
                f"--resume: no checkpoint at '{last}'; run without --resume first."
            )
        if saved is not None and doc is not None and saved != doc:
            raise FileExistsError(
                f"--resume: '{run_dir}' holds a run of another configuration; resume "
                "with the same YAML and --set overrides, or use another outputs.dir."
            )
        return run_dir
    if _holds_files(run_dir):
        if overwrite:
            staging = run_dir.with_name(f".{run_dir.name}.overwrite")
            shutil.rmtree(staging, ignore_errors=True)  # a failed earlier --overwrite
            return staging
        what = (
            "another configuration's run"
            if saved is not None and doc is not None and saved != doc
            else "a previous run"
        )
        raise FileExistsError(
            f"'{run_dir}' holds {what}; nothing was overwritten. Use --resume to "
            "continue it, --overwrite to replace it, or another outputs.dir."
        )
    return run_dir


def run(
    cfg: RunConfig,
    doc: dict | None = None,
    *,
    resume: bool = False,
    overwrite: bool = False,
    progress_bar: bool = True,
) -> dict | None:
    """Execute a validated configuration; returns the scores and output paths.

    Parameters
    ----------
    cfg
        From :func:`~remadom.workflow.parse_config`.
    doc
        The configuration as read (YAML with ``--set`` applied); written to ``config.yaml`` and
        compared on ``resume``. Default: ``cfg`` as a dict.
    resume
        Continue from ``outputs.dir/checkpoints/last.ckpt`` (same configuration).
    overwrite
        Replace a previous run in ``outputs.dir`` once this one has finished (also
        ``outputs.overwrite: true``).
    progress_bar
        Lightning's progress bar (on stderr).

    Returns
    -------
    ``{"run_dir", "latent_key", "h5mu", "model", <scores>...}`` (also in ``scores.json``; with
    ``"world_size"`` for a DDP run). ``None`` in the processes of rank > 0 of a DDP run
    (:func:`remadom.train.is_main_process`), which write nothing into the run directory.

    Raises
    ------
    FileExistsError, FileNotFoundError
        The overwrite rule (:func:`prepare_run_dir`; rank 0 only).
    ValueError
        Bad data (from setup, with the modality, field and fix), ``data.input_dim_a/b`` that do
        not match the data.
    """
    from remadom.train import is_main_process

    if doc is None:
        doc = cfg.model_dump(mode="json")
    final = Path(cfg.outputs.dir)
    if not is_main_process():
        return _run_other_rank(cfg, doc, final, resume, progress_bar)
    work = prepare_run_dir(final, doc, resume, overwrite or cfg.outputs.overwrite)
    created = not work.exists()
    try:
        with _store_dir(work / "store" if cfg.data.backed else None):
            result = _run(cfg, doc, work, final, resume, progress_bar)
    except BaseException:
        if created and not any((work / "checkpoints").glob("*.ckpt")):
            shutil.rmtree(work, ignore_errors=True)  # nothing trained: leave no trace of the run
        raise
    if work != final:  # --overwrite: swap the finished run in
        old = final.with_name(f".{final.name}.old")
        shutil.rmtree(old, ignore_errors=True)
        os.replace(final, old)
        os.replace(work, final)
        shutil.rmtree(old, ignore_errors=True)
    return result


def _run_other_rank(
    cfg: RunConfig, doc: dict, final: Path, resume: bool, progress_bar: bool
) -> None:
    """A DDP process of rank > 0: the same data, setup and training as rank 0, no outputs.

    It never applies the overwrite rule (rank 0 may already have filled the run directory, or be
    building it in the ``--overwrite`` staging folder). Its checkpoint folder is a temporary one
    (Lightning writes checkpoints from rank 0 only, into rank 0's folder), or with ``resume`` the
    run's own, which it only reads.
    """
    with tempfile.TemporaryDirectory(prefix="remadom_rank_", ignore_cleanup_errors=True) as tmp:
        work = final if resume else Path(tmp)
        with _store_dir(Path(tmp) / "store" if cfg.data.backed else None):
            _run(cfg, doc, work, final, resume, progress_bar, main=False)
    return None


@contextlib.contextmanager
def _store_dir(path: Path | None):
    """Derived inputs of backed data (:func:`remadom.data.write_store`) go to ``path`` while the
    run lasts, not next to the user's data file (whose folder may be read-only)."""
    if path is None:
        yield
        return
    from remadom.data import set_store_dir

    previous = set_store_dir(path)
    try:
        yield
    finally:
        set_store_dir(previous)


def _run(
    cfg: RunConfig,
    doc: dict,
    work: Path,
    final: Path,
    resume: bool,
    progress_bar: bool,
    main: bool = True,
) -> dict | None:
    import scvi

    from remadom import data as rdata
    from remadom import pp

    m = cfg.model
    cls = model_class(m)
    scvi.settings.seed = cfg.train.seed
    mdata = load_data(cfg)
    setup = cfg.setup_kwargs
    mods = setup.get("modalities")
    if mods is not None and "image" in mods and "image" not in mdata.mod:
        add_image_modality(mdata, cfg)
    layers = dict(setup.get("layers") or {})
    for mod, kind in cfg.data.preprocess.items():
        if kind == "none":
            continue
        fn, key = _PREP[kind]
        # proteins keep n_vars - 1 components (SpatialGlue's choice); the others take n_comps
        kwargs = {} if kind == "protein" else {"n_comps": cfg.data.n_comps}
        getattr(pp, fn)(mdata[mod], **kwargs)
        layers.setdefault(mod, key)
    sparams = parameters(m, "setup")
    if layers:
        setup["layers"] = layers
    g = cfg.graph
    has_coords = g.spatial_key is not None and g.spatial_key in mdata.obsm
    built_graph = False
    if g.graph_key is None and has_coords:
        rdata.spatial_graph(
            mdata,
            n_neighs=g.n_neighs,
            radius=g.radius,
            coord_type=g.coord_type,
            spatial_key=g.spatial_key,
            library_key=g.library_key,
        )
        built_graph = True
    if "spatial_graph_key" in sparams:  # models that read the spatial graph: the graph section
        setup.setdefault("spatial_key", g.spatial_key)
        setup.setdefault("spatial_graph_key", g.graph_key)
    if "radius_cutoff" in sparams and g.radius is not None:
        setup.setdefault("radius_cutoff", g.radius)
    cls.setup_mudata(mdata, **setup)
    model_kwargs = dict(cfg.model_kwargs)
    for k in ("problem", "heads"):
        if getattr(cfg, k) is not None:
            model_kwargs[k] = getattr(cfg, k)
    model = cls(mdata, **model_kwargs)
    per_modality = cls._LATENT_PER_MODALITY  # MORPHOVI: one encoder per modality
    _check_input_dims(model, cfg)
    if main:
        for d in LAYOUT:
            (work / d).mkdir(parents=True, exist_ok=True)
        if not resume:
            (work / "config.yaml").write_text(yaml.safe_dump(doc, sort_keys=False))
    labels_key = cfg.outputs.labels_key or (setup.get("labels_key") if per_modality else None)
    scorer = _Scorer(cfg, model, mdata, labels_key, work)
    model.train(**_train_kwargs(cfg, cls, work, resume, progress_bar, scorer))
    trainer = getattr(model, "trainer", None)
    if not main or not getattr(trainer, "is_global_zero", True):
        return None  # DDP rank > 0: every process holds the same model; rank 0 writes it

    key = cfg.outputs.latent_key or f"X_{m}"
    z = model.get_latent_representation()
    if not np.isfinite(z).all():
        raise ValueError(
            f"the {m} latent has NaN/inf values for {int((~np.isfinite(z).all(1)).sum())} "
            "cells; lower train.lr or check the input data."
        )
    mdata.obsm[key] = z
    result: dict = {"run_dir": str(final), "latent_key": key}
    if getattr(trainer, "world_size", 1) > 1:
        result["world_size"] = int(trainer.world_size)
    c = cfg.cluster_config()
    if c is not None:
        from remadom import metrics, tl

        labels = tl.cluster(
            mdata,
            key,
            method=c.method,
            n_clusters=c.n_clusters,
            resolution=c.resolution,
            key_added=c.key,
            random_state=cfg.train.seed,
        )
        result["n_clusters"] = int(labels.nunique())
        if built_graph:
            result["morans_i"] = metrics.morans_i_labels(
                labels, mdata.obsp["spatial_connectivities"]
            )
        if cfg.outputs.labels_key:
            y = mdata.obs[cfg.outputs.labels_key]
            result["ari"] = metrics.ari(y, labels)
            result["nmi"] = metrics.nmi(y, labels)
    if per_modality:
        knn = scorer.knn()
        scorer.write_knn("final", knn)
        result.update(knn)
    if cfg.outputs.plot:
        result.update(_plots(cfg, model, mdata, key, labels_key, work, final, has_coords))
    # backed: the count matrices stay in data.path (read-only); the result holds the rest
    (without_matrices(mdata) if cfg.data.backed else mdata).write_h5mu(work / "result.h5mu")
    result["h5mu"] = str(final / "result.h5mu")
    if cfg.outputs.save_model:
        model.save(str(work / "model"), overwrite=True)
        result["model"] = str(final / "model")
    (work / "scores.json").write_text(json.dumps(result, indent=2))
    return result


def _check_input_dims(model, cfg: RunConfig) -> None:
    """``data.input_dim_a``/``_b`` (MORPHOVI seed keys; the schema refuses them for the other
    models) against the widths of the model's two encoders."""
    import torch

    for key in ("a", "b"):
        want = getattr(cfg.data, f"input_dim_{key}")
        if want is None:
            continue
        vae = getattr(model.module, f"vae_{key}")
        got = next(x for x in vae.modules() if isinstance(x, torch.nn.Linear)).in_features
        if want != got:
            raise ValueError(
                f"input_dim_{key}: {want} in the config but the data give {got} features "
                f"(after preprocessing); set input_dim_{key}: {got} or remove the key."
            )


def _train_kwargs(
    cfg: RunConfig, cls, work: Path, resume: bool, progress_bar: bool, scorer
) -> dict:
    from lightning.pytorch.loggers import TensorBoardLogger

    kw = {**cfg.train_kwargs, **cfg.train.trainer}
    if "lr" in kw and "lr" not in inspect.signature(cls.train).parameters:
        kw["plan_kwargs"] = {**(kw.get("plan_kwargs") or {}), "lr": kw.pop("lr")}
    callbacks = [scorer.callback()] if scorer.active else []
    kw.update(
        checkpoint_dir=str(work / "checkpoints"),
        resume=resume,
        enable_progress_bar=progress_bar,
        # every model's train() puts a history logger first (train.keep_history)
        logger=TensorBoardLogger(save_dir=str(work / "logs"), name="", version=""),
        callbacks=callbacks,
    )
    return kw


class _Scorer:
    """Latents, scores and plots of a model during (every N iterations) and after training."""

    def __init__(self, cfg: RunConfig, model, mdata, labels_key, work: Path):
        self.cfg, self.model, self.mdata, self.labels_key, self.work = (
            cfg,
            model,
            mdata,
            labels_key,
            work,
        )
        o = cfg.outputs
        self.every = {"checkpoint": o.checkpoint_every, "plot": o.plot_every, "knn": o.knn_every}
        self.active = any(v is not None for v in self.every.values())

    # latents ---------------------------------------------------------------------------------
    def split(self):
        """MORPHOVI: each modality's cells through its own VAE, ``(z_a, z_b)``."""
        names = self.model.modalities
        out = []
        for name in names:
            rows = np.asarray(self.mdata.obs_names.isin(self.mdata[name].obs_names))
            out.append(self.model.get_latent_representation(modality=name)[rows])
        return out[0], out[1]

    def knn(self) -> dict[str, float]:
        from remadom.metrics import foscttm, label_transfer_accuracy, topk_matching

        z_a, z_b = self.split()
        out = {}
        if len(z_a) == len(z_b):  # rows in the same order: position-based matching
            out["foscttm"] = foscttm(z_a, z_b)
            for k in (1, 5, 10):
                out[f"position_top{k}"] = topk_matching(z_a, z_b, k)
        ma, mb = self.model.modalities
        la, lb = self._labels(ma), self._labels(mb)
        if la is not None and lb is not None:
            out[f"label_{mb}_to_{ma}"] = label_transfer_accuracy(z_b, lb, z_a, la)
            out[f"label_{ma}_to_{mb}"] = label_transfer_accuracy(z_a, la, z_b, lb)
        return out

    def write_knn(self, iteration, scores: dict) -> None:
        path = self.work / "knn_accuracy.txt"
        new = not path.exists()
        with path.open("a") as f:
            if new:
                f.write("\t".join(["iteration", *scores]) + "\n")
            f.write("\t".join([str(iteration), *(f"{v:.4f}" for v in scores.values())]) + "\n")

    def _labels(self, modality):
        key = self.labels_key
        if key is None:
            return None
        obs = self.mdata[modality].obs
        if key in obs:
            return obs[key].astype(str).to_numpy()
        if key in self.mdata.obs:
            return self.mdata.obs.loc[obs.index, key].astype(str).to_numpy()
        return None

    def latent_figure(self, z: np.ndarray, path: Path) -> None:
        """A 2-D embedding (UMAP or PCA) of the latent, coloured by label and (MORPHOVI) modality."""
        import matplotlib as mpl
        from matplotlib.figure import Figure

        v = self.cfg.outputs.visualization
        ok = np.isfinite(z).all(1)
        z = z[ok]
        if v.method == "umap" and len(z) > v.umap_n_neighbors + 1:
            import umap

            emb = umap.UMAP(
                n_neighbors=v.umap_n_neighbors,
                min_dist=v.umap_min_dist,
                metric=v.umap_metric,
                random_state=self.cfg.train.seed,
            ).fit_transform(z)
        else:
            from sklearn.decomposition import PCA

            emb = PCA(n_components=2, random_state=self.cfg.train.seed).fit_transform(z)
        colourings = []
        if self.model._LATENT_PER_MODALITY:
            mods = np.full(self.mdata.n_obs, "", dtype=object)
            for name in self.model.modalities:
                mods[np.asarray(self.mdata.obs_names.isin(self.mdata[name].obs_names))] = name
            colourings.append(("modality", mods[ok]))
            labs = np.full(self.mdata.n_obs, "nan", dtype=object)
            for name in self.model.modalities:
                lab = self._labels(name)
                if lab is not None:
                    labs[self.mdata.obs_names.get_indexer(self.mdata[name].obs_names)] = lab
            if self.labels_key is not None:
                colourings.append((self.labels_key, labs[ok]))
        elif self.labels_key is not None and self.labels_key in self.mdata.obs:
            colourings.append(
                (self.labels_key, self.mdata.obs[self.labels_key].astype(str).to_numpy()[ok])
            )
        if not colourings:
            colourings.append(("cells", np.full(len(z), "cell", dtype=object)))
        # a bare Figure (no pyplot): written with any matplotlib backend, even headless
        fig = Figure(figsize=(5.5 * len(colourings), 4.5))
        axes = fig.subplots(1, len(colourings), squeeze=False)
        cmap = mpl.colormaps["tab20"]
        for ax, (title, col) in zip(axes[0], colourings, strict=True):
            for i, c in enumerate(pd.unique(col)):
                sel = col == c
                ax.scatter(emb[sel, 0], emb[sel, 1], s=4, label=str(c), color=cmap(i % 20))
            ax.set_title(f"{v.method.upper()} of the {self.cfg.model} latent: {title}")
            if len(pd.unique(col)) <= 30:
                ax.legend(markerscale=3, fontsize=6, loc="best")
        fig.savefig(path, dpi=110, bbox_inches="tight")

    # during training --------------------------------------------------------------------------
    def callback(self):
        from lightning.pytorch.callbacks import Callback

        scorer = self

        class EveryNIterations(Callback):
            """Checkpoint, latent plot and kNN accuracy every N iterations (training batches)."""

            def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
                n = trainer.fit_loop.total_batch_idx + 1
                due = {k: e is not None and n % e == 0 for k, e in scorer.every.items()}
                if due["checkpoint"]:
                    path = scorer.work / "checkpoints" / f"iter_{n:06d}.ckpt"
                    # every DDP process takes part; Lightning writes the file from rank 0 only
                    trainer.save_checkpoint(f"{path}.tmp")
                    if trainer.is_global_zero:  # a failed save never leaves a half file
                        os.replace(f"{path}.tmp", path)
                if (due["plot"] or due["knn"]) and trainer.is_global_zero:
                    if due["plot"]:
                        z = scorer.model.get_latent_representation()
                        scorer.latent_figure(z, scorer.work / "images" / f"latent_iter_{n:06d}.png")
                    if due["knn"]:
                        scorer.write_knn(n, scorer.knn())
                    pl_module.module.train()

        return EveryNIterations()


def _plots(
    cfg: RunConfig, model, mdata, key, labels_key, work: Path, final: Path, has_coords
) -> dict:
    import matplotlib.pyplot as plt

    from remadom import pl

    out = {}
    img = work / "images"
    history = {
        k: v
        for k, v in (model.history or {}).items()
        if "loss" in k or k.endswith(("_raw", "_weighted"))
    }
    if history:
        plt.close(
            pl.loss_curves(history, keys=sorted(history), save=img / "loss.png", return_fig=True)
        )
    if (img / "loss.png").exists():  # a resumed run with nothing left to train keeps its curves
        out["loss_plot"] = str(final / "images" / "loss.png")
    _Scorer(cfg, model, mdata, labels_key, work).latent_figure(mdata.obsm[key], img / "latent.png")
    out["latent_plot"] = str(final / "images" / "latent.png")
    c = cfg.cluster_config()
    if has_coords and c is not None:
        cols = [c.key] + ([cfg.outputs.labels_key] if cfg.outputs.labels_key else [])
        plt.close(
            pl.domains(
                mdata,
                cols,
                spatial_key=cfg.graph.spatial_key,
                save=img / "domains.png",
                return_fig=True,
            )
        )
        out["plot"] = str(final / "images" / "domains.png")
    return out
