"""Learned prior against the posterior, per modality (PRIORVI)."""

from __future__ import annotations

from os import PathLike

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from sklearn.decomposition import PCA

from ._utils import figure_of, finish


def prior_posterior(
    model,
    modality: str,
    n_samples: int = 2000,
    save: str | PathLike | None = None,
    ax: Axes | None = None,
    *,
    show: bool | None = None,
    return_fig: bool = False,
) -> Figure | None:
    """Scatter of draws from ``modality``'s learned prior over the posterior means of the cells.

    Both are projected on the first two principal components of the posterior means (cells that
    have the modality), so a prior that covers the posterior mass sits on the grey cloud.

    Parameters
    ----------
    model
        A trained :class:`~remadom.model.PRIORVI`.
    modality
        Registered modality.
    n_samples
        Prior draws.
    save
        Write the figure to this path.
    ax
        Matplotlib axes to draw in.
    show
        Show the figure; default: when it is neither saved nor drawn in ``ax``.
    return_fig
        Return the figure.

    Returns
    -------
    The figure with ``return_fig=True``, otherwise ``None``.

    Raises
    ------
    ValueError
        Unknown modality.
    """
    z = model.get_latent_representation(modality=modality)
    j = model.modalities.index(modality)
    present = np.asarray(model.adata_manager.get_from_registry("mask"))[:, j].astype(bool)
    prior = model.get_prior_samples(modality, n_samples)
    post = z[present]
    pca = PCA(n_components=min(2, post.shape[1])).fit(post)
    p2, q2 = pca.transform(post), pca.transform(prior)
    if p2.shape[1] == 1:
        p2, q2 = np.c_[p2, np.zeros(len(p2))], np.c_[q2, np.zeros(len(q2))]
    ax_given = ax is not None
    if ax is None:
        _, ax = plt.subplots(figsize=(4.5, 4))
    ax.scatter(p2[:, 0], p2[:, 1], s=3, c="0.6", label=f"posterior means ({present.sum()} cells)")
    ax.scatter(q2[:, 0], q2[:, 1], s=3, c="tab:red", alpha=0.4, label=f"prior draws ({n_samples})")
    ax.set_title(f"{modality}: {model.module.prior_name} prior vs posterior")
    ax.set_xlabel("PC1")
    ax.set_ylabel("PC2")
    ax.legend(markerscale=3, fontsize=7)
    return finish(figure_of(ax), ax_given=ax_given, show=show, save=save, return_fig=return_fig)
