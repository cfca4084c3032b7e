import mudata as md
import numpy as np
import pytest
import scanpy as sc
import scipy.sparse as sp

import remadom
from remadom.data import ObspField


def test_spatial_graph_on_bundled_lymph_node():
    import warnings

    with warnings.catch_warnings():  # mudata's announcement of its new update() default is muted
        warnings.filterwarnings("error", message=r"From 0\.4 \.update", category=FutureWarning)
        m = remadom.datasets.lymph_node_s1()
    assert m.obs["final_annot"].nunique() == 10  # labels live in the MuData's own obs
    remadom.data.spatial_graph(m, n_neighs=6)
    g = m.obsp["spatial_connectivities"]
    assert sp.isspmatrix_csr(g) or isinstance(g, sp.csr_array)
    assert g.shape == (m.n_obs, m.n_obs)
    deg = np.diff(sp.csr_matrix(g).indptr)
    assert (deg == 6).all()  # generic kNN with n_neighs=6
    assert (sp.csr_matrix(g).diagonal() == 0).all()
    assert "spatial_connectivities" in m["prot"].obsp


def test_spatial_graph_missing_coords_raises():
    m = remadom.datasets.lymph_node_s1()
    del m.obsm["spatial"]
    del m["prot"].obsm["spatial"]
    with pytest.raises(ValueError, match=r"obsm\['spatial'\]"):
        remadom.data.spatial_graph(m)
    assert "spatial_connectivities" not in m.obsp


def test_spatial_graph_takes_coords_from_modalities():
    m = remadom.datasets.lymph_node_s1()
    xy = np.asarray(m["prot"].obsm["spatial"], dtype=np.float64).copy()
    del m.obsm["spatial"]  # coordinates only in the modality, as muon users often hold them
    remadom.data.spatial_graph(m, n_neighs=6)
    np.testing.assert_array_equal(m.obsm["spatial"], xy)
    assert m.obsp["spatial_connectivities"].shape == (m.n_obs, m.n_obs)

    two = md.MuData({"a": m["prot"].copy(), "b": m["prot"].copy()})
    two["b"].obsm["spatial"] = two["b"].obsm["spatial"] + 1.0
    with pytest.raises(ValueError, match=r"modality 'b'.*differ"):
        remadom.data.spatial_graph(two)
    assert "spatial" not in two.obsm and "spatial_connectivities" not in two.obsp
    two["b"].obsm["spatial"] = two["a"].obsm["spatial"].copy()
    two["a"].obsm["spatial"][0] = two["b"].obsm["spatial"][0] = np.nan
    with pytest.raises(ValueError, match="NaN or inf"):
        remadom.data.spatial_graph(two)
    assert "spatial" not in two.obsm


def test_spatial_graph_library_key_separates_sections(toy_mdata):
    toy_mdata.obs["section"] = np.where(np.arange(toy_mdata.n_obs) < 60, "a", "b")
    remadom.data.spatial_graph(toy_mdata, n_neighs=4, library_key="section")
    g = sp.csr_matrix(toy_mdata.obsp["spatial_connectivities"])
    assert g[:60, 60:].nnz == 0 and g[60:, :60].nnz == 0


def test_feature_graph_and_missing_rep(toy_mdata):
    rna = toy_mdata["rna"]
    remadom.data.feature_graph(rna, n_neighbors=5, use_rep="X_pca")
    assert rna.obsp["feature_connectivities"].shape == (rna.n_obs, rna.n_obs)
    with pytest.raises(ValueError, match="X_nope"):
        remadom.data.feature_graph(rna, use_rep="X_nope")


def test_propagate_matches_dense_gcn():
    rng = np.random.default_rng(1)
    a = sp.random(30, 30, density=0.1, random_state=1, format="csr")
    a.data[:] = rng.uniform(0.5, 2.0, size=a.nnz)  # weighted, asymmetric
    a = (a + sp.diags(rng.uniform(0.5, 2.0, size=30))).tocsr()  # self loops are replaced by unit ones
    x = rng.normal(size=(30, 4)).astype(np.float32)
    out = remadom.data.propagate(a, x, hops=(0, 1, 2))
    dense = a.toarray()
    dense = np.maximum(dense, dense.T)
    np.fill_diagonal(dense, 0)
    dense = dense + np.eye(30)
    d = dense.sum(1)
    ahat = dense / np.sqrt(d[:, None] * d[None, :])
    expected = np.concatenate([x, ahat @ x, ahat @ ahat @ x], axis=1)
    np.testing.assert_allclose(out, expected, rtol=1e-4, atol=1e-5)


def test_normalized_adjacency_is_gcnnorm_coalesced():
    """The same indices and values as torch_geometric's GCNNorm + coalesce (the earlier code)."""
    import torch
    from torch_geometric.data import Data
    from torch_geometric.transforms import GCNNorm
    from torch_geometric.utils import from_scipy_sparse_matrix

    rng = np.random.default_rng(3)
    a = sp.random(200, 200, density=0.05, random_state=3, format="csr", dtype=np.float32)
    a.data[::5] = 0  # explicit zeros
    a = (a + sp.diags(rng.uniform(0.5, 2.0, 200).astype(np.float32))).tocsr()  # self loops
    m = remadom.datasets.lymph_node_s1()
    remadom.data.spatial_graph(m, n_neighs=6)
    for graph in (a, m.obsp["spatial_connectivities"]):
        g = sp.csr_matrix(graph, dtype=np.float32)
        g = g.maximum(g.T).tocoo()
        g.setdiag(0)
        g.eliminate_zeros()
        edge_index, edge_weight = from_scipy_sparse_matrix(g)
        ref = GCNNorm(add_self_loops=True)(
            Data(edge_index=edge_index, edge_weight=edge_weight.float(), num_nodes=g.shape[0])
        )
        ref = torch.sparse_coo_tensor(ref.edge_index, ref.edge_weight, g.shape).coalesce()
        got = remadom.data.normalized_adjacency(graph)
        assert got.is_coalesced() and got.dtype == torch.float32
        assert torch.equal(got.indices(), ref.indices())
        assert torch.equal(got.values(), ref.values())


def test_propagate_takes_the_normalized_adjacency():
    """Â computed once (``normalized_adjacency``) gives the values of the graph itself, exactly."""
    rng = np.random.default_rng(2)
    a = sp.random(50, 50, density=0.1, random_state=2, format="csr", dtype=np.float32)
    x = rng.normal(size=(50, 6)).astype(np.float32)
    adj = remadom.data.normalized_adjacency(a)
    np.testing.assert_array_equal(
        remadom.data.propagate(adj, x, hops=(1, 2)), remadom.data.propagate(a, x, hops=(1, 2))
    )
    np.testing.assert_array_equal(
        remadom.data.ppr_propagate(adj, x, alpha=0.2), remadom.data.ppr_propagate(a, x, alpha=0.2)
    )
    assert not np.array_equal(remadom.data.propagate(adj, x, hops=(1,)), x)


@pytest.mark.slow  # ~50 s: pynndescent's numba compilation
def test_feature_graph_above_50k_is_pynndescents_graph_without_index():
    """Above 50k obs the search is scanpy's pynndescent one, through a transformer keeping no index."""
    from pynndescent import PyNNDescentTransformer

    from remadom.data._graph import _transformer
    from remadom.data._knn import KnnGraphTransformer

    assert _transformer(49_999, 10, 0) == "sklearn"
    ours = _transformer(50_000, 10, 0)
    assert isinstance(ours, KnnGraphTransformer)
    prot = remadom.datasets.lymph_node_s1()["prot"]  # real ADT (3,484 spots), CLR-PCA
    remadom.pp.pca_protein(prot)
    x = prot.obsm["X_pca"]
    kw = {"n_neighbors": 10, "metric": "euclidean", "metric_kwds": {}, "random_state": 0}
    assert ours.get_params() == PyNNDescentTransformer(**kw).get_params()
    ref = PyNNDescentTransformer(**kw).fit_transform(x)
    got = ours.fit_transform(x)
    assert not hasattr(ours, "index_")
    assert got.shape == ref.shape == (prot.n_obs, prot.n_obs) and got.nnz == 11 * prot.n_obs
    for part in ("indptr", "indices", "data"):
        np.testing.assert_array_equal(getattr(got, part), getattr(ref, part))


def test_precomputed_knn_graph_gives_scanpys_own_graph():
    """scanpy weights a graph handed over by PrecomputedKnnGraph exactly as its own search's."""
    from sklearn.neighbors import KNeighborsTransformer

    from remadom.data._precomputed_knn import PrecomputedKnnGraph, release_memory

    prot = remadom.datasets.lymph_node_s1()["prot"]  # real ADT (3,484 spots)
    remadom.pp.pca_protein(prot)
    kw = {"n_neighbors": 10, "use_rep": "X_pca", "method": "gauss", "random_state": 0}
    ref = prot.copy()
    sc.pp.neighbors(ref, transformer=KNeighborsTransformer(n_neighbors=10), key_added="ref", **kw)
    graph = KNeighborsTransformer(n_neighbors=10).fit_transform(prot.obsm["X_pca"])
    release_memory()
    pre = PrecomputedKnnGraph(graph, 10)
    sc.pp.neighbors(prot, transformer=pre, key_added="got", **kw)
    for suffix in ("connectivities", "distances"):
        got, want = prot.obsp[f"got_{suffix}"], ref.obsp[f"ref_{suffix}"]
        assert got.nnz == want.nnz > 0
        for part in ("indptr", "indices", "data"):
            np.testing.assert_array_equal(getattr(got, part), getattr(want, part))
    assert pre.graph is None  # handed over, not kept
    with pytest.raises(ValueError, match="once"):
        pre.fit_transform(prot.obsm["X_pca"])
    with pytest.raises(ValueError, match="3484 rows but the representation has 10"):
        PrecomputedKnnGraph(graph, 10).fit_transform(prot.obsm["X_pca"][:10])


@pytest.mark.slow  # ~60 s: pynndescent's and UMAP's numba compilation
def test_feature_graph_above_50k_searches_before_weighting(monkeypatch):
    """Above 50k obs feature_graph searches first and hands scanpy the graph: same result as
    scanpy running the same search itself."""
    import remadom.data._graph as graph_mod
    from remadom.data._knn import KnnGraphTransformer

    prot = remadom.datasets.lymph_node_s1()["prot"]
    remadom.pp.pca_protein(prot)
    ref = prot.copy()
    search = KnnGraphTransformer(n_neighbors=15, metric="euclidean", metric_kwds={}, random_state=0)
    sc.pp.neighbors(ref, n_neighbors=15, use_rep="X_pca", key_added="f", method="umap",
                    random_state=0, transformer=search)
    monkeypatch.setattr(graph_mod, "knn_transformer", lambda n_obs: "pynndescent")  # as above 50k
    remadom.data.feature_graph(prot, n_neighbors=15, use_rep="X_pca", key_added="f")
    for suffix in ("connectivities", "distances"):
        got, want = prot.obsp[f"f_{suffix}"], ref.obsp[f"f_{suffix}"]
        assert got.nnz == want.nnz > 0
        for part in ("indptr", "indices", "data"):
            np.testing.assert_array_equal(getattr(got, part), getattr(want, part))


def test_obsp_field_validation(toy_mdata):
    remadom.data.spatial_graph(toy_mdata, n_neighs=4)
    f = ObspField("g", "spatial_connectivities")
    state = f.register_field(toy_mdata)
    assert state["n_obs"] == toy_mdata.n_obs and state["n_edges"] > 0
    assert f.get_data_registry() == {}
    with pytest.raises(ValueError, match="not found"):
        ObspField("g", "nope").validate_field(toy_mdata)
    toy_mdata.obsp["dense"] = toy_mdata.obsp["spatial_connectivities"].toarray()
    with pytest.raises(ValueError, match="dense"):
        ObspField("g", "dense").validate_field(toy_mdata)
    bad = sp.csr_matrix(toy_mdata.obsp["spatial_connectivities"]).copy()
    bad.data[0] = np.nan
    toy_mdata.obsp["nan"] = bad
    with pytest.raises(ValueError, match="NaN"):
        ObspField("g", "nan").validate_field(toy_mdata)


def test_presence_mask_mosaic():
    import anndata as ad

    a = ad.AnnData(np.ones((4, 2), dtype=np.float32))
    a.obs_names = ["c0", "c1", "c2", "c3"]
    b = ad.AnnData(np.ones((3, 2), dtype=np.float32))
    b.obs_names = ["c2", "c3", "c4"]
    m = md.MuData({"rna": a, "adt": b})
    mask = remadom.data.presence_mask(m)
    assert mask.shape == (5, 2)
    assert mask.loc["c0", "rna"] and not mask.loc["c0", "adt"]
    assert mask.loc["c4", "adt"] and not mask.loc["c4", "rna"]
    assert mask.loc["c2"].all()


def test_preprocessing_shapes(toy_mdata):
    remadom.pp.pca_rna(toy_mdata["rna"], n_comps=5, n_top_genes=20, key_added="X_p")
    assert toy_mdata["rna"].obsm["X_p"].shape == (120, 5)
    remadom.pp.pca_protein(toy_mdata["prot"])
    assert toy_mdata["prot"].obsm["X_pca"].shape == (120, 11)
    remadom.pp.lsi_atac(toy_mdata["rna"], n_comps=6)
    z = toy_mdata["rna"].obsm["X_lsi"]
    assert z.shape == (120, 6) and np.isfinite(z).all()
    c = remadom.pp.clr(toy_mdata["prot"].X)
    np.testing.assert_allclose(c.mean(1), 0, atol=1e-5)


def test_old_preprocessing_names_warn_and_match_pp(toy_mdata):
    """``remadom.data.<name>`` still works for one release: a DeprecationWarning naming
    ``remadom.pp.<name>``, then the same result as the new function."""
    import anndata as ad

    rng = np.random.default_rng(1)
    calls = {
        "pca_rna": (lambda m: m["rna"].copy(), dict(n_comps=5, n_top_genes=20), "X_pca"),
        "pca_protein": (lambda m: m["prot"].copy(), {}, "X_pca"),
        "lsi_atac": (lambda m: m["rna"].copy(), dict(n_comps=4), "X_lsi"),
        "link_features": (lambda m: m.copy(), dict(rna="rna", other="prot", n_comps=5,
                                                   association=sp.random(40, 12, density=0.3, random_state=0)),
                          "X_link"),
    }
    for name, (target, kwargs, key) in calls.items():
        new, old = target(toy_mdata), target(toy_mdata)
        getattr(remadom.pp, name)(new, **kwargs)
        with pytest.warns(DeprecationWarning, match=rf"remadom\.data\.{name} moved to remadom\.pp\.{name}"):
            getattr(remadom.data, name)(old, **kwargs)
        np.testing.assert_array_equal(old.obsm[key], new.obsm[key])
    with pytest.warns(DeprecationWarning, match=r"remadom\.pp\.clr"):
        np.testing.assert_array_equal(remadom.data.clr(toy_mdata["prot"].X), remadom.pp.clr(toy_mdata["prot"].X))
    feats = ad.AnnData(obs=toy_mdata.obs[[]].copy(), obsm={"X_image": rng.normal(size=(120, 9)).astype(np.float32)})
    with pytest.warns(DeprecationWarning, match=r"remadom\.pp\.image_modality"):
        old = remadom.data.image_modality(feats, n_comps=4)
    np.testing.assert_array_equal(old.obsm["X_pca"], remadom.pp.image_modality(feats, n_comps=4).obsm["X_pca"])
    with pytest.warns(DeprecationWarning, match=r"remadom\.pp\.image_features"), \
            pytest.raises(ValueError, match=r"uns\['spatial'\] is missing"):
        remadom.data.image_features(feats)
    assert not {"pca_rna", "image_features", "link_features"} & set(remadom.data.__all__)
    assert remadom.data.pca_rna.__wrapped__ is remadom.pp.pca_rna


def test_pp_import_loads_no_torch():
    import json
    import subprocess
    import sys

    code = ("import sys, json, remadom\nremadom.pp.pca_rna\n"
            "print(json.dumps(sorted(m for m in ('torch', 'scvi', 'lightning', 'squidpy') if m in sys.modules)))\n")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr
    assert json.loads(res.stdout) == []


def test_bundled_her2st_image_and_features():
    a = remadom.datasets.her2st_c2()
    assert a.uns["spatial"]["C2"]["images"]["hires"].shape[2] == 3
    assert "provenance" in a.uns
    remadom.pp.image_features(a, features=("summary",))
    assert a.obsm["X_image"].shape[0] == a.n_obs and np.isfinite(a.obsm["X_image"]).all()
    img = remadom.pp.image_modality(a, n_comps=5)
    assert img.obsm["X_pca"].shape == (a.n_obs, 5)
    assert (img.obs_names == a.obs_names).all()
    np.testing.assert_allclose(img.X.mean(0), 0, atol=1e-4)
    a.obsm["X_image"][0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        remadom.pp.image_modality(a)


def test_image_features_errors():
    a = remadom.datasets.her2st_c2()
    with pytest.raises(ValueError, match="library_id"):
        remadom.pp.image_features(a, library_id="XX")
    gray = a.copy()
    gray.uns["spatial"]["C2"]["images"]["hires"] = gray.uns["spatial"]["C2"]["images"]["hires"][..., 0]
    with pytest.raises(ValueError, match="RGB"):
        remadom.pp.image_features(gray)
    moved = a.copy()
    moved.obsm["spatial"] = moved.obsm["spatial"] * 100
    with pytest.raises(ValueError, match="outside"):
        remadom.pp.image_features(moved)


def test_image_features_tile_bin_and_more_errors():
    a = remadom.datasets.her2st_c2()
    before = sorted(a.obsm)
    with pytest.raises(ValueError, match="larger than the image"):
        remadom.pp.image_features(a, tile_size=1e5)
    with pytest.raises(ValueError, match="tile_size must be > 0"):
        remadom.pp.image_features(a, tile_size=-3)
    rgba = a.copy()
    img = rgba.uns["spatial"]["C2"]["images"]["hires"]
    rgba.uns["spatial"]["C2"]["images"]["hires"] = np.concatenate([img, img[..., :1]], -1)
    with pytest.raises(ValueError, match="alpha channel"):
        remadom.pp.image_features(rgba)
    nounits = a.copy()
    del nounits.uns["spatial"]["C2"]["scalefactors"]["tissue_hires_scalef"]
    with pytest.raises(ValueError, match="scalefactor 'tissue_hires_scalef' missing"):
        remadom.pp.image_features(nounits)
    assert sorted(a.obsm) == before  # failed calls write nothing
    # bin_size: coordinates given in bins of 10 full-resolution pixels give the same crops
    binned = a.copy()
    binned.obsm["spatial"] = binned.obsm["spatial"] / 10.0
    remadom.pp.image_features(binned, features=("summary",), bin_size=10.0, tile_size=150)
    remadom.pp.image_features(a, features=("summary",), tile_size=150)
    np.testing.assert_allclose(binned.obsm["X_image"], a.obsm["X_image"], rtol=1e-5)
    np.testing.assert_allclose(binned.obsm["spatial"] * 10.0, a.obsm["spatial"])  # input unchanged
    big = a.copy()
    remadom.pp.image_features(big, features=("summary",), tile_size=400)
    assert not np.allclose(big.obsm["X_image"], a.obsm["X_image"])  # the tile size matters


def test_remote_fetch_records_and_checks_sha256_without_network(tmp_path, monkeypatch):
    """A registry entry without a pinned hash is trusted on first use, then checked."""
    import pooch

    from remadom.datasets import _remote

    f = tmp_path / "pancreas_st.download"
    f.write_bytes(b"first download")
    monkeypatch.setattr(pooch, "retrieve", lambda *a, **k: str(f))  # no network in tests
    assert _remote.fetch("pancreas_st") == str(f)
    assert (tmp_path / "pancreas_st.download.sha256").read_text() == pooch.file_hash(str(f))
    assert _remote.fetch("pancreas_st") == str(f)  # unchanged file passes
    f.write_bytes(b"tampered")
    with pytest.raises(ValueError, match="recorded at its first download"):
        _remote.fetch("pancreas_st")
    with pytest.raises(ValueError, match="unknown data set"):
        _remote.fetch("nope")


def test_pad_rows_places_rows_and_shares_sparse_arrays():
    import scipy.sparse as sp

    from remadom.data._mosaic import pad_rows

    rng = np.random.default_rng(0)
    for trial in range(60):
        n = int(rng.integers(1, 30))
        k = int(rng.integers(1, n + 1))
        rows = rng.choice(n, size=k, replace=False)  # any order
        if trial % 3 == 0:
            rows = np.sort(rows)
        x = sp.random(k, 5, density=0.4, format="csr", dtype=np.float32, random_state=trial)
        if trial % 5 == 0:
            x = x.astype(np.float64).tocsc()
        dense = np.zeros((n, 5), np.float32)
        dense[rows] = x.toarray()
        for inp in (x, x.toarray()):
            np.testing.assert_array_equal(np.asarray(sp.csr_matrix(pad_rows(inp, rows, n)).toarray()), dense)
    x = sp.random(10, 4, density=0.5, format="csr", dtype=np.float32, random_state=1)
    assert np.shares_memory(pad_rows(x, np.arange(10), 10).data, x.data)  # paired: no copy
    assert np.shares_memory(pad_rows(x, 2 * np.arange(10), 20).data, x.data)  # increasing rows


def test_spatial_graph_kinds_without_squidpy_deprecation():
    import warnings

    m = remadom.datasets.lymph_node_s1()
    with warnings.catch_warnings():
        warnings.filterwarnings("error", message=".*spatial_neighbors.*deprecated", category=FutureWarning)
        remadom.data.spatial_graph(m, coord_type="grid", n_neighs=6)
        grid = sp.csr_matrix(m.obsp["spatial_connectivities"])
        remadom.data.spatial_graph(m, radius=3.0, key_added="r")
        rad = sp.csr_matrix(m.obsp["r_connectivities"])
    deg = np.diff(grid.indptr)
    assert 1 <= deg.min() and deg.max() <= 6 and abs(grid - grid.T).max() == 0  # one ring, symmetric
    assert abs(rad - rad.T).max() == 0 and rad.nnz > grid.nnz  # a radius graph is symmetric
    with pytest.raises(ValueError, match="coord_type"):
        remadom.data.spatial_graph(m, coord_type="hex", key_added="bad")
    assert "bad_connectivities" not in m.obsp
