"""The pipeline behind ``remadom fit``: load -> preprocess -> graph -> setup -> train -> outputs."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import anndata as ad
import matplotlib.pyplot as plt
import mudata as md
import numpy as np
import scvi

from . import data as rdata
from . import datasets, metrics, pl, tl
from .config import RunConfig
from .model import MOSAICVI, PRIORVI, STEREOMM, URMF

logger = logging.getLogger(__name__)

MODELS = {"urmf": URMF, "mosaicvi": MOSAICVI, "stereomm": STEREOMM, "priorvi": PRIORVI}
_PREP = {"rna": (rdata.pca_rna, "X_pca"), "protein": (rdata.pca_protein, "X_pca"),
         "atac": (rdata.lsi_atac, "X_lsi")}


def as_mudata(adata: ad.AnnData, modality: str = "rna") -> md.MuData:
    """Wrap an AnnData as a one-modality MuData, with ``obs`` and ``obsm["spatial"]`` at the top."""
    mdata = md.MuData({modality: adata})
    mdata.obs = adata.obs.copy()
    for k in ("spatial",):
        if k in adata.obsm:
            mdata.obsm[k] = np.asarray(adata.obsm[k])
    return mdata


def load_data(cfg: RunConfig) -> md.MuData:
    """Read the configured file or bundled data set as a MuData."""
    if cfg.data.dataset is not None:
        obj = getattr(datasets, cfg.data.dataset)()
    else:
        path = Path(cfg.data.path)
        if not path.exists():
            raise FileNotFoundError(f"data.path '{path}' does not exist.")
        obj = md.read_h5mu(path) if path.suffix == ".h5mu" else ad.read_h5ad(path)
    mdata = obj if isinstance(obj, md.MuData) else as_mudata(obj, cfg.data.modality_name)
    return drop_low_count_cells(mdata, cfg.data.min_counts)


def drop_low_count_cells(mdata: md.MuData, min_counts: int) -> md.MuData:
    """Drop observations with fewer than ``min_counts`` total counts in any modality (logged)."""
    if not min_counts:
        return mdata
    keep = np.ones(mdata.n_obs, dtype=bool)
    for name, a in mdata.mod.items():
        low = np.asarray(a.X.sum(1)).ravel() < min_counts
        if low.any():
            logger.warning("data.min_counts=%d: modality '%s' has %d observations below it; dropped",
                           min_counts, name, int(low.sum()))
            keep &= ~np.asarray(mdata.obs_names.isin(a.obs_names[low]))
    return mdata if keep.all() else mdata[keep].copy()


def add_image_modality(mdata: md.MuData, cfg: RunConfig) -> None:
    """Put per-spot image features in an ``image`` modality (computed if ``data.image`` is set).

    Raises
    ------
    ValueError
        If there is no image configuration and no ``obsm["X_image"]`` to use.
    """
    src = mdata[next(m for m in cfg.setup.modalities if m != "image")]
    if cfg.data.image is not None:
        i = cfg.data.image
        if "spatial" not in src.uns and "spatial" in mdata.uns:
            src.uns["spatial"] = mdata.uns["spatial"]
        rdata.image_features(src, library_id=i.library_id, img_key=i.img_key, tile_size=i.tile_size,
                             bin_size=i.bin_size, features=tuple(i.features))
    if "X_image" not in src.obsm:
        raise ValueError(
            "setup.modalities lists 'image' but there are no image features: add a 'data.image' "
            "section (H&E in uns['spatial']) or put per-spot features in obsm['X_image']."
        )
    img = ad.AnnData(np.asarray(src.obsm["X_image"], dtype=np.float32), obs=src.obs[[]].copy())
    mdata.mod["image"] = img
    mdata.update()


def run(cfg: RunConfig, progress_bar: bool = True, resume: bool = False) -> dict:
    """Execute a validated configuration; returns the scores and output paths.

    Training writes ``outputs.dir/checkpoints/last.ckpt`` after every epoch and removes it once
    the run has finished; after a crash ``resume=True`` (``remadom fit --resume``) continues
    from it with the same configuration.

    Raises
    ------
    FileExistsError
        If the output model folder exists and ``outputs.overwrite`` is false, or a crashed run's
        checkpoint is there without ``resume`` (checked before training, so nothing on disk is
        touched by a failed run).
    FileNotFoundError
        ``resume`` without a checkpoint.
    """
    out = Path(cfg.outputs.dir)
    model_dir = out / "model"
    if cfg.outputs.save_model and model_dir.exists() and not cfg.outputs.overwrite:
        raise FileExistsError(
            f"'{model_dir}' exists; set outputs.overwrite: true or choose another outputs.dir."
        )
    ckpt_dir = out / "checkpoints"
    last = ckpt_dir / "last.ckpt"
    if resume and not last.is_file():
        raise FileNotFoundError(f"--resume: no checkpoint at '{last}'; run without --resume first.")
    if not resume and last.exists():
        if not cfg.outputs.overwrite:
            raise FileExistsError(f"'{last}' holds an unfinished run; use --resume to continue it, "
                                  "set outputs.overwrite: true, or choose another outputs.dir.")
        last.unlink()
    scvi.settings.seed = cfg.train.seed
    mdata = load_data(cfg)
    if "image" in cfg.setup.modalities and "image" not in mdata.mod:
        add_image_modality(mdata, cfg)
    layers = dict(cfg.setup.layers)
    for mod, kind in cfg.data.preprocess.items():
        if kind == "none":
            continue
        fn, key = _PREP[kind]
        # proteins keep n_vars - 1 components (SpatialGlue's choice); the others take n_comps
        kwargs = {} if kind == "protein" else {"n_comps": cfg.data.n_comps}
        fn(mdata[mod], **kwargs)
        layers.setdefault(mod, key)
    g = cfg.graph
    has_coords = g.spatial_key is not None and g.spatial_key in mdata.obsm
    built_graph = False
    if g.graph_key is None and (cfg.model == "urmf" or has_coords):
        rdata.spatial_graph(mdata, n_neighs=g.n_neighs, radius=g.radius, coord_type=g.coord_type,
                            spatial_key=g.spatial_key, library_key=g.library_key)
        built_graph = True
    cls = MODELS[cfg.model]
    s = cfg.setup
    common = {"modalities": s.modalities, "layers": layers, "likelihoods": dict(s.likelihoods)}
    if cfg.model == "urmf":
        cls.setup_mudata(mdata, **common, spatial_key=g.spatial_key, spatial_graph_key=g.graph_key,
                         use_feature_graph=s.use_feature_graph,
                         n_feature_neighbors=s.n_feature_neighbors, hops=tuple(s.hops))
        model = cls(mdata, **cfg.model_kwargs)
    elif cfg.model == "stereomm":
        cls.setup_mudata(mdata, modalities=s.modalities, layers=layers, spatial_key=g.spatial_key,
                         spatial_graph_key=g.graph_key, radius_cutoff=g.radius, n_dims=s.n_dims,
                         dim_reduction_method=s.dim_reduction_method, scale=s.scale)
        model = cls(mdata, **cfg.model_kwargs)
    elif cfg.model == "priorvi":
        cls.setup_mudata(mdata, **common, batch_key=s.batch_key, spatial_key=s.spatial_key)
        model = cls(mdata, **cfg.model_kwargs)
    else:
        common["layers"] = {k: tuple(v) if isinstance(v, list) else v for k, v in layers.items()}
        cls.setup_mudata(mdata, **common, batch_key=s.batch_key, study_key=s.study_key,
                         time_key=s.time_key, labels_key=s.labels_key)
        model = cls(mdata, problem=cfg.problem or "mosaic", heads=cfg.heads, **cfg.model_kwargs)
    t = cfg.train
    common = {"accelerator": t.accelerator, "devices": t.devices, "enable_progress_bar": progress_bar,
              **({"batch_size": t.batch_size} if t.batch_size else {}), **t.trainer,
              "checkpoint_dir": str(ckpt_dir), "resume": resume}
    if cfg.model == "stereomm":
        model.train(**({"max_epochs": t.max_epochs} if t.max_epochs else {}),
                    **({"lr": t.lr} if t.lr else {}), **({"opt": t.opt} if t.opt else {}), **common)
    else:
        model.train(max_epochs=t.max_epochs, early_stopping=t.early_stopping, train_size=t.train_size,
                    plan_kwargs={"lr": t.lr} if t.lr else None, **common)
    last.unlink(missing_ok=True)  # finished: nothing to resume
    if ckpt_dir.is_dir() and not any(ckpt_dir.iterdir()):
        ckpt_dir.rmdir()
    key = cfg.outputs.latent_key or f"X_{cfg.model}"
    mdata.obsm[key] = model.get_latent_representation()
    result: dict = {"latent_key": key}
    out.mkdir(parents=True, exist_ok=True)
    c = cfg.outputs.cluster
    if c is not None:
        labels = tl.cluster(mdata, key, method=c.method, n_clusters=c.n_clusters,
                            resolution=c.resolution, key_added=c.key, random_state=t.seed)
        result["n_clusters"] = int(labels.nunique())
        if built_graph:
            result["morans_i"] = metrics.morans_i_labels(labels, mdata.obsp["spatial_connectivities"])
        if cfg.outputs.labels_key:
            y = mdata.obs[cfg.outputs.labels_key]
            result["ari"] = metrics.ari(y, labels)
            result["nmi"] = metrics.nmi(y, labels)
        if cfg.outputs.plot and has_coords:
            cols = [c.key] + ([cfg.outputs.labels_key] if cfg.outputs.labels_key else [])
            plt.close(pl.domains(mdata, cols, spatial_key=g.spatial_key, save=str(out / "domains.png")))
            result["plot"] = str(out / "domains.png")
    if cfg.outputs.plot:
        plt.close(pl.loss_curves(model.history, keys=["train_loss"], save=str(out / "loss.png")))
    cls.remove_inputs(mdata)
    mdata.write_h5mu(out / "result.h5mu")
    result["h5mu"] = str(out / "result.h5mu")
    if cfg.outputs.save_model:
        model.save(str(model_dir), overwrite=cfg.outputs.overwrite)
        result["model"] = str(model_dir)
    (out / "scores.json").write_text(json.dumps(result, indent=2))
    return result
