"""Clustering of a latent representation (scanpy Leiden, scikit-learn k-means / GMM)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import scanpy as sc
from anndata import AnnData
from mudata import MuData
from sklearn.cluster import KMeans
from sklearn.mixture import GaussianMixture

from remadom.data._graph import knn_transformer


def _leiden_n(adata: AnnData, n_clusters: int, key: str, random_state: int, max_iter: int = 30):
    lo, hi = 0.01, 3.0
    best = None
    for _ in range(max_iter):
        res = (lo + hi) / 2
        sc.tl.leiden(adata, resolution=res, key_added=key, random_state=random_state,
                     flavor="igraph", n_iterations=2, directed=False)
        n = adata.obs[key].nunique()
        if best is None or abs(n - n_clusters) < abs(best[1] - n_clusters):
            best = (res, n)
        if n == n_clusters:
            return res
        if n < n_clusters:
            lo = res
        else:
            hi = res
        if hi - lo < 1e-4:
            break
    # the cluster count is not monotone in the resolution, so bisection can step over the target;
    # scan around the closest resolution found before settling for it
    for res in np.linspace(max(best[0] - 0.1, 0.005), best[0] + 0.1, 21):
        sc.tl.leiden(adata, resolution=res, key_added=key, random_state=random_state,
                     flavor="igraph", n_iterations=2, directed=False)
        n = adata.obs[key].nunique()
        if n == n_clusters:
            return res
        if abs(n - n_clusters) < abs(best[1] - n_clusters):
            best = (res, n)
    sc.tl.leiden(adata, resolution=best[0], key_added=key, random_state=random_state,
                 flavor="igraph", n_iterations=2, directed=False)
    return best[0]


def cluster(
    data: AnnData | MuData,
    use_rep: str,
    method: str = "leiden",
    n_clusters: int | None = None,
    resolution: float = 1.0,
    n_neighbors: int = 15,
    key_added: str | None = None,
    random_state: int = 0,
) -> pd.Series:
    """Cluster observations on ``obsm[use_rep]``.

    Parameters
    ----------
    data
        AnnData or MuData holding ``obsm[use_rep]`` ``(n_obs, d)``.
    use_rep
        Representation to cluster.
    method
        ``"leiden"`` (scanpy kNN graph + Leiden, Traag et al. 2019), ``"kmeans"`` or ``"gmm"``
        (scikit-learn; SpatialGlue's mclust step, without R).
    n_clusters
        For Leiden: the resolution is bisected until this many clusters come out (or the closest
        count found). Required for k-means and GMM.
    resolution
        Leiden resolution when ``n_clusters`` is None.
    n_neighbors
        ``k`` of the kNN graph for Leiden.
    key_added
        ``obs`` column written (default ``method``); for Leiden the kNN graph goes to
        ``obsp[f"{key_added}_connectivities"]``.
    random_state
        Seed.

    Returns
    -------
    The categorical labels (also written to ``obs[key_added]``).

    Raises
    ------
    ValueError
        Unknown method, missing ``use_rep``, or ``n_clusters`` missing for k-means/GMM.
    """
    key = key_added or method
    if use_rep not in data.obsm:
        raise ValueError(f"obsm['{use_rep}'] not found; available: {list(data.obsm)}.")
    x = np.asarray(data.obsm[use_rep], dtype=np.float32)
    if method == "leiden":
        tmp = AnnData(obs=pd.DataFrame(index=data.obs_names))
        tmp.obsm["rep"] = x
        sc.pp.neighbors(tmp, use_rep="rep", n_neighbors=n_neighbors, random_state=random_state,
                        transformer=knn_transformer(tmp.n_obs))
        if n_clusters is None:
            sc.tl.leiden(tmp, resolution=resolution, key_added=key, random_state=random_state,
                         flavor="igraph", n_iterations=2, directed=False)
        else:
            _leiden_n(tmp, n_clusters, key, random_state)
        labels = tmp.obs[key].astype(str).to_numpy()
    elif method in ("kmeans", "gmm"):
        if n_clusters is None:
            raise ValueError(f"method='{method}' needs `n_clusters`.")
        if method == "kmeans":
            est = KMeans(n_clusters=n_clusters, n_init=10, random_state=random_state)
        else:
            est = GaussianMixture(n_components=n_clusters, covariance_type="diag",
                                  random_state=random_state)
        labels = est.fit_predict(x).astype(str)
    else:
        raise ValueError(f"unknown method '{method}'; choose 'leiden', 'kmeans' or 'gmm'.")
    out = pd.Series(pd.Categorical(labels), index=data.obs_names, name=key)
    data.obs[key] = out
    return out
