"""PRIORVI: learned priors, fusion, missing modalities, spatial modality, errors (synthetic data).

Synthetic mosaics test shapes and error paths only; the real-data evidence is in
``test_shared_real_data_priorvi.py`` and ``benchmarks/priorvi_real_data.py``.
"""

import mudata as md
import numpy as np
import pandas as pd
import pytest
import scvi
import torch

from remadom.model import PRIORVI
from remadom.nn import kl_monte_carlo, make_prior

from .test_mosaicvi import _snapshot, _toy_mosaic

md.set_options(pull_on_update=False)


@pytest.fixture
def mosaic():
    m = _toy_mosaic()
    m.obsm["spatial"] = np.random.default_rng(0).uniform(0, 100, size=(m.n_obs, 2))
    return m


@pytest.mark.parametrize("prior", ["mog", "vamp", "normal"])
def test_priors_train_change_and_shapes(mosaic, prior):
    scvi.settings.seed = 0
    PRIORVI.setup_mudata(mosaic, modalities=["rna", "adt"], batch_key="batch")
    model = PRIORVI(mosaic, prior=prior, n_components=5, n_latent=4, n_hidden=32)
    before = {k: v.clone() for k, v in model.module.priors.state_dict().items()}
    model.train(max_epochs=3, enable_progress_bar=False)
    after = model.module.priors.state_dict()
    if prior != "normal":  # the learned prior's parameters move in training
        assert any(not torch.allclose(before[k], after[k].cpu()) for k in before)
    z = model.get_latent_representation()
    assert z.shape == (90, 8) and np.isfinite(z).all()  # concat width = 4 + 4
    zb = model.get_latent_representation(modality="adt")
    assert zb.shape == (90, 4)
    # cells without ADT get the ADT prior's mean in their ADT block
    no_adt = ~mosaic.obs_names.isin(mosaic["adt"].obs_names)
    np.testing.assert_allclose(zb[no_adt], np.broadcast_to(zb[no_adt][0], zb[no_adt].shape), rtol=1e-5)
    assert model.get_prior_samples("rna", 7).shape == (7, 4)
    imp = model.impute("adt", source=["rna"], n_samples=3)
    assert imp.shape == (90, 8) and np.isfinite(imp.X).all()
    if prior == "mog":
        import remadom

        fig = remadom.pl.prior_posterior(model, "rna", n_samples=50, show=False, return_fig=True)
        assert len(fig.axes[0].collections) == 2


def test_attention_fusion_weights(mosaic):
    PRIORVI.setup_mudata(mosaic, modalities=["rna", "adt"], batch_key="batch")
    model = PRIORVI(mosaic, fusion="attention", n_latent=4, n_hidden=32)
    model.train(max_epochs=2, enable_progress_bar=False)
    assert model.get_latent_representation().shape == (90, 4)
    w = model.get_modality_weights()
    np.testing.assert_allclose(w.sum(1), 1, rtol=1e-5)
    only_rna = mosaic.obs["batch"] == "rna_only"
    assert (w.loc[only_rna.to_numpy(), "adt"] == 0).all()  # absent modality has no weight
    with pytest.warns(DeprecationWarning, match=r"PRIORVI\.get_modality_weights\(mdata=\.\.\.\)"):
        old = model.get_modality_weights(mdata=mosaic)  # the earlier keyword, for one release
    pd.testing.assert_frame_equal(old, model.get_modality_weights(adata=mosaic))
    concat = PRIORVI(mosaic, n_latent=4)
    with pytest.raises(ValueError, match="fusion='attention'"):
        concat.get_modality_weights()


def test_kl_monte_carlo_nonnegative_in_expectation():
    torch.manual_seed(0)
    prior = make_prior("mog", 3, 4)
    q = torch.distributions.Normal(torch.randn(2000, 3), torch.rand(2000, 3) + 0.2)
    kl = kl_monte_carlo(q, q.rsample(), prior)
    assert torch.isfinite(kl).all() and kl.mean() > 0


def test_spatial_modality_and_save_load(mosaic, tmp_path):
    scvi.settings.seed = 0
    PRIORVI.setup_mudata(mosaic, modalities=["rna", "adt"], spatial_key="spatial")
    assert not [k for k in mosaic.obsm if k.startswith("_")]  # the model holds its inputs
    model = PRIORVI(mosaic, n_latent=3, n_hidden=32)
    sp_block = np.asarray(model.adata_manager.get_from_registry("spatial"))
    np.testing.assert_allclose(sp_block.mean(0), 0, atol=1e-5)
    assert model.modalities == ["rna", "adt", "spatial"]
    model.train(max_epochs=2, enable_progress_bar=False)
    z = model.get_latent_representation()
    assert z.shape == (90, 9)
    model.save(str(tmp_path / "pv"))
    loaded = PRIORVI.load(str(tmp_path / "pv"), adata=mosaic)
    np.testing.assert_allclose(loaded.get_latent_representation(), z, rtol=1e-5, atol=1e-5)


def test_bad_input_errors_leave_mudata_unchanged(mosaic):
    before = _snapshot(mosaic)
    with pytest.raises(ValueError, match="spatial modality needs the"):
        PRIORVI.setup_mudata(mosaic, modalities=["rna", "adt"], spatial_key="coords")
    disjoint = _toy_mosaic()
    disjoint.mod["adt"] = disjoint["adt"][~disjoint["adt"].obs_names.isin(disjoint["rna"].obs_names)].copy()
    disjoint.update()
    with pytest.raises(ValueError, match="share no cell"):
        PRIORVI.setup_mudata(disjoint, modalities=["rna", "adt"])
    bad = mosaic.copy()
    bad["rna"].X[0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        PRIORVI.setup_mudata(bad, modalities=["rna", "adt"], spatial_key="spatial")
    assert "_priorvi_spatial" not in bad.obsm  # staged coordinates rolled back
    with pytest.raises(ValueError, match="not in the MuData"):
        PRIORVI.setup_mudata(mosaic, modalities=["rna", "met"])
    assert _snapshot(mosaic) == before
    PRIORVI.setup_mudata(mosaic, modalities=["rna", "adt"])
    with pytest.raises(ValueError, match="unknown prior 'gmm'"):
        PRIORVI(mosaic, prior="gmm")
    with pytest.raises(ValueError, match="n_components must be an int >= 1"):
        PRIORVI(mosaic, n_components=0)
    with pytest.raises(ValueError, match="unknown fusion"):
        PRIORVI(mosaic, fusion="sum")


def test_init_goes_through_mosaicvi_init(mosaic, monkeypatch):
    """PRIORVI builds its model through MOSAICVI.__init__ and overrides only _build_module;
    save/load keeps PRIORVI's own arguments, and an object not set up for the model is set up
    by the inherited _validate_anndata replay."""
    from remadom.model import MOSAICVI

    calls = []
    parent_init = MOSAICVI.__init__

    def spy(self, *args, **kwargs):
        calls.append(kwargs)
        parent_init(self, *args, **kwargs)

    monkeypatch.setattr(MOSAICVI, "__init__", spy)
    PRIORVI.setup_mudata(mosaic, modalities=["rna", "adt"], spatial_key="spatial")
    model = PRIORVI(mosaic, prior="vamp", n_components=3, fusion="attention", n_latent=3, n_hidden=16)
    assert len(calls) == 1 and calls[0]["problem"] is None and calls[0]["n_latent"] == 3
    assert "_build_module" in vars(PRIORVI) and "_validate_anndata" not in vars(PRIORVI)
    assert model.init_params_["non_kwargs"] == {
        "prior": "vamp", "n_components": 3, "fusion": "attention", "n_latent": 3, "n_latent_tech": 4,
        "n_hidden": 16, "n_layers": 2, "dropout_rate": 0.1}
    assert model.module.prior_name == "vamp" and model.module.fusion == "attention"
    assert model.problem is None and model.settings["n_components"] == 3
    assert "prior=vamp (K=3)" in model._model_summary_string
    other = mosaic.copy()  # not set up: replayed with the training setup
    assert model.get_latent_representation(other).shape == (mosaic.n_obs, 3)
