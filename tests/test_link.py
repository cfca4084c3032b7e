"""remadom.pp.link_features: shared gene-level features and the shared ``gene`` modality."""

import warnings

import numpy as np
import pytest
import scipy.sparse as sp
import scvi

import remadom
from remadom.model import MOSAICVI
from tests.test_mosaicvi import _toy_mosaic


def _assoc(seed=0):
    rng = np.random.default_rng(seed)
    return sp.csr_matrix((rng.random((30, 8)) < 0.3).astype(np.float32))  # genes x adt features


def test_link_features_shape_and_errors():
    m = _toy_mosaic()
    remadom.pp.link_features(m, rna="rna", other="adt", association=_assoc(), n_comps=5)
    assert m.obsm["X_link"].shape == (m.n_obs, 5) and np.isfinite(m.obsm["X_link"]).all()
    with pytest.raises(ValueError, match="association has shape"):
        remadom.pp.link_features(m, rna="rna", other="adt", association=_assoc()[:10])
    with pytest.raises(ValueError, match="modality 'atac' is not in the MuData"):
        remadom.pp.link_features(m, association=_assoc())


def test_link_features_as_modality_trains_with_mosaicvi():
    m = _toy_mosaic()
    obs_before, names_before = m.obs.copy(), m.obs_names.copy()
    remadom.pp.link_features(m, rna="rna", other="adt", association=_assoc(), n_comps=5,
                               as_modality="gene")
    g = m["gene"]
    assert g.shape == (m.n_obs, 5) and list(g.obs_names) == list(names_before)
    np.testing.assert_allclose(np.asarray(g.X).std(0), 1, rtol=1e-4)
    assert list(m.obs_names) == list(names_before)
    assert (m.obs["batch"] == obs_before["batch"]).all()  # the user's columns are kept
    with pytest.raises(ValueError, match="already a modality"):
        remadom.pp.link_features(m, rna="rna", other="adt", association=_assoc(), as_modality="gene")
    scvi.settings.seed = 0
    MOSAICVI.setup_mudata(m, modalities=["rna", "adt"], batch_key="batch")
    with pytest.warns(UserWarning, match="no modality shared by all cells"):
        MOSAICVI(m, problem="unpaired", n_latent=4)
    MOSAICVI.setup_mudata(m, modalities=["rna", "adt", "gene"], batch_key="batch")
    with warnings.catch_warnings():
        warnings.filterwarnings("error", message=".*no modality shared.*")
        model = MOSAICVI(m, problem="unpaired", n_latent=4)
    assert model.module.likelihoods["gene"] == "gaussian"
    assert model.settings["heads"] == []  # the shared modality replaces the preset's MMD head
    kept = MOSAICVI(m, problem="unpaired", n_latent=4, heads=[{"name": "mmd", "group_by": "modality_set"}])
    assert len(kept.settings["heads"]) == 1  # an explicit choice is kept
    model.train(max_epochs=2, batch_size=32, enable_progress_bar=False)
    z = model.get_latent_representation(modality=["adt", "gene"])
    assert z.shape == (m.n_obs, 4) and np.isfinite(z).all()
