"""MOSAICVI: setup on natural mosaic MuData, masked ELBO, PoE, outputs, errors (synthetic data).

Synthetic data here test shapes, masks and error paths only; real-data evidence is in
``test_shared_real_data_mosaicvi.py`` and ``benchmarks/mosaicvi_real_data.py``.
"""

import anndata as ad
import mudata as md
import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
import scvi
import torch

from remadom.heads import MMDHead, make_head
from remadom.model import MOSAICVI
from remadom.nn import make_decoder, product_of_experts

md.set_options(pull_on_update=False)


def _toy_mosaic(seed=0, n=90):
    """RNA-only, ADT-only and paired cells (30 each), natural mosaic form (no padded rows)."""
    rng = np.random.default_rng(seed)
    names = np.array([f"c{i}" for i in range(n)])
    rna_cells, adt_cells = names[: 2 * n // 3], names[n // 3:]
    rna = ad.AnnData(sp.csr_matrix(rng.poisson(2.0, size=(len(rna_cells), 30)).astype(np.float32)),
                     obs=pd.DataFrame(index=rna_cells))
    adt = ad.AnnData(rng.poisson(6.0, size=(len(adt_cells), 8)).astype(np.float32),
                     obs=pd.DataFrame(index=adt_cells))
    rna.var_names = [f"g{i}" for i in range(30)]
    adt.var_names = [f"p{i}" for i in range(8)]
    m = md.MuData({"rna": rna, "adt": adt})
    m.obs["batch"] = np.where(np.isin(m.obs_names, rna_cells) & ~np.isin(m.obs_names, adt_cells), "rna_only",
                              np.where(np.isin(m.obs_names, adt_cells) & ~np.isin(m.obs_names, rna_cells),
                                       "adt_only", "paired"))
    return m


@pytest.fixture
def mosaic():
    return _toy_mosaic()


def _snapshot(m):
    def digest(x):
        return hash((x.toarray() if sp.issparse(x) else np.asarray(x)).tobytes())

    return ({k: (a.n_obs, a.n_vars, digest(a.X)) for k, a in m.mod.items()}, set(m.obsm),
            list(m.obs.columns))


def test_setup_builds_mask_and_padded_inputs(mosaic):
    MOSAICVI.setup_mudata(mosaic, modalities=["rna", "adt"], batch_key="batch")
    assert not [k for k in mosaic.obsm if k.startswith("_")]  # the model holds its inputs
    manager = MOSAICVI(mosaic, n_hidden=16).adata_manager
    mask = manager.get_from_registry("mask")
    assert mask.shape == (90, 2)
    np.testing.assert_array_equal(mask[:, 0], mosaic.obs_names.isin(mosaic["rna"].obs_names))
    np.testing.assert_array_equal(mask[:, 1], mosaic.obs_names.isin(mosaic["adt"].obs_names))
    x = manager.get_from_registry("rna")
    assert x.shape == (90, 30)
    # padded rows are empty, present rows hold the modality's data at the right place
    assert x[mask[:, 0] == 0].sum() == 0
    c = mosaic["rna"].obs_names[5]
    np.testing.assert_array_equal(x[mosaic.obs_names.get_loc(c)].toarray(), mosaic["rna"][c].X.toarray())


def test_train_outputs_shapes_and_impute(mosaic):
    scvi.settings.seed = 0
    MOSAICVI.setup_mudata(mosaic, modalities=["rna", "adt"], batch_key="batch")
    model = MOSAICVI(mosaic, n_latent=5, n_hidden=16)
    model.train(max_epochs=3, batch_size=32, enable_progress_bar=False)
    z = model.get_latent_representation()
    assert z.shape == (90, 5) and z.dtype == np.float32 and np.isfinite(z).all()
    zt = model.get_latent_representation(representation="z_tech")
    assert zt.shape == (90, 4)
    # z_tech depends on the batch only: identical within a batch, different across batches
    b = mosaic.obs["batch"].to_numpy()
    assert np.allclose(zt[b == "paired"], zt[b == "paired"][0])
    assert not np.allclose(zt[b == "paired"][0], zt[b == "rna_only"][0])
    z_rna = model.get_latent_representation(modality="rna")
    adt_only = b == "adt_only"
    assert np.allclose(z_rna[adt_only], 0, atol=1e-6)  # no rna expert -> prior mean
    with pytest.warns(UserWarning, match="prior alone") as rec:
        imp = model.impute("adt", source=["rna"], n_samples=4)
    assert rec[0].filename == __file__  # attributed to the caller, past the deprecated_mdata frame
    assert imp.shape == (90, 8) and list(imp.obs_names) == list(mosaic.obs_names)
    assert list(imp.var_names) == list(mosaic["adt"].var_names)
    assert imp.layers["std"].shape == (90, 8) and (imp.layers["std"] >= 0).all()
    assert (imp.obs["n_source_modalities"].to_numpy() == (~adt_only).astype(int)).all()
    scvi.settings.seed = 1
    with pytest.warns(UserWarning, match="prior alone"):
        new = model.impute("adt", source=["rna"], adata=mosaic, n_samples=2)
    scvi.settings.seed = 1
    with pytest.warns(DeprecationWarning, match=r"MOSAICVI\.impute\(mdata=\.\.\.\).*pass adata="):
        old = model.impute("adt", source=["rna"], mdata=mosaic, n_samples=2)  # one release
    np.testing.assert_array_equal(old.X, new.X)
    with pytest.warns(DeprecationWarning, match="modality=") as rec:
        norm = model.get_normalized_expression("rna")  # the pre-0.2 positional modality
    assert rec[0].filename == __file__
    assert norm.shape == (90, 30)
    np.testing.assert_allclose(norm.sum(1), 1.0, rtol=1e-4)
    elbo = model.get_elbo()
    assert np.isfinite(float(elbo))


def test_masked_elbo_ignores_padded_values(mosaic):
    MOSAICVI.setup_mudata(mosaic, modalities=["rna", "adt"], batch_key="batch")
    model = MOSAICVI(mosaic, n_latent=4, n_hidden=16)
    model.module.eval()
    tensors = next(iter(model._make_data_loader(adata=mosaic, batch_size=90, shuffle=False)))
    absent = tensors["mask"][:, 0] == 0
    assert absent.any()

    def loss(t):
        torch.manual_seed(0)
        _, _, out = model.module(t)
        return out.loss.item()

    before = loss(tensors)
    changed = dict(tensors)
    x = tensors["rna"].clone()
    x[absent] = torch.rand_like(x[absent]) * 1e6  # garbage where the cell has no RNA
    changed["rna"] = x
    assert loss(changed) == pytest.approx(before, rel=1e-6)
    x[absent] = float("nan")
    assert loss(changed) == pytest.approx(before, rel=1e-6)


def test_poe_single_expert_and_prior():
    mu, var = torch.randn(1, 5, 3), torch.rand(1, 5, 3) + 0.1
    m, v = product_of_experts(mu, var, torch.ones(5, 1), prior_expert=False)
    torch.testing.assert_close(m, mu[0])
    torch.testing.assert_close(v, var[0])
    m, v = product_of_experts(mu, var, torch.ones(5, 1), prior_expert=True)
    torch.testing.assert_close(v, 1 / (1 / var[0] + 1))
    m, v = product_of_experts(mu, var, torch.zeros(5, 1), prior_expert=True)
    torch.testing.assert_close(m, torch.zeros(5, 3))
    torch.testing.assert_close(v, torch.ones(5, 3))


def test_subset_mask_is_strict_nonempty_subset():
    from remadom.model import MOSAICVIModule

    mod = MOSAICVIModule(["a", "b", "c"], {"a": 3, "b": 3, "c": 3}, {"a": 3, "b": 3, "c": 3},
                         {"a": "gaussian", "b": "gaussian", "c": "gaussian"}, subset_prob=1.0)
    mask = torch.tensor([[1, 1, 1], [1, 0, 1], [0, 1, 0]] * 200, dtype=torch.float32)
    new = mod._subset_mask(mask)
    assert (new <= mask).all()                 # only present modalities
    assert (new.sum(1) >= 1).all()             # never empty
    multi = mask.sum(1) >= 2
    assert (new[multi].sum(1) < mask[multi].sum(1)).all()  # strict subset when drawn
    torch.testing.assert_close(new[~multi], mask[~multi])
    # all 6 strict subsets of {a,b,c} appear
    codes = (new[mask.sum(1) == 3] * torch.tensor([1, 2, 4])).sum(1).unique()
    assert len(codes) == 6


def test_save_load_identical_latent(mosaic, tmp_path):
    scvi.settings.seed = 0
    MOSAICVI.setup_mudata(mosaic, modalities=["rna", "adt"], batch_key="batch")
    model = MOSAICVI(mosaic, n_latent=4, n_hidden=16, problem="paired")
    model.train(max_epochs=2, batch_size=32, enable_progress_bar=False)
    z = model.get_latent_representation()
    model.save(tmp_path / "m")
    fresh = _toy_mosaic()
    loaded = MOSAICVI.load(tmp_path / "m", adata=fresh)
    np.testing.assert_array_equal(loaded.get_latent_representation(), z)
    assert loaded.module.subset_prob == model.module.subset_prob


@pytest.mark.parametrize("lik", ["nb", "zinb", "poisson", "bernoulli", "nbmixture", "gaussian", "betabinomial"])
def test_decoders_give_finite_log_prob(lik):
    dec = make_decoder(lik, 4, 7, n_hidden=8)
    z = torch.randn(5, 4)
    x = torch.randint(0, 2 if lik == "bernoulli" else 5, (5, 7)).float()
    lib = {"nb": x.sum(1, keepdim=True) + 1, "zinb": x.sum(1, keepdim=True) + 1,
           "poisson": x.sum(1, keepdim=True) + 1, "bernoulli": torch.ones(5, 1),
           "betabinomial": x + 3}.get(lik)
    d = dec(z, lib)
    lp = d.log_prob(x)
    assert lp.shape == (5, 7) and torch.isfinite(lp).all()
    assert d.mean.shape == (5, 7)


def test_betabinomial_layers_pair():
    rng = np.random.default_rng(0)
    total = rng.integers(0, 6, size=(20, 10)).astype(np.float32)
    met = np.minimum(total, rng.integers(0, 4, size=(20, 10))).astype(np.float32)
    a = ad.AnnData(met, layers={"met": met, "total": total})
    a.obs_names = [f"c{i}" for i in range(20)]
    m = md.MuData({"met": a})
    MOSAICVI.setup_mudata(m, layers={"met": ("met", "total")})
    model = MOSAICVI(m, n_latent=3, n_hidden=8)
    assert model.module.likelihoods["met"] == "betabinomial"
    model.train(max_epochs=1, batch_size=10, enable_progress_bar=False)
    assert np.isfinite(model.get_latent_representation()).all()
    bad = md.MuData({"met": ad.AnnData(total, layers={"met": total + 1, "total": total},
                                       obs=pd.DataFrame(index=a.obs_names))})
    with pytest.raises(ValueError, match="exceed total"):
        MOSAICVI.setup_mudata(bad, layers={"met": ("met", "total")})


def test_presets_printable_and_overridable(mosaic):
    s = MOSAICVI.preset("unpaired")
    assert s["heads"][0]["name"] == "mmd" and s["subset_prob"] == 0.0
    assert MOSAICVI.preset("bridge", subset_prob=0.2)["subset_prob"] == 0.2
    assert set(MOSAICVI.PRESETS) == {"paired", "unpaired", "bridge", "mosaic", "prediction", "hierarchical"}
    MOSAICVI.setup_mudata(mosaic, modalities=["rna", "adt"], batch_key="batch")
    model = MOSAICVI(mosaic, problem="unpaired", heads=[{"name": "mmd", "weight": 3.0}])
    assert model.module.heads[0].weight == 3.0 and model.module.subset_prob == 0.0
    with pytest.raises(ValueError, match="unknown preset setting"):
        MOSAICVI.preset("paired", n_heads=2)


# ----------------------------------------------------------------------------- bad input
def _raises(m, match, **kwargs):
    before = _snapshot(m)
    with pytest.raises(ValueError, match=match):
        MOSAICVI.setup_mudata(m, **kwargs)
    assert _snapshot(m) == before  # nothing written on error


def test_error_cell_in_no_modality(mosaic):
    # drop an ADT-only cell from its only modality without mdata.update(): the MuData still
    # lists it, but no modality has it
    mosaic.mod["adt"] = mosaic["adt"][mosaic["adt"].obs_names != "c89"].copy()
    assert "c89" in mosaic.obs_names
    _raises(mosaic, "none of the modalities", modalities=["rna", "adt"])


def test_error_modality_with_no_cells(mosaic):
    mosaic.mod["empty"] = ad.AnnData(np.zeros((0, 3), dtype=np.float32))
    _raises(mosaic, "empty", modalities=["rna", "empty"])


def test_error_obs_names_not_in_mudata(mosaic):
    mosaic.mod["adt"].obs_names = [f"x{i}" for i in range(mosaic["adt"].n_obs)]
    _raises(mosaic, "obs names the MuData lacks", modalities=["rna", "adt"])


def test_error_nan_negative_noninteger(mosaic):
    a = mosaic["adt"]
    a.X[0, 0] = np.nan
    both = ["rna", "adt"]
    _raises(mosaic, "modality 'adt'.*NaN", modalities=both, likelihoods={"adt": "gaussian"})
    a.X[0, 0] = -1
    _raises(mosaic, "modality 'adt'.*negative", modalities=both, likelihoods={"adt": "nb"})
    a.X[0, 0] = 0.5
    _raises(mosaic, "modality 'adt'.*non-integer", modalities=both, likelihoods={"adt": "nb"})


def test_error_bernoulli_on_counts(mosaic):
    _raises(mosaic, "0/1 data", modalities=["rna", "adt"], likelihoods={"rna": "bernoulli"})


def test_error_unknown_likelihood_and_layer(mosaic):
    _raises(mosaic, "unknown likelihood", modalities=["rna", "adt"], likelihoods={"rna": "zip"})
    _raises(mosaic, "neither a layer", modalities=["rna", "adt"], layers={"rna": "counts"})


def test_error_batch_key_nan(mosaic):
    mosaic.obs.loc[mosaic.obs_names[0], "batch"] = np.nan
    _raises(mosaic, "NaN", modalities=["rna", "adt"], batch_key="batch")
    _raises(mosaic, "not a column", modalities=["rna", "adt"], batch_key="sample")


def test_error_unknown_problem_head_and_impute_target(mosaic):
    MOSAICVI.setup_mudata(mosaic, modalities=["rna", "adt"])
    with pytest.raises(ValueError, match="unknown problem"):
        MOSAICVI(mosaic, problem="multiome")
    with pytest.raises(ValueError, match="unknown head"):
        MOSAICVI(mosaic, heads=[{"name": "sinkhornn"}])
    with pytest.raises(ValueError, match="weight must be >= 0"):
        MOSAICVI(mosaic, heads=[{"name": "mmd", "weight": -1}])
    with pytest.raises(ValueError, match="no batch_key was registered"):
        MOSAICVI(mosaic, heads=[{"name": "mmd", "group_by": "batch"}])
    with pytest.raises(ValueError, match="valid parameters"):
        MOSAICVI(mosaic, heads=[{"name": "mmd", "bandwidth": 2}])
    model = MOSAICVI(mosaic, n_latent=3, n_hidden=8)
    with pytest.raises(ValueError, match="not a registered modality"):
        model.impute("atac")
    with pytest.raises(ValueError, match="no z_tech"):
        model.get_latent_representation(representation="z_tech")


def test_error_head_group_too_small(mosaic):
    mosaic.obs["batch"] = ["solo"] + ["rest"] * (mosaic.n_obs - 1)
    MOSAICVI.setup_mudata(mosaic, modalities=["rna", "adt"], batch_key="batch")
    with pytest.raises(ValueError, match="fewer than two cells"):
        MOSAICVI(mosaic, heads=[{"name": "mmd", "group_by": "batch"}])


# ----------------------------------------------------------------------------- heads
def test_mmd_head_zero_for_identical_groups_and_grows_with_shift():
    torch.manual_seed(0)
    z = torch.randn(64, 4)
    g = torch.tensor([0, 1] * 32)
    head = MMDHead(weight=1.0)
    same = head(torch.cat([z[:32], z[:32]]), torch.tensor([0] * 32 + [1] * 32))
    assert same.item() == pytest.approx(0.0, abs=1e-6)
    losses = []
    for shift in (0.0, 1.0, 3.0):
        zz = z.clone()
        zz[g == 1] += shift
        losses.append(head(zz, g).item())
    assert losses[0] < losses[1] < losses[2]
    zz = z.clone().requires_grad_(True)
    head(zz + (g == 1).float()[:, None], g).backward()
    assert torch.isfinite(zz.grad).all() and zz.grad.abs().sum() > 0
    assert head(z, torch.zeros(64, dtype=torch.long)).item() == 0.0  # one group: nothing to align


def test_head_warmup_schedule():
    h = make_head({"name": "mmd", "weight": 10.0, "warmup_epochs": 4})
    assert [h.schedule(e) for e in range(5)] == [2.5, 5.0, 7.5, 10.0, 10.0]


def test_error_hints_name_the_arguments_of_the_setup_used(mosaic):
    """After setup_anndata the hints say layer= / likelihood= and MOSAICVI.setup_anndata; after
    setup_mudata they say layers={...} / likelihoods={...} and MOSAICVI.setup_mudata."""
    rna = mosaic["rna"].copy()
    rna.X = rna.X * 0.5  # not counts
    with pytest.raises(ValueError, match="non-integer") as e:
        MOSAICVI.setup_anndata(rna, likelihood="nb")
    assert "layer='counts'" in str(e.value) and "likelihood='gaussian'" in str(e.value)
    assert "layers=" not in str(e.value) and "likelihoods=" not in str(e.value)
    with pytest.raises(ValueError, match="non-integer") as e:
        MOSAICVI.setup_mudata(_with_rna(mosaic, rna.X), likelihoods={"rna": "nb"})
    assert "layers={'rna': 'counts'}" in str(e.value) and "likelihoods={'rna': 'gaussian'}" in str(e.value)

    atac = mosaic["rna"].copy()  # Poisson(2) counts under bernoulli: not 0/1
    with pytest.raises(ValueError, match="0/1") as e:
        MOSAICVI.setup_anndata(atac, modality="atac", likelihood="bernoulli")
    assert "layer=..." in str(e.value) and "likelihood='poisson'" in str(e.value)
    assert "likelihoods=" not in str(e.value)
    with pytest.raises(ValueError, match="betabinomial") as e:
        MOSAICVI.setup_anndata(mosaic["rna"].copy(), modality="met", likelihood="betabinomial")
    assert "layer=('methylated', 'total')" in str(e.value)

    adata = mosaic["rna"].copy()
    MOSAICVI.setup_anndata(adata)
    with pytest.raises(ValueError, match=r"pass labels_key= to MOSAICVI\.setup_anndata\."):
        MOSAICVI(adata, heads=[{"name": "mmd", "group_by": "labels"}])
    model = MOSAICVI(adata, n_hidden=16, n_layers=1)
    with pytest.raises(ValueError, match=r"batch_key= in MOSAICVI\.setup_anndata\.") as e:
        model.get_normalized_expression(transform_batch="b")
    with pytest.raises(ValueError, match=r"one modality; register several with MOSAICVI\.setup_mudata"):
        model.impute("adt")
    gauss = mosaic["rna"].copy()
    MOSAICVI.setup_anndata(gauss, likelihood="gaussian")
    with pytest.raises(ValueError, match=r"MOSAICVI\.setup_anndata\(\.\.\., likelihood='nb'\)"):
        MOSAICVI(gauss, n_hidden=16, n_layers=1).posterior_predictive_sample()
    MOSAICVI.setup_mudata(mosaic, modalities=["rna", "adt"])
    with pytest.raises(ValueError, match=r"pass labels_key= to MOSAICVI\.setup_mudata\."):
        MOSAICVI(mosaic, heads=[{"name": "mmd", "group_by": "labels"}])


def _with_rna(m, x):
    out = m.copy()
    out.mod["rna"].X = x
    return out
