import numpy as np
import pytest

import remadom


def test_leiden_hits_requested_cluster_count(lymph_node):
    m = lymph_node
    m.obsm["X_pca"] = m["prot"].obsm["X_pca"]
    for k in (5, 10):
        lab = remadom.tl.cluster(m, "X_pca", method="leiden", n_clusters=k, key_added="c")
        assert lab.nunique() == k
        assert m.obs["c"].nunique() == k


def test_kmeans_gmm_and_errors(lymph_node):
    m = lymph_node
    m.obsm["X_pca"] = m["prot"].obsm["X_pca"]
    for meth in ("kmeans", "gmm"):
        assert remadom.tl.cluster(m, "X_pca", method=meth, n_clusters=4).nunique() == 4
    with pytest.raises(ValueError, match="n_clusters"):
        remadom.tl.cluster(m, "X_pca", method="kmeans")
    with pytest.raises(ValueError, match="unknown method"):
        remadom.tl.cluster(m, "X_pca", method="dbscan", n_clusters=3)
    with pytest.raises(ValueError, match="X_none"):
        remadom.tl.cluster(m, "X_none")


def test_metrics_known_values(lymph_node):
    y = np.array(["a", "a", "b", "b", None])
    assert remadom.metrics.ari(y, [1, 1, 2, 2, 3]) == 1.0
    assert remadom.metrics.nmi(y, [1, 1, 2, 2, 1]) == 1.0
    assert remadom.metrics.ari(y, [1, 2, 1, 2, 1]) < 0.1
    g = lymph_node.obsp["spatial_connectivities"]
    xy = lymph_node.obsm["spatial"]
    halves = (xy[:, 0] > np.median(xy[:, 0])).astype(int)
    rnd = np.random.default_rng(0).integers(0, 2, lymph_node.n_obs)
    assert remadom.metrics.morans_i_labels(halves, g) > 0.8
    assert abs(remadom.metrics.morans_i_labels(rnd, g)) < 0.1


def test_integration_metrics():
    import numpy as np

    from remadom.metrics import foscttm, imputation_correlation, label_transfer_accuracy

    rng = np.random.default_rng(0)
    z = rng.normal(size=(300, 5))
    assert foscttm(z, z) == 0.0
    assert 0.4 < foscttm(z, rng.normal(size=z.shape)) < 0.6
    with pytest.raises(ValueError, match="matched"):
        foscttm(z, z[:10])
    r = imputation_correlation(z, 2 * z + 1)
    np.testing.assert_allclose(r, 1.0)
    assert np.isnan(imputation_correlation(np.ones((5, 2)), rng.normal(size=(5, 2)))).all()
    y = (z[:, 0] > 0).astype(int)
    assert label_transfer_accuracy(z[:150], y[:150], z[150:], y[150:]) > 0.8
