"""Spatial domains over the tissue (through :func:`squidpy.pl.spatial_scatter`) and the palette."""

from __future__ import annotations

from collections.abc import Sequence
from os import PathLike
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.colors import to_hex
from matplotlib.figure import Figure

from ._utils import figure_of, finish

# Okabe & Ito (2008) colour-blind-safe set, ordered so that neighbours in the list differ in hue
# and lightness, then Paul Tol's "muted" scheme (Tol 2021) for categories 9-17. Missing labels
# are drawn in light grey.
_CB_SAFE = ["#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442",
            "#000000", "#332288", "#88CCEE", "#44AA99", "#117733", "#999933", "#DDCC77",
            "#CC6677", "#882255", "#AA4499"]
NA_COLOUR = "#D3D3D3"

#: the ``uns["spatial"]`` library made for an image passed as an array (``domains(img=...)``)
_GIVEN_IMAGE = "image"


def palette(n: int) -> list[str]:
    """``n`` categorical colours, colour-blind safe up to 17 (Okabe-Ito, then Tol's muted).

    Beyond 17 categories the list continues with matplotlib's ``tab20`` and repeats after that.
    Missing values are drawn in :data:`NA_COLOUR` (light grey) by every plot of this module.

    Parameters
    ----------
    n
        Number of categories.

    Returns
    -------
    Hex colours, one per category.
    """
    extra = [to_hex(c) for c in plt.get_cmap("tab20").colors]
    full = _CB_SAFE + extra
    return [full[i % len(full)] for i in range(n)]


def categorical_obs(data, cols: Sequence[str]) -> pd.DataFrame:
    """``obs[cols]`` as categoricals with string categories; missing values stay missing."""
    out = {}
    for c in cols:
        if c not in data.obs:
            raise KeyError(f"'{c}' is not a column of obs; columns: {list(data.obs.columns)}.")
        lab = pd.Categorical(data.obs[c])
        out[c] = lab.rename_categories([str(x) for x in lab.categories])
    return pd.DataFrame(out, index=data.obs_names)


def set_colours(adata, data, cols: Sequence[str]) -> None:
    """``adata.uns[f"{c}_colors"]``: the caller's colours when they fit, else :func:`palette`."""
    for c in cols:
        n = len(adata.obs[c].cat.categories)
        own = data.uns.get(f"{c}_colors") if hasattr(data, "uns") else None
        adata.uns[f"{c}_colors"] = list(own) if own is not None and len(own) == n else palette(n)


def _registered_library(data, library_id: str | None) -> tuple[str, dict] | None:
    """A ``uns["spatial"]`` library with images: of ``data`` or, for MuData, of a modality."""
    sources = [data.uns]
    sources += [m.uns for m in getattr(data, "mod", {}).values()]
    for uns in sources:
        libs = uns.get("spatial")
        if not isinstance(libs, dict) or not libs:
            continue
        if library_id is not None:
            if library_id in libs:
                return library_id, libs[library_id]
            continue
        with_images = [k for k, v in libs.items() if isinstance(v, dict) and v.get("images")]
        if len(with_images) > 1:
            raise ValueError(f"uns['spatial'] has several libraries with images {with_images}; "
                             "choose one with library_id=.")
        if with_images:
            return with_images[0], libs[with_images[0]]
    if library_id is not None:
        raise KeyError(f"library_id '{library_id}' is not in uns['spatial'].")
    return None


def _spot_diameter(xy: np.ndarray) -> float:
    """Half the median distance to the nearest other spot (spots of Visium and ST arrays)."""
    from sklearn.neighbors import NearestNeighbors

    if len(xy) < 2:
        return 1.0
    d, _ = NearestNeighbors(n_neighbors=2).fit(xy).kneighbors(xy)
    return float(0.5 * np.median(d[:, 1])) or 1.0


def domains(
    data,
    color: str | Sequence[str],
    spatial_key: str = "spatial",
    img: np.ndarray | bool | None = None,
    scale_factor: float | None = None,
    size: float | None = None,
    title: str | Sequence[str] | None = None,
    *,
    library_id: str | None = None,
    img_key: str | None = None,
    spot_scale: float = 1.0,
    ncols: int = 4,
    ax: Axes | Sequence[Axes] | None = None,
    show: bool | None = None,
    save: str | PathLike | None = None,
    return_fig: bool = False,
    **kwargs: Any,
) -> Figure | None:
    """Spots coloured by categorical ``obs`` columns, over the tissue image when there is one.

    Drawn by :func:`squidpy.pl.spatial_scatter`, one panel per column, with the colour-blind-safe
    :func:`palette` (the data's own ``uns[f"{column}_colors"]`` when they fit) and missing labels
    in light grey.

    Parameters
    ----------
    data
        :class:`~anndata.AnnData` or :class:`~mudata.MuData` with ``obsm[spatial_key]``.
    color
        One or more ``obs`` columns (numbers and strings are drawn as categories).
    spatial_key
        ``obsm`` key of the coordinates.
    img
        ``None``: draw over the image registered in ``uns["spatial"]`` (of ``data`` or, for
        MuData, of a modality) when there is one. An ``(height, width, 3)`` array: draw over it,
        with ``scale_factor``. ``False``: no image.
    scale_factor
        Coordinates times this are pixels of ``img`` (e.g. ``tissue_hires_scalef``); with a
        registered image it is read from its ``scalefactors``.
    size
        Marker area in points² when there is no image. Over an image the spots are drawn at
        their real diameter (``spot_diameter_fullres``, else half the nearest-spot distance)
        times ``spot_scale``, and ``size`` is not used.
    title
        One per column; default the column names.
    library_id
        The ``uns["spatial"]`` library to draw (needed when several have images).
    img_key
        Image resolution (default ``"hires"`` when present).
    spot_scale
        Multiplies the spot diameter over an image.
    ncols
        Panels per row.
    ax
        Axes to draw in, one per column.
    show
        Show the figure; default: when it is neither saved nor drawn in ``ax``.
    save
        Write the figure to this path (format from the suffix).
    return_fig
        Return the figure.
    **kwargs
        Passed to :func:`squidpy.pl.spatial_scatter` (e.g. ``img_alpha``, ``legend_loc``;
        ``crop_coord``, by default the spots' extent plus a margin).

    Returns
    -------
    The figure with ``return_fig=True``, otherwise ``None``.
    """
    import anndata as ad
    import squidpy as sq

    cols = [color] if isinstance(color, str) else list(color)
    titles = cols if title is None else ([title] if isinstance(title, str) else list(title))
    if len(titles) != len(cols):
        raise ValueError(f"{len(cols)} columns but {len(titles)} titles.")
    if spatial_key not in data.obsm:
        raise KeyError(f"obsm['{spatial_key}'] not found; keys: {list(data.obsm.keys())}.")
    xy = np.asarray(data.obsm[spatial_key], dtype=float)[:, :2]
    adata = ad.AnnData(obs=categorical_obs(data, cols), obsm={"spatial": xy})
    set_colours(adata, data, cols)

    lib = None
    if img is None:
        lib = _registered_library(data, library_id)
    elif img is not False:
        lib = (_GIVEN_IMAGE, {"images": {"hires": np.asarray(img)},
                              "scalefactors": {"tissue_hires_scalef": scale_factor or 1.0}})
        img_key, scale_factor = "hires", None
    if lib is not None:
        lib_id, entry = lib
        images = entry.get("images", {})
        img_key = img_key or ("hires" if "hires" in images else next(iter(images)))
        factors = dict(entry.get("scalefactors", {}))
        factors.setdefault("spot_diameter_fullres", _spot_diameter(xy))
        adata.uns["spatial"] = {lib_id: {"images": {img_key: images[img_key]}, "scalefactors": factors}}
        spot = {"shape": "circle", "size": spot_scale, "library_id": lib_id, "img_res_key": img_key,
                "scale_factor": scale_factor}
        if "crop_coord" not in kwargs:  # the tissue under the spots, not the whole slide
            pad = 0.05 * float((xy.max(0) - xy.min(0)).max()) + factors["spot_diameter_fullres"]
            (x0, y0), (x1, y1) = xy.min(0) - pad, xy.max(0) + pad
            h, w = np.asarray(images[img_key]).shape[:2]
            sf = scale_factor or factors.get(f"tissue_{img_key}_scalef", 1.0)
            kwargs["crop_coord"] = (max(x0, 0.0), max(y0, 0.0), min(x1, w / sf), min(y1, h / sf))
    else:
        spot = {"shape": None, "size": size, "img": False, "library_id": "spots"}

    if ax is not None and isinstance(ax, Axes) and len(cols) > 1:
        raise ValueError(f"{len(cols)} columns need {len(cols)} axes; pass a list or ax=None.")
    kwargs.setdefault("legend_fontsize", 7)
    kwargs.setdefault("frameon", False)
    axes = sq.pl.spatial_scatter(adata, color=cols, title=titles, na_color=NA_COLOUR, ncols=ncols,
                                 ax=ax, return_ax=True, **spot, **kwargs)
    return finish(figure_of(axes), ax_given=ax is not None, show=show, save=save,
                  return_fig=return_fig)
