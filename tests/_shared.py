"""Location of ../shared/data; tests that need it skip with a reason when it is absent."""

import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

SHARED = Path(os.environ.get("REMADOM_SHARED_DATA", Path(__file__).resolve().parents[1] / ".." / "shared" / "data"))


def shared_file(name: str) -> Path:
    """Path of a file in ../shared/data, or skip the test with the reason."""
    p = SHARED / name
    if not p.exists():
        pytest.skip(f"../shared/data/{name} not found (real-data test; runs in CI where shared/ exists)")
    return p


def same_value(a, b) -> bool:
    """Deep equality of what a setup may touch: sparse / dense arrays (NaN equal), DataFrames, dicts."""
    if sp.issparse(a) or sp.issparse(b):
        if not (sp.issparse(a) and sp.issparse(b) and a.shape == b.shape and a.dtype == b.dtype):
            return False
        a, b = sp.csr_matrix(a), sp.csr_matrix(b)
        return all(np.array_equal(u, v, equal_nan=True) for u, v in
                   ((a.indptr, b.indptr), (a.indices, b.indices), (a.data, b.data)))
    if isinstance(a, pd.DataFrame):
        return isinstance(b, pd.DataFrame) and a.equals(b) and a.index.equals(b.index)
    if isinstance(a, dict):
        return isinstance(b, dict) and a.keys() == b.keys() and all(same_value(a[k], b[k]) for k in a)
    if a is None or b is None:
        return a is b
    if isinstance(a, np.ndarray | np.generic):
        b = np.asarray(b)
        return a.shape == b.shape and a.dtype == b.dtype and np.array_equal(
            a, b, equal_nan=a.dtype.kind in "fc")
    try:
        return bool(a == b)
    except (TypeError, ValueError):
        return False
