"""Scores for clustering and spatial domains (scikit-learn, squidpy)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import scipy.sparse as sp
from anndata import AnnData
from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score


def _clean(labels_true, labels_pred):
    t = pd.Series(np.asarray(labels_true, dtype=object))
    p = pd.Series(np.asarray(labels_pred, dtype=object))
    keep = t.notna().to_numpy() & (t.astype(str) != "nan").to_numpy()
    return t[keep].astype(str).to_numpy(), p[keep].astype(str).to_numpy()


def ari(labels_true, labels_pred) -> float:
    """Adjusted Rand index (Hubert & Arabie 1985), ignoring observations with a missing true label."""
    t, p = _clean(labels_true, labels_pred)
    return float(adjusted_rand_score(t, p))


def nmi(labels_true, labels_pred) -> float:
    """Normalised mutual information (arithmetic mean), ignoring missing true labels."""
    t, p = _clean(labels_true, labels_pred)
    return float(normalized_mutual_info_score(t, p))


def morans_i_labels(labels, graph: sp.spmatrix) -> float:
    """Mean Moran's I of the one-hot indicators of each cluster over a spatial graph.

    Computed with :func:`squidpy.gr.spatial_autocorr` (``mode="moran"``); 1 = spatially
    coherent domains, about 0 = random placement.

    Parameters
    ----------
    labels
        ``(n_obs,)`` cluster labels.
    graph
        ``(n_obs, n_obs)`` sparse spatial connectivities.
    """
    labels = np.asarray(labels).astype(str)
    cats = np.unique(labels)
    onehot = (labels[:, None] == cats[None, :]).astype(np.float32)
    tmp = AnnData(sp.csr_matrix(onehot))
    tmp.var_names = [f"c{i}" for i in range(len(cats))]
    tmp.obsp["spatial_connectivities"] = sp.csr_matrix(graph)
    import squidpy as sq

    sq.gr.spatial_autocorr(tmp, mode="moran", n_perms=None, n_jobs=1, genes=list(tmp.var_names))
    return float(np.nanmean(tmp.uns["moranI"]["I"].to_numpy()))
