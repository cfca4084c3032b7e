"""Bad input x model on small real data: a clear error (or warning) and the object unchanged.

Every case builds a small slice of a real data set from ``../shared/data`` (skipped with the
reason when the folder is absent), breaks it one way, runs the model's setup and checks the
error type, that the message names the modality or field, and that the user's object is exactly
as it was (X, layers, obsm, obsp, obs, var, uns of the MuData and of every modality). Setup only,
no training, except the load tests (one epoch, save, load onto other data).
"""

from __future__ import annotations

import functools
import warnings

import anndata as ad
import mudata as md
import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
import scvi

import remadom
from remadom.model import MORPHOVI, MOSAICVI, PRIORVI, STEREOMM, URMF

from ._shared import same_value, shared_file

md.set_options(pull_on_update=False)
pytestmark = pytest.mark.shared_data


# ------------------------------------------------------------------ small real data, cached
@functools.cache
def _read(name: str):
    p = shared_file(name)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return md.read_h5mu(p) if name.endswith(".h5mu") else ad.read_h5ad(p)


def _drop_zero_rows(a: ad.AnnData) -> ad.AnnData:
    return a[np.asarray(a.X.sum(1)).ravel() > 0].copy()


def _urmf_data() -> md.MuData:
    """Lymph node ADT counts, 300 spots, spatial graph built."""
    prot = _drop_zero_rows(_read("lymph_node_s1.h5mu")["prot"][:300])
    m = md.MuData({"prot": prot})
    m.obsm["spatial"] = np.asarray(prot.obsm["spatial"], dtype=np.float64)
    remadom.data.spatial_graph(m, n_neighs=6)
    return m


def _stereomm_data() -> ad.AnnData:
    """her2st section C1, 176 spots x 15,557 genes (ST counts)."""
    return _read("her2st_c1.h5ad").copy()


def _mosaic_data() -> md.MuData:
    """SpaMosaic simulated mosaic: 80 spots per slice (s1 paired, s2 RNA only, s3 ADT only)."""
    full = _read("spamosaic_sim_mosaic.h5mu")
    keep = {}
    for m in ("rna", "adt"):
        a = full[m]
        sl = a.obs_names.str.split("-").str[0]
        idx = np.concatenate([np.flatnonzero(sl == s)[:80] for s in ("s1", "s2", "s3")])
        keep[m] = a[np.sort(idx)].copy()
    mdata = md.MuData(keep)
    xy = pd.DataFrame(np.nan, index=mdata.obs_names, columns=["x", "y"])
    for a in keep.values():
        xy.loc[a.obs_names] = np.asarray(a.obsm["spatial"], dtype=np.float64)[:, :2]
    mdata.obsm["spatial"] = xy.to_numpy()
    mdata.obs["slice"] = mdata.obs_names.str.split("-").str[0].to_numpy()
    return mdata


def _morphovi_data() -> md.MuData:
    """Patch-seq M1: RNA counts (first 90 neurons) vs ephys of the others, given as unpaired."""
    full = _read("patchseq_m1_phystemp_rna_ephys.h5mu")
    rna = full["rna"][:90].copy()
    rna = rna[:, np.asarray(rna.X.sum(0)).ravel() > 0].copy()
    eph = full["ephys"][90:].copy()
    eph.obs_names = [f"{n}_e" for n in eph.obs_names]
    return md.MuData({"rna": rna, "ephys": eph})


DATA = {"URMF": _urmf_data, "STEREOMM": _stereomm_data, "PRIORVI": _mosaic_data,
        "MOSAICVI": _mosaic_data, "MORPHOVI": _morphovi_data}
#: the count modality of each model's data
COUNTS = {"URMF": "prot", "STEREOMM": None, "PRIORVI": "rna", "MOSAICVI": "rna", "MORPHOVI": "rna"}


def _setup(model: str, data, **kw):
    if model == "URMF":
        URMF.setup_mudata(data, modalities=["prot"], **kw)
    elif model == "STEREOMM":
        STEREOMM.setup_anndata(data, **kw)
    elif model == "PRIORVI":
        PRIORVI.setup_mudata(data, modalities=["rna", "adt"], spatial_key="spatial", **kw)
    elif model == "MOSAICVI":
        MOSAICVI.setup_mudata(data, modalities=["rna", "adt"], batch_key="slice", **kw)
    else:
        MORPHOVI.setup_mudata(data, modality_a="rna", modality_b="ephys", nan_policy="mask", **kw)


# ------------------------------------------------------------------ breaking the data
def _mod(data, model):
    """The count modality's AnnData (the AnnData itself for STEREOMM)."""
    return data if COUNTS[model] is None else data[COUNTS[model]]


def _set_x(data, model, x):
    a = _mod(data, model)
    a.X = x


def _dup_obs(data, model):
    """Two cells of the count modality get the same name (and of the MuData, when paired)."""
    a = _mod(data, model)
    names = a.obs_names.tolist()
    names[1] = names[0]
    a.obs_names = names
    if model == "URMF":  # paired: the MuData built from it has the duplicates too
        new = md.MuData({"prot": a})
        new.obsm["spatial"] = data.obsm["spatial"]
        for k, v in data.obsp.items():
            new.obsp[k] = v
        return new


def _dup_var(data, model):
    a = _mod(data, model)
    names = a.var_names.tolist()
    names[1] = names[0]
    a.var_names = names


def _coords(fn):
    def brk(data, model):
        data.obsm["spatial"] = fn(np.asarray(data.obsm["spatial"], dtype=np.float64))
    return brk


def _dense_x(data, model):
    x = _mod(data, model).X
    return np.asarray(x.toarray() if sp.issparse(x) else x, dtype=np.float32)


def _zero_cells(data, model):
    x = _dense_x(data, model)
    x[:20] = 0
    _set_x(data, model, sp.csr_matrix(x))


def _value_at(v):
    def brk(data, model):
        x = _dense_x(data, model)
        r, c = np.argwhere(x > 0)[0]
        x[r, c] = v
        _set_x(data, model, sp.csr_matrix(x))
    return brk


def _dtype(dt):
    def brk(data, model):
        x = _dense_x(data, model)
        _set_x(data, model, (x > 0) if dt is bool else np.minimum(x, 60_000).astype(dt))
    return brk


def _n_obs(n):
    def brk(data, model):
        return data[:n].copy()
    return brk


def _one_spot(data, model):
    if model == "MORPHOVI":  # unpaired: one cell in each modality
        return md.MuData({m: data[m][:1].copy() for m in data.mod})
    return data[:1].copy()  # the mosaic's first cell is paired (slice s1)


SPATIAL = ("URMF", "STEREOMM", "PRIORVI")
ALL = tuple(DATA)

#: kind -> (break function, models, expected: ValueError or UserWarning, words the message names)
KINDS = {
    "dup_obs": (_dup_obs, ALL, ValueError, ["obs_names", "duplicated"]),
    "dup_var": (_dup_var, ALL, ValueError, ["var_names", "duplicated"]),
    "coords_1col": (_coords(lambda c: c[:, :1]), SPATIAL, ValueError, ["obsm['spatial']", "(n_obs, 2)"]),
    "coords_3col": (_coords(lambda c: np.c_[c, c[:, :1]]), SPATIAL, ValueError, ["obsm['spatial']"]),
    "coords_identical": (_coords(lambda c: np.ones_like(c)), SPATIAL, ValueError,
                         ["obsm['spatial']", "same coordinates"]),
    "coords_nan": (_coords(lambda c: np.where(np.arange(len(c))[:, None] == 3, np.nan, c)), SPATIAL,
                   ValueError, ["obsm['spatial']", "NaN"]),
    "zero_cells": (_zero_cells, ALL, ValueError, ["zero counts", "20 of", "filter_cells"]),
    # MORPHOVI reads NaN as undefined features (nan_policy), so NaN is not bad input there
    "nan_value": (_value_at(np.nan), ("URMF", "STEREOMM", "PRIORVI", "MOSAICVI"), ValueError, ["NaN"]),
    "negative_value": (_value_at(-1.0), ("URMF", "PRIORVI", "MOSAICVI"), UserWarning,
                       ["negative", "gaussian"]),
    "fractional_value": (_value_at(0.5), ("URMF", "PRIORVI", "MOSAICVI"), UserWarning,
                         ["non-integer", "gaussian"]),
    "bool_x": (_dtype(bool), ALL, UserWarning, ["bool", "float32"]),
    "float16_x": (_dtype(np.float16), ALL, UserWarning, ["float16", "float32"]),
    "one_spot": (_one_spot, ALL, ValueError, ["at least"]),
    "zero_spots": (_n_obs(0), ALL, ValueError, ["0"]),
}
#: STEREOMM's RNA must be counts (its docstring): an error, not a warning
STEREOMM_COUNTS = {
    "negative_value": (_value_at(-1.0), ValueError, ["negative", "count"]),
    "fractional_value": (_value_at(0.5), ValueError, ["non-integer", "count"]),
}
CASES = [(k, m) for k, (_, models, _, _) in KINDS.items() for m in models]
CASES += [(k, "STEREOMM") for k in STEREOMM_COUNTS]


# ------------------------------------------------------------------ deep compare
_same = same_value


def _state(data) -> dict:
    parts = {"(top)": data, **(dict(data.mod) if isinstance(data, md.MuData) else {})}
    out = {}
    for name, a in parts.items():
        s = {"obs": a.obs.copy(), "var": a.var.copy(), "obs_names": a.obs_names.copy(),
             "obsm": {k: v.copy() for k, v in a.obsm.items()},
             "obsp": {k: v.copy() for k, v in a.obsp.items()},
             "uns": {k: v for k, v in a.uns.items()}}
        if not isinstance(a, md.MuData):
            s["X"] = None if a.X is None else a.X.copy()
            s["layers"] = {k: v.copy() for k, v in a.layers.items()}
        out[name] = s
    return out


def _assert_unchanged(before: dict, data) -> None:
    after = _state(data)
    assert before.keys() == after.keys()
    for part, s in before.items():
        for field, v in s.items():
            w = after[part][field]
            if isinstance(v, dict):
                assert v.keys() == w.keys(), f"{part}.{field}: keys {sorted(v)} -> {sorted(w)}"
                for k in v:
                    assert _same(v[k], w[k]), f"{part}.{field}['{k}'] changed"
            elif isinstance(v, pd.Index):
                assert v.equals(w), f"{part}.{field} changed"
            else:
                assert _same(v, w), f"{part}.{field} changed"


def _make(kind: str, model: str):
    data = DATA[model]()
    brk = STEREOMM_COUNTS[kind][0] if model == "STEREOMM" and kind in STEREOMM_COUNTS else KINDS[kind][0]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        out = brk(data, model)
    return data if out is None else out


# ------------------------------------------------------------------ the tests
@pytest.mark.parametrize(("kind", "model"), CASES, ids=[f"{k}-{m}" for k, m in CASES])
def test_bad_input(kind, model):
    data = _make(kind, model)
    if model == "STEREOMM" and kind in STEREOMM_COUNTS:
        _, expected, words = STEREOMM_COUNTS[kind]
    else:
        _, _, expected, words = KINDS[kind]
    before = _state(data)
    if expected is ValueError:
        with pytest.raises(ValueError) as err:
            _setup(model, data)
        msg = str(err.value)
        for w in words:
            assert w in msg, (w, msg)
        _assert_unchanged(before, data)
    else:
        with pytest.warns(UserWarning) as rec:
            _setup(model, data)
        msgs = [str(r.message) for r in rec if issubclass(r.category, UserWarning)]
        hit = [m for m in msgs if all(w in m for w in words)]
        assert hit, (words, msgs)
        mod = COUNTS[model] or "rna"
        assert any(f"'{mod}'" in m for m in hit), hit
        # the cast / the choice happened on a copy: the user's matrix is untouched
        x_before = before[mod if COUNTS[model] else "(top)"]["X"]
        x_after = _mod(data, model).X
        assert _same(x_before, x_after)


def test_good_data_sets_up():
    """The unbroken slices set up without warnings about the data (the baseline of every case)."""
    for model in DATA:
        data = DATA[model]()
        with warnings.catch_warnings(record=True) as rec:
            warnings.simplefilter("always")
            _setup(model, data)
        bad = [str(r.message) for r in rec if "modality '" in str(r.message)]
        assert not bad, (model, bad)


def test_urmf_failed_setup_leaves_no_feature_graph():
    """The issue's case: a failure after the feature graph was built leaves nothing behind."""
    data = _urmf_data()
    data.obsm["_urmf_prot_input"] = np.zeros((data.n_obs, 1))  # an old entry setup would overwrite
    before = _state(data)
    with pytest.raises(ValueError, match="feature_graph_key|not in obsp|neither"):
        URMF.setup_mudata(data, modalities=["prot"], layers={"prot": "missing"})
    _assert_unchanged(before, data)
    # a failure at registration (after every write) is rolled back too
    data.obsm["spatial_connectivities_bad"] = data.obsp["spatial_connectivities"]
    before = _state(data)

    def boom(*a, **k):
        raise RuntimeError("registration failed")

    orig = URMF.register_manager
    URMF.register_manager = classmethod(boom)
    try:
        with pytest.raises(RuntimeError):
            URMF.setup_mudata(data, modalities=["prot"])
    finally:
        URMF.register_manager = orig
    _assert_unchanged(before, data)
    assert "feature_connectivities" not in data["prot"].obsp


def test_mosaicvi_warns_when_nothing_links_the_modalities():
    full = _mosaic_data()
    s2 = full["rna"][full["rna"].obs_names.str.startswith("s2")].copy()
    s3 = full["adt"][full["adt"].obs_names.str.startswith("s3")].copy()
    m = md.MuData({"rna": s2, "adt": s3})
    MOSAICVI.setup_mudata(m, modalities=["rna", "adt"])
    with pytest.warns(UserWarning, match="share no cell") as rec:
        MOSAICVI(m, problem="mosaic")
    assert rec[0].filename == __file__  # the caller's line, past __init__'s deprecated_mdata frame
    with warnings.catch_warnings(record=True) as rec:  # a head links them: not this warning
        warnings.simplefilter("always")
        MOSAICVI(m, problem="unpaired", heads=[{"name": "mmd", "group_by": "modality_set"}])
    assert not [r for r in rec if "share no cell" in str(r.message)]


# ------------------------------------------------------------------ load onto other data
def _train_save(model_name, data, tmp_path):
    scvi.settings.seed = 0
    _setup(model_name, data)
    cls = {"URMF": URMF, "STEREOMM": STEREOMM, "PRIORVI": PRIORVI, "MOSAICVI": MOSAICVI,
           "MORPHOVI": MORPHOVI}[model_name]
    model = cls(data, **({"hidden_dims": [32, 16], "n_latent": 8} if model_name == "STEREOMM" else {}))
    kw = {"max_iter": 2, "batch_size": 32} if model_name == "MORPHOVI" else {"max_epochs": 1}
    model.train(enable_progress_bar=False, **kw)
    model.save(str(tmp_path / "m"), overwrite=True)
    return cls


@pytest.mark.parametrize("model_name", ["URMF", "STEREOMM"])
def test_load_transductive_refuses_other_spots(model_name, tmp_path):
    data = DATA[model_name]()
    cls = _train_save(model_name, data, tmp_path)
    cls.load(str(tmp_path / "m"), adata=data)  # the data it was trained on: fine
    other = DATA[model_name]()[10:].copy()
    if model_name == "URMF":
        remadom.data.spatial_graph(other, n_neighs=6)
        other["prot"].obsp.clear()
    before = _state(other)
    with pytest.raises(ValueError, match=r"(spots|cells).*trained on") as err:
        cls.load(str(tmp_path / "m"), adata=other)
    assert "_stereomm_" not in str(err.value) and "_urmf_" not in str(err.value)
    _assert_unchanged(before, other)


@pytest.mark.parametrize("model_name", ["PRIORVI", "MOSAICVI", "MORPHOVI"])
def test_load_inductive_refuses_other_features(model_name, tmp_path):
    """Inductive models load onto other cells (documented), never onto other features."""
    data = DATA[model_name]()
    cls = _train_save(model_name, data, tmp_path)
    minus10 = DATA[model_name]()
    mod = COUNTS[model_name]
    keep = minus10[mod].obs_names[10:]
    minus10.mod[mod] = minus10[mod][keep].copy()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        minus10.update()
    loaded = cls.load(str(tmp_path / "m"), adata=minus10)  # other (fewer) cells: fine
    if model_name == "MORPHOVI":  # read through the genes chosen at training, not re-chosen
        trained = cls.load(str(tmp_path / "m"), adata=DATA[model_name]())
        genes = trained.adata_manager.registry["setup_args"]["_genes"]
        assert loaded.adata_manager.registry["setup_args"]["_genes"] == genes
        assert len(genes["rna"]) == 2000
    other = DATA[model_name]()
    other.mod[mod] = other[mod][:, 1:].copy()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        other.update()
    before = _state(other)
    with pytest.raises(ValueError, match=rf"modality '{mod}'.*features.*trained on") as err:
        cls.load(str(tmp_path / "m"), adata=other)
    assert "_mosaicvi_" not in str(err.value) and "_morphovi_" not in str(err.value)
    _assert_unchanged(before, other)


def test_urmf_load_refuses_another_graph(tmp_path):
    """The graph fingerprint recorded at setup is compared on load."""
    cls = _train_save("URMF", _urmf_data(), tmp_path)
    other = _urmf_data()
    remadom.data.spatial_graph(other, n_neighs=4)  # same spots, another graph
    with pytest.raises(ValueError, match=r"obsp\['spatial_connectivities'\] is not the graph"):
        cls.load(str(tmp_path / "m"), adata=other)


def test_reduce_to_width_gives_exactly_n_dims_with_tied_dispersions():
    """scanpy's seurat flavour keeps every gene tied with the n-th (n_dims=200 -> 202 columns
    in the issue); ``reduce_to_width`` breaks ties by var order."""
    import scanpy as sc

    rng = np.random.default_rng(0)
    base = rng.poisson(rng.uniform(0.5, 5.0, size=100), size=(80, 100)).astype(np.float32)
    x = np.repeat(base, 3, axis=1)  # 300 genes: 100 distinct ones, each three times
    tmp = ad.AnnData(x.copy())
    sc.pp.normalize_total(tmp, target_sum=1e4)
    sc.pp.log1p(tmp)
    sc.pp.highly_variable_genes(tmp, n_top_genes=200, flavor="seurat")
    assert tmp.var["highly_variable"].sum() > 200
    assert remadom.data.reduce_to_width(x, True, 200).shape == (80, 200)
    assert len(remadom.data.select_genes(x, 200)) == 200
