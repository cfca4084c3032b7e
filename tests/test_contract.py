"""One call dialect for the five models (issue 22), on small subsets of ../shared/data.

The same calls for every model: ``setup_mudata``, ``train(max_epochs=2)``,
``get_latent_representation(adata=, indices=, give_mean=)``, ``save``/``load``, and
``mdata.write_h5mu`` after ``remove_inputs``. Mechanics only (two epochs), not model quality.
"""

import inspect
import warnings

import anndata as ad
import mudata as md
import numpy as np
import pandas as pd
import pytest
import scvi

import remadom
from remadom.model import MORPHOVI, MOSAICVI, PRIORVI, STEREOMM, URMF, RemadomModelMixin

from ._shared import shared_file

pytestmark = pytest.mark.shared_data
md.set_options(pull_on_update=False)


def _urmf():
    m = md.read_h5mu(shared_file("lymph_node_s1.h5mu"))
    m = m[:240].copy()
    remadom.pp.pca_protein(m["prot"])
    remadom.data.spatial_graph(m, n_neighs=6)
    URMF.setup_mudata(m, modalities=["prot"], layers={"prot": "X_pca"})
    return m, {"n_latent": 8, "n_hidden": 32}, 8


def _stereomm():
    a = ad.read_h5ad(shared_file("her2st_c1.h5ad"))
    a = a[:120].copy()
    m = md.MuData({"rna": a})
    m.obsm["spatial"] = np.asarray(a.obsm["spatial"], dtype=np.float64)
    STEREOMM.setup_mudata(m, modalities=["rna"], n_dims=16)
    return m, {"n_latent": 8, "hidden_dims": [32, 16]}, 8


def _pbmc_subset():
    m = md.read_h5mu(shared_file("midas_pbmc_mosaic.h5mu"))
    rng = np.random.default_rng(0)
    batch = m.obs["batch"].astype(str).to_numpy()
    keep = np.sort(np.concatenate([rng.choice(np.flatnonzero(batch == b), 40, replace=False)
                                   for b in np.unique(batch)]))
    return m[keep].copy()


def _mosaicvi():
    m = _pbmc_subset()
    MOSAICVI.setup_mudata(m, modalities=["rna", "adt"], batch_key="batch")
    return m, {"n_latent": 8, "n_hidden": 32, "n_layers": 1}, 8


def _priorvi():
    m = _pbmc_subset()
    PRIORVI.setup_mudata(m, modalities=["rna", "adt"], batch_key="batch")
    return m, {"n_latent": 4, "n_hidden": 32, "n_layers": 1, "n_components": 3}, 8  # concat: 2 x 4


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
    MORPHOVI.setup_mudata(m, modality_a="morph", modality_b="ephys", nan_policy="mask")
    return m, {"n_latent": 4, "n_hidden": 16}, 4


CASES = {URMF: _urmf, STEREOMM: _stereomm, MOSAICVI: _mosaicvi, PRIORVI: _priorvi, MORPHOVI: _morphovi}


@pytest.mark.parametrize("cls", list(CASES), ids=lambda c: c.__name__)
def test_same_calls_for_every_model(cls, tmp_path):
    """setup, train(max_epochs=2), latent with adata/indices/give_mean, save/load, write."""
    assert issubclass(cls, RemadomModelMixin)
    params = inspect.signature(cls.get_latent_representation).parameters
    assert list(params)[1:5] == ["adata", "indices", "give_mean", "batch_size"]
    scvi.settings.seed = 0
    m, kwargs, n_latent = CASES[cls]()
    model = cls(m, **kwargs)
    model.train(max_epochs=2, enable_progress_bar=False)

    full = model.get_latent_representation()
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
    if "mdata" in params:  # the old keyword still works, with a deprecation warning
        with pytest.warns(DeprecationWarning, match="adata="):
            old = model.get_latent_representation(mdata=m, indices=idx)
        np.testing.assert_allclose(old, sub, rtol=1e-5, atol=1e-5)
        with pytest.raises(TypeError, match="adata= only"):
            model.get_latent_representation(adata=m, mdata=m)

    model.save(str(tmp_path / "model"))
    loaded = cls.load(str(tmp_path / "model"), adata=m)
    np.testing.assert_allclose(loaded.get_latent_representation(), full, rtol=1e-5, atol=1e-5)

    cls.remove_inputs(m)
    assert not [k for k in m.obsm if k.startswith(cls._INPUT_PREFIXES)]
    m.obsm["X_latent"] = full
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        m.write_h5mu(tmp_path / "out.h5mu")
    back = md.read_h5mu(tmp_path / "out.h5mu")
    np.testing.assert_allclose(back.obsm["X_latent"], full)


def test_morphovi_epochs_and_steps():
    """MORPHOVI counts iterations (max_iter); max_epochs and max_steps map onto them."""
    scvi.settings.seed = 0
    m, kwargs, _ = _morphovi()
    model = MORPHOVI(m, **kwargs)
    with pytest.raises(ValueError, match="max_iter"):
        model.train(max_epochs=1, max_steps=5)
    with pytest.raises(ValueError, match="max_iter"):
        model.train(max_epochs=0)
    model.train(max_epochs=1, batch_size=64, enable_progress_bar=False)
    assert model.trainer.current_epoch == 1  # one pass = ceil(200 / 64) iterations
    model.train(max_steps=5, batch_size=64, enable_progress_bar=False)  # 5 iterations -> 2 epochs of 4
    assert model.trainer.current_epoch == 2
