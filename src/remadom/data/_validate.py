"""Input checks shared by all models: each names the modality, the field and the fix."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from anndata import AnnData
from mudata import MuData


def _values(x) -> np.ndarray:
    return x.data if sp.issparse(x) else np.asarray(x).ravel()


def _chunks(v: np.ndarray, size: int = 1 << 22):
    """Consecutive slices of ``v`` (views), so element-wise checks keep temporaries small."""
    return (v[i:i + size] for i in range(0, v.size, size))


def check_modalities(mdata: MuData, modalities: list[str] | tuple[str, ...] | None) -> list[str]:
    """Check that ``modalities`` is a non-empty list of existing, non-empty MuData modalities.

    Raises
    ------
    ValueError
        If the argument is not a list, a name is unknown, or a modality has no cells.
    """
    if not isinstance(mdata, MuData):
        raise ValueError(
            f"expected a MuData, got {type(mdata).__name__}. Wrap an AnnData with "
            "`mudata.MuData({'rna': adata})`."
        )
    if modalities is None:
        modalities = list(mdata.mod)
    if isinstance(modalities, str):
        raise ValueError(f"`modalities` must be a list of modality names, e.g. ['{modalities}'].")
    modalities = list(modalities)
    if len(modalities) == 0:
        raise ValueError("`modalities` is empty; name at least one modality of the MuData.")
    if len(set(modalities)) != len(modalities):
        raise ValueError(f"`modalities` has duplicates: {modalities}.")
    for m in modalities:
        if m not in mdata.mod:
            raise ValueError(
                f"modality '{m}' is not in the MuData; available modalities: {list(mdata.mod)}."
            )
        if mdata[m].n_obs == 0:
            raise ValueError(
                f"modality '{m}' is empty (n_obs=0, no cells); drop it from `modalities`."
            )
    return modalities


def check_same_obs(mdata: MuData, modality: str) -> None:
    """Check that a modality covers exactly the MuData's observations, in the same order.

    Raises
    ------
    ValueError
        If the modality covers other or fewer spots, or lists them in another order.
    """
    a = mdata[modality]
    if a.n_obs != mdata.n_obs or not set(a.obs_names) == set(mdata.obs_names):
        n_missing = len(set(mdata.obs_names) - set(a.obs_names))
        n_extra = len(set(a.obs_names) - set(mdata.obs_names))
        raise ValueError(
            f"modality '{modality}' covers other spots than the MuData ({n_missing} of the "
            f"MuData's {mdata.n_obs} obs missing, {n_extra} extra): this model needs every "
            "modality on the same spots. Subset to the shared spots first, e.g. "
            "`muon.pp.intersect_obs(mdata)`."
        )
    if not (a.obs_names == mdata.obs_names).all():
        raise ValueError(
            f"modality '{modality}' lists its obs in another order than the MuData. Fix: "
            f"`mdata.mod['{modality}'] = mdata['{modality}'][mdata.obs_names].copy(); mdata.update()`."
        )


def stored_values(x) -> np.ndarray:
    """The stored values of a dense or sparse matrix as a flat array (sparse: non-zeros only)."""
    return _values(x)


def is_counts(x, max_values: int = 2_000_000) -> bool:
    """Whether ``x`` looks like counts: finite, non-negative integers (first ``max_values`` checked)."""
    v = _values(x)[:max_values]
    return bool(v.size == 0 or (np.isfinite(v).all() and (v >= 0).all() and np.allclose(v, np.round(v))))


def check_finite(x, modality: str, field: str) -> None:
    """Raise if ``x`` has NaN or inf values."""
    v = _values(x)
    if v.size and not np.isfinite(v).all():
        n = int((~np.isfinite(v)).sum())
        raise ValueError(
            f"modality '{modality}', {field}: {n} NaN/inf values. Remove or impute them "
            "(e.g. `np.nan_to_num`) before setup."
        )


def check_counts(x, modality: str, field: str) -> None:
    """Raise if ``x`` is not non-negative integer counts (needed by count likelihoods)."""
    check_finite(x, modality, field)
    v = _values(x)
    if v.size and (v < 0).any():
        raise ValueError(
            f"modality '{modality}', {field}: negative values under a count likelihood. Pass raw "
            "counts (e.g. `layers={'" + modality + "': 'counts'}`) or use likelihood='gaussian' on a "
            "normalised representation."
        )
    if v.size and not all(np.allclose(c, np.round(c)) for c in _chunks(v)):
        raise ValueError(
            f"modality '{modality}', {field}: non-integer values under a count likelihood. Pass raw "
            "counts, or use likelihood='gaussian' on a normalised representation."
        )


def get_matrix(adata: AnnData, key: str | None):
    """Return ``.X`` (key None or 'X'), ``layers[key]`` or ``obsm[key]`` and the field's name.

    Raises
    ------
    ValueError
        If ``key`` is in neither ``layers`` nor ``obsm``.
    """
    if key is None or key == "X":
        return adata.X, "X", ".X"
    if key in adata.layers:
        return adata.layers[key], "layer", f"layers['{key}']"
    if key in adata.obsm:
        return np.asarray(adata.obsm[key]), "obsm", f"obsm['{key}']"
    raise ValueError(
        f"'{key}' is neither a layer nor an obsm key; layers: {list(adata.layers)}, "
        f"obsm: {list(adata.obsm)}."
    )
