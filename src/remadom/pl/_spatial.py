"""Plots of spatial domains and training curves (matplotlib / squidpy conventions)."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd


def domains(
    data,
    color: str | list[str],
    spatial_key: str = "spatial",
    img: np.ndarray | None = None,
    scale_factor: float = 1.0,
    size: float = 20,
    title: str | list[str] | None = None,
    save: str | None = None,
    ax=None,
):
    """Scatter of spots coloured by categorical ``obs`` columns, optionally over an image.

    Parameters
    ----------
    data
        AnnData or MuData with ``obsm[spatial_key]``.
    color
        One or more ``obs`` columns.
    img
        ``(height, width, 3)`` image drawn below the spots (e.g. the H&E ``hires`` image).
    scale_factor
        Multiplies coordinates to image pixels (e.g. ``tissue_hires_scalef``).
    save
        Path of a PNG to write.

    Returns
    -------
    The matplotlib figure.
    """
    cols = [color] if isinstance(color, str) else list(color)
    titles = cols if title is None else ([title] if isinstance(title, str) else title)
    xy = np.asarray(data.obsm[spatial_key]) * scale_factor
    if ax is None:
        fig, axes = plt.subplots(1, len(cols), figsize=(5 * len(cols), 5), squeeze=False)
        axes = axes[0]
    else:
        axes, fig = [ax], ax.figure
    for a, c, t in zip(axes, cols, titles, strict=True):
        if img is not None:
            a.imshow(img)
        lab = pd.Categorical(data.obs[c].astype(str))
        cmap = plt.get_cmap("tab20")
        for i, cat in enumerate(lab.categories):
            sel = np.asarray(lab == cat)
            a.scatter(xy[sel, 0], xy[sel, 1], s=size, color=cmap(i % 20), label=cat,
                      alpha=0.8 if img is not None else 1.0, linewidths=0)
        if img is None:
            a.invert_yaxis()
        else:
            pad = 0.05 * (xy.max(0) - xy.min(0)).max()
            a.set_xlim(xy[:, 0].min() - pad, xy[:, 0].max() + pad)
            a.set_ylim(xy[:, 1].max() + pad, xy[:, 1].min() - pad)
        a.set_aspect("equal")
        a.set_title(t)
        a.set_xticks([])
        a.set_yticks([])
        a.legend(fontsize=6, markerscale=1.5, loc="center left", bbox_to_anchor=(1, 0.5), frameon=False)
    fig.tight_layout()
    if save:
        fig.savefig(save, dpi=120, bbox_inches="tight")
    return fig


def loss_curves(history: dict, keys: list[str] | None = None, save: str | None = None):
    """Plot training curves from a scvi-tools ``model.history`` dict of DataFrames."""
    keys = keys or ["train_loss"]
    fig, ax = plt.subplots(figsize=(5, 3.5))
    for k in keys:
        s = history[k]
        ax.plot(s.index, s.iloc[:, 0], label=k)
    ax.set_xlabel("epoch")
    ax.set_ylabel("loss")
    ax.legend(fontsize=7)
    fig.tight_layout()
    if save:
        fig.savefig(save, dpi=120)
    return fig
