"""Presence masks for MuData whose modalities cover different cells (the natural mosaic form)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import scipy.sparse as sp
from mudata import MuData


def presence_mask(mdata: MuData, modalities: list[str] | None = None) -> pd.DataFrame:
    """Which observation of the MuData is present in which modality.

    Parameters
    ----------
    mdata
        MuData; modalities may cover different, overlapping cells (no zero-padded rows needed).
    modalities
        Modality names (default: all).

    Returns
    -------
    Boolean DataFrame ``(n_obs, n_modalities)`` indexed by ``mdata.obs_names``.

    Raises
    ------
    ValueError
        If a modality holds obs names that the MuData lacks (call ``mdata.update()``), or if an
        observation is in none of the modalities.
    """
    modalities = list(mdata.mod) if modalities is None else list(modalities)
    cols = {}
    for m in modalities:
        names = mdata[m].obs_names
        extra = names.difference(mdata.obs_names)
        if len(extra):
            raise ValueError(
                f"modality '{m}' has {len(extra)} obs names the MuData lacks (e.g. '{extra[0]}'); "
                "call `mdata.update()` after editing modalities."
            )
        cols[m] = mdata.obs_names.isin(names)
    mask = pd.DataFrame(cols, index=mdata.obs_names)
    empty = ~mask.to_numpy().any(axis=1)
    if empty.any():
        raise ValueError(
            f"{int(empty.sum())} observations (e.g. '{mdata.obs_names[np.argmax(empty)]}') are in none "
            f"of the modalities {modalities}; drop them: `mdata = mdata[mask.any(axis=1)].copy()`."
        )
    return mask


def pad_rows(x, rows: np.ndarray, n_obs: int):
    """Place a modality's rows at MuData positions ``rows`` of an ``(n_obs, n_vars)`` matrix.

    Rows of cells that lack the modality stay empty (zeros; sparse input stays sparse CSR).

    Parameters
    ----------
    x
        ``(len(rows), n_vars)`` dense or sparse matrix.
    rows
        Integer MuData row of each of ``x``'s rows.
    n_obs
        Rows of the output.

    Returns
    -------
    float32 CSR matrix (sparse input) or ndarray ``(n_obs, n_vars)``.
    """
    if sp.issparse(x):
        x = sp.csr_matrix(x, dtype=np.float32)
        coo = x.tocoo()
        return sp.csr_matrix((coo.data, (rows[coo.row], coo.col)), shape=(n_obs, x.shape[1]))
    out = np.zeros((n_obs, x.shape[1]), dtype=np.float32)
    out[rows] = np.asarray(x, dtype=np.float32)
    return out
