"""Reading a run's inputs: a file or bundled data set, the MORPHOVI CSV layout, an H&E image."""

from __future__ import annotations

import logging
from pathlib import Path

import anndata as ad
import mudata as md
import numpy as np
import pandas as pd

from ._schema import ImageConfig, RunConfig

logger = logging.getLogger(__name__)


def as_mudata(adata: ad.AnnData, modality: str = "rna") -> md.MuData:
    """Wrap an AnnData as a one-modality MuData, with ``obs`` and ``obsm["spatial"]`` at the top."""
    mdata = md.MuData({modality: adata})
    mdata.obs = adata.obs.copy()
    if "spatial" in adata.obsm:
        mdata.obsm["spatial"] = np.asarray(adata.obsm["spatial"])
    return mdata


def _read_labels(path: str, index: pd.Index, what: str) -> np.ndarray:
    """One label per cell from a CSV (index column: cell id; first other column: the label)."""
    df = pd.read_csv(path, index_col=0)
    if df.shape[1] < 1:
        raise ValueError(f"{what} '{path}' has no label column; write two columns: cell id, label.")
    labels = df.iloc[:, 0]
    labels.index = labels.index.astype(str)
    missing = index.difference(labels.index)
    if len(missing):
        raise ValueError(
            f"{what} '{path}' has no row for {len(missing)} of the {len(index)} cells "
            f"(e.g. '{missing[0]}'); one row per cell is needed."
        )
    return labels.reindex(index).astype(str).to_numpy()


def read_csv_layout(cfg: RunConfig) -> md.MuData:
    """MORPHOVI's CSV layout as a MuData: one cells x features table per modality, labels in
    ``obs["label"]``, clusters in ``obs["cluster"]``, the prior matrix in ``uns["prior"]``."""
    d = cfg.data
    setup = cfg.setup_kwargs
    names = (setup.get("modality_a", "morph"), setup.get("modality_b", "rna"))
    mods = {}
    for name, csv, lab, clu in (
        (names[0], d.csv_a, d.labels_csv_a, d.cluster_csv_a),
        (names[1], d.csv_b, d.labels_csv_b, d.cluster_csv_b),
    ):
        df = pd.read_csv(csv, index_col=0)
        obs = pd.DataFrame(index=df.index.astype(str))
        try:
            x = df.to_numpy(dtype=np.float32)
        except ValueError:
            raise ValueError(
                f"data CSV '{csv}' (modality '{name}') has non-numeric feature columns; "
                "the first column is the cell id, the others numbers."
            ) from None
        a = ad.AnnData(x, obs=obs)
        a.var_names = df.columns.astype(str)
        if lab is not None:
            a.obs["label"] = _read_labels(lab, a.obs_names, f"labels CSV of '{name}'")
        if clu is not None:
            a.obs["cluster"] = _read_labels(clu, a.obs_names, f"cluster CSV of '{name}'")
        mods[name] = a
    mdata = md.MuData(mods)
    if d.prior_csv is not None:
        mdata.uns["prior"] = pd.read_csv(d.prior_csv, index_col=0)
    return mdata


def load_data(cfg: RunConfig) -> md.MuData:
    """Read the configured file, bundled data set or CSV layout as a MuData.

    ``data.path`` is an ``.h5mu`` or ``.h5ad`` file or a MuData ``.zarr`` store. With
    ``data.backed: true`` an ``.h5mu`` file is opened with ``mudata.read_h5mu(path, backed="r")``
    and a ``.zarr`` store with :func:`remadom.data.read_zarr_lazy`: each modality's ``.X`` stays
    on disk (opened read-only, so the file or store is never changed), ``obs``, ``obsm``,
    ``obsp`` and ``uns`` are in memory.

    Raises
    ------
    FileNotFoundError
        ``data.path`` does not exist.
    """
    from remadom import datasets

    d = cfg.data
    if d.dataset is not None:
        obj = getattr(datasets, d.dataset)()
    elif d.csv_a is not None:
        obj = read_csv_layout(cfg)
    else:
        path = Path(d.path)
        if not path.exists():
            raise FileNotFoundError(f"data.path '{path}' does not exist.")
        if d.backed and path.suffix == ".zarr":  # validated: an .h5mu file or a .zarr store
            from remadom.data import read_zarr_lazy

            obj = read_zarr_lazy(path)
        elif d.backed:
            obj = md.read_h5mu(path, backed="r")
        else:
            obj = {".h5mu": md.read_h5mu, ".zarr": md.read_zarr}.get(path.suffix, ad.read_h5ad)(path)
    mdata = obj if isinstance(obj, md.MuData) else as_mudata(obj, d.modality_name)
    return drop_low_count_cells(mdata, d.min_counts)


def without_matrices(mdata: md.MuData) -> md.MuData:
    """An in-memory copy of a backed MuData without its on-disk matrices (each modality's ``.X``).

    Everything else is kept: ``obs``, ``var``, ``obsm``, ``obsp``, ``uns`` at the top and in each
    modality, and the modalities' layers (in memory in anndata's backed mode). This is what the
    pipeline writes as ``result.h5mu`` for ``data.backed: true``: the count matrices stay in
    ``data.path``, and copying them would read all of them into memory.
    """
    mods = {
        name: ad.AnnData(
            obs=a.obs.copy(),
            var=a.var.copy(),
            obsm=dict(a.obsm),
            varm=dict(a.varm),
            obsp=dict(a.obsp),
            varp=dict(a.varp),
            layers=dict(a.layers),
            uns=dict(a.uns),
        )
        for name, a in mdata.mod.items()
    }
    return md.MuData(
        mods,
        obs=mdata.obs.copy(),
        var=mdata.var.copy(),
        obsm=dict(mdata.obsm),
        obsp=dict(mdata.obsp),
        uns=dict(mdata.uns),
    )


def drop_low_count_cells(mdata: md.MuData, min_counts: int) -> md.MuData:
    """Drop observations with fewer than ``min_counts`` total counts in any modality (logged)."""
    if not min_counts:
        return mdata
    keep = np.ones(mdata.n_obs, dtype=bool)
    for name, a in mdata.mod.items():
        low = np.asarray(a.X.sum(1)).ravel() < min_counts
        if low.any():
            logger.warning(
                "data.min_counts=%d: modality '%s' has %d observations below it; dropped",
                min_counts,
                name,
                int(low.sum()),
            )
            keep &= ~np.asarray(mdata.obs_names.isin(a.obs_names[low]))
    return mdata if keep.all() else mdata[keep].copy()


def read_image(adata: ad.AnnData, img: ImageConfig) -> str:
    """Put the H&E file ``img.path`` (TIFF or JPEG) into ``adata.uns["spatial"]``.

    The file is read with :class:`squidpy.im.ImageContainer` (as StereoMM's ``-i image.tif``);
    ``scale_factor`` (image pixels per coordinate unit) becomes ``tissue_<img_key>_scalef`` and
    ``spot_diameter`` (coordinate units) ``spot_diameter_fullres``, the Visium convention that
    :func:`remadom.pp.image_features` reads.

    Returns
    -------
    The library id used.

    Raises
    ------
    ValueError
        The image is not RGB (or RGBA, whose alpha channel is dropped).
    """
    import squidpy as sq

    container = sq.im.ImageContainer(img.path, layer="image")
    arr = np.asarray(container["image"].values)
    arr = arr.reshape(arr.shape[0], arr.shape[1], -1) if arr.ndim == 4 else arr  # (y, x, z, c)
    if arr.ndim != 3 or arr.shape[2] not in (3, 4):
        raise ValueError(
            f"data.image.path '{img.path}': image of shape {arr.shape}; an RGB H&E "
            "image (height, width, 3) is needed."
        )
    arr = arr[..., :3]
    library_id = img.library_id or "image"
    scalef = {f"tissue_{img.img_key}_scalef": float(img.scale_factor)}
    diameter = img.spot_diameter if img.spot_diameter is not None else img.tile_size
    if diameter is not None:
        scalef["spot_diameter_fullres"] = float(diameter)
    spatial = dict(adata.uns.get("spatial", {}))
    spatial[library_id] = {"images": {img.img_key: arr}, "scalefactors": scalef}
    adata.uns["spatial"] = spatial
    logger.info(
        "data.image.path: %s, %d x %d pixels, scale factor %g",
        img.path,
        arr.shape[0],
        arr.shape[1],
        img.scale_factor,
    )
    return library_id


def read_image_features(path: str, obs_names: pd.Index, key: str = "X_image") -> np.ndarray:
    """``obsm[key]`` of a previous result file, in the order of ``obs_names``.

    Raises
    ------
    ValueError
        The file has no ``obsm[key]`` (at the top or in a modality) or lacks some cells.
    """
    prev = md.read_h5mu(path)
    holder = (
        prev if key in prev.obsm else next((a for a in prev.mod.values() if key in a.obsm), None)
    )
    if holder is None:
        raise ValueError(
            f"data.image.features_from '{path}' has no obsm['{key}']; write it with a "
            "run that computes image features (data.image without features_from)."
        )
    feats = pd.DataFrame(np.asarray(holder.obsm[key]), index=holder.obs_names)
    missing = obs_names.difference(feats.index)
    if len(missing):
        raise ValueError(
            f"data.image.features_from '{path}' lacks {len(missing)} of the "
            f"{len(obs_names)} spots (e.g. '{missing[0]}'); use the result of a run on "
            "the same data."
        )
    return feats.loc[obs_names].to_numpy(dtype=np.float32)


def add_image_modality(mdata: md.MuData, cfg: RunConfig) -> None:
    """Put per-spot image features in an ``image`` modality (and ``mdata.obsm["X_image"]``).

    The features are read from ``data.image.features_from``, computed from ``data.image``
    (the file at ``path`` or the image in ``uns["spatial"]``), or taken from ``obsm["X_image"]``.

    Raises
    ------
    ValueError
        If there is no image configuration and no ``obsm["X_image"]`` to use.
    """
    from remadom import pp

    mods = cfg.setup_kwargs.get("modalities") or [m for m in mdata.mod if m != "image"]
    src = mdata[next(m for m in mods if m != "image")]
    i = cfg.data.image
    if i is not None and i.features_from is not None:
        src.obsm["X_image"] = read_image_features(i.features_from, src.obs_names)
    elif i is not None:
        library_id = i.library_id
        if i.path is not None:
            library_id = read_image(src, i)
        elif "spatial" not in src.uns and "spatial" in mdata.uns:
            src.uns["spatial"] = mdata.uns["spatial"]
        pp.image_features(
            src,
            library_id=library_id,
            img_key=i.img_key,
            tile_size=i.tile_size,
            bin_size=i.bin_size,
            features=tuple(i.features),
        )
    if "X_image" not in src.obsm:
        raise ValueError(
            "setup.modalities lists 'image' but there are no image features: add a 'data.image' "
            "section (an H&E file at data.image.path or in uns['spatial']) or put per-spot features "
            "in obsm['X_image']."
        )
    feats = np.asarray(src.obsm["X_image"], dtype=np.float32)
    mdata.mod["image"] = ad.AnnData(feats, obs=src.obs[[]].copy())
    mdata.update()
    mdata.obsm["X_image"] = (
        pd.DataFrame(feats, index=src.obs_names).reindex(mdata.obs_names).to_numpy()
    )
