"""Spatial and feature-space graphs, stored as sparse ``obsp`` matrices."""

from __future__ import annotations

import logging
import warnings

import numpy as np
import pandas as pd
import scanpy as sc
import scipy.sparse as sp
from anndata import AnnData
from mudata import MuData

logger = logging.getLogger(__name__)


def _check_spatial(adata: AnnData | MuData, spatial_key: str, what: str = "data") -> np.ndarray:
    if spatial_key not in adata.obsm:
        raise ValueError(
            f"{what} has no obsm['{spatial_key}']: spatial coordinates are needed to build the "
            f"spatial graph. Put the (n_obs, 2) coordinates in obsm['{spatial_key}'] or pass "
            "`spatial_key=` naming the obsm entry that holds them."
        )
    coords = np.asarray(adata.obsm[spatial_key])
    if coords.ndim != 2 or coords.shape[0] != adata.n_obs:
        raise ValueError(f"obsm['{spatial_key}'] must have shape (n_obs, 2); got {coords.shape}.")
    if not np.isfinite(coords).all():
        raise ValueError(f"obsm['{spatial_key}'] contains NaN or inf coordinates; drop those spots first.")
    return coords


def _coords_from_modalities(mdata: MuData, spatial_key: str) -> np.ndarray | None:
    """``(n_obs, 2)`` MuData-level coordinates assembled from the modalities' ``obsm[spatial_key]``.

    ``None`` when some observation is in no modality that has coordinates; a ``ValueError`` when
    two modalities place the same observation at different coordinates.
    """
    coords = np.full((mdata.n_obs, 2), np.nan)
    seen = np.zeros(mdata.n_obs, dtype=bool)
    pos = pd.Index(mdata.obs_names)
    for name, mod in mdata.mod.items():
        if spatial_key not in mod.obsm:
            continue
        c = np.asarray(mod.obsm[spatial_key], dtype=np.float64)
        if c.ndim != 2 or c.shape[1] < 2:
            continue
        idx = pos.get_indexer(mod.obs_names)
        keep = idx >= 0
        idx, c = idx[keep], c[keep, :2]
        clash = seen[idx] & ~np.isclose(coords[idx], c, equal_nan=True).all(1)
        if clash.any():
            raise ValueError(
                f"modality '{name}' has obsm['{spatial_key}'] coordinates that differ from another "
                f"modality's for {int(clash.sum())} shared obs; set the MuData-level coordinates "
                f"yourself (mdata.obsm['{spatial_key}'] = ...)."
            )
        coords[idx], seen[idx] = c, True
    return coords if seen.all() else None


def spatial_graph(
    data: AnnData | MuData,
    n_neighs: int = 6,
    radius: float | tuple[float, float] | None = None,
    coord_type: str | None = None,
    spatial_key: str = "spatial",
    library_key: str | None = None,
    key_added: str = "spatial",
) -> None:
    """Build the spatial neighbour graph with squidpy (:func:`squidpy.gr.spatial_neighbors_knn`,
    ``_radius`` or ``_grid``).

    Parameters
    ----------
    data
        AnnData, or MuData with ``obsm[spatial_key]`` at the MuData level. If a MuData lacks it
        there but its modalities hold ``obsm[spatial_key]`` for every observation (and agree on
        shared ones), the coordinates are copied to the MuData's ``obsm[spatial_key]`` first.
    n_neighs
        Number of nearest neighbours (generic coordinates) or grid neighbours (Visium: 6).
    radius
        If set, connect every pair of spots within this distance (same units as the coordinates),
        as in StereoMM's radius graph.
    coord_type
        ``"grid"`` (array layouts such as Visium: ``n_neighs`` grid neighbours; ``radius`` is
        ignored) or ``"generic"`` (kNN, or the radius graph when ``radius`` is set); ``None``
        means ``"generic"``.
    spatial_key
        Key of the ``(n_obs, 2)`` coordinates in ``obsm``.
    library_key
        Column of ``obs`` with section ids; spots of different sections are never connected.
    key_added
        Graph is stored in ``obsp[f"{key_added}_connectivities"]`` and
        ``obsp[f"{key_added}_distances"]`` (CSR, ``n_obs x n_obs``); on a MuData also in every
        modality that covers all of the MuData's observations.

    Returns
    -------
    Nothing; writes ``obsp`` and ``uns[f"{key_added}_neighbors"]``.

    Raises
    ------
    ValueError
        If ``obsm[spatial_key]`` is missing, of the wrong shape or not finite, if two
        modalities give the same observation different coordinates, or if ``coord_type`` is
        unknown.
    """
    if coord_type not in (None, "grid", "generic"):
        raise ValueError(f"coord_type must be 'grid', 'generic' or None; got {coord_type!r}.")
    if isinstance(data, MuData) and spatial_key not in data.obsm:
        coords = _coords_from_modalities(data, spatial_key)
        if coords is not None:  # as muon users often hold them: per modality, not on the MuData
            if not np.isfinite(coords).all():
                raise ValueError(
                    f"the modalities' obsm['{spatial_key}'] contain NaN or inf coordinates; drop "
                    "those spots first."
                )
            logger.info(f"copying the modalities' obsm['{spatial_key}'] to the MuData's obsm['{spatial_key}']")
            data.obsm[spatial_key] = coords
    _check_spatial(data, spatial_key)
    tmp = AnnData(obs=data.obs[[]].copy())
    if library_key is not None:
        if library_key not in data.obs:
            raise ValueError(f"library_key '{library_key}' is not a column of obs.")
        tmp.obs[library_key] = data.obs[library_key].astype("category")
    tmp.obsm[spatial_key] = np.asarray(data.obsm[spatial_key])
    _spatial_neighbors(tmp, n_neighs, radius, coord_type, spatial_key, library_key, key_added)
    for k in ("connectivities", "distances"):
        data.obsp[f"{key_added}_{k}"] = tmp.obsp[f"{key_added}_{k}"]
    data.uns[f"{key_added}_neighbors"] = tmp.uns[f"{key_added}_neighbors"]
    if isinstance(data, MuData):
        for mod in data.mod.values():
            if mod.n_obs == data.n_obs and (mod.obs_names == data.obs_names).all():
                for k in ("connectivities", "distances"):
                    mod.obsp[f"{key_added}_{k}"] = tmp.obsp[f"{key_added}_{k}"]


def _spatial_neighbors(adata, n_neighs, radius, coord_type, spatial_key, library_key, key_added):
    import squidpy as sq  # imported on use: ~60 MB that non-spatial models do not need

    # squidpy >= 1.8.2: one function per graph kind (its `spatial_neighbors` is deprecated, removal
    # announced for 1.9; same graphs, checked on the lymph node). coord_type None means
    # "generic": squidpy only guessed "grid" from a Visium `uns["spatial"]`, which `adata` lacks.
    kwargs = dict(spatial_key=spatial_key, key_added=key_added, library_key=library_key)
    if coord_type == "grid":
        sq.gr.spatial_neighbors_grid(adata, n_neighs=n_neighs, **kwargs)
    elif radius is not None:
        sq.gr.spatial_neighbors_radius(adata, radius=radius, **kwargs)
    else:
        sq.gr.spatial_neighbors_knn(adata, n_neighs=n_neighs, **kwargs)
    for k in ("connectivities", "distances"):
        adata.obsp[f"{key_added}_{k}"] = sp.csr_matrix(adata.obsp[f"{key_added}_{k}"])


def feature_graph(
    adata: AnnData,
    n_neighbors: int = 15,
    use_rep: str | None = "X_pca",
    key_added: str = "feature",
    random_state: int = 0,
    method: str = "umap",
) -> None:
    """Per-modality kNN graph in feature space with :func:`scanpy.pp.neighbors`.

    Parameters
    ----------
    adata
        One modality.
    n_neighbors
        Number of nearest neighbours.
    use_rep
        ``obsm`` key of the representation (``"X"`` for ``.X``).
    key_added
        Stored in ``obsp[f"{key_added}_connectivities"]`` / ``obsp[f"{key_added}_distances"]``.
    random_state
        Seed for the approximate nearest-neighbour search.
    method
        Edge weights, as in :func:`scanpy.pp.neighbors`: ``"umap"`` (fuzzy simplicial set,
        McInnes et al. 2018) or ``"gauss"`` (adaptive Gaussian kernel, Coifman et al. 2005). Both
        are symmetric; ``"gauss"`` needs no numba compilation (~10-20 s in a fresh process).
        ``"gauss"`` is undefined when more than ``n_neighbors`` cells share the same
        representation (their kernel width is 0: scanpy gives NaN weights); the graph is then
        rebuilt on a copy with ties broken by a jitter of 1e-6 of the data's scale, and a
        warning says so.

    Notes
    -----
    The search is exact (scikit-learn) below 50,000 observations and pynndescent's above
    (:func:`knn_transformer`); above, the graph is scanpy's ``transformer="pynndescent"``
    graph, but no query index is kept (``uns[key_added]`` has no ``"rp_forest"``), which
    saves memory at 10^6 observations.

    Raises
    ------
    ValueError
        If ``use_rep`` is not in ``obsm``.
    """
    if use_rep not in (None, "X") and use_rep not in adata.obsm:
        raise ValueError(
            f"obsm['{use_rep}'] not found; compute it first (e.g. remadom.pp.pca_rna) or pass "
            "use_rep='X'."
        )
    sc.pp.neighbors(
        adata,
        n_neighbors=n_neighbors,
        use_rep=use_rep,
        key_added=key_added,
        random_state=random_state,
        method=method,
        transformer=_transformer(adata.n_obs, n_neighbors, random_state, x=_rep_or_none(adata, use_rep)),
    )
    conn = adata.obsp[f"{key_added}_connectivities"]
    if method == "gauss" and not np.isfinite(conn.data).all():
        # more than n_neighbors identical cells: their kernel width is 0 and scanpy's weights
        # 0/0. Rebuild on a copy of the representation with ties broken by a jitter far below
        # any real distance, so identical cells connect to each other with weight ~1.
        rep = np.asarray(adata.X if use_rep in (None, "X") else adata.obsm[use_rep], dtype=np.float64)
        rep = rep.toarray() if sp.issparse(rep) else rep
        scale = float(np.abs(rep).max()) or 1.0
        rep = rep + 1e-6 * scale * np.random.default_rng(random_state).standard_normal(rep.shape)
        tmp = AnnData(obs=pd.DataFrame(index=adata.obs_names))
        tmp.obsm["X_rep"] = rep.astype(np.float32)
        sc.pp.neighbors(tmp, n_neighbors=n_neighbors, use_rep="X_rep", key_added=key_added,
                        random_state=random_state, method=method,
                        transformer=_transformer(adata.n_obs, n_neighbors, random_state,
                                                 x=tmp.obsm["X_rep"]))
        for suffix in ("connectivities", "distances"):
            adata.obsp[f"{key_added}_{suffix}"] = tmp.obsp[f"{key_added}_{suffix}"]
        adata.uns[key_added] = tmp.uns[key_added]
        adata.uns[key_added]["params"]["use_rep"] = use_rep
        warnings.warn(
            f"feature graph: more than n_neighbors={n_neighbors} cells have identical features, "
            "so Gaussian-kernel weights were undefined; ties were broken by a 1e-6 jitter.",
            UserWarning,
            stacklevel=2,
        )


def knn_transformer(n_obs: int) -> str:
    """kNN backend for :func:`scanpy.pp.neighbors`: exact scikit-learn search below 50k obs.

    pynndescent's numba compilation costs ~40 s per process, more than an exact search on
    tens of thousands of cells; above 50k observations the approximate search pays off.
    """
    return "sklearn" if n_obs < 50_000 else "pynndescent"


def _rep_or_none(adata: AnnData, use_rep: str | None):
    """The matrix :func:`scanpy.pp.neighbors` searches for ``use_rep`` (``None`` stays ``None``:
    scanpy then chooses the representation itself)."""
    if use_rep is None:
        return None
    return adata.X if use_rep == "X" else adata.obsm[use_rep]


def _transformer(n_obs: int, n_neighbors: int, random_state: int, x=None):
    """``transformer=`` of :func:`scanpy.pp.neighbors`: ``"sklearn"`` below 50k obs, else pynndescent.

    Above, the pynndescent search that scanpy's ``transformer="pynndescent"`` runs (same
    parameters: the same graph), through :class:`~remadom.data._knn.KnnGraphTransformer`, which
    keeps no query index. Given ``x``, the representation scanpy will search, that search runs
    here, its memory is released (:func:`~remadom.data._precomputed_knn.release_memory`) and
    scanpy receives the graph (:class:`~remadom.data._precomputed_knn.PrecomputedKnnGraph`), so
    that the search's and the connectivities' peak memory do not add up; memory is released
    before the search too (URMF's backed setup at 10^6 spots: peak 3.21 -> 3.02 GB).
    """
    if knn_transformer(n_obs) == "sklearn":
        return "sklearn"
    from ._knn import KnnGraphTransformer  # numba-compiled: imported on use

    search = KnnGraphTransformer(
        n_neighbors=n_neighbors, metric="euclidean", metric_kwds={}, random_state=random_state
    )
    if x is None:
        return search
    from ._precomputed_knn import PrecomputedKnnGraph, release_memory

    release_memory()  # freed heap pages of the caller's earlier steps: 0.12-0.15 GB at 10^6 spots
    graph = search.fit_transform(x)
    del search
    release_memory()
    return PrecomputedKnnGraph(graph, n_neighbors)
