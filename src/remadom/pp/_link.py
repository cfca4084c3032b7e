"""Shared "link" features for cells measured by different modalities (a prior feature association)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import scipy.sparse as sp
from anndata import AnnData
from mudata import MuData
from sklearn.decomposition import TruncatedSVD


def _log_norm(x) -> np.ndarray:
    x = sp.csr_matrix(x, dtype=np.float64)
    lib = np.asarray(x.sum(1)).ravel()
    lib[lib == 0] = 1
    x = sp.diags(1e4 / lib) @ x
    x.data = np.log1p(x.data)
    return x.toarray()


def _zscore(x: np.ndarray) -> np.ndarray:
    sd = x.std(0)
    sd[sd == 0] = 1
    return (x - x.mean(0)) / sd


def link_features(
    mdata: MuData,
    rna: str = "rna",
    other: str = "atac",
    association: sp.spmatrix | np.ndarray | str = "gene_region_association",
    n_comps: int = 50,
    key_added: str = "X_link",
    random_state: int = 0,
    as_modality: str | None = None,
) -> None:
    """Put every cell in one gene space: RNA where measured, else activity through an association.

    Cells with ``rna`` get their log-normalised expression; cells without it but with ``other``
    get ``other`` counts summed through the ``genes x features`` association (for ATAC the
    gene-region overlap, i.e. gene activity scores, as in Signac/ArchR), log-normalised. Each
    source is z-scored per gene on its own cells (removing the modality's mean shift, in the
    spirit of Seurat's anchor space), then both are reduced together by truncated SVD.

    Parameters
    ----------
    mdata
        MuData with modalities ``rna`` and ``other`` (natural mosaic form allowed).
    association
        ``(rna n_vars, other n_vars)`` matrix, or a key of ``mdata.uns``.
    n_comps
        Components kept.
    key_added
        ``mdata.obsm`` key of the result ``(n_obs, n_comps)``; register it with
        ``MOSAICVI.setup_mudata(..., link_key=key_added)``.
    as_modality
        Also add the components, each scaled to unit standard deviation, as a new modality of
        this name covering every cell (``n_obs x n_comps``, var names ``{key_added}_0, ...``).
        Registered with :class:`~remadom.model.MOSAICVI` (Gaussian likelihood), its expert is
        shared by RNA-only and ATAC-only cells, which ties unpaired halves together through the
        association (on MOp SNARE-seq halves: FOSCTTM 0.20 against 0.46 with the MMD head alone;
        ``benchmarks/mosaicvi_unpaired_gene_level.py``).

    Raises
    ------
    ValueError
        If a modality is missing, the association has the wrong shape, a cell has neither
        modality, or ``as_modality`` names an existing modality.
    """
    if as_modality is not None and as_modality in mdata.mod:
        raise ValueError(f"as_modality='{as_modality}' is already a modality of the MuData; pick another name.")
    for m in (rna, other):
        if m not in mdata.mod:
            raise ValueError(f"modality '{m}' is not in the MuData; available: {list(mdata.mod)}.")
    a = mdata.uns[association] if isinstance(association, str) else association
    a = sp.csr_matrix(a, dtype=np.float64)
    shape = (mdata[rna].n_vars, mdata[other].n_vars)
    if a.shape != shape:
        raise ValueError(f"association has shape {a.shape}; expected ({rna} n_vars, {other} n_vars) = {shape}.")
    has_rna = mdata.obs_names.isin(mdata[rna].obs_names)
    use_other = ~has_rna & mdata.obs_names.isin(mdata[other].obs_names)
    if not (has_rna | use_other).all():
        raise ValueError(f"{int((~(has_rna | use_other)).sum())} cells have neither '{rna}' nor '{other}'.")
    out = np.zeros((mdata.n_obs, shape[0]))
    cells = mdata.obs_names[has_rna]
    out[has_rna] = _zscore(_log_norm(mdata[rna][cells].X))
    if use_other.any():
        cells = mdata.obs_names[use_other]
        activity = sp.csr_matrix(mdata[other][cells].X, dtype=np.float64) @ a.T
        out[use_other] = _zscore(_log_norm(activity))
    k = min(n_comps, out.shape[1] - 1, out.shape[0] - 1)
    comps = TruncatedSVD(k, random_state=random_state).fit_transform(out).astype(np.float32)
    mdata.obsm[key_added] = comps
    if as_modality is not None:
        sd = comps.std(0)
        sd[sd == 0] = 1
        mod = AnnData(X=comps / sd, obs=pd.DataFrame(index=mdata.obs_names.copy()),
                      var=pd.DataFrame(index=[f"{key_added}_{i}" for i in range(k)]))
        mdata.mod[as_modality] = mod
        mdata.update()
