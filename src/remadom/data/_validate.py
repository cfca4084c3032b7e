"""Input checks shared by all models: each names the modality, the field and the fix."""

from __future__ import annotations

import functools
import warnings

import numpy as np
import scipy.sparse as sp
from anndata import AnnData
from mudata import MuData

from ._backed import BackedRows, StoredValues, backed, value_blocks


def _values(x) -> np.ndarray:
    if isinstance(x, BackedRows):  # read from disk block by block, never all at once
        return StoredValues(x)
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
    """Raise if ``x`` has NaN or inf values (on-disk data: read by row blocks)."""
    n = sum(int((~np.isfinite(v)).sum()) for v in value_blocks(x) if v.size)
    if n:
        raise ValueError(
            f"modality '{modality}', {field}: {n} NaN/inf values. Remove or impute them "
            "(e.g. `np.nan_to_num`) before setup."
        )


def check_counts(x, modality: str, field: str, fix: str | None = None) -> None:
    """Raise if ``x`` is not non-negative integer counts (needed by count likelihoods).

    Parameters
    ----------
    x
        The data.
    modality, field
        Named in the message.
    fix
        The fix to suggest (default: pass raw counts, or a Gaussian likelihood on a normalised
        representation).

    Raises
    ------
    ValueError
        On NaN/inf, negative or non-integer values.
    """
    check_finite(x, modality, field)
    blocks = list(value_blocks(x)) if not isinstance(x, BackedRows) else None
    if any((v < 0).any() for v in (blocks or value_blocks(x)) if v.size):
        raise ValueError(
            f"modality '{modality}', {field}: negative values under a count likelihood. " + (fix or (
                "Pass raw counts (e.g. `layers={'" + modality + "': 'counts'}`) or use "
                "likelihood='gaussian' on a normalised representation."))
        )
    if not all(np.allclose(c, np.round(c)) for v in (blocks or value_blocks(x)) for c in _chunks(v)):
        raise ValueError(
            f"modality '{modality}', {field}: non-integer values under a count likelihood. " + (fix or (
                "Pass raw counts, or use likelihood='gaussian' on a normalised representation."))
        )


def get_matrix(adata: AnnData, key: str | None):
    """Return ``.X`` (key None or 'X'), ``layers[key]`` or ``obsm[key]`` and the field's name.

    Raises
    ------
    ValueError
        If ``key`` is in neither ``layers`` nor ``obsm``.
    """
    if key is None or key == "X":
        return backed(adata.X, ".X"), "X", ".X"
    if key in adata.layers:
        return backed(adata.layers[key], f"layers['{key}']"), "layer", f"layers['{key}']"
    if key in adata.obsm:
        return np.asarray(adata.obsm[key]), "obsm", f"obsm['{key}']"
    raise ValueError(
        f"'{key}' is neither a layer nor an obsm key; layers: {list(adata.layers)}, "
        f"obsm: {list(adata.obsm)}."
    )


# ---------------------------------------------------------------------------------------------
# Checks run at the top of every model's setup, before anything is written. Each names the
# modality, the field and the fix. ``modality`` is "(MuData)" for MuData-level fields.


def check_unique_names(data: AnnData | MuData, modalities: list[str] | tuple[str, ...] | None = None) -> None:
    """Check that obs names (MuData and modalities) and each modality's var names are unique.

    Duplicated var names across modalities (e.g. ``CD4`` as a gene and a protein) are allowed:
    every model reads each modality on its own.

    Parameters
    ----------
    data
        AnnData, or MuData (its own obs names and those of ``modalities``, default all).
    modalities
        Modalities of a MuData to check.

    Raises
    ------
    ValueError
        If obs names or a modality's var names are duplicated; the message names where, how many
        and the fix (``obs_names_make_unique`` / ``var_names_make_unique``).
    """
    if isinstance(data, MuData):
        parts = [("the MuData", data, "mdata")]
        parts += [(f"modality '{m}'", data[m], f"mdata['{m}']")
                  for m in (data.mod if modalities is None else modalities)]
    else:
        parts = [("the AnnData", data, "adata")]
    for name, a, expr in parts:
        axes = (("obs", a.obs_names),) if a is data and isinstance(data, MuData) else (
            ("obs", a.obs_names), ("var", a.var_names))
        for axis, names in axes:
            dup = names[names.duplicated()]
            if len(dup):
                fix = (f"`{expr}.{axis}_names_make_unique()`" + ("; then `mdata.update()`"
                       if isinstance(data, MuData) and a is not data else ""))
                raise ValueError(
                    f"{name}, {axis}_names: {len(dup)} duplicated names (e.g. "
                    f"'{dup[0]}'); every {'cell/spot' if axis == 'obs' else 'feature'} needs its own "
                    f"name. Fix: {fix}."
                )


def check_coordinates(coords, n_obs: int, where: str, allow_3d: bool = False) -> np.ndarray:
    """Check spatial coordinates: finite, ``(n_obs, 2)`` (or 3 columns), not all identical.

    Parameters
    ----------
    coords
        The coordinates (any array-like).
    n_obs
        Expected number of rows.
    where
        Name of the field in messages, e.g. ``"mdata.obsm['spatial']"``.
    allow_3d
        Whether ``(n_obs, 3)`` coordinates are accepted (only models that document it).

    Returns
    -------
    The coordinates as a float64 array (the input is not modified).

    Raises
    ------
    ValueError
        Wrong shape, NaN/inf values, or every spot at the same position.
    """
    c = np.asarray(coords)
    widths = "2 or 3" if allow_3d else "2"
    if c.dtype.kind not in "biuf":
        raise ValueError(f"{where}: coordinates must be numeric, got dtype {c.dtype}.")
    c = c.astype(np.float64)
    if c.ndim != 2 or c.shape[0] != n_obs or c.shape[1] not in ((2, 3) if allow_3d else (2,)):
        raise ValueError(
            f"{where} must have shape (n_obs, {widths}) = ({n_obs}, {widths}); got {c.shape}. Put "
            "the x, y spot coordinates there (one row per spot, in obs order)."
        )
    bad = ~np.isfinite(c).all(1)
    if bad.any():
        raise ValueError(
            f"{where}: {int(bad.sum())} spot(s) with NaN/inf coordinates; drop them first, e.g. "
            f"`data = data[np.isfinite(data.obsm[key]).all(1)].copy()`."
        )
    if n_obs > 1 and (np.ptp(c, axis=0) == 0).all():
        raise ValueError(
            f"{where}: all {n_obs} spots have the same coordinates {c[0].tolist()}, so there is no "
            "spatial layout to learn from; check that the right obsm entry holds the positions."
        )
    return c


def as_float32(x, modality: str, field: str):
    """Cast boolean and float16 input to float32, with a warning; other input is returned as is.

    Boolean matrices (e.g. binarised peaks) are read as 0/1; float16 is widened because the
    likelihoods and the graph propagation need float32 precision. The user's object is not
    modified: a cast copy is returned.

    Warns
    -----
    UserWarning
        When a cast happens, naming the modality and the field.
    """
    dtype = x.dtype if hasattr(x, "dtype") else np.asarray(x).dtype
    if dtype == np.bool_ or dtype == np.float16:
        warnings.warn(
            f"modality '{modality}', {field}: {dtype} values, read as float32 (a cast copy; the "
            f"data are not changed). Store them as float32 to silence this, e.g. "
            f"`x.astype(np.float32)`.",
            UserWarning,
            stacklevel=3,
        )
        return x.astype(np.float32) if sp.issparse(x) or isinstance(x, BackedRows) \
            else np.asarray(x, dtype=np.float32)
    return x


def check_zero_cells(x, modality: str, field: str, fix: str | None = None) -> None:
    """Raise if some cells (rows) of a count modality have no counts at all.

    An all-zero row has no library size and carries no information; it breaks the library-size
    normalisation, gives identical encoder inputs and degenerate kNN graphs. All-zero *features*
    are accepted: real data routinely have them (her2st sections: 400-500 of ~15,500 genes) and
    the count likelihoods and gene selection handle them.

    Raises
    ------
    ValueError
        Naming how many cells, the modality and the fix (``scanpy.pp.filter_cells``).
    """
    totals = (np.asarray(abs(x).sum(1)).ravel() if sp.issparse(x) or isinstance(x, BackedRows)
              else np.abs(np.asarray(x)).sum(1))
    n = int((totals == 0).sum())
    if n:
        fix = fix or (f"`sc.pp.filter_cells(mdata['{modality}'], min_counts=1)` then `mdata.update()` "
                      "(AnnData: `sc.pp.filter_cells(adata, min_counts=1)`)")
        raise ValueError(
            f"modality '{modality}', {field}: {n} of {x.shape[0]} cells have zero counts in every "
            f"feature; drop them before setup: {fix}."
        )


def count_violations(x, max_values: int = 2_000_000) -> tuple[int, int]:
    """Number of negative and of non-integer stored values (first ``max_values`` checked)."""
    v = _values(x)[:max_values]
    v = v[np.isfinite(v)]
    return int((v < 0).sum()), int((~np.isclose(v, np.round(v))).sum())


def warn_not_counts(x, modality: str, field: str, chosen: str, instead: str) -> None:
    """Warn that a model chose a non-count treatment of ``x`` because it is not counts.

    Called where a model picks the likelihood (or the preprocessing) from the data: one negative
    or fractional value switches, e.g., from a negative binomial to a Gaussian likelihood; this
    says so instead of doing it silently.

    Parameters
    ----------
    x
        The data.
    modality, field
        Named in the message.
    chosen, instead
        What was chosen and what counts would have given, e.g. ``"likelihood 'gaussian'"`` and
        ``"likelihood 'nb'"``.

    Warns
    -----
    UserWarning
        If ``x`` has negative or non-integer values, naming the modality, the field, how many,
        what was chosen and how to silence it.
    """
    n_neg, n_frac = count_violations(x)
    if not (n_neg or n_frac):
        return
    warnings.warn(
        f"modality '{modality}', {field}: not counts ({n_neg} negative, {n_frac} non-integer "
        f"values), so {chosen} was chosen instead of {instead}. Pass raw counts (e.g. a 'counts' "
        f"layer) for {instead}, or choose explicitly for '{modality}' to silence this.",
        UserWarning,
        stacklevel=3,
    )


def check_n_obs(n_obs: int, minimum: int, what: str, why: str) -> None:
    """Raise if there are fewer cells/spots than the model needs (before scikit-learn would).

    Parameters
    ----------
    n_obs
        Number found.
    minimum
        Number needed.
    what
        What is counted, for the message: ``"the MuData"``, ``"modality 'rna'"``.
    why
        Why the model needs that many.

    Raises
    ------
    ValueError
        Naming what, the number found, the minimum and the reason.
    """
    if n_obs < minimum:
        raise ValueError(
            f"{what}: {n_obs} cells/spots, but at least {minimum} are needed ({why}). Set up on "
            "more data."
        )


def keep_unchanged_on_error(setup):
    """Decorate a ``setup_anndata`` / ``setup_mudata`` so that a failed setup changes nothing.

    Before the call, the references held by the data object (and, for a MuData, every modality)
    in ``X``, ``obs``/``var`` columns, ``obsm``, ``obsp``, ``varm``, ``varp``, ``layers`` and
    ``uns`` are recorded; if setup raises, entries it added are deleted and entries it replaced
    are put back, then the error propagates. Setups never modify an existing array in place, so
    this restores the object exactly (graphs computed on the way included).
    """

    @functools.wraps(setup)
    def wrapper(cls, *args, **kwargs):
        data = args[0] if args else kwargs.get("mdata", kwargs.get("adata"))
        snap = _snapshot(data) if isinstance(data, AnnData | MuData) else None
        try:
            return setup(cls, *args, **kwargs)
        except BaseException:
            if snap is not None:
                _restore(snap)
            raise

    return wrapper


_MAPPINGS = ("obsm", "obsp", "varm", "varp", "layers", "uns")


def _parts(data):
    return [data, *data.mod.values()] if isinstance(data, MuData) else [data]


def _snapshot(data) -> list:
    snap = []
    for a in _parts(data):
        maps = {k: dict(getattr(a, k).items()) for k in _MAPPINGS if getattr(a, k, None) is not None}
        frames = {k: getattr(a, k).copy() for k in ("obs", "var")}
        # a backed .X is a new on-disk handle at each access and is never replaced by a setup
        keep_x = not isinstance(a, MuData) and not getattr(a, "isbacked", False)
        snap.append((a, a.X if keep_x else None, maps, frames))
    return snap


def _restore(snap: list) -> None:
    for a, x, maps, frames in snap:
        if x is not None and a.X is not x:
            a.X = x
        for k, before in maps.items():
            cur = getattr(a, k)
            for key in [key for key in cur.keys() if key not in before]:
                del cur[key]
            for key, v in before.items():
                if key not in cur or cur[key] is not v:
                    cur[key] = v
        for k, before in frames.items():
            cur = getattr(a, k)
            extra = [c for c in cur.columns if c not in before.columns]
            if extra:
                cur.drop(columns=extra, inplace=True)
            for c in before.columns:
                if c not in cur.columns or not cur[c].equals(before[c]):
                    cur[c] = before[c]
