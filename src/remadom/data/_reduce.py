"""Reduce one modality to a fixed width ``s`` (highly variable genes or PCA), then z-score."""

from __future__ import annotations

import numpy as np
import scanpy as sc
import scipy.sparse as sp
from anndata import AnnData

REDUCTIONS = ("high_var", "pca")
SCALES = ("zscore", "none")


def reduce_to_width(
    x,
    counts: bool,
    n_dims: int,
    method: str = "high_var",
    scale: str = "zscore",
    random_state: int = 0,
    genes=None,
) -> np.ndarray:
    """A dense ``(n_obs, <= n_dims)`` float32 representation of one modality.

    Counts (RNA) are library-size normalised to 1e4 and log1p-transformed (scanpy), then reduced
    to the ``n_dims`` most variable genes (``method="high_var"``, scanpy's ``seurat`` flavour) or
    to ``n_dims`` principal components (``method="pca"``). Continuous features (image features,
    a representation) are standardised and, when wider than ``n_dims``, reduced by PCA. With
    ``scale="zscore"`` every output column has mean 0 and s.d. 1 (clipped at 10), as StereoMM's
    ``--scale zscore``.

    Parameters
    ----------
    x
        ``(n_obs, n_vars)`` dense or sparse matrix.
    counts
        Whether ``x`` holds counts.
    n_dims
        Target width ``s``; fewer columns come back only if the data have fewer (``n_vars`` or
        ``n_obs - 1`` for PCA). ``"high_var"`` keeps exactly ``n_dims`` genes (ties at the
        cut-off broken by var order, see :func:`top_variable`).
    method
        ``"high_var"`` or ``"pca"`` (counts only; continuous data always use PCA when too wide).
    scale
        ``"zscore"`` or ``"none"``.
    random_state
        Seed of the PCA.
    genes
        Counts with ``method="high_var"`` only: integer positions of the genes to keep (e.g.
        chosen on the training data by :func:`select_genes`) instead of choosing them here;
        ``n_dims`` is then ignored. The library size is still taken over all genes.

    Raises
    ------
    ValueError
        Unknown ``method`` or ``scale``, or ``n_dims < 1``.
    """
    if method not in REDUCTIONS:
        raise ValueError(f"dim_reduction_method '{method}' is unknown; choose one of {REDUCTIONS}.")
    if scale not in SCALES:
        raise ValueError(f"scale '{scale}' is unknown; choose one of {SCALES}.")
    if n_dims < 1:
        raise ValueError(f"the reduced width must be >= 1, got {n_dims}.")
    tmp = AnnData(sp.csr_matrix(x, dtype=np.float32) if counts else np.asarray(
        x.toarray() if sp.issparse(x) else x, dtype=np.float32))
    if counts:
        sc.pp.normalize_total(tmp, target_sum=1e4)
        sc.pp.log1p(tmp)
        if method == "high_var" and genes is not None:
            tmp = tmp[:, np.asarray(genes, dtype=np.int64)].copy()
        elif method == "high_var" and n_dims < tmp.n_vars:
            tmp = tmp[:, top_variable(tmp, n_dims)].copy()
        elif method == "pca":
            out = _pca(tmp, n_dims, random_state, scale_first=True)
            return _scale(out, scale)
        out = tmp.X.toarray() if sp.issparse(tmp.X) else np.asarray(tmp.X)
        return _scale(out.astype(np.float32), scale)
    out = np.asarray(tmp.X)
    if out.shape[1] > n_dims:
        out = _pca(tmp, n_dims, random_state, scale_first=True)
    return _scale(out.astype(np.float32), scale)


def select_genes(x, n: int) -> np.ndarray:
    """Positions of the ``n`` most variable genes of counts ``x`` (as ``reduce_to_width`` picks).

    Library-size normalised to 1e4, log1p, then :func:`top_variable`; all genes when ``n`` is
    at least their number.
    """
    if n >= x.shape[1]:
        return np.arange(x.shape[1])
    tmp = AnnData(sp.csr_matrix(x, dtype=np.float32))
    sc.pp.normalize_total(tmp, target_sum=1e4)
    sc.pp.log1p(tmp)
    return top_variable(tmp, n)


def top_variable(adata: AnnData, n: int) -> np.ndarray:
    """Indices (in var order) of exactly ``n`` most variable genes of log-normalised data.

    Ranks by scanpy's ``seurat``-flavour normalised dispersion, as
    :func:`scanpy.pp.highly_variable_genes`, which however keeps every gene tied with the
    ``n``-th (so ``n_top_genes=200`` can give 202 genes when dispersions tie, e.g. genes
    detected in a single spot with the same count). Ties are broken here by var order, so the
    width is always ``n``. Genes with undefined dispersion (never detected) rank last.
    """
    stats = sc.pp.highly_variable_genes(adata, n_top_genes=n, flavor="seurat", inplace=False)
    disp = np.nan_to_num(stats["dispersions_norm"].to_numpy(dtype=np.float64), nan=-np.inf)
    return np.sort(np.argsort(-disp, kind="stable")[:n])


def _pca(tmp: AnnData, n_dims: int, random_state: int, scale_first: bool) -> np.ndarray:
    if scale_first:
        sc.pp.scale(tmp, max_value=10)
    n = int(min(n_dims, min(tmp.shape) - 1))
    sc.pp.pca(tmp, n_comps=n, random_state=random_state)
    return np.asarray(tmp.obsm["X_pca"], dtype=np.float32)


def _scale(x: np.ndarray, scale: str) -> np.ndarray:
    if scale == "none":
        return x.astype(np.float32)
    from sklearn.preprocessing import StandardScaler

    return np.clip(StandardScaler().fit_transform(x), -10, 10).astype(np.float32)
