"""``remadom fit morphovi.yaml --output-path DIR [--resume]``: the seed's workflow on MORPHOVI."""

from __future__ import annotations

import json
from pathlib import Path

import anndata as ad
import matplotlib as mpl
import mudata as md
import numpy as np
import pandas as pd
import scvi
import yaml
from matplotlib.figure import Figure

from .config_morphovi import MorphoConfig
from .metrics import foscttm, label_transfer_accuracy, topk_matching
from .model import MORPHOVI


def load_morpho_data(cfg: MorphoConfig) -> md.MuData:
    """The configured ``.h5mu``, or a MuData built from the CSV layout (labels in ``obs["label"]``)."""
    d = cfg.data
    if d.path is not None:
        if not Path(d.path).exists():
            raise FileNotFoundError(f"data.path '{d.path}' does not exist.")
        mdata = md.read_h5mu(d.path)
    else:
        mods = {}
        for name, csv, lab in ((d.modality_a, d.csv_a, d.labels_csv_a),
                               (d.modality_b, d.csv_b, d.labels_csv_b)):
            for f in (csv, lab):
                if f is not None and not Path(f).exists():
                    raise FileNotFoundError(f"data file '{f}' does not exist.")
            df = pd.read_csv(csv, index_col=0)
            a = ad.AnnData(df.to_numpy(dtype=np.float32), obs=pd.DataFrame(index=df.index.astype(str)))
            a.var_names = df.columns.astype(str)
            if lab is not None:
                labels = pd.read_csv(lab, index_col=0).iloc[:, 0]
                labels.index = labels.index.astype(str)
                a.obs["label"] = labels.reindex(a.obs_names).astype(str).to_numpy()
            mods[name] = a
        mdata = md.MuData(mods)
        if d.prior_csv is not None:
            mdata.uns["prior"] = pd.read_csv(d.prior_csv, index_col=0)
    return mdata


def _paths(output_path: Path, name: str) -> dict[str, Path]:
    out = output_path / "outputs" / name
    return {"out": out, "ckpt": out / "checkpoints", "images": out / "images", "logs": output_path / "logs",
            "config": out / "config.yaml"}


def check_output_dir(cfg_dict: dict, p: dict[str, Path], resume: bool) -> Path | None:
    """Refuse to overwrite another run; find the checkpoint to resume from.

    Raises
    ------
    FileExistsError
        The output folder holds a run (of this or another configuration) and ``resume`` is off,
        or ``resume`` with a different configuration.
    FileNotFoundError
        ``resume`` without a checkpoint.
    """
    saved = yaml.safe_load(p["config"].read_text()) if p["config"].exists() else None
    if resume:
        last = p["ckpt"] / "last.ckpt"
        if not last.exists():
            raise FileNotFoundError(f"--resume: no checkpoint at '{last}'; run without --resume first.")
        if saved is not None and saved != cfg_dict:
            raise FileExistsError(f"--resume: '{p['out']}' holds a run of another configuration; "
                                  "resume with the same YAML and --set overrides, or use another --output-path.")
        return last
    if p["out"].exists() and any(p["out"].iterdir()):
        what = "another configuration's run" if saved is not None and saved != cfg_dict else "a previous run"
        raise FileExistsError(f"'{p['out']}' holds {what}; nothing was overwritten. Use --resume to "
                              "continue it, another --output-path, or remove the folder.")
    return None


def run_morphovi(cfg: MorphoConfig, config_path: str | Path, output_path: str | Path,
                 resume: bool = False, progress_bar: bool = True, cfg_dict: dict | None = None) -> dict:
    """Train MORPHOVI as configured; write logs, checkpoints, images and ``knn_accuracy.txt``.

    ``cfg_dict`` is the configuration as written to ``config.yaml`` in the run folder (and compared
    on ``resume``): the YAML file's content with the command line's ``--set`` overrides applied;
    default: the file as it is.
    """
    config_path, output_path = Path(config_path), Path(output_path)
    name = config_path.stem
    p = _paths(output_path, name)
    if cfg_dict is None:
        cfg_dict = yaml.safe_load(config_path.read_text())
    ckpt = check_output_dir(cfg_dict, p, resume)
    mdata = load_morpho_data(cfg)
    d = cfg.data
    prior_key = d.prior_key or ("prior" if d.prior_csv else None)
    labels_key = d.labels_key or ("label" if d.labels_csv_a or d.labels_csv_b else None)
    scvi.settings.seed = cfg.seed
    MORPHOVI.setup_mudata(mdata, modality_a=d.modality_a, modality_b=d.modality_b, labels_key=labels_key,
                          cluster_key_a=d.cluster_key_a, cluster_key_b=d.cluster_key_b, prior_key=prior_key,
                          nan_policy=d.nan_policy)
    for key, want in (("a", cfg.input_dim_a), ("b", cfg.input_dim_b)):
        got = mdata.obsm[f"_morphovi_x_{key}"].shape[1]
        if want is not None and want != got:
            raise ValueError(f"input_dim_{key}: {want} in the config but the data give {got} features "
                             f"(after preprocessing); set input_dim_{key}: {got} or remove the key.")
    model = MORPHOVI(mdata, n_latent=cfg.gen.latent, n_hidden=cfg.gen.dim, gan_type=cfg.dis.gan_type,
                     dis_dim=cfg.dis.dim, dis_norm=cfg.dis.norm, prior_temperature=cfg.prior_temperature,
                     init=cfg.init)
    for k in ("ckpt", "images", "logs"):
        p[k].mkdir(parents=True, exist_ok=True)
    p["config"].write_text(yaml.safe_dump(cfg_dict))

    def latents():
        return _split(model, mdata)

    try:
        _train(model, cfg, ckpt, p, name, latents, progress_bar)
    except BaseException:
        if not any(p["ckpt"].glob("*.ckpt")):  # nothing trained: leave no trace of the run
            p["config"].unlink(missing_ok=True)
        raise
    z_a, z_b = latents()
    scores = knn_report(mdata, z_a, z_b, labels_key, d.modality_a, d.modality_b)
    (p["out"] / "knn_accuracy.txt").write_text("\n".join(f"{k}\t{v:.4f}" for k, v in scores.items()) + "\n")
    plot_latents(mdata, z_a, z_b, labels_key, cfg, p["images"] / "latents.png")
    plot_losses(model.history, p["images"] / "losses.png")
    (p["out"] / "scores.json").write_text(json.dumps(scores, indent=2))
    return {"output": str(p["out"]), **scores}


def _train(model, cfg, ckpt, p, name, latents, progress_bar):
    from lightning.pytorch.loggers import TensorBoardLogger
    from scvi.train._logger import SimpleLogger

    from .train import LatentStats, ResumeCheckpoint

    model.train(
        max_iter=cfg.max_iter, batch_size=cfg.batch_size, lr=cfg.lr, beta1=cfg.beta1, beta2=cfg.beta2,
        weight_decay=cfg.weight_decay, lr_policy=cfg.lr_policy, step_size=cfg.step_size, gamma=cfg.gamma,
        recon_x_w=cfg.recon_x_w, kl_w=cfg.kl_w, gan_w=cfg.gan_w, gw_w=cfg.gw_w, lambda_p=cfg.lambda_p,
        prior_loss_warmup=cfg.prior_loss_warmup, loss_schedule=dict(cfg.loss_schedule),
        phase_durations=dict(cfg.phase_durations), ckpt_path=None if ckpt is None else str(ckpt),
        logger=[SimpleLogger(), TensorBoardLogger(save_dir=str(p["logs"]), name=name, version="")],
        callbacks=[ResumeCheckpoint(p["ckpt"]),  # last.ckpt only, replaced by rename
                   LatentStats(latents, every=max(1, _epochs(model, cfg) // 10))],
        enable_progress_bar=progress_bar,
    )


def _epochs(model, cfg) -> int:
    return int(np.ceil(cfg.max_iter / np.ceil(model.adata.n_obs / cfg.batch_size)))


def _split(model, mdata):
    mask = np.asarray(mdata.obsm["_morphovi_mask"]).astype(bool)
    z = {m: model.get_latent_representation(modality=m) for m in model.modalities}
    return z[model.modalities[0]][mask[:, 0]], z[model.modalities[1]][mask[:, 1]]


def _labels(mdata, modality, labels_key):
    if labels_key is None:
        return None
    obs = mdata[modality].obs
    if labels_key in obs:
        return obs[labels_key].astype(str).to_numpy()
    if labels_key in mdata.obs:
        return mdata.obs.loc[mdata[modality].obs_names, labels_key].astype(str).to_numpy()
    return None


def knn_report(mdata, z_a, z_b, labels_key, mod_a, mod_b) -> dict[str, float]:
    """Position-based (rows matched by order when both modalities have as many cells) and
    label-matching kNN accuracy across modalities, and FOSCTTM when positions match."""
    out = {}
    if len(z_a) == len(z_b):
        out["foscttm"] = foscttm(z_a, z_b)
        for k in (1, 5, 10):
            out[f"position_top{k}"] = topk_matching(z_a, z_b, k)
    la, lb = _labels(mdata, mod_a, labels_key), _labels(mdata, mod_b, labels_key)
    if la is not None and lb is not None:
        out[f"label_{mod_b}_to_{mod_a}"] = label_transfer_accuracy(z_b, lb, z_a, la)
        out[f"label_{mod_a}_to_{mod_b}"] = label_transfer_accuracy(z_a, la, z_b, lb)
    return out


def plot_latents(mdata, z_a, z_b, labels_key, cfg: MorphoConfig, path: Path) -> None:
    """Both latents in one 2-D embedding (PCA or UMAP), coloured by modality and by label."""
    z = np.vstack([z_a, z_b])
    v = cfg.visualization
    if v.method == "umap" and len(z) > v.umap_n_neighbors + 1:
        import umap

        emb = umap.UMAP(n_neighbors=v.umap_n_neighbors, min_dist=v.umap_min_dist, metric=v.umap_metric,
                        random_state=cfg.seed).fit_transform(z)
    else:
        from sklearn.decomposition import PCA

        emb = PCA(n_components=2, random_state=cfg.seed).fit_transform(z)
    mods = np.array([cfg.data.modality_a] * len(z_a) + [cfg.data.modality_b] * len(z_b))
    la = _labels(mdata, cfg.data.modality_a, labels_key)
    lb = _labels(mdata, cfg.data.modality_b, labels_key)
    colourings = [("modality", mods)]
    if la is not None and lb is not None:
        colourings.append((labels_key, np.concatenate([la, lb])))
    # a bare Figure (no pyplot): the file is written with any matplotlib backend, even headless
    fig = Figure(figsize=(5.5 * len(colourings), 4.5))
    axes = fig.subplots(1, len(colourings), squeeze=False)
    cmap = mpl.colormaps["tab20"]
    for ax, (title, col) in zip(axes[0], colourings, strict=True):
        for i, c in enumerate(pd.unique(col)):
            sel = col == c
            ax.scatter(emb[sel, 0], emb[sel, 1], s=4, label=str(c), color=cmap(i % 20))
        ax.set_title(f"{v.method.upper()} of both latents: {title}")
        ax.legend(markerscale=3, fontsize=6, loc="best")
    fig.savefig(path, dpi=110, bbox_inches="tight")


def plot_losses(history: dict, path: Path) -> None:
    """Raw and weighted loss curves per epoch."""
    fig = Figure(figsize=(11, 4))
    axes = fig.subplots(1, 2)
    for ax, kind in zip(axes, ("raw", "weighted"), strict=True):
        for k, df in history.items():
            if k.endswith(f"_{kind}"):
                ax.plot(df.index, df.iloc[:, 0].astype(float), label=k[: -len(kind) - 1])
        ax.set_title(f"{kind} losses")
        ax.set_xlabel("epoch")
        ax.legend(fontsize=7)
    fig.savefig(path, dpi=110, bbox_inches="tight")
