"""Per-spot image features from an H&E image, with squidpy's ImageContainer."""

from __future__ import annotations

import numpy as np
from anndata import AnnData


def image_features(
    adata: AnnData,
    library_id: str | None = None,
    img_key: str = "hires",
    tile_size: float | None = None,
    bin_size: float | None = None,
    features: tuple[str, ...] = ("summary", "histogram", "texture"),
    spatial_key: str = "spatial",
    key_added: str = "X_image",
    n_jobs: int = 1,
    show_progress_bar: bool = False,
) -> None:
    """One feature vector per spot from the image tile under it.

    The image in ``uns["spatial"][library_id]["images"][img_key]`` is wrapped with
    :meth:`squidpy.im.ImageContainer.from_adata` (which applies the
    ``tissue_{img_key}_scalef`` scalefactor to the full-resolution coordinates) and features are
    computed with :func:`squidpy.im.calculate_image_features` on a square crop around each spot.
    ``tile_size`` and ``bin_size`` are StereoMM's ``process_img.py -c`` and ``-b``.

    Parameters
    ----------
    adata
        AnnData following the scanpy/squidpy Visium convention.
    library_id
        Key in ``uns["spatial"]``; default: the only one.
    img_key
        ``"hires"`` or ``"lowres"``.
    tile_size
        Side of the crop around each spot, in full-resolution pixels (``-c``); default one spot
        diameter (``scalefactors["spot_diameter_fullres"]``).
    bin_size
        If the coordinates are bin indices (e.g. Stereo-seq bin100), the full-resolution pixels
        per coordinate unit (``-b``); default ``None``: coordinates already are full-resolution
        pixels. The user's ``obsm`` is not changed.
    features
        squidpy feature families (``summary``, ``histogram``, ``texture``, ``segmentation``).
    key_added
        ``obsm`` key of the ``(n_obs, n_features)`` float32 result; feature names go to
        ``uns[f"{key_added}_names"]``.

    Raises
    ------
    ValueError
        Missing image, library or scalefactor, an image that is not RGB ``(h, w, 3)``, spots
        outside the image, a tile larger than the image, a non-positive tile or bin size.
    """
    spatial = adata.uns.get("spatial", {})
    if not spatial:
        raise ValueError("uns['spatial'] is missing: no image is attached to this AnnData.")
    if library_id is None:
        if len(spatial) != 1:
            raise ValueError(f"several libraries in uns['spatial'] {list(spatial)}; pass library_id=.")
        library_id = next(iter(spatial))
    if library_id not in spatial:
        raise ValueError(f"library_id '{library_id}' not in uns['spatial'] ({list(spatial)}).")
    lib = spatial[library_id]
    if img_key not in lib.get("images", {}):
        raise ValueError(
            f"no image uns['spatial']['{library_id}']['images']['{img_key}']; "
            f"available: {list(lib.get('images', {}))}."
        )
    scalef = lib.get("scalefactors", {}).get(f"tissue_{img_key}_scalef")
    if scalef is None:
        raise ValueError(
            f"scalefactor 'tissue_{img_key}_scalef' missing in uns['spatial']['{library_id}']"
            "['scalefactors']: coordinates cannot be mapped to image pixels."
        )
    img = np.asarray(lib["images"][img_key])
    if img.ndim != 3 or img.shape[2] != 3:
        raise ValueError(
            f"image has shape {img.shape}; an RGB (height, width, 3) image is needed. Convert "
            "grayscale with np.repeat(img[..., None], 3, -1) or drop the alpha channel img[..., :3]."
        )
    for name, v in (("tile_size", tile_size), ("bin_size", bin_size)):
        if v is not None and not v > 0:
            raise ValueError(f"{name} must be > 0 (full-resolution pixels), got {v}.")
    if spatial_key not in adata.obsm:
        raise ValueError(f"obsm['{spatial_key}'] not found: spot coordinates are needed to crop tiles.")
    full = np.asarray(adata.obsm[spatial_key], dtype=np.float64) * (bin_size or 1.0)
    xy = full * scalef
    h, w = img.shape[:2]
    diameter = lib.get("scalefactors", {}).get("spot_diameter_fullres")
    if tile_size is None and diameter is None:
        raise ValueError(
            f"no scalefactors['spot_diameter_fullres'] in uns['spatial']['{library_id}']: give "
            "tile_size= (crop side in full-resolution pixels)."
        )
    tile = float(tile_size if tile_size is not None else diameter)
    if tile * scalef > min(h, w):
        raise ValueError(
            f"tile_size {tile} full-resolution pixels is {tile * scalef:.0f} pixels in the "
            f"{img_key} image, larger than the image ({h} x {w}); choose a smaller tile_size."
        )
    outside = (xy[:, 0] < 0) | (xy[:, 1] < 0) | (xy[:, 0] >= w) | (xy[:, 1] >= h)
    if outside.any():
        raise ValueError(
            f"{int(outside.sum())} spots fall outside the {img_key} image after scaling by "
            f"{scalef}: check that obsm['{spatial_key}'] is in full-resolution pixels."
        )
    # work on a light copy: scaled coordinates and the tile as the spot diameter
    tmp = AnnData(obs=adata.obs[[]].copy())
    tmp.obsm[spatial_key] = full
    tmp.uns["spatial"] = {library_id: {
        "images": {img_key: img},
        "scalefactors": {**lib.get("scalefactors", {}), "spot_diameter_fullres": tile},
    }}
    import squidpy as sq

    container = sq.im.ImageContainer.from_adata(tmp, library_id=library_id, img_key=img_key,
                                                spatial_key=spatial_key)
    df = sq.im.calculate_image_features(
        tmp, container, layer=img_key, library_id=library_id, features=list(features),
        spatial_key=spatial_key, key_added=key_added, copy=True, n_jobs=n_jobs,
        show_progress_bar=show_progress_bar,
    )
    adata.obsm[key_added] = df.to_numpy(dtype=np.float32)
    adata.uns[f"{key_added}_names"] = list(map(str, df.columns))


def image_modality(adata: AnnData, n_comps: int = 20, key: str = "X_image",
                   random_state: int = 0) -> AnnData:
    """An ``image`` modality from per-spot image features, ready to sit beside RNA in a MuData.

    Each feature in ``obsm[key]`` (from :func:`image_features` or the user's own) is standardised
    and reduced with :func:`scanpy.pp.pca`.

    Parameters
    ----------
    adata
        AnnData holding ``obsm[key]`` ``(n_obs, n_features)``.
    n_comps
        Principal components kept (capped at ``min(n_obs, n_features) - 1``).

    Returns
    -------
    AnnData ``(n_obs, n_features)`` with the standardised features in ``.X``, the PCA in
    ``obsm["X_pca"]`` and the same ``obs_names``.

    Raises
    ------
    ValueError
        If ``obsm[key]`` is missing or has NaN/inf values.
    """
    import scanpy as sc

    if key not in adata.obsm:
        raise ValueError(f"obsm['{key}'] not found; run remadom.pp.image_features(adata) first.")
    x = np.asarray(adata.obsm[key], dtype=np.float32)
    if not np.isfinite(x).all():
        raise ValueError(f"obsm['{key}'] has NaN/inf image features; remove those spots or features.")
    x = (x - x.mean(0)) / (x.std(0) + 1e-8)
    img = AnnData(x, obs=adata.obs[[]].copy())
    sc.pp.pca(img, n_comps=int(min(n_comps, min(x.shape) - 1)), random_state=random_state)
    return img
