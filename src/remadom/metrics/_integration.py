"""Integration metrics: FOSCTTM, label transfer, imputation correlation, batch mixing (iLISI)."""

from __future__ import annotations

import numpy as np
from sklearn.metrics import pairwise_distances_chunked
from sklearn.neighbors import KNeighborsClassifier, NearestNeighbors


def foscttm(x: np.ndarray, y: np.ndarray) -> float:
    """Fraction of samples closer than the true match (Liu et al., 2019; lower is better).

    Row ``i`` of ``x`` and row ``i`` of ``y`` are the same cell seen through two modalities. For
    each cell, the fraction of cells of the other modality that are closer (Euclidean) than its
    true match, averaged over both directions and all cells. 0 is perfect, ~0.5 random. Memory is
    chunked (``O(chunk * n)``), never a full ``n x n`` matrix at once.

    Parameters
    ----------
    x, y
        ``(n_cells, n_latent)`` embeddings, rows matched.

    Raises
    ------
    ValueError
        If the shapes differ or there are fewer than two cells.
    """
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    if x.shape != y.shape or x.shape[0] < 2:
        raise ValueError(f"foscttm needs two matched (n, d) arrays with n >= 2; got {x.shape} and {y.shape}.")
    n = x.shape[0]
    true = np.linalg.norm(x - y, axis=1)
    fx, fy = np.empty(n), np.empty(n)
    start = 0
    for block in pairwise_distances_chunked(x, y):  # rows of x against all of y
        k = block.shape[0]
        fx[start:start + k] = (block < true[start:start + k, None]).sum(1)
        start += k
    start = 0
    for block in pairwise_distances_chunked(y, x):
        k = block.shape[0]
        fy[start:start + k] = (block < true[start:start + k, None]).sum(1)
        start += k
    return float(((fx + fy) / 2 / (n - 1)).mean())


def label_transfer_accuracy(z_ref: np.ndarray, labels_ref, z_query: np.ndarray, labels_query,
                            n_neighbors: int = 15) -> float:
    """Accuracy of a kNN classifier trained on the reference embedding, applied to the query.

    Parameters
    ----------
    z_ref, z_query
        ``(n_ref, d)`` and ``(n_query, d)`` embeddings in one space.
    labels_ref, labels_query
        Labels of each; query labels are only used for scoring.
    """
    clf = KNeighborsClassifier(n_neighbors=n_neighbors).fit(z_ref, np.asarray(labels_ref).astype(str))
    return float((clf.predict(z_query) == np.asarray(labels_query).astype(str)).mean())


def imputation_correlation(observed: np.ndarray, predicted: np.ndarray, axis: int = 0) -> np.ndarray:
    """Pearson ``r`` per feature (``axis=0``: each column across cells) or per cell (``axis=1``).

    Features (or cells) that are constant in either array get NaN; use ``np.nanmean``.

    Returns
    -------
    ``(n_features,)`` (or ``(n_cells,)``) array.
    """
    a, b = np.asarray(observed, dtype=np.float64), np.asarray(predicted, dtype=np.float64)
    if a.shape != b.shape:
        raise ValueError(f"observed {a.shape} and predicted {b.shape} differ in shape.")
    a = a - a.mean(axis, keepdims=True)
    b = b - b.mean(axis, keepdims=True)
    denom = np.sqrt((a * a).sum(axis) * (b * b).sum(axis))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(denom > 0, (a * b).sum(axis) / denom, np.nan)


def ilisi(z: np.ndarray, batch, n_neighbors: int = 90) -> float:
    """Scaled integration LISI (batch mixing; 0 none, 1 perfect) via ``scib-metrics``.

    Raises
    ------
    ImportError
        If scib-metrics is not installed (``pip install remadom[bench]``).
    """
    try:
        import scib_metrics
        from scib_metrics.nearest_neighbors import NeighborsResults
    except ImportError as e:  # pragma: no cover - optional dependency
        raise ImportError("ilisi needs scib-metrics: `pip install 'remadom[bench]'`.") from e
    k = min(n_neighbors, len(z) - 1)
    dist, idx = NearestNeighbors(n_neighbors=k).fit(z).kneighbors(z)
    nn = NeighborsResults(indices=idx, distances=dist)
    return float(scib_metrics.ilisi_knn(nn, np.asarray(batch).astype(str), scale=True))


def topk_matching(x: np.ndarray, y: np.ndarray, k: int = 5) -> float:
    """Fraction of cells whose true match is among their ``k`` nearest cells of the other modality.

    Row ``i`` of ``x`` and of ``y`` are the same cell; averaged over both directions (the seed's
    "position-based kNN accuracy"). 1 is perfect, ``k / n`` random.

    Raises
    ------
    ValueError
        If the shapes differ or ``k`` is not in ``[1, n]``.
    """
    from sklearn.neighbors import NearestNeighbors

    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    if x.shape != y.shape or not 1 <= k <= len(x):
        raise ValueError(f"topk_matching needs two matched (n, d) arrays and 1 <= k <= n; got {x.shape}, {y.shape}, k={k}.")
    idx = np.arange(len(x))[:, None]
    hit_xy = (NearestNeighbors(n_neighbors=k).fit(y).kneighbors(x, return_distance=False) == idx).any(1)
    hit_yx = (NearestNeighbors(n_neighbors=k).fit(x).kneighbors(y, return_distance=False) == idx).any(1)
    return float((hit_xy.mean() + hit_yx.mean()) / 2)
