"""Fuzz ``setup_mudata`` / ``setup_anndata`` on small random data (issue 23).

Each drawn input either sets up and trains one epoch to a finite latent, or raises a documented
error (ValueError; ``remadom.train.NonFiniteLossError`` from training) and leaves the user's
object unchanged. Anything else (IndexError, KeyError, a broadcast error, a NaN latent) fails.
Synthetic data: shape and error behaviour only, not evidence about the models.
"""

from __future__ import annotations

import warnings

import anndata as ad
import mudata as md
import numpy as np
import pytest
import scipy.sparse as sp
import scvi
from hypothesis import HealthCheck, assume, event, given, settings
from hypothesis import strategies as st

import remadom
from remadom.model import MOSAICVI, PRIORVI, STEREOMM, URMF
from remadom.train import NonFiniteLossError

from ._shared import same_value

md.set_options(pull_on_update=False)

DOCUMENTED = (ValueError, NonFiniteLossError)
DTYPES = ["float32", "float64", "float16", "int64", "int32", "bool"]
VALUES = ["counts", "negative", "fractional", "gaussian"]
NONFINITE = [None, np.nan, np.inf, -np.inf]
COORDS = ["ok", "int", "dup_points", "one_col", "three_col", "identical", "nan", "inf", "huge"]



def _mostly(clean, *others):
    """``clean`` about 3 times in 4 (else one of ``others``), so a drawn input is often valid
    in most respects and reaches training, and the errors come one or two at a time."""
    return st.sampled_from([clean] * (3 * len(others)) + list(others))


SPEC = st.fixed_dictionaries({
    "n_obs": st.one_of(st.integers(8, 40), st.integers(0, 40)),
    "n_vars": st.one_of(st.integers(3, 12), st.integers(0, 12)),
    "dtype": _mostly(*DTYPES),
    "values": _mostly(*VALUES),
    "nonfinite": _mostly(*NONFINITE),
    "sparse": st.booleans(),
    "dup_obs": _mostly(False, True),
    "dup_var": _mostly(False, True),
    "coords": _mostly(*COORDS),
    "seed": st.integers(0, 2**16),
})
FUZZ = settings(max_examples=15, deadline=None, derandomize=True,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])


# ------------------------------------------------------------------ building the data
def _matrix(spec, rng, n_vars=None):
    n, p = spec["n_obs"], spec["n_vars"] if n_vars is None else n_vars
    x = rng.poisson(2.0, size=(n, p)).astype(np.float64)
    if spec["values"] == "negative" and x.size:
        x.flat[rng.integers(x.size)] = -1.0
    elif spec["values"] == "fractional":
        x = x + 0.5
    elif spec["values"] == "gaussian":
        x = rng.normal(size=(n, p))
    dt = spec["dtype"]
    if dt == "bool":
        x = x > 0
    elif dt.startswith("int"):
        x = np.round(x).astype(dt)
    else:
        x = x.astype(dt)
        if spec["nonfinite"] is not None and x.size:
            x.flat[rng.integers(x.size)] = spec["nonfinite"]
    # scipy.sparse has no float16: that case stays dense
    return sp.csr_matrix(x) if spec["sparse"] and dt != "float16" else x


def _names(prefix, k, dup):
    names = [f"{prefix}{i}" for i in range(k)]
    if dup and k >= 2:
        names[1] = names[0]
    return names


def _adata(spec, rng, var_prefix, n_vars=None, fuzzed=True):
    s = spec if fuzzed else {**spec, "dtype": "float32", "values": "counts", "nonfinite": None,
                             "sparse": False, "dup_var": False}
    x = _matrix(s, rng, n_vars)
    a = ad.AnnData(x)
    a.obs_names = _names("spot", spec["n_obs"], spec["dup_obs"])
    a.var_names = _names(var_prefix, x.shape[1], s["dup_var"])
    return a


def _coords(spec, rng):
    n = spec["n_obs"]
    xy = rng.uniform(0, 10, size=(n, 2))
    kind = spec["coords"]
    if kind == "int":
        xy = np.round(xy * 10).astype(np.int64)
    elif kind == "dup_points" and n >= 2:
        xy[1] = xy[0]
    elif kind == "one_col":
        xy = xy[:, :1]
    elif kind == "three_col":
        xy = np.c_[xy, xy[:, :1]]
    elif kind == "identical":
        xy = np.ones_like(xy)
    elif kind in ("nan", "inf") and n:
        xy[rng.integers(n), 0] = np.nan if kind == "nan" else np.inf
    elif kind == "huge":
        xy = xy * 1e30
    return xy


def _mudata(mods, spec, rng):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            m = md.MuData(mods)
            m.obsm["spatial"] = _coords(spec, rng)
        except Exception:  # mudata's own constructor, not what is under test
            event("MuData() refused")
            assume(False)
    return m


def _n_neighs(n_obs):
    return max(1, min(3, n_obs - 1))


# ------------------------------------------------------------------ unchanged after failure
_same = same_value


def _state(data) -> dict:
    parts = {"(top)": data, **(dict(data.mod) if isinstance(data, md.MuData) else {})}
    out = {}
    for name, a in parts.items():
        s = {"obs": a.obs.copy(),
             **{f"obsm['{k}']": np.asarray(v).copy() if not sp.issparse(v) else v.copy()
                for k, v in a.obsm.items()},
             **{f"obsp['{k}']": v.copy() for k, v in a.obsp.items()}}
        if not isinstance(a, md.MuData):
            s["X"] = None if a.X is None else a.X.copy()
        s["keys"] = (sorted(a.obsm), sorted(a.obsp))
        out[name] = s
    return out


def _assert_unchanged(before, data):
    after = _state(data)
    assert before.keys() == after.keys()
    for part, s in before.items():
        assert s["keys"] == after[part]["keys"], f"{part}: keys {s['keys']} -> {after[part]['keys']}"
        for field, v in s.items():
            if field != "keys":
                assert _same(v, after[part][field]), f"{part}.{field} changed"


# ------------------------------------------------------------------ one drawn input
def _check(data, setup, make):
    """setup -> model -> 1 epoch -> finite latent, or a documented error (object unchanged)."""
    before = _state(data)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            setup(data)
        except DOCUMENTED as e:
            _assert_unchanged(before, data)
            event(f"setup: {type(e).__name__}")
            return "setup error"
        scvi.settings.seed = 0
        try:
            model = make(data)
            model.train(max_epochs=1, enable_progress_bar=False)
        except DOCUMENTED as e:
            event(f"train: {type(e).__name__}")
            return "train error"
        z = model.get_latent_representation()
    assert np.isfinite(z).all(), "non-finite latent"
    event("trained")
    return "ok"


def _spatial_graph(m, n_obs):
    """The spatial models' graph; bad coordinates give a documented ValueError here already."""
    before = _state(m)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            remadom.data.spatial_graph(m, n_neighs=_n_neighs(n_obs))
        except ValueError:
            _assert_unchanged(before, m)
            event("spatial_graph: ValueError")
            return False
    return True


# ------------------------------------------------------------------ the tests
@FUZZ
@given(spec=SPEC)
def test_fuzz_urmf(spec):
    rng = np.random.default_rng(spec["seed"])
    m = _mudata({"prot": _adata(spec, rng, "p")}, spec, rng)
    if not _spatial_graph(m, spec["n_obs"]):
        return
    k = max(1, min(3, spec["n_obs"] - 1))
    _check(m, lambda d: URMF.setup_mudata(d, modalities=["prot"], n_feature_neighbors=k),
           lambda d: URMF(d))


@FUZZ
@given(spec=SPEC)
def test_fuzz_stereomm(spec):
    rng = np.random.default_rng(spec["seed"])
    a = _adata(spec, rng, "g")
    a.obsm["spatial"] = _coords(spec, rng)
    _check(a, lambda d: STEREOMM.setup_anndata(d, n_dims=8),
           lambda d: STEREOMM(d, hidden_dims=[16, 8], n_latent=4))


@FUZZ
@given(spec=SPEC)
def test_fuzz_priorvi(spec):
    rng = np.random.default_rng(spec["seed"])
    m = _mudata({"rna": _adata(spec, rng, "g"), "adt": _adata(spec, rng, "a", 4, fuzzed=False)},
                spec, rng)
    if not _spatial_graph(m, spec["n_obs"]):
        return
    _check(m, lambda d: PRIORVI.setup_mudata(d, modalities=["rna", "adt"], spatial_key="spatial"),
           lambda d: PRIORVI(d, n_latent=4, n_hidden=16, n_components=3))


@FUZZ
@given(spec=SPEC)
def test_fuzz_mosaicvi(spec):
    rng = np.random.default_rng(spec["seed"])
    m = _mudata({"rna": _adata(spec, rng, "g"), "adt": _adata(spec, rng, "a", 4, fuzzed=False)},
                spec, rng)
    m.obs["slice"] = np.where(np.arange(m.n_obs) % 2 == 0, "s1", "s2")
    _check(m, lambda d: MOSAICVI.setup_mudata(d, modalities=["rna", "adt"], batch_key="slice"),
           lambda d: MOSAICVI(d, n_latent=4, n_hidden=16))


def test_fuzz_state_helper_sees_a_change():
    """The unchanged-check itself: a written obsm entry or an edited X is noticed."""
    a = ad.AnnData(np.ones((3, 2), dtype=np.float32))
    m = md.MuData({"rna": a})
    before = _state(m)
    m["rna"].X[0, 0] = 5
    with pytest.raises(AssertionError):
        _assert_unchanged(before, m)
