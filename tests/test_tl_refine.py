"""remadom.tl.refine_domains: the majority-vote rule, its errors, and its effect on real domains."""

import anndata as ad
import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

import remadom


def _path(labels):
    """AnnData on a path graph 0-1-2-...; shapes and the rule only (synthetic, not evidence)."""
    n = len(labels)
    a = ad.AnnData(obs=pd.DataFrame({"d": pd.Categorical(labels)}, index=[f"c{i}" for i in range(n)]))
    i = np.arange(n - 1)
    g = sp.coo_matrix((np.ones(n - 1), (i, i + 1)), shape=(n, n))
    a.obsp["spatial_connectivities"] = sp.csr_matrix(g + g.T)
    return a


def test_rule_flips_isolated_spot_and_keeps_borders():
    a = _path(["x", "x", "y", "x", "x", "y", "y"])
    out = remadom.tl.refine_domains(a, "d")
    # c2 ('y' between two 'x') flips; c3 / c4 ('x' with one 'x' and one 'y' neighbour: a tie) stay
    assert list(out) == ["x", "x", "x", "x", "x", "y", "y"]
    assert out.name == "d_refined" and a.obs["d_refined"].equals(out)
    assert list(a.obs["d"]) == ["x", "x", "y", "x", "x", "y", "y"]  # input column untouched


def test_errors_name_the_field():
    a = _path(["x", "y", "x"])
    with pytest.raises(ValueError, match=r"obs\['nope'\]"):
        remadom.tl.refine_domains(a, "nope")
    with pytest.raises(ValueError, match=r"obsp\['g'\].*spatial_graph"):
        remadom.tl.refine_domains(a, "d", graph_key="g")
    with pytest.raises(ValueError, match="n_iter"):
        remadom.tl.refine_domains(a, "d", n_iter=0)
    a.obs["m"] = pd.Categorical(["x", None, "x"])
    with pytest.raises(ValueError, match="missing labels"):
        remadom.tl.refine_domains(a, "m")


def test_refined_lymph_node_domains_are_more_coherent(lymph_node):
    """Real data (bundled lymph node ADT): k-means domains of the protein PCA, refined once."""
    m = lymph_node
    m.obsm["X_pca"] = m["prot"].obsm["X_pca"]
    lab = remadom.tl.cluster(m, "X_pca", method="kmeans", n_clusters=10, key_added="km")
    before = set(m.obs)
    ref = remadom.tl.refine_domains(m, "km")
    graph = m.obsp["spatial_connectivities"]
    moran_raw = remadom.metrics.morans_i_labels(lab.astype(str).to_numpy(), graph)
    moran_ref = remadom.metrics.morans_i_labels(ref.astype(str).to_numpy(), graph)
    assert set(m.obs) == before | {"km_refined"}
    assert set(ref.astype(str)) <= set(lab.astype(str))  # never a new label
    changed = (ref.astype(str).to_numpy() != lab.astype(str).to_numpy()).mean()
    assert 0.0 < changed < 0.5
    assert moran_ref > moran_raw + 0.05
