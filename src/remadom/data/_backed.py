"""Out-of-core input: count matrices of a backed AnnData/MuData read from disk by row blocks.

A MuData opened with ``mudata.read_h5mu(path, backed="r")`` keeps each modality's ``.X`` on disk
as an :mod:`h5py` dataset (dense) or an :class:`anndata.abc.CSRDataset` (sparse).
:func:`get_matrix` wraps such a matrix in :class:`BackedRows`, which the setup checks read block
by block (sums, value checks) and which scvi-tools' :class:`~scvi.data.AnnTorchDataset` reads one
minibatch at a time: it is an :class:`anndata.abc.CSRDataset`, a type the scvi-tools data loader
slices row-wise without loading the matrix. In a mosaic MuData a modality covers only some cells;
:func:`pad_rows` then returns a :class:`BackedRows` *placed at the MuData rows* (cells without the
modality read as empty rows), so nothing is copied, in memory or on disk.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import h5py
import numpy as np
import scipy.sparse as sp
from anndata.abc import CSCDataset, CSRDataset
from mudata import MuData

#: rows per block when setup scans a backed matrix (sums, value checks)
BLOCK_ROWS = 16_384

_STORE_DIR: str | None = None


def is_backed(x) -> bool:
    """Whether ``x`` is an on-disk matrix: an :mod:`h5py` dataset or an anndata backed sparse dataset.

    Parameters
    ----------
    x
        Any matrix (``adata.X``, a layer, ...).

    Returns
    -------
    True for :class:`h5py.Dataset`, :class:`anndata.abc.CSRDataset` / ``CSCDataset`` (what
    ``read_h5ad(..., backed="r")`` / ``read_h5mu(..., backed="r")`` give for ``.X``) and
    :class:`BackedRows`.
    """
    return isinstance(x, h5py.Dataset | CSRDataset | CSCDataset) or _is_zarr_array(x)


def _is_zarr_array(x) -> bool:
    try:
        import zarr
    except ImportError:  # pragma: no cover - zarr is an anndata dependency
        return False
    return isinstance(x, zarr.Array)


def _read_csr(source, indptr: np.ndarray, uniq: np.ndarray) -> sp.csr_matrix:
    """Rows ``uniq`` (increasing, distinct) of an on-disk CSR matrix, one slice per run of rows.

    With the row pointer in memory, each run of consecutive rows is one slice of the ``data``
    and ``indices`` arrays on disk (a random minibatch of 256 of 10^5 cells: about half the time
    of anndata's fancy indexing).
    """
    group = source.group
    data, indices = group["data"], group["indices"]
    cut = np.flatnonzero(np.diff(uniq) != 1) + 1
    first = np.concatenate([[0], cut])
    last = np.concatenate([cut, [len(uniq)]]) - 1
    lo, hi = indptr[uniq[first]], indptr[uniq[last] + 1]
    parts_d = [data[a:b] for a, b in zip(lo, hi, strict=True)]
    parts_i = [indices[a:b] for a, b in zip(lo, hi, strict=True)]
    counts = indptr[uniq + 1] - indptr[uniq]
    out_ptr = np.concatenate([[0], np.cumsum(counts)])
    return sp.csr_matrix(
        (np.concatenate(parts_d), np.concatenate(parts_i), out_ptr),
        shape=(len(uniq), source.shape[1]),
    )


def _read(source, rows: np.ndarray, indptr: np.ndarray | None = None) -> sp.csr_matrix:
    """Rows ``rows`` (any order, repeats allowed) of an on-disk matrix as CSR, in that order."""
    if len(rows) == 0:
        return sp.csr_matrix((0, source.shape[1]), dtype=source.dtype)
    uniq, inverse = np.unique(rows, return_inverse=True)  # h5py reads need increasing indices
    if indptr is not None:
        block = _read_csr(source, indptr, uniq)
    elif len(uniq) == uniq[-1] - uniq[0] + 1:  # one contiguous range: a slice reads fastest
        block = sp.csr_matrix(source[int(uniq[0]) : int(uniq[-1]) + 1])
    else:
        block = sp.csr_matrix(source.oindex[uniq] if _is_zarr_array(source) else source[uniq])
    if len(uniq) == len(rows) and (inverse == np.arange(len(rows))).all():
        return block
    return block[inverse]


class BackedRows(CSRDataset):
    """A lazily read ``(n_obs, n_vars)`` view of an on-disk matrix, rows optionally re-placed.

    Row ``i`` of the view is row ``source_row[i]`` of ``source`` (an :mod:`h5py` dataset or an
    anndata backed sparse dataset), or an empty row where ``source_row[i] == -1`` (a cell that
    lacks the modality in a mosaic MuData). Indexing reads only the requested rows from disk and
    returns a :class:`scipy.sparse.csr_matrix` in the requested order (unsorted and repeated
    indices are fine); scvi-tools' :class:`~scvi.data.AnnTorchDataset` reads minibatches this way.
    Setup reads it block by block through :meth:`row_blocks`, :meth:`sum`, :meth:`max` and
    :meth:`min`; nothing here loads the whole matrix. Converting it to a dense array
    (``np.asarray``) is refused with a clear error.

    Parameters
    ----------
    source
        On-disk matrix ``(n_src, n_vars)``, or another :class:`BackedRows`.
    source_row
        ``(n_obs,)`` integer source row of each row of the view, ``-1`` for an empty row
        (default: ``arange(n_src)``, the source itself).
    dtype
        dtype of the values returned (default: the source's).
    where
        Name of the field for messages, e.g. ``"modality 'rna', .X"``.
    """

    @property
    def backend(self) -> str:
        """``"hdf5"`` or ``"zarr"``: where the rows are read from."""
        return getattr(self.source, "backend", "zarr" if _is_zarr_array(self.source) else "hdf5")

    def __init__(
        self, source, source_row: np.ndarray | None = None, dtype=None, where: str = "the matrix"
    ):
        if isinstance(source, BackedRows):
            if source_row is not None:
                inner = source._source_row
                source_row = np.where(
                    np.asarray(source_row) >= 0, inner[np.maximum(source_row, 0)], -1
                )
            else:
                source_row = source._source_row
            dtype = dtype or source.dtype
            self._indptr = getattr(source, "_indptr", None)  # share the row pointer once read
            source = source.source
        if not is_backed(source):
            raise TypeError(
                f"BackedRows needs an on-disk matrix (h5py or anndata backed), got {type(source).__name__}."
            )
        self.source = source
        n_src = source.shape[0]
        self._source_row = (
            np.arange(n_src, dtype=np.int64)
            if source_row is None
            else np.asarray(source_row, dtype=np.int64)
        )
        if self._source_row.size and self._source_row.max() >= n_src:
            raise ValueError(f"BackedRows: a source row is >= the source's {n_src} rows.")
        self.shape = (len(self._source_row), int(source.shape[1]))
        self.dtype = np.dtype(dtype or source.dtype)
        self.where = where

    # ----------------------------------------------------------------- reading
    def _row_pointer(self) -> np.ndarray | None:
        """The source's CSR row pointer, read once (``n_src + 1`` int64); None for dense sources."""
        if isinstance(self.source, h5py.Dataset) or _is_zarr_array(self.source):
            return None
        if getattr(self, "_indptr", None) is None:
            self._indptr = np.asarray(self.source.group["indptr"][:], dtype=np.int64)
        return self._indptr

    @property
    def group(self):
        """The on-disk group or dataset read (anndata's ``CSRDataset.group``)."""
        return getattr(self.source, "group", self.source)

    @property
    def filename(self) -> str:
        """Path of the file (h5) or store (zarr) the matrix is read from."""
        group = self.group
        return (
            group.file.filename if hasattr(group, "file") else str(getattr(group, "store", group))
        )

    @property
    def source_row(self) -> np.ndarray:
        """``(n_obs,)`` source row of each row (``-1``: empty row)."""
        return self._source_row

    @property
    def ndim(self) -> int:
        return 2

    @property
    def nnz(self) -> int:
        """Number of stored values of the source (all rows, also those the view does not use)."""
        if isinstance(self.source, h5py.Dataset) or _is_zarr_array(self.source):
            return int(np.prod(self.source.shape))
        return int(self.source.group["data"].shape[0])

    def _rows(self, index) -> np.ndarray:
        if isinstance(index, slice):
            return np.arange(self.shape[0])[index]
        idx = np.asarray(index)
        if idx.dtype == bool:
            if idx.shape != (self.shape[0],):
                raise IndexError(f"boolean index of length {idx.shape} for {self.shape[0]} rows.")
            return np.flatnonzero(idx)
        return np.atleast_1d(idx).astype(np.int64)

    def __getitem__(self, index) -> sp.csr_matrix:
        """Read rows (an int, a slice, an integer or boolean array; optionally ``(rows, cols)``)."""
        cols = None
        if isinstance(index, tuple):
            index, cols = index
        rows = self._rows(index)
        src = self._source_row[rows]
        present = src >= 0
        block = _read(self.source, src[present], self._row_pointer()).astype(self.dtype, copy=False)
        if present.all():
            out = block
        else:
            counts = np.zeros(len(rows), dtype=np.int64)
            counts[present] = np.diff(block.indptr)
            indptr = np.concatenate([[0], np.cumsum(counts)])
            out = sp.csr_matrix(
                (block.data, block.indices, indptr), shape=(len(rows), self.shape[1])
            )
        return out if cols is None else out[:, cols]

    def row_blocks(self, block_rows: int = BLOCK_ROWS) -> Iterator[tuple[int, int, sp.csr_matrix]]:
        """Yield ``(start, stop, rows start:stop as CSR)`` over the whole view."""
        for start in range(0, self.shape[0], block_rows):
            stop = min(start + block_rows, self.shape[0])
            yield start, stop, self[start:stop]

    def value_blocks(self, block_rows: int = BLOCK_ROWS) -> Iterator[np.ndarray]:
        """Yield the stored values of each row block (sparse: non-zeros only), as ``stored_values``."""
        for _, _, b in self.row_blocks(block_rows):
            yield b.data

    def to_memory(self) -> sp.csr_matrix:
        """The whole view as an in-memory CSR matrix (this loads it; setup never calls it)."""
        return self[:]

    def toarray(self, block_rows: int = BLOCK_ROWS) -> np.ndarray:
        """The whole view as a dense ``(n_obs, n_vars)`` array, read block by block.

        For models whose derived inputs are dense anyway (URMF's encoder inputs of a count
        modality); the dense array is as large as the view.
        """
        out = np.zeros(self.shape, dtype=self.dtype)
        for start, stop, b in self.row_blocks(block_rows):
            out[start:stop] = b.toarray()
        return out

    def astype(self, dtype, copy: bool = True) -> BackedRows:
        """The same view, read as ``dtype``."""
        return BackedRows(self, dtype=dtype, where=self.where)

    def __array__(self, *args, **kwargs):
        raise TypeError(
            f"{self.where} is read from disk ({self.filename}); this step would load the whole "
            f"{self.shape[0]} x {self.shape[1]} matrix into memory. Read it by rows "
            "(BackedRows.row_blocks), or open the data in memory (read_h5mu without backed=)."
        )

    # ----------------------------------------------------------------- reductions
    def sum(self, axis: int | None = None):
        """Sum of all values (``axis=None``), per column (``0``, ``(1, n_vars)``) or per row (``1``, ``(n_obs, 1)``)."""
        if axis == 1:
            out = np.zeros((self.shape[0], 1), dtype=np.float64)
            for start, stop, b in self.row_blocks():
                out[start:stop, 0] = np.asarray(b.sum(1), dtype=np.float64).ravel()
            return out
        cols = np.zeros((1, self.shape[1]), dtype=np.float64)
        for _, _, b in self.row_blocks():
            cols += np.asarray(b.sum(0), dtype=np.float64)
        return cols if axis == 0 else float(cols.sum())

    def _reduce(self, fn):
        vals = [fn(v) for v in self.value_blocks() if v.size]
        if not vals:
            return 0.0
        return fn(np.asarray(vals))

    def max(self):
        """Largest stored value (sparse sources: of the non-zeros and of the implicit zeros)."""
        m = self._reduce(np.max)
        return m if self._dense_source else max(m, 0.0)

    def min(self):
        """Smallest stored value (sparse sources: of the non-zeros and of the implicit zeros)."""
        m = self._reduce(np.min)
        return m if self._dense_source else min(m, 0.0)

    @property
    def _dense_source(self) -> bool:
        return isinstance(self.source, h5py.Dataset) or _is_zarr_array(self.source)

    def __abs__(self):
        return _AbsRows(self)

    def __sub__(self, other):
        raise TypeError(
            f"{self.where} is read from disk; element-wise arithmetic on it is not supported (e.g. "
            "the betabinomial (methylated, total) check). Open the data in memory for this modality."
        )

    __rsub__ = __sub__

    def __repr__(self) -> str:
        return f"BackedRows({self.shape[0]} x {self.shape[1]}, {self.dtype}, reading {self.where} from {self.filename})"


class _AbsRows(BackedRows):
    """``abs()`` of a :class:`BackedRows` (for row sums of absolute values)."""

    def __init__(self, rows: BackedRows):
        super().__init__(rows, where=rows.where)

    def __getitem__(self, index):
        return abs(super().__getitem__(index))


class StoredValues:
    """The stored values of a :class:`BackedRows` as a lazily read flat sequence.

    Supports what setup needs of ``stored_values(x)``: ``size``, ``max()``, ``min()`` and a
    prefix ``v[:n]`` (read block by block until ``n`` values).
    """

    def __init__(self, rows: BackedRows):
        self.rows = rows

    @property
    def size(self) -> int:
        return self.rows.nnz

    def max(self):
        return self.rows._reduce(np.max)

    def min(self):
        return self.rows._reduce(np.min)

    def __getitem__(self, index):
        if not (isinstance(index, slice) and index.start in (None, 0) and index.step in (None, 1)):
            raise TypeError(
                "only a prefix v[:n] of the stored values of a backed matrix can be read."
            )
        n = self.size if index.stop is None else int(index.stop)
        out, got = [], 0
        for v in self.rows.value_blocks():
            if got >= n:
                break
            out.append(v[: n - got])
            got += len(out[-1])
        return np.concatenate(out) if out else np.zeros(0, dtype=self.rows.dtype)


def value_blocks(x) -> Iterator[np.ndarray]:
    """Stored values of ``x`` in blocks: one block for in-memory data, row blocks for backed data."""
    if isinstance(x, BackedRows):
        yield from x.value_blocks()
    else:
        yield x.data if sp.issparse(x) else np.asarray(x).ravel()


def backed(x, where: str = "the matrix"):
    """Wrap an on-disk matrix in :class:`BackedRows`; return anything else unchanged."""
    if isinstance(x, BackedRows) or not is_backed(x):
        return x
    if isinstance(x, CSCDataset):
        raise ValueError(
            f"{where} is a CSC matrix on disk; row minibatches need CSR. Rewrite the file with "
            "CSR data (`adata.X = scipy.sparse.csr_matrix(adata.X)` in memory, then write it)."
        )
    return BackedRows(x, where=where)


def pad_backed(x: BackedRows, rows: np.ndarray, n_obs: int) -> BackedRows:
    """:func:`~remadom.data.pad_rows` for on-disk data: the view placed at MuData rows ``rows``."""
    source_row = np.full(n_obs, -1, dtype=np.int64)
    rows = np.asarray(rows, dtype=np.int64)
    if len(np.unique(rows)) != len(rows):
        raise ValueError("pad_rows: rows must be distinct.")
    source_row[rows] = np.arange(len(rows))
    return BackedRows(x, source_row, where=x.where)


def check_not_backed(data, model: str, fix: str | None = None) -> None:
    """Raise if any matrix of ``data`` (or of its modalities) is read from disk.

    For models that need their inputs in memory (STEREOMM, MORPHOVI).

    Parameters
    ----------
    data
        AnnData or MuData.
    model
        Model name for the message.
    fix
        What to do instead (default: open the file without ``backed=``).

    Raises
    ------
    ValueError
        Naming the model, the modality and field, and the fix.
    """
    parts = list(data.mod.items()) if hasattr(data, "mod") else [(None, data)]
    for m, a in parts:
        fields = [(".X", a.X), *((f"layers['{k}']", v) for k, v in a.layers.items())]
        for where, x in fields:
            if x is not None and is_backed(x):
                what = f"modality '{m}', {where}" if m is not None else where
                raise ValueError(
                    f"{model} cannot train on backed data: {what} is read from disk "
                    f"({getattr(a, 'filename', None)}), and {model} needs its inputs in memory. "
                    + (
                        fix
                        or "Open the file in memory (mudata.read_h5mu(path) / "
                        "anndata.read_h5ad(path), no backed=), or subset it first "
                        "(`adata[idx].to_memory()`). MOSAICVI, PRIORVI and URMF train on backed data."
                    )
                )


def set_store_dir(path: str | os.PathLike | None) -> str | None:
    """Set the folder where derived model inputs of backed data are written.

    By default they go next to the data file (``<data file>.remadom/``); set another folder when
    that one is read-only. ``None`` restores the default.

    Returns
    -------
    The folder set before (``None``: the default), to restore it afterwards.
    """
    global _STORE_DIR
    previous = _STORE_DIR
    _STORE_DIR = None if path is None else os.fspath(path)
    return previous


def store_path(data_file: str, name: str) -> str:
    """Path of an on-disk store ``name`` for derived inputs of the data in ``data_file``.

    Raises
    ------
    PermissionError
        If the folder cannot be written, with the fix (:func:`set_store_dir`).
    """
    folder = _STORE_DIR or f"{os.fspath(data_file)}.remadom"
    try:
        os.makedirs(folder, exist_ok=True)
        probe = os.path.join(folder, ".write_test")
        with open(probe, "w"):
            pass
        os.remove(probe)
    except OSError as e:
        raise PermissionError(
            f"cannot write derived inputs of the backed data to '{folder}' ({e.strerror}). Choose a "
            "writable folder first: remadom.data.set_store_dir('/path/with/space')."
        ) from None
    return os.path.join(folder, name)


def write_store(values, data, name: str, block_rows: int = BLOCK_ROWS):
    """Write a derived ``(n_obs, n_features)`` model input once to an on-disk store; open it read-only.

    For inputs that setup derives from backed data and that would need ``O(n_obs x n_features)``
    memory (e.g. URMF's graph propagations): the array is written by row blocks to
    ``<data file>.remadom/<name>.h5`` (or under :func:`set_store_dir`) and returned as a read-only
    :class:`h5py.Dataset`, which scvi-tools' data loader reads one minibatch at a time. Each call
    rewrites the store (through a temporary file, so a model still reading the previous one keeps
    its data). For data in memory, ``values`` is returned unchanged. To fill a store piece by
    piece instead (without the whole array in memory), use :func:`new_store` and
    :func:`close_store`.

    Parameters
    ----------
    values
        ``(n_obs, n_features)`` array, scipy sparse matrix or :class:`BackedRows`.
    data
        The AnnData / MuData the input was derived from (backed: has a ``filename``).
    name
        Store name (letters, digits, ``_``), e.g. ``"urmf_rna_input"``.
    block_rows
        Rows written per block.

    Returns
    -------
    ``values`` (in-memory data) or a read-only :class:`h5py.Dataset` ``(n_obs, n_features)``
    float32.

    Raises
    ------
    PermissionError
        If the store folder cannot be written, with the fix (:func:`set_store_dir`).
    """
    if not _is_backed_data(data):
        return values
    ds = new_store(data, name, values.shape)
    for start in range(0, ds.shape[0], block_rows):
        stop = min(start + block_rows, ds.shape[0])
        b = values[start:stop]
        ds[start:stop] = np.asarray(b.toarray() if sp.issparse(b) else b, dtype=np.float32)
    return close_store(ds)


def _is_backed_data(data) -> bool:
    return getattr(data, "filename", None) is not None and getattr(data, "isbacked", False)


def new_store(data, name: str, shape: tuple[int, int]):
    """An empty derived ``(n_obs, n_features)`` float32 model input, to be filled by slices.

    For backed ``data``, a dataset in a new store (a temporary file until :func:`close_store`,
    written as :func:`write_store` writes it); otherwise an in-memory :func:`numpy.empty` array.
    Filling it by column blocks (``store[:, a:b] = block``) keeps only one block in memory.

    Parameters
    ----------
    data
        The AnnData / MuData the input is derived from.
    name
        Store name, as in :func:`write_store`.
    shape
        ``(n_obs, n_features)``.

    Returns
    -------
    A writable :class:`h5py.Dataset` (backed data) or :class:`numpy.ndarray`; hand it to
    :func:`close_store` when it is filled.

    Raises
    ------
    PermissionError
        If the store folder cannot be written, with the fix (:func:`set_store_dir`).
    """
    shape = (int(shape[0]), int(shape[1]))
    if not _is_backed_data(data):
        return np.empty(shape, dtype=np.float32)
    # rewritten at each setup (through a temporary file: a model reading the old one keeps it)
    tmp = f"{store_path(data.filename, f'{name}.h5')}.tmp"
    f = h5py.File(tmp, "w")
    return f.create_dataset(
        name,
        shape=shape,
        dtype=np.float32,
        chunks=(min(max(shape[0], 1), 256), max(shape[1], 1)),
    )


def close_store(store):
    """Finish a :func:`new_store`: the in-memory array as it is, or the store opened read-only.

    Parameters
    ----------
    store
        What :func:`new_store` returned, filled.

    Returns
    -------
    The array, or a read-only :class:`h5py.Dataset` of ``<data file>.remadom/<name>.h5`` (the
    temporary file moved in place).
    """
    if isinstance(store, np.ndarray):
        return store
    f, key = store.file, store.name
    tmp = f.filename
    f.close()
    path = tmp.removesuffix(".tmp")
    os.replace(tmp, path)
    return h5py.File(path, "r")[key]


def read_zarr_lazy(store) -> MuData:
    """Open a MuData zarr store with every modality's ``.X`` left in the store.

    ``obs``, ``var``, ``obsm``, ``obsp``, ``uns`` (and modality layers) are read into memory with
    :func:`anndata.io.read_elem`; each modality's ``.X`` is opened with
    :func:`anndata.io.sparse_dataset` (CSR) or as a :class:`zarr.Array` (dense), so MOSAICVI and
    PRIORVI read its minibatches from the store (:class:`BackedRows`). The MuData itself is an
    ordinary in-memory object (``isbacked`` is False), so scvi-tools keeps the minibatch order.

    Parameters
    ----------
    store
        Path of a store written by ``mdata.write_zarr(path)`` (or a :class:`zarr.Group`).

    Returns
    -------
    MuData whose modalities' ``.X`` are on-disk datasets; its obs order is mudata's order for
    these modalities, with the stored ``obs``, ``obsm`` and ``obsp`` reordered to it.

    Raises
    ------
    ValueError
        If the store is not a MuData zarr store.
    """
    import pandas as pd
    import zarr
    from anndata import AnnData
    from anndata.io import read_elem, sparse_dataset

    g = store if isinstance(store, zarr.Group) else zarr.open_group(store, mode="r")
    if g.attrs.get("encoding-type") != "MuData" or "mod" not in g:
        raise ValueError(
            f"{store} is not a MuData zarr store (write one with mdata.write_zarr(path))."
        )
    order = list(g["mod"].attrs.get("mod-order", list(g["mod"].keys())))
    mods = {}
    for name in order:
        a = g["mod"][name]
        parts = {
            k: read_elem(a[k])
            for k in ("obs", "var", "obsm", "varm", "obsp", "varp", "uns", "layers")
            if k in a
        }
        x = None
        if "X" in a:
            enc = a["X"].attrs.get("encoding-type")
            x = sparse_dataset(a["X"]) if enc in ("csr_matrix", "csc_matrix") else a["X"]
        mods[name] = AnnData(X=x, **parts)
    m = MuData(mods)
    obs = read_elem(g["obs"]) if "obs" in g else pd.DataFrame(index=m.obs_names)
    perm = obs.index.get_indexer(m.obs_names)
    if (perm < 0).any() or len(obs) != m.n_obs:
        raise ValueError(
            f"{store}: the stored MuData obs names do not match its modalities' obs names."
        )
    m.obs = obs.iloc[perm]
    for key, conv in (
        ("obsm", lambda v: v.iloc[perm] if hasattr(v, "iloc") else v[perm]),
        ("obsp", lambda v: v[perm][:, perm]),
    ):
        if key in g:
            for k, v in read_elem(g[key]).items():
                getattr(m, key)[k] = conv(v)
    if "uns" in g:
        m.uns.update(read_elem(g["uns"]))
    return m
