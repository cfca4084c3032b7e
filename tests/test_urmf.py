import copy

import numpy as np
import pytest
import scipy.sparse as sp
import scvi

import remadom
from remadom.model import URMF
from remadom.train import NonFiniteLossError


def _snapshot(m):
    return (
        sorted(m.obsm.keys()),
        sorted(m.obsp.keys()),
        {k: sorted(m[k].obsm.keys()) for k in m.mod},
        {k: sorted(m[k].obsp.keys()) for k in m.mod},
        {k: (m[k].X.copy() if not sp.issparse(m[k].X) else m[k].X.toarray()) for k in m.mod},
    )


def _same(a, b):
    assert a[:4] == b[:4]
    for k in a[4]:
        np.testing.assert_array_equal(a[4][k], b[4][k])


def test_urmf_lymph_node_end_to_end(lymph_node, tmp_path):
    """Real data: protein panel of lymph node slice A1; clustering floor and API shapes."""
    m = lymph_node
    scvi.settings.seed = 0
    URMF.setup_mudata(m, modalities=["prot"], layers={"prot": "X_pca"})
    model = URMF(m)
    model.train(enable_progress_bar=False)
    z = model.get_latent_representation()
    assert z.shape == (m.n_obs, 20) and z.dtype == np.float32 and np.isfinite(z).all()
    w = model.get_modality_weights()
    np.testing.assert_allclose(w.to_numpy().sum(1), 1, rtol=1e-5)
    u = model.get_uncertainty()
    assert u.shape == (m.n_obs, 1) and (u.to_numpy() > 0).all()
    rec = model.get_reconstruction("prot")
    assert rec.shape == (m.n_obs, m["prot"].obsm["X_pca"].shape[1])
    m.obsm["X_urmf"] = z
    lab = remadom.tl.cluster(m, "X_urmf", n_clusters=10)
    assert lab.nunique() == 10
    ari = remadom.metrics.ari(m.obs["final_annot"], lab)
    # PCA + the same Leiden scores about 0.13 here; the stated floor for URMF is 0.14.
    assert ari > 0.14, ari
    # save / load gives the identical latent
    model.save(str(tmp_path / "urmf"))
    loaded = URMF.load(str(tmp_path / "urmf"), adata=m)
    np.testing.assert_array_equal(loaded.get_latent_representation(), z)
    with pytest.raises(ValueError, match="exists"):
        model.save(str(tmp_path / "urmf"))
    assert not [k for k in m.obsm if k.startswith("_urmf_")]  # setup writes no private arrays


def _small_model(m, mods=("rna", "prot"), seed=0, epochs=3, **kw):
    scvi.settings.seed = seed
    URMF.setup_mudata(m, modalities=list(mods), **kw)
    model = URMF(m, n_latent=5, n_hidden=16)
    model.train(max_epochs=epochs, enable_progress_bar=False)
    return model


def test_two_modalities_shapes_and_likelihoods(toy_mdata):
    remadom.data.spatial_graph(toy_mdata, n_neighs=4)
    model = _small_model(toy_mdata, layers={"rna": "X_pca"})
    assert model.module.likelihoods == {"rna": "gaussian", "prot": "nb"}
    assert model.get_latent_representation().shape == (120, 5)
    w = model.get_modality_weights()
    assert list(w.columns) == ["rna", "prot"] and np.allclose(w.sum(1), 1)
    assert model.get_reconstruction("prot").shape == (120, 12)
    assert (model.get_reconstruction("prot") >= 0).all()
    with pytest.raises(ValueError, match="not registered"):
        model.get_reconstruction("atac")


def test_outputs_take_adata_and_the_deprecated_mdata(toy_mdata):
    """URMF's per-spot outputs take scvi-tools' adata=; mdata= works for one release and warns."""
    remadom.data.spatial_graph(toy_mdata, n_neighs=4)
    model = _small_model(toy_mdata, layers={"rna": "X_pca"}, epochs=1)
    idx = [0, 5, 7]
    calls = {
        "get_modality_weights": lambda **kw: model.get_modality_weights(indices=idx, **kw),
        "get_uncertainty": lambda **kw: model.get_uncertainty(indices=idx, **kw),
        "get_reconstruction": lambda **kw: model.get_reconstruction("prot", indices=idx, **kw),
    }
    for name, call in calls.items():
        new = call(adata=toy_mdata)
        with pytest.warns(DeprecationWarning, match=rf"URMF\.{name}\(mdata=\.\.\.\).*pass adata="):
            old = call(mdata=toy_mdata)
        np.testing.assert_array_equal(np.asarray(old), np.asarray(new))
        with pytest.raises(TypeError, match="adata= only"):
            call(adata=toy_mdata, mdata=toy_mdata)
    np.testing.assert_array_equal(model.get_modality_weights(toy_mdata, idx), calls["get_modality_weights"]())


def test_minibatches_carry_no_graph_rows(toy_mdata):
    """The feature graphs are registered but never sliced into minibatches (n_obs-wide rows)."""
    remadom.data.spatial_graph(toy_mdata, n_neighs=4)
    URMF.setup_mudata(toy_mdata, modalities=["rna", "prot"], layers={"rna": "X_pca"})
    model = URMF(toy_mdata, n_latent=5, n_hidden=16)
    assert "rna_feature_graph" in model.adata_manager.registry["field_registries"]
    batch = next(iter(model._make_data_loader(adata=toy_mdata, batch_size=32)))
    assert sorted(batch) == ["prot_input", "prot_target", "rna_input", "rna_target"]
    assert all(v.shape[0] == 32 and v.shape[1] < toy_mdata.n_obs for v in batch.values())


def test_same_seed_same_latent(toy_mdata):
    remadom.data.spatial_graph(toy_mdata, n_neighs=4)
    z1 = _small_model(toy_mdata, layers={"rna": "X_pca"}).get_latent_representation()
    z2 = _small_model(toy_mdata, layers={"rna": "X_pca"}).get_latent_representation()
    np.testing.assert_array_equal(z1, z2)


@pytest.mark.parametrize(
    ("flag", "value"),
    [("use_gating", False), ("use_channel_gate", False), ("use_udr", False), ("use_euro", True),
     ("use_tsa", False)],
)
def test_ablation_switches_train(toy_mdata, flag, value):
    remadom.data.spatial_graph(toy_mdata, n_neighs=4)
    scvi.settings.seed = 0
    URMF.setup_mudata(toy_mdata, modalities=["rna", "prot"], layers={"rna": "X_pca"})
    assert getattr(URMF(toy_mdata, n_latent=5, n_hidden=16).module, flag) is not value  # the default
    model = URMF(toy_mdata, n_latent=5, n_hidden=16, **{flag: value})
    assert getattr(model.module, flag) is value
    model.train(max_epochs=2, enable_progress_bar=False)
    assert np.isfinite(model.get_latent_representation()).all()


def test_euro_scales_dominant_modality_gradient():
    w = __import__("torch").tensor([[0.9, 0.1], [0.8, 0.2]])
    k = remadom.nn.euro_coefficients(w, alpha=1.0)
    assert k[0] < 1 and k[1] == 1


def test_nonfinite_loss_stops_training(toy_mdata):
    import torch

    remadom.data.spatial_graph(toy_mdata, n_neighs=4)
    URMF.setup_mudata(toy_mdata, modalities=["rna"], layers={"rna": "X_pca"})
    model = URMF(toy_mdata, n_latent=5, n_hidden=16)
    with torch.no_grad():
        next(model.module.parameters()).fill_(float("nan"))
    with pytest.raises(NonFiniteLossError, match="non-finite"):
        model.train(max_epochs=1, enable_progress_bar=False)


# ---------------------------------------------------------------- bad input, MuData unchanged
def _expect_error(m, match, **kw):
    before = _snapshot(m)
    with pytest.raises(ValueError, match=match):
        URMF.setup_mudata(m, **kw)
    _same(before, _snapshot(m))


def test_bad_modality_name(toy_mdata):
    remadom.data.spatial_graph(toy_mdata, n_neighs=4)
    _expect_error(toy_mdata, "not in the MuData", modalities=["rna", "atac"])
    _expect_error(toy_mdata, "list of modality names", modalities="rna")


def test_missing_spatial(toy_mdata):
    del toy_mdata.obsm["spatial"]
    _expect_error(toy_mdata, r"obsm\['spatial'\]", modalities=["rna"])


def test_missing_graph(toy_mdata):
    _expect_error(toy_mdata, "spatial_graph", modalities=["rna"])


def test_graph_of_wrong_size(toy_mdata):
    toy_mdata.obsp["spatial_connectivities"] = sp.csr_matrix(np.eye(toy_mdata.n_obs))
    g = sp.csr_matrix(np.eye(10))
    toy_mdata.obsp._data["spatial_connectivities"] = g  # bypass anndata's own shape check
    _expect_error(toy_mdata, "built for other cells", modalities=["rna"])


def test_nan_values(toy_mdata):
    remadom.data.spatial_graph(toy_mdata, n_neighs=4)
    toy_mdata["rna"].obsm["X_pca"][3, 2] = np.nan
    _expect_error(toy_mdata, "rna.*NaN", modalities=["rna"], layers={"rna": "X_pca"})


def test_negative_and_noninteger_counts(toy_mdata):
    remadom.data.spatial_graph(toy_mdata, n_neighs=4)
    toy_mdata["prot"].X[0, 0] = -1
    _expect_error(toy_mdata, "prot.*negative", modalities=["prot"], likelihoods={"prot": "nb"})
    toy_mdata["prot"].X[0, 0] = 1.5
    _expect_error(toy_mdata, "prot.*non-integer", modalities=["prot"], likelihoods={"prot": "nb"})


def test_modality_covering_other_spots(toy_mdata):
    import mudata as md

    remadom.data.spatial_graph(toy_mdata, n_neighs=4)
    sub = toy_mdata["prot"][:100].copy()
    m = md.MuData({"rna": toy_mdata["rna"].copy(), "prot": sub})
    m.obsm["spatial"] = np.random.default_rng(0).uniform(size=(m.n_obs, 2))
    remadom.data.spatial_graph(m, n_neighs=4)
    _expect_error(m, "prot.*other spots", modalities=["rna", "prot"])


def test_empty_modality(toy_mdata):
    import mudata as md

    m = md.MuData({"rna": toy_mdata["rna"].copy(), "prot": toy_mdata["prot"][:, :0].copy()})
    m.obsm["spatial"] = np.asarray(toy_mdata.obsm["spatial"])
    remadom.data.spatial_graph(m, n_neighs=4)
    _expect_error(m, "prot.*empty", modalities=["rna", "prot"])


def test_unknown_likelihood_and_anndata(toy_mdata):
    remadom.data.spatial_graph(toy_mdata, n_neighs=4)
    _expect_error(toy_mdata, "unknown likelihood", modalities=["rna"], likelihoods={"rna": "zip"})
    rna = copy.copy(toy_mdata["rna"])  # URMF.setup_anndata takes one modality; it needs coordinates
    with pytest.raises(ValueError, match=r"AnnData has no obsm\['spatial'\].*adata.obsm"):
        URMF.setup_anndata(rna)
    with pytest.raises(ValueError, match="setup_mudata"):
        URMF.setup_anndata(toy_mdata)
    with pytest.raises(ValueError, match="setup_anndata"):
        URMF.setup_mudata(rna, modalities=["rna"])


def test_setup_hints_name_the_arguments_of_the_setup_used(toy_mdata, monkeypatch):
    """After URMF.setup_anndata the hints say layer=/likelihood= and adata; setup_mudata's say
    layers={...}/likelihoods={...} (as MOSAICVI's)."""
    from remadom.model.urmf import _model

    a = toy_mdata["prot"].copy()
    a.obsm["spatial"] = np.array(toy_mdata.obsm["spatial"])  # a copy
    a.obsm["X_pca"] = toy_mdata["rna"].obsm["X_pca"].copy()
    remadom.data.spatial_graph(a, n_neighs=4)
    one = {"modality": "prot", "use_feature_graph": False}
    with pytest.raises(ValueError, match=r"likelihood='gaussian' or a counts layer \(layer='counts'\)"):
        URMF.setup_anndata(a, layer="X_pca", likelihood="nb", **one)
    a.obsm["X_none"] = np.zeros((a.n_obs, 0), dtype=np.float32)
    with pytest.raises(ValueError, match=r"empty \(no features\); pass layer='X_pca' naming"):
        URMF.setup_anndata(a, layer="X_none", **one)
    with pytest.warns(UserWarning, match=r"pca_rna\(adata\) and pass layer='X_pca'"):
        monkeypatch.setattr(_model, "_WARN_INPUT_GB", 1e-6)
        URMF.setup_anndata(a, likelihood="nb", **one)
    monkeypatch.undo()
    x = a.X.copy()
    a.X[1] = 0
    with pytest.raises(ValueError, match=r"filter_cells\(adata, min_counts=1\)`\.$"):
        URMF.setup_anndata(a, likelihood="nb", **one)
    a.X[1], a.X[0, 0] = x[1], -1
    with pytest.raises(ValueError, match=r"`layer='counts'`\) or use `likelihood='gaussian'`") as err:
        URMF.setup_anndata(a, likelihood="nb", **one)
    assert "layers=" not in str(err.value)
    a.X[0, 0] = x[0, 0]
    a.obsm["spatial"][2] = np.nan
    with pytest.raises(ValueError, match=r"adata\.obsm\['spatial'\]"):
        URMF.setup_anndata(a, likelihood="nb", **one)

    remadom.data.spatial_graph(toy_mdata, n_neighs=4)
    toy_mdata["prot"].X[0, 0] = -1
    with pytest.raises(ValueError, match=r"`layers=\{'prot': 'counts'\}`\) or use `likelihoods=\{'prot': 'gaussian'\}`"):
        URMF.setup_mudata(toy_mdata, modalities=["prot"], likelihoods={"prot": "nb"})


def test_load_onto_reordered_anndata_says_how_to_subset(toy_mdata):
    a = toy_mdata["prot"].copy()
    a.obsm["spatial"] = np.array(toy_mdata.obsm["spatial"])  # a copy
    remadom.data.spatial_graph(a, n_neighs=4)
    URMF.setup_anndata(a, likelihood="nb", modality="prot", use_feature_graph=False)
    model = URMF(a, n_latent=3, n_hidden=8)
    other = a[:, a.var_names[::-1]].copy()
    with pytest.raises(ValueError, match=r"`adata = adata\[:, trained_var_names\]`"):
        model.get_latent_representation(other)


def test_wide_count_modality_warns_with_the_fix(toy_mdata, monkeypatch):
    from remadom.model.urmf import _model

    remadom.data.spatial_graph(toy_mdata, n_neighs=4)
    monkeypatch.setattr(_model, "_WARN_INPUT_GB", 1e-6)  # the toy data is tiny; lower the bar
    with pytest.warns(UserWarning, match=r"modality 'prot'.*pca_rna") as rec:
        URMF.setup_mudata(toy_mdata, modalities=["rna", "prot"], layers={"rna": "X_pca"})
    assert not any("modality 'rna'" in str(w.message) for w in rec)  # a representation: no warning


def test_standardisation_kept_in_registry(toy_mdata):
    """URMF prepares new data with the training data's centring and scale (kept in the registry)."""
    remadom.data.spatial_graph(toy_mdata, n_neighs=4)
    model = _small_model(toy_mdata, mods=("rna",), epochs=1, layers={"rna": "X_pca"})
    x = np.asarray(toy_mdata["rna"].obsm["X_pca"], dtype=np.float32)
    st = model.adata_manager.get_state_registry("rna_input")["standardise"]
    np.testing.assert_allclose(st["mean"], x.mean(0), rtol=1e-5, atol=1e-6)
    assert st["scale"] > 0
    z = model.get_latent_representation(readout_hops=0)
    other = toy_mdata.copy()
    other["rna"].obsm["X_pca"] = x + 5.0  # shifted: re-centring on its own would remove the shift
    z_new = model.get_latent_representation(adata=other, readout_hops=0)
    assert z_new.shape == z.shape and not np.allclose(z_new, z, atol=1e-3)
    np.testing.assert_allclose(model.get_latent_representation(adata=toy_mdata.copy(), readout_hops=0), z,
                               rtol=1e-5, atol=1e-5)


def test_feature_graphs_do_not_depend_on_the_modality_order(toy_mdata):
    """Setup builds the missing feature graphs first, widest representation first: each
    modality's graph is the same whichever order the modalities are given in."""
    remadom.data.spatial_graph(toy_mdata, n_neighs=4)
    other = toy_mdata.copy()
    URMF.setup_mudata(toy_mdata, modalities=["rna", "prot"], layers={"rna": "X_pca"})
    URMF.setup_mudata(other, modalities=["prot", "rna"], layers={"rna": "X_pca"})
    for m in ("rna", "prot"):
        a, b = toy_mdata[m].obsp["feature_connectivities"], other[m].obsp["feature_connectivities"]
        assert a.shape == (120, 120) and a.nnz > 0
        assert (a != b).nnz == 0, m


def test_default_batch_size_doubles_where_the_epoch_floor_binds(toy_mdata, monkeypatch):
    from scvi.model.base import UnsupervisedTrainingMixin

    from remadom.model.urmf import _model

    assert _model.default_batch_size(6_399) == 256
    assert _model.default_batch_size(6_400) == 512
    assert _model.default_batch_size(1_000_000) == 512
    seen = {}
    monkeypatch.setattr(UnsupervisedTrainingMixin, "train", lambda self, **kw: seen.update(kw))
    remadom.data.spatial_graph(toy_mdata, n_neighs=4)
    URMF.setup_mudata(toy_mdata, modalities=["rna"], layers={"rna": "X_pca"})
    model = URMF(toy_mdata)
    monkeypatch.setattr(_model, "default_batch_size", lambda n_obs: n_obs + 1)
    model.train(max_epochs=1)
    assert seen["batch_size"] == toy_mdata.n_obs + 1
    model.train(max_epochs=1, batch_size=64)
    assert seen["batch_size"] == 64
