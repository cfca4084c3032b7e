"""STEREOMM: shapes, tiles, save/load, bad input (synthetic), and the shipped her2st C2 section."""

import numpy as np
import pytest
import scipy.sparse as sp
import scvi

import remadom
from remadom.model import STEREOMM
from remadom.train import NonFiniteLossError, spatial_tiles

SMALL = {"hidden_dims": [64, 16], "n_latent": 8}


@pytest.fixture
def toy():
    return remadom.datasets.synthetic_spatial(n_obs=144, n_vars=80, n_image_features=24, n_domains=3)


def _keys(a):
    return sorted(a.obsm), sorted(a.obsp), sorted(a.uns)


def test_rna_image_shapes_attention_and_tiles(toy):
    scvi.settings.seed = 0
    STEREOMM.setup_anndata(toy, image_key="X_image", n_dims=16)
    assert not [k for k in toy.obsm if k.startswith("_")]  # inputs are held by the model
    assert "stereomm_radius_connectivities" in toy.obsp
    model = STEREOMM(toy, num_heads=4, **SMALL)
    assert model.adata_manager.get_from_registry("rna_input").shape == (144, 16)
    assert model.adata_manager.get_from_registry("image_input").shape == (144, 16)
    model.train(max_epochs=3, lr=1e-3, enable_progress_bar=False)
    z = model.get_latent_representation()
    assert z.shape == (144, 8) and z.dtype == np.float32 and np.isfinite(z).all()
    att = model.get_attention_weights()
    assert list(att.columns) == ["rna->rna", "rna->image", "image->rna", "image->image"]
    np.testing.assert_allclose(att[["rna->rna", "rna->image"]].sum(1), 1, rtol=1e-5)
    # tiled inference (several tiles with their halo) gives the full-graph latent exactly:
    # the halo covers every layer's receptive field
    z_tiles = model.get_latent_representation(batch_size=40)
    np.testing.assert_allclose(z_tiles, z, rtol=1e-4, atol=1e-5)
    # tiled training runs and stays finite
    model.train(max_epochs=2, lr=1e-3, batch_size=40, enable_progress_bar=False)
    assert np.isfinite(model.get_latent_representation()).all()


def test_rna_only_brief_gat_sgd_and_mudata(toy):
    import anndata as ad
    import mudata as md

    scvi.settings.seed = 0
    img = ad.AnnData(toy.obsm["X_image"].copy(), obs=toy.obs[[]].copy())
    mdata = md.MuData({"rna": toy.copy(), "image": img})
    mdata.obsm["spatial"] = toy.obsm["spatial"]
    STEREOMM.setup_mudata(mdata, modalities=["rna", "image"], n_dims=16, dim_reduction_method="pca")
    model = STEREOMM(mdata, brief_att=True, gnn_type="GAT", decoder_type="GAT", **SMALL)
    # modality names come from each input field's state registry, not from parsing its key
    assert model.modalities == ["rna", "image"]
    assert model.adata_manager.get_state_registry("image_input")["modality"] == "image"
    model.train(max_epochs=2, opt="sgd", lr=1e-3, enable_progress_bar=False)
    assert model.get_attention_weights().shape == (144, 4)
    STEREOMM.setup_mudata(mdata, modalities=["rna"], n_dims=16)
    rna_only = STEREOMM(mdata, decoder=False, **SMALL)
    rna_only.train(max_epochs=2, enable_progress_bar=False)
    assert rna_only.get_latent_representation().shape == (144, 8)
    with pytest.raises(ValueError, match="two or more modalities"):
        rna_only.get_attention_weights()


def test_save_load_same_latent_and_no_overwrite(toy, tmp_path):
    scvi.settings.seed = 0
    STEREOMM.setup_anndata(toy, image_key="X_image", n_dims=16)
    model = STEREOMM(toy, **SMALL)
    model.train(max_epochs=2, enable_progress_bar=False)
    z = model.get_latent_representation()
    model.save(str(tmp_path / "m"))
    loaded = STEREOMM.load(str(tmp_path / "m"), adata=toy)
    assert loaded.modalities == model.modalities == ["rna", "image"]
    np.testing.assert_allclose(loaded.get_latent_representation(), z, rtol=1e-4, atol=1e-5)
    with pytest.raises(ValueError, match="already exists"):
        model.save(str(tmp_path / "m"))


def test_seed_reproducible(toy):
    zs = []
    for _ in range(2):
        a = toy.copy()
        scvi.settings.seed = 3
        STEREOMM.setup_anndata(a, n_dims=16)
        m = STEREOMM(a, **SMALL)
        m.train(max_epochs=2, enable_progress_bar=False)
        zs.append(m.get_latent_representation())
    np.testing.assert_array_equal(zs[0], zs[1])


def test_bad_input_clear_errors_input_unchanged(toy):
    before = _keys(toy)
    bad = toy.copy()
    bad.obsm["X_image"][0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN/inf"):
        STEREOMM.setup_anndata(bad, image_key="X_image")
    with pytest.raises(ValueError, match="obsm\\['X_img'\\] not found"):
        STEREOMM.setup_anndata(toy, image_key="X_img")
    nocoord = toy.copy()
    del nocoord.obsm["spatial"]
    with pytest.raises(ValueError, match="obsm\\['spatial'\\] not found"):
        STEREOMM.setup_anndata(nocoord)
    with pytest.raises(ValueError, match="dim_reduction_method"):
        STEREOMM.setup_anndata(toy, dim_reduction_method="umap")
    with pytest.raises(ValueError, match="radius_cutoff"):
        STEREOMM.setup_anndata(toy, radius_cutoff=-1)
    wrong = toy.copy()
    g = sp.identity(144, format="csr")
    g.data[0] = np.nan
    wrong.obsp["g"] = g
    with pytest.raises(ValueError, match="NaN or inf edge weights"):
        STEREOMM.setup_anndata(wrong, spatial_graph_key="g")
    assert _keys(toy) == before  # nothing written by a failed setup
    STEREOMM.setup_anndata(toy, image_key="X_image", n_dims=30)
    for dims in ("2048", [0, 3], [64.5], []):
        with pytest.raises(ValueError, match="hidden_dims"):
            STEREOMM(toy, hidden_dims=dims)
    with pytest.raises(ValueError, match="num_heads=4 does not divide"):
        STEREOMM(toy, num_heads=4, **SMALL)
    with pytest.raises(ValueError, match="gnn_type"):
        STEREOMM(toy, gnn_type="GIN", num_heads=3, **SMALL)
    model = STEREOMM(toy, num_heads=3, **SMALL)
    with pytest.raises(ValueError, match="opt="):
        model.train(max_epochs=1, opt="rmsprop")
    with pytest.raises(NonFiniteLossError):
        model.train(max_epochs=3, lr=1e30, enable_progress_bar=False)


def test_spatial_tiles_partition():
    rng = np.random.default_rng(0)
    xy = rng.uniform(size=(1000, 2))
    tiles = spatial_tiles(xy, 1000, 128)
    allidx = np.concatenate(tiles)
    assert len(allidx) == 1000 and len(np.unique(allidx)) == 1000
    assert max(len(t) for t in tiles) <= 128 + 16
    # tiles are spatially compact: their extent is far below the section's
    assert np.mean([np.ptp(xy[t], axis=0).max() for t in tiles]) < 0.5
    assert len(spatial_tiles(xy, 1000, None)) == 1


def test_her2st_c2_rna_he_real_data():
    """Shipped real section: RNA + H&E features; domains are spatially coherent and finite."""
    a = remadom.datasets.her2st_c2()
    remadom.pp.image_features(a, img_key="hires", features=("summary", "histogram"))
    scvi.settings.seed = 0
    STEREOMM.setup_anndata(a, image_key="X_image")
    model = STEREOMM(a)
    model.train(enable_progress_bar=False)
    loss = model.history["train_loss"].iloc[:, 0].to_numpy(dtype=float)
    assert np.isfinite(loss).all() and loss[-1] < loss[0]
    a.obsm["X_stereomm"] = model.get_latent_representation()
    assert a.obsm["X_stereomm"].shape == (a.n_obs, 100)
    remadom.data.spatial_graph(a, n_neighs=6)
    lab = remadom.tl.cluster(a, "X_stereomm", method="kmeans", n_clusters=7, key_added="d")
    remadom.pp.pca_rna(a, n_comps=30)
    base = remadom.tl.cluster(a, "X_pca", method="kmeans", n_clusters=7, key_added="b")
    g = a.obsp["spatial_connectivities"]
    # the graph autoencoder's domains are far more spatially coherent than PCA's (~0.1 here)
    assert remadom.metrics.morans_i_labels(lab, g) > remadom.metrics.morans_i_labels(base, g) + 0.2
    att = model.get_attention_weights()
    assert np.isfinite(att.to_numpy()).all()
