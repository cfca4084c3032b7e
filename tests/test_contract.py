"""One call dialect for the five models (issue 22), on small subsets of ../shared/data.

The same calls for every model: ``setup_mudata``, ``train(max_epochs=2)``,
``get_latent_representation(adata=, indices=, give_mean=)``, ``save``/``load``, and
``mdata.write_h5mu`` right after training: setup leaves the user's object as it was apart from
the documented keys. Mechanics only (two epochs), not model quality.
"""

import inspect
import warnings

import anndata as ad
import mudata as md
import numpy as np
import pandas as pd
import pytest
import scvi
import torch

import remadom
from remadom.model import MORPHOVI, MOSAICVI, PRIORVI, STEREOMM, URMF, RemadomModelMixin

from ._shared import same_value, shared_file

pytestmark = pytest.mark.shared_data
md.set_options(pull_on_update=False)


def _urmf():
    m = md.read_h5mu(shared_file("lymph_node_s1.h5mu"))
    m = m[:240].copy()
    remadom.pp.pca_protein(m["prot"])
    remadom.data.spatial_graph(m, n_neighs=6)
    return m, lambda d: URMF.setup_mudata(d, modalities=["prot"], layers={"prot": "X_pca"}), \
        {"n_latent": 8, "n_hidden": 32}, 8


def _stereomm():
    a = ad.read_h5ad(shared_file("her2st_c1.h5ad"))
    a = a[:120].copy()
    m = md.MuData({"rna": a})
    m.obsm["spatial"] = np.asarray(a.obsm["spatial"], dtype=np.float64)
    return m, lambda d: STEREOMM.setup_mudata(d, modalities=["rna"], n_dims=16), \
        {"n_latent": 8, "hidden_dims": [32, 16]}, 8


def _pbmc_subset():
    m = md.read_h5mu(shared_file("midas_pbmc_mosaic.h5mu"))
    rng = np.random.default_rng(0)
    batch = m.obs["batch"].astype(str).to_numpy()
    keep = np.sort(np.concatenate([rng.choice(np.flatnonzero(batch == b), 40, replace=False)
                                   for b in np.unique(batch)]))
    return m[keep].copy()


def _mosaicvi():
    return _pbmc_subset(), lambda d: MOSAICVI.setup_mudata(d, modalities=["rna", "adt"], batch_key="batch"), \
        {"n_latent": 8, "n_hidden": 32, "n_layers": 1}, 8


def _priorvi():
    return _pbmc_subset(), lambda d: PRIORVI.setup_mudata(d, modalities=["rna", "adt"], batch_key="batch"), \
        {"n_latent": 4, "n_hidden": 32, "n_layers": 1, "n_components": 3}, 8  # concat: 2 x 4


def _morphovi():
    a = ad.read_h5ad(shared_file("patchseq_m1_morph_ephys.h5ad"))
    a = a[a.obs["has_ephys"].astype(bool)][:100].copy()
    names = a.obs_names.astype(str)
    morph, ephys = (np.asarray(x, dtype=np.float32) for x in (a.X, a.obsm["ephys"]))
    morph, ephys = (x[:, np.isfinite(x).any(0)] for x in (morph, ephys))  # features defined in the subset
    mm = ad.AnnData(morph, obs=pd.DataFrame(index=[f"{n}_m" for n in names]))
    me = ad.AnnData(ephys, obs=pd.DataFrame(index=[f"{n}_e" for n in names]))
    mm.var_names = [f"morph{j}" for j in range(mm.n_vars)]
    me.var_names = [f"ephys{j}" for j in range(me.n_vars)]
    m = md.MuData({"morph": mm, "ephys": me})
    return m, lambda d: MORPHOVI.setup_mudata(d, modality_a="morph", modality_b="ephys", nan_policy="mask"), \
        {"n_latent": 4, "n_hidden": 16}, 4


def _set_up(cls):
    m, setup, kwargs, n_latent = CASES[cls]()
    setup(m)
    return m, kwargs, n_latent


# What a setup may add to the user's object (each documented in its docstring); nothing else of
# the object may change. scvi-tools' own fields add the uuid keys and obs["_scvi_*"] codes.
DOCUMENTED = {
    "uns": {"_scvi_uuid", "_scvi_manager_uuid", "morphovi_nan",
            "stereomm_radius_neighbors"},  # squidpy's record of the radius graph's parameters
    "obsp": {"feature_connectivities",  # URMF's feature graph, when missing
             "stereomm_radius_connectivities", "stereomm_radius_distances"},  # STEREOMM's graph
}


def _changes(before, after) -> list[str]:
    """Every difference between two objects outside DOCUMENTED (AnnData or MuData and its modalities)."""
    def parts(d):
        return {"": d, **{f"[{k}]": d.mod[k] for k in d.mod}} if isinstance(d, md.MuData) else {"": d}

    out, pb = [], parts(before)
    for name, a in parts(after).items():
        b = pb[name]
        if not isinstance(a, md.MuData) and not same_value(a.X, b.X):
            out.append(f"{name}.X changed")
        for attr in ("obsm", "obsp", "varm", "layers", "uns"):
            ma, mb = getattr(a, attr, None), getattr(b, attr, None)
            if ma is None:
                continue
            out += [f"{name}.{attr}['{k}'] added" for k in set(ma) - set(mb) - DOCUMENTED.get(attr, set())]
            out += [f"{name}.{attr}['{k}'] removed" for k in set(mb) - set(ma)]
            out += [f"{name}.{attr}['{k}'] changed" for k in set(ma) & set(mb)
                    if k not in DOCUMENTED.get(attr, ()) and not same_value(ma[k], mb[k])]
        for attr in ("obs", "var"):
            fa = getattr(a, attr)
            fa = fa[[c for c in fa.columns if not str(c).startswith("_scvi_")]]
            if not same_value(fa, getattr(b, attr)):
                out.append(f"{name}.{attr} changed")
    return out


def test_documented_setup_writes_are_the_tested_ones():
    """docs/api.md names every key a setup may add here (DOCUMENTED) and scvi-tools' obs codes."""
    from pathlib import Path

    text = (Path(__file__).resolve().parents[1] / "docs" / "api.md").read_text()
    for key in sorted(set().union(*DOCUMENTED.values())) + ["_scvi_batch", "_scvi_study", "_scvi_labels"]:
        assert f"`{key}`" in text, f"docs/api.md does not say that setup writes {key}"


CASES = {URMF: _urmf, STEREOMM: _stereomm, MOSAICVI: _mosaicvi, PRIORVI: _priorvi, MORPHOVI: _morphovi}


@pytest.mark.parametrize("cls", list(CASES), ids=lambda c: c.__name__)
def test_same_calls_for_every_model(cls, tmp_path):
    """setup, train(max_epochs=2), latent with adata/indices/give_mean, save/load, write."""
    assert issubclass(cls, RemadomModelMixin)
    params = inspect.signature(cls.get_latent_representation).parameters
    assert list(params)[1:5] == ["adata", "indices", "give_mean", "batch_size"]
    scvi.settings.seed = 0
    m, setup, kwargs, n_latent = CASES[cls]()
    before = m.copy()
    setup(m)
    model = cls(m, **kwargs)
    model.train(max_epochs=2, enable_progress_bar=False)

    full = model.get_latent_representation()
    assert not [k for k in m.obsm if k.startswith("_")]  # no private arrays: the model holds them
    assert not _changes(before, m), _changes(before, m)
    assert full.shape == (m.n_obs, n_latent) and np.isfinite(full).all()
    idx = np.arange(3, m.n_obs, 7)
    sub = model.get_latent_representation(adata=m, indices=idx, give_mean=True)
    assert sub.shape == (len(idx), n_latent) and np.isfinite(sub).all()
    np.testing.assert_allclose(sub, full[idx], rtol=1e-5, atol=1e-5)
    if cls is STEREOMM:
        with pytest.raises(NotImplementedError, match="posterior mean only"):
            model.get_latent_representation(give_mean=False)
    else:
        assert np.isfinite(model.get_latent_representation(indices=idx, give_mean=False)).all()
    assert "mdata" not in params
    if cls is not STEREOMM:  # mdata= (an earlier keyword) still works for one release, and warns
        with pytest.warns(DeprecationWarning, match=r"get_latent_representation\(mdata=\.\.\.\).*adata="):
            old = model.get_latent_representation(mdata=m, indices=idx)
        np.testing.assert_allclose(old, sub, rtol=1e-5, atol=1e-5)
        with pytest.raises(TypeError, match="adata= only"):
            model.get_latent_representation(adata=m, mdata=m)
        with pytest.warns(DeprecationWarning, match=rf"{cls.__name__}\(mdata=\.\.\.\)"):
            assert cls(mdata=m, **kwargs).adata is m

    model.save(str(tmp_path / "model"))
    loaded = cls.load(str(tmp_path / "model"), adata=m)
    np.testing.assert_allclose(loaded.get_latent_representation(), full, rtol=1e-5, atol=1e-5)

    assert not _changes(before, m), _changes(before, m)  # load set the object up again, cleanly

    if cls is not STEREOMM:  # inductive models set a new object up with the training setup
        other = m.copy()
        np.testing.assert_allclose(model.get_latent_representation(adata=other), full, rtol=1e-5, atol=1e-5)
        assert not [k for k in other.obsm if k.startswith("_")]

    m.obsm["X_latent"] = full  # written right after training, no clean-up needed
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        m.write_h5mu(tmp_path / "out.h5mu")
    back = md.read_h5mu(tmp_path / "out.h5mu")
    np.testing.assert_allclose(back.obsm["X_latent"], full)
    with pytest.warns(DeprecationWarning, match="remove_inputs is deprecated"):
        cls.remove_inputs(m)
    np.testing.assert_allclose(m.obsm["X_latent"], full)  # the no-op keeps the user's arrays


def test_urmf_setup_anndata_on_her2st_b1():
    """URMF.setup_anndata wraps one AnnData: same latent as the one-modality MuData, no private arrays."""
    a = remadom.datasets.her2st_b1()
    remadom.pp.pca_rna(a, n_comps=20)
    remadom.data.spatial_graph(a, n_neighs=6)
    before = a.copy()
    scvi.settings.seed = 0
    URMF.setup_anndata(a, layer="X_pca", modality="rna")
    model = URMF(a, n_latent=8, n_hidden=32)
    model.train(max_epochs=2, enable_progress_bar=False)
    z = model.get_latent_representation()
    assert z.shape == (a.n_obs, 8) and np.isfinite(z).all()
    assert list(model.get_modality_weights().columns) == ["rna"]
    assert not _changes(before, a), _changes(before, a)

    m = md.MuData({"rna": before.copy()})
    m.obsm["spatial"] = np.asarray(before.obsm["spatial"])
    m.obsp["spatial_connectivities"] = before.obsp["spatial_connectivities"]
    scvi.settings.seed = 0
    URMF.setup_mudata(m, modalities=["rna"], layers={"rna": "X_pca"})
    ref = URMF(m, n_latent=8, n_hidden=32)
    ref.train(max_epochs=2, enable_progress_bar=False)
    np.testing.assert_allclose(z, ref.get_latent_representation(), rtol=0, atol=1e-6)
    with pytest.raises(ValueError, match="setup_mudata"):
        URMF.setup_anndata(m, layer="X_pca")


def _pbmc_rna() -> ad.AnnData:
    """The RNA modality of the MIDAS PBMC mosaic as a plain AnnData: 120 cells, counts in a layer."""
    m = md.read_h5mu(shared_file("midas_pbmc_mosaic.h5mu"))
    a = m["rna"][::10].copy()
    a.obs["batch"] = m.obs.loc[a.obs_names, "batch"].astype(str).to_numpy()
    a.layers["counts"] = a.X.copy()
    a.X = a.X.multiply(1e4 / a.X.sum(1)).tocsr().log1p()  # a normalised .X, as scVI users hold it
    return a


SINGLE = {MOSAICVI: ({"n_latent": 8, "n_hidden": 32, "n_layers": 1}, 8),
          PRIORVI: ({"n_latent": 4, "n_hidden": 32, "n_layers": 1, "n_components": 3}, 4)}  # one block


@pytest.mark.parametrize("cls", list(SINGLE), ids=lambda c: c.__name__)
def test_setup_anndata_one_modality(cls):
    """MOSAICVI/PRIORVI.setup_anndata(adata, layer="counts", batch_key=...) as scVI: trains, a
    finite (n_obs, n_latent) latent equal to the one-modality MuData's; obsm/obs/layers keys
    unchanged apart from scvi-tools' obs['_scvi_batch']; new AnnData objects are set up by replay."""
    a = _pbmc_rna()
    before = a.copy()
    kwargs, n_latent = SINGLE[cls]
    scvi.settings.seed = 0
    cls.setup_anndata(a, layer="counts", batch_key="batch")
    model = cls(a, **kwargs)
    assert model.modalities == ["rna"]
    model.train(max_epochs=2, enable_progress_bar=False)
    z = model.get_latent_representation()
    assert z.shape == (a.n_obs, n_latent) and z.dtype == np.float32 and np.isfinite(z).all()
    assert set(a.obsm) == set(before.obsm) and set(a.layers) == set(before.layers)
    assert set(a.obs.columns) == set(before.obs.columns) | {"_scvi_batch"}
    assert not _changes(before, a), _changes(before, a)
    np.testing.assert_allclose(model.get_latent_representation(adata=before.copy()), z, rtol=0, atol=1e-6)
    assert set(before.obs.columns) == {"batch", "celltype"}  # the copy was set up, not `before`
    expr = model.get_normalized_expression(adata=a, gene_list=list(a.var_names[:3]))
    assert list(expr.columns) == list(a.var_names[:3]) and np.isfinite(expr.to_numpy()).all()

    m = md.MuData({"rna": before.copy()})
    m.obs["batch"] = before.obs["batch"].to_numpy()
    scvi.settings.seed = 0
    cls.setup_mudata(m, modalities=["rna"], layers={"rna": "counts"}, batch_key="batch")
    ref = cls(m, **kwargs)
    ref.train(max_epochs=2, enable_progress_bar=False)
    np.testing.assert_allclose(z, ref.get_latent_representation(), rtol=0, atol=1e-6)

    with pytest.raises(ValueError, match="setup_anndata"):
        cls.setup_mudata(before)
    with pytest.raises(ValueError, match="setup_mudata"):
        cls.setup_anndata(m)
    bad = before.copy()
    with pytest.raises(ValueError, match=r"batch_key='lane' is not a column of adata\.obs"):
        cls.setup_anndata(bad, layer="counts", batch_key="lane")
    assert not _changes(before, bad) and "_scvi_uuid" not in bad.uns  # unchanged on error


def test_morphovi_setup_anndata_says_what_to_call():
    """MORPHOVI needs two modalities: setup_anndata refuses with the MuData call to make instead."""
    a = _pbmc_rna()
    with pytest.raises(ValueError, match=r"two modalities.*MORPHOVI\.setup_mudata"):
        MORPHOVI.setup_anndata(a)
    assert "_scvi_uuid" not in a.uns


def test_morphovi_epochs_and_steps():
    """MORPHOVI counts iterations (max_iter); max_epochs and max_steps map onto them."""
    scvi.settings.seed = 0
    m, kwargs, _ = _set_up(MORPHOVI)
    model = MORPHOVI(m, **kwargs)
    with pytest.raises(ValueError, match="max_iter"):
        model.train(max_epochs=1, max_steps=5)
    with pytest.raises(ValueError, match="max_iter"):
        model.train(max_epochs=0)
    model.train(max_epochs=1, batch_size=64, enable_progress_bar=False)
    assert model.trainer.current_epoch == 1  # one pass = ceil(200 / 64) iterations
    model.train(max_steps=5, batch_size=64, enable_progress_bar=False)  # 5 iterations -> 2 epochs of 4
    assert model.trainer.current_epoch == 2
    model.train(1, batch_size=64, enable_progress_bar=False)  # positional: epochs, as scvi-tools
    assert model.trainer.current_epoch == 1
    with pytest.raises(TypeError):
        model.train(1, 64)  # everything after max_epochs is keyword-only


@pytest.mark.parametrize("cls", list(CASES), ids=lambda c: c.__name__)
def test_output_batch_size_defaults_to_the_model_default(cls):
    """Every public output method of ours takes batch_size=None (the model's inference default),
    as in scvi-tools, instead of its own number. Methods inherited from scvi-tools keep theirs;
    MOSAICVI.impute keeps 512 on purpose (it holds n_samples x batch_size x n_vars draws)."""
    fixed = {}
    for name, fn in inspect.getmembers(cls, inspect.isfunction):
        if name.startswith("_") or name == "train" or not fn.__module__.startswith("remadom"):
            continue
        if name == "impute":
            continue
        p = inspect.signature(fn).parameters.get("batch_size")
        if p is not None and p.default is not None:
            fixed[name] = p.default
    assert not fixed, f"{cls.__name__} methods with a fixed batch_size default: {fixed}"


@pytest.mark.parametrize("cls", list(CASES), ids=lambda c: c.__name__)
def test_train_takes_scvi_tools_arguments(cls):
    """train(max_epochs, accelerator, devices, batch_size, plan_kwargs, datasplitter_kwargs) on
    every model; plan_kwargs reaches the training plan (lr 0: no parameter moves)."""
    assert list(inspect.signature(cls.train).parameters)[1] == "max_epochs"  # train(10): 10 epochs
    scvi.settings.seed = 0
    m, setup, kwargs, _ = CASES[cls]()
    setup(m)
    model = cls(m, **kwargs)
    before = {k: v.detach().clone() for k, v in model.module.named_parameters()}
    model.train(max_epochs=1, accelerator="cpu", devices=1, batch_size=64, plan_kwargs={"lr": 0.0},
                datasplitter_kwargs={}, enable_progress_bar=False)
    assert model.is_trained_
    moved = [k for k, v in model.module.named_parameters() if not torch.equal(v.detach().cpu(), before[k])]
    assert not moved, f"{cls.__name__}: plan_kwargs lr=0 did not reach the plan; moved {moved[:3]}"


@pytest.mark.parametrize("cls", list(CASES), ids=lambda c: c.__name__)
def test_tensorboard_logger_keeps_history(cls, tmp_path):
    """train(logger=TensorBoardLogger(...)) writes TensorBoard events and fills model.history."""
    from lightning.pytorch.loggers import TensorBoardLogger

    scvi.settings.seed = 0
    m, setup, kwargs, _ = CASES[cls]()
    setup(m)
    model = cls(m, **kwargs)
    model.train(max_epochs=2, enable_progress_bar=False, logger=TensorBoardLogger(str(tmp_path), name="tb"))
    assert model.history, f"{cls.__name__}: model.history is empty with a TensorBoard logger"
    first = next(iter(model.history.values()))
    assert len(first) >= 1 and np.isfinite(np.asarray(first, dtype=float)).all()
    assert list(tmp_path.rglob("events.out.tfevents.*")), "no TensorBoard event file written"


@pytest.mark.parametrize("cls", list(CASES), ids=lambda c: c.__name__)
def test_user_logger_history_is_the_default_history(cls, tmp_path):
    """With a user's CSVLogger, model.history (remadom.train.HistoryLogger) holds exactly what
    scvi-tools' default logger gives without one (same metrics, index, values) at the same seed."""
    from lightning.pytorch.loggers import CSVLogger

    histories = []
    for logger in (None, CSVLogger(str(tmp_path))):
        scvi.settings.seed = 0
        m, setup, kwargs, _ = CASES[cls]()
        setup(m)
        model = cls(m, **kwargs)
        model.train(max_epochs=2, enable_progress_bar=False, **({"logger": logger} if logger else {}))
        histories.append(model.history)
    default, with_csv = histories
    assert default and default.keys() == with_csv.keys()
    for key in default:
        pd.testing.assert_frame_equal(default[key], with_csv[key], check_exact=True)
    assert list(tmp_path.rglob("metrics.csv")), "the CSV logger wrote nothing"


ROW_WISE = [URMF, MOSAICVI, PRIORVI, MORPHOVI]  # STEREOMM infers on the graph / tiles (own loader)


@pytest.mark.parametrize("cls", ROW_WISE, ids=lambda c: c.__name__)
def test_one_inference_loop(cls):
    """Row-wise outputs come from RemadomModelMixin._inference_batches: rows in `indices` order,
    module in eval mode, inference mode inside the loop only; no model builds its own loader."""
    import torch

    from remadom.model.mosaicvi._constants import MOSAICVI_REGISTRY_KEYS

    src = inspect.getsource(inspect.getmodule(cls))
    assert "_make_data_loader" not in src and ".eval()" not in src, cls.__name__
    m, kwargs, _ = _set_up(cls)
    model = cls(m, **kwargs)
    model.module.train()
    idx = np.array([5, 0, 17, 3, 9, 2])
    seen = 0
    for tensors, inputs in model._inference_batches(m, idx, batch_size=4):
        assert torch.is_inference_mode_enabled() and not model.module.training
        assert all(v.device == model.module.device for v in tensors.values())
        assert isinstance(inputs, dict) and inputs
        if MOSAICVI_REGISTRY_KEYS.INDEX_KEY in tensors:  # MOSAICVI / PRIORVI: the row of each cell
            rows = tensors[MOSAICVI_REGISTRY_KEYS.INDEX_KEY].ravel().long().cpu().numpy()
            np.testing.assert_array_equal(rows, idx[seen:seen + len(rows)])
        seen += len(next(iter(tensors.values())))
    assert seen == len(idx) and not torch.is_inference_mode_enabled()
    z = model.get_latent_representation(indices=idx, batch_size=4)
    np.testing.assert_allclose(z, model.get_latent_representation()[idx], rtol=1e-5, atol=1e-5,
                               equal_nan=True)


def test_posterior_predictive_draws_under_the_loop_inference_mode(monkeypatch):
    """posterior_predictive_sample has no inference-mode decorator of its own: each draw happens in
    the loop body of _inference_batches, under its torch.inference_mode; outside the loop (data
    validation before it, after it) inference mode is off."""
    import torch

    m, kwargs, _ = _set_up(MOSAICVI)
    model = MOSAICVI(m, **kwargs)
    modes, batches = [], model._posterior_predictive_batches

    def recorded(*args, **kw):
        for px in batches(*args, **kw):
            draw = px.sample
            px.sample = lambda *a, _draw=draw, **k: modes.append(torch.is_inference_mode_enabled()) or _draw(*a, **k)
            yield px

    validate = model._validate_anndata

    def validated(*args, **kw):
        modes.append(("validate", torch.is_inference_mode_enabled()))
        return validate(*args, **kw)

    monkeypatch.setattr(model, "_posterior_predictive_batches", recorded)
    monkeypatch.setattr(model, "_validate_anndata", validated)
    x = model.posterior_predictive_sample(indices=[3, 0, 8], n_samples=2, modality="rna", batch_size=2)
    assert x.shape == (3, m["rna"].n_vars, 2)
    # validated outside inference mode (also inside _inference_batches, before its loop), then
    # two minibatches, each drawn in inference mode
    assert modes == [("validate", False), ("validate", False), True, True], modes
    assert not torch.is_inference_mode_enabled()
