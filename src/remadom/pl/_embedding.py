"""UMAP of a latent representation (scanpy's neighbours, UMAP and embedding plot)."""

from __future__ import annotations

from collections.abc import Sequence
from os import PathLike
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from ._spatial import NA_COLOUR, categorical_obs, set_colours
from ._utils import figure_of, finish


def latent_umap(
    data,
    use_rep: str,
    color: str | Sequence[str] | None = None,
    *,
    n_neighbors: int = 15,
    min_dist: float = 0.5,
    random_state: int = 0,
    ax: Axes | None = None,
    show: bool | None = None,
    save: str | PathLike | None = None,
    return_fig: bool = False,
    **kwargs: Any,
) -> Figure | None:
    """UMAP of ``obsm[use_rep]`` coloured by ``obs`` columns.

    Runs :func:`scanpy.pp.neighbors` and :func:`scanpy.tl.umap` on a light copy (``data`` is not
    changed) and draws with :func:`scanpy.pl.embedding`. Categorical columns (and string ones)
    use the colour-blind-safe :func:`~remadom.pl.palette` unless ``data`` has fitting
    ``uns[f"{column}_colors"]``; missing values are grey.

    Parameters
    ----------
    data
        :class:`~anndata.AnnData` or :class:`~mudata.MuData` with ``obsm[use_rep]``, e.g. the
        latent of ``model.get_latent_representation()``.
    use_rep
        ``obsm`` key of the representation.
    color
        ``obs`` columns (one panel each); default a single uncoloured panel.
    n_neighbors
        Neighbours of the kNN graph.
    min_dist
        UMAP's ``min_dist``.
    random_state
        Seed of the graph and the layout.
    ax
        Axes to draw in (one column only).
    show
        Show the figure; default: when it is neither saved nor drawn in ``ax``.
    save
        Write the figure to this path.
    return_fig
        Return the figure.
    **kwargs
        Passed to :func:`scanpy.pl.embedding` (e.g. ``size``, ``legend_loc``, ``ncols``).

    Returns
    -------
    The figure with ``return_fig=True``, otherwise ``None``.
    """
    import anndata as ad
    import scanpy as sc

    if use_rep not in data.obsm:
        raise KeyError(f"obsm['{use_rep}'] not found; keys: {list(data.obsm.keys())}.")
    cols = [] if color is None else [color] if isinstance(color, str) else list(color)
    obs = pd.DataFrame(index=data.obs_names)
    for c in cols:
        if c not in data.obs:
            raise KeyError(f"'{c}' is not a column of obs; columns: {list(data.obs.columns)}.")
        obs[c] = data.obs[c].to_numpy()
    cats = [c for c in cols if isinstance(data.obs[c].dtype, pd.CategoricalDtype)
            or not pd.api.types.is_numeric_dtype(data.obs[c])]
    if cats:
        obs[cats] = categorical_obs(data, cats)
    rep = np.asarray(data.obsm[use_rep], dtype=np.float32)
    adata = ad.AnnData(obs=obs, obsm={use_rep: rep})
    set_colours(adata, data, cats)
    sc.pp.neighbors(adata, use_rep=use_rep, n_neighbors=n_neighbors, random_state=random_state)
    sc.tl.umap(adata, min_dist=min_dist, random_state=random_state)
    if ax is not None and len(cols) > 1:
        raise ValueError(f"{len(cols)} columns need one figure; pass ax=None.")
    kwargs.setdefault("frameon", False)
    axes = sc.pl.embedding(adata, basis="umap", color=cols or None, na_color=NA_COLOUR, ax=ax,
                           show=False, **kwargs)
    fig = figure_of(axes)
    return finish(fig, ax_given=ax is not None, show=show, save=save, return_fig=return_fig)
