"""Standard per-modality preprocessing (scanpy / muon conventions), written to ``obsm``.

These never modify ``.X`` or ``layers``: they work on a copy and store the result in ``obsm``.
"""

from __future__ import annotations

import numpy as np
import scanpy as sc
import scipy.sparse as sp
from anndata import AnnData
from sklearn.decomposition import TruncatedSVD
from sklearn.feature_extraction.text import TfidfTransformer


def _matrix(adata: AnnData, layer: str | None):
    return adata.X if layer is None else adata.layers[layer]


def pca_rna(
    adata: AnnData,
    n_comps: int = 50,
    n_top_genes: int | None = 3000,
    layer: str | None = None,
    key_added: str = "X_pca",
    random_state: int = 0,
) -> None:
    """Library-size normalise, log1p, select highly variable genes, scale and PCA.

    Follows the scanpy workflow (``normalize_total`` to 1e4, ``log1p``, ``highly_variable_genes``
    with ``flavor="seurat"``, ``scale`` clipped at 10, ``pca``).

    Parameters
    ----------
    adata
        RNA counts in ``.X`` or ``layers[layer]``.
    n_comps
        Number of principal components (capped at ``min(n_obs, n_vars) - 1``).
    n_top_genes
        Number of highly variable genes (``None``: all genes).
    layer
        Layer holding counts; ``None`` uses ``.X``.
    key_added
        ``obsm`` key of the ``(n_obs, n_comps)`` float32 result.
    random_state
        PCA seed.
    """
    tmp = AnnData(sp.csr_matrix(_matrix(adata, layer), dtype=np.float32))
    sc.pp.normalize_total(tmp, target_sum=1e4)
    sc.pp.log1p(tmp)
    if n_top_genes is not None and n_top_genes < tmp.n_vars:
        sc.pp.highly_variable_genes(tmp, n_top_genes=n_top_genes, flavor="seurat")
        tmp = tmp[:, tmp.var["highly_variable"].to_numpy()].copy()
    sc.pp.scale(tmp, max_value=10)
    n = int(min(n_comps, min(tmp.shape) - 1))
    sc.pp.pca(tmp, n_comps=n, random_state=random_state)
    adata.obsm[key_added] = tmp.obsm["X_pca"].astype(np.float32)


def clr(x) -> np.ndarray:
    """Centred log-ratio per cell, ``log1p(x) - mean(log1p(x))`` (as ``muon.prot.pp.clr`` on axis 1)."""
    x = np.asarray(x.toarray() if sp.issparse(x) else x, dtype=np.float64)
    lx = np.log1p(x)
    return (lx - lx.mean(axis=1, keepdims=True)).astype(np.float32)


def pca_protein(
    adata: AnnData,
    n_comps: int | None = None,
    layer: str | None = None,
    key_added: str = "X_pca",
    random_state: int = 0,
) -> None:
    """CLR-normalise protein (ADT) counts per cell, scale and PCA.

    Parameters
    ----------
    adata
        ADT counts in ``.X`` or ``layers[layer]``.
    n_comps
        Number of components; default ``n_vars - 1`` (as SpatialGlue does for proteins).
    layer
        Layer holding counts.
    key_added
        ``obsm`` key of the ``(n_obs, n_comps)`` result.
    random_state
        PCA seed.
    """
    tmp = AnnData(clr(_matrix(adata, layer)))
    sc.pp.scale(tmp, max_value=10)
    n = int(min(n_comps or adata.n_vars - 1, min(tmp.shape) - 1))
    sc.pp.pca(tmp, n_comps=n, random_state=random_state)
    adata.obsm[key_added] = tmp.obsm["X_pca"].astype(np.float32)


def lsi_atac(
    adata: AnnData,
    n_comps: int = 50,
    layer: str | None = None,
    drop_first: bool = True,
    scale_embeddings: bool = True,
    key_added: str = "X_lsi",
    random_state: int = 0,
) -> None:
    """TF-IDF + truncated SVD (latent semantic indexing) of ATAC counts.

    TF-IDF by :class:`sklearn.feature_extraction.text.TfidfTransformer`, then
    :class:`sklearn.decomposition.TruncatedSVD`; the first component (read depth) is dropped by
    default (as in Signac / muon's ``atac.tl.lsi``), and each component is standardised (Signac's
    ``scale.embeddings``), which keeps LSI on the same scale as a PCA it is concatenated with;
    ``scale_embeddings=False`` keeps the SVD scale (muon's convention), which weighs the leading
    components more.

    Parameters
    ----------
    adata
        ATAC counts (peaks or regions) in ``.X`` or ``layers[layer]``.
    n_comps
        Number of components kept.
    layer
        Layer holding counts.
    drop_first
        Drop the first (depth-correlated) component.
    scale_embeddings
        Standardise each component to zero mean and unit variance.
    key_added
        ``obsm`` key of the ``(n_obs, n_comps)`` result.
    random_state
        SVD seed.
    """
    x = sp.csr_matrix(_matrix(adata, layer), dtype=np.float32)
    tfidf = TfidfTransformer(norm="l1", sublinear_tf=False).fit_transform(x)
    tfidf = sp.csr_matrix(tfidf)
    tfidf.data = np.log1p(tfidf.data * 1e4)
    k = n_comps + int(drop_first)
    svd = TruncatedSVD(n_components=k, random_state=random_state)
    z = svd.fit_transform(tfidf)[:, int(drop_first) :]
    if scale_embeddings:
        z = (z - z.mean(0)) / (z.std(0) + 1e-8)
    adata.obsm[key_added] = z.astype(np.float32)
