"""Spatial domains on the bundled real sections: the models against the neighbour-averaged PCA.

These run on a fresh clone (the sections ship in the package). The margins and floors are stated
from the seed spread measured in ``benchmarks/spatial_domains.py`` (benchmarks/README.md).
"""

import numpy as np
import pytest
import scipy.sparse as sp
import scvi

import remadom
from remadom.data import neighbor_mean, ppr_propagate
from remadom.model import STEREOMM, URMF

# URMF's Leiden ARI may fall below the neighbour-averaged PCA's by at most this much on one seed
# (the seed s.d. of either on these sections is 0.02-0.04).
MARGIN = 0.05
MORAN_FLOOR = 0.6


def _score(obj, rep, labels, k, seed=0):
    lab = remadom.tl.cluster(obj, rep, method="leiden", n_clusters=k, key_added="_c",
                             random_state=seed)
    return (remadom.metrics.ari(obj.obs[labels], lab),
            remadom.metrics.morans_i_labels(lab, obj.obsp["spatial_connectivities"]))


@pytest.fixture(scope="module")
def b1():
    import mudata as md

    a = remadom.datasets.her2st_b1()
    remadom.pp.pca_rna(a, n_comps=30)
    m = md.MuData({"rna": a})
    m.obs = a.obs.copy()
    m.obsm["spatial"] = np.asarray(a.obsm["spatial"])
    m.obsm["X_pca"] = a.obsm["X_pca"]
    remadom.data.spatial_graph(m, n_neighs=6)
    remadom.tl.neighbor_average(m, "X_pca")
    return a, m


def test_her2st_b1_bundled():
    a = remadom.datasets.her2st_b1()
    assert a.shape == (295, 9945)
    assert a.obs["label"].nunique() == 5
    assert "provenance" in a.uns and a.obsm["spatial"].shape == (295, 2)


def test_urmf_beats_the_smoothed_baseline_on_her2st_b1(b1):
    _, m = b1
    base_ari, base_moran = _score(m, "X_pca_nbr", "label", 5)
    scvi.settings.seed = 0
    URMF.setup_mudata(m, modalities=["rna"], layers={"rna": "X_pca"})
    model = URMF(m)
    model.train(enable_progress_bar=False)
    m.obsm["X_urmf"] = model.get_latent_representation()
    ari, moran = _score(m, "X_urmf", "label", 5)
    assert ari >= base_ari - MARGIN, (ari, base_ari)
    assert moran >= MORAN_FLOOR, moran
    # the readout is the neighbourhood mean of the posterior mean over the registered graph
    raw = model.get_latent_representation(readout_hops=0)
    np.testing.assert_allclose(m.obsm["X_urmf"], neighbor_mean(m.obsp["spatial_connectivities"], raw),
                               rtol=1e-5, atol=1e-6)
    sub = model.get_latent_representation(indices=np.arange(10, 20))
    np.testing.assert_allclose(sub, m.obsm["X_urmf"][10:20], rtol=1e-6)


def test_stereomm_on_her2st_b1(b1):
    a, m = b1
    a = a.copy()
    scvi.settings.seed = 0
    STEREOMM.setup_anndata(a)
    model = STEREOMM(a)
    model.train(enable_progress_bar=False)
    m.obsm["X_stereomm"] = model.get_latent_representation()
    base_ari, _ = _score(m, "X_pca_nbr", "label", 5)
    ari, moran = _score(m, "X_stereomm", "label", 5)
    assert ari >= base_ari - MARGIN, (ari, base_ari)
    assert moran >= MORAN_FLOOR, moran


def test_urmf_no_readout_without_coordinates(toy_mdata):
    m = toy_mdata
    remadom.data.spatial_graph(m, n_neighs=6)
    m.obsp["knn_connectivities"] = sp.csr_matrix(m.obsp["spatial_connectivities"])
    scvi.settings.seed = 0
    URMF.setup_mudata(m, modalities=["rna"], layers={"rna": "X_pca"}, spatial_key=None,
                      spatial_graph_key="knn_connectivities", use_feature_graph=False)
    model = URMF(m)
    model.train(max_epochs=2, enable_progress_bar=False)
    np.testing.assert_array_equal(model.get_latent_representation(),
                                  model.get_latent_representation(readout_hops=0))
    with pytest.raises(ValueError, match="readout_hops"):
        URMF(m, readout_hops=-1)


def test_neighbor_mean_and_ppr_against_dense():
    rng = np.random.default_rng(0)
    a = sp.random(40, 40, density=0.15, random_state=0, format="csr")
    a = a.maximum(a.T)
    x = rng.normal(size=(40, 3)).astype(np.float32)
    d = a.toarray()
    np.fill_diagonal(d, 0)
    d1 = d + np.eye(40)
    np.testing.assert_allclose(neighbor_mean(a, x), d1 @ x / d1.sum(1, keepdims=True), rtol=1e-5,
                               atol=1e-6)
    dh = d1 / np.sqrt(d1.sum(1))[:, None] / np.sqrt(d1.sum(0))[None, :]
    ref = 0.2 * np.linalg.solve(np.eye(40) - 0.8 * dh, x)
    np.testing.assert_allclose(ppr_propagate(a, x, alpha=0.2, n_iter=60), ref, rtol=1e-4, atol=1e-5)
    with pytest.raises(ValueError, match="alpha"):
        ppr_propagate(a, x, alpha=0.0)


def test_neighbor_average_errors(b1):
    _, m = b1
    with pytest.raises(ValueError, match="obsm"):
        remadom.tl.neighbor_average(m, "X_missing")
    with pytest.raises(ValueError, match="spatial_graph"):
        remadom.tl.neighbor_average(m, "X_pca", graph_key="nope")
    with pytest.raises(ValueError, match="mix"):
        remadom.tl.neighbor_average(m, "X_pca", mix=1.5)
    out = remadom.tl.neighbor_average(m, "X_pca", mix=0.8, key_added="X_banksy")
    assert out.shape == (m.n_obs, 2 * m.obsm["X_pca"].shape[1]) and "X_banksy" in m.obsm
