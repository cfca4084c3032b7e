"""A synthetic spatial section for smoke tests (StereoMM's toy run); never evidence."""

from __future__ import annotations

import numpy as np
import pandas as pd
import scipy.sparse as sp
from anndata import AnnData


def synthetic_spatial(n_obs: int = 400, n_vars: int = 300, n_image_features: int = 64,
                      n_domains: int = 4, seed: int = 0) -> AnnData:
    """Spots on a square grid with ``n_domains`` vertical bands of distinct expression.

    Each domain over-expresses its own block of genes (Poisson counts) and shifts its own block of
    image features (Gaussian). For shape checks and the toy run only.

    Returns
    -------
    AnnData ``(n_obs, n_vars)`` counts in ``.X`` (CSR float32), ``obsm["spatial"]`` grid
    coordinates (unit spacing), ``obsm["X_image"]`` ``(n_obs, n_image_features)``,
    ``obs["domain"]`` the true band.
    """
    rng = np.random.default_rng(seed)
    side = int(np.ceil(np.sqrt(n_obs)))
    xy = np.stack(np.meshgrid(np.arange(side), np.arange(side)), -1).reshape(-1, 2)[:n_obs].astype(float)
    domain = np.minimum((xy[:, 0] / side * n_domains).astype(int), n_domains - 1)
    rate = np.full((n_domains, n_vars), 1.0)
    gblock = n_vars // (2 * n_domains)
    fblock = n_image_features // (2 * n_domains)
    feat_mean = np.zeros((n_domains, n_image_features))
    for d in range(n_domains):
        rate[d, d * gblock:(d + 1) * gblock] = 4.0
        feat_mean[d, d * fblock:(d + 1) * fblock] = 1.5
    x = rng.poisson(rate[domain]).astype(np.float32)
    adata = AnnData(sp.csr_matrix(x), obs=pd.DataFrame(index=[f"spot{i}" for i in range(n_obs)]))
    adata.var_names = [f"gene{j}" for j in range(n_vars)]
    adata.obs["domain"] = pd.Categorical(domain.astype(str))
    adata.obsm["spatial"] = xy
    adata.obsm["X_image"] = (feat_mean[domain] + rng.normal(size=(n_obs, n_image_features))).astype(np.float32)
    adata.uns["provenance"] = {"source": "remadom.datasets.synthetic_spatial (simulated)", "seed": seed}
    return adata
