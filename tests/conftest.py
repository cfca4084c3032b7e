import warnings

import numpy as np
import pytest
import scipy.sparse as sp

warnings.filterwarnings("ignore")


@pytest.fixture
def lymph_node():
    import remadom

    m = remadom.datasets.lymph_node_s1()
    remadom.pp.pca_protein(m["prot"])
    remadom.data.spatial_graph(m, n_neighs=6)
    return m


@pytest.fixture
def toy_mdata():
    """Synthetic two-modality spatial MuData for shape and error tests only (not evidence)."""
    import anndata as ad
    import mudata as md

    rng = np.random.default_rng(0)
    n = 120
    xy = rng.uniform(0, 10, size=(n, 2))
    rna = ad.AnnData(sp.csr_matrix(rng.poisson(2.0, size=(n, 40)).astype(np.float32)))
    prot = ad.AnnData(rng.poisson(5.0, size=(n, 12)).astype(np.float32))
    names = [f"spot{i}" for i in range(n)]
    rna.obs_names = names
    prot.obs_names = names
    rna.obsm["X_pca"] = rng.normal(size=(n, 8)).astype(np.float32)
    mdata = md.MuData({"rna": rna, "prot": prot})
    mdata.obsm["spatial"] = xy
    return mdata
