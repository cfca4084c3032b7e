"""Presence masks for MuData whose modalities cover different cells (the natural mosaic form)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import scipy.sparse as sp
from mudata import MuData

from ._backed import BackedRows, pad_backed


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
    Sparse input is not copied when it already is float32 CSR: with ``rows`` increasing the
    result shares ``x``'s data and column indices (only the row pointer is new; with
    ``rows == arange(n_obs)`` it shares all three arrays). Rows must be distinct.

    On-disk input (a :class:`~remadom.data.BackedRows` from a backed AnnData/MuData) is not
    read: the result is a :class:`~remadom.data.BackedRows` that reads the rows from disk when
    indexed (cells without the modality read as empty rows).

    Parameters
    ----------
    x
        ``(len(rows), n_vars)`` dense, sparse or on-disk matrix.
    rows
        Integer MuData row of each of ``x``'s rows.
    n_obs
        Rows of the output.

    Returns
    -------
    float32 CSR matrix (sparse input), ndarray or :class:`~remadom.data.BackedRows`
    ``(n_obs, n_vars)``.
    """
    if isinstance(x, BackedRows):
        return pad_backed(x, rows, n_obs)
    if sp.issparse(x):
        x = sp.csr_matrix(x, dtype=np.float32)  # no copy for float32 CSR input
        rows = np.asarray(rows)
        if len(rows) == n_obs and (rows == np.arange(n_obs)).all():
            return x  # the modality covers every row in order (paired data): arrays shared
        if len(rows) > 1 and (np.diff(rows) < 0).any():
            order = np.argsort(rows, kind="stable")
            x, rows = x[order], rows[order]
        # rows increasing: the nonzeros keep their order, only the row pointer changes
        counts = np.zeros(n_obs, dtype=np.int64)
        counts[rows] = np.diff(x.indptr)
        indptr = np.concatenate([[0], np.cumsum(counts)]).astype(x.indptr.dtype, copy=False)
        return sp.csr_matrix((x.data, x.indices, indptr), shape=(n_obs, x.shape[1]))
    out = np.zeros((n_obs, x.shape[1]), dtype=np.float32)
    out[rows] = np.asarray(x, dtype=np.float32)
    return out
