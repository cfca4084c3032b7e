"""Neighbour-averaged representations: the training-free spatial-domain baseline."""

from __future__ import annotations

import numpy as np
from anndata import AnnData
from mudata import MuData

from remadom.data._propagate import neighbor_mean


def neighbor_average(
    data: AnnData | MuData,
    use_rep: str = "X_pca",
    graph_key: str = "spatial_connectivities",
    mix: float | None = None,
    key_added: str | None = None,
) -> np.ndarray:
    """Average a representation over each observation's spatial neighbours.

    With ``mix=None`` every row becomes the mean of itself and its neighbours (one hop of the
    row-normalised graph ``D^-1 (A + I)``). With ``mix=λ`` in ``[0, 1]`` own and neighbour-mean
    features are kept side by side, ``[sqrt(1-λ) Z, sqrt(λ) D^-1 A Z]``, the mixing that BANKSY
    uses (Singhal et al., Nat Genet 2024; λ = 0.8 for domains). Clustered as it is, this is the
    floor a spatial-domain model must beat.

    Parameters
    ----------
    data
        AnnData or MuData with ``obsm[use_rep]`` ``(n_obs, d)`` and the graph ``obsp[graph_key]``
        ``(n_obs, n_obs)`` (e.g. from :func:`remadom.data.spatial_graph`).
    use_rep
        Representation to average.
    graph_key
        Spatial graph; edge weights are used as given.
    mix
        ``None`` for the plain neighbourhood mean, or the BANKSY mixing weight λ.
    key_added
        ``obsm`` key written; default ``f"{use_rep}_nbr"``.

    Returns
    -------
    ``(n_obs, d)`` (``mix=None``) or ``(n_obs, 2 d)`` float32 array, also written to
    ``obsm[key_added]``.

    Raises
    ------
    ValueError
        Missing representation or graph, a graph of the wrong size, ``mix`` outside ``[0, 1]``.
    """
    if use_rep not in data.obsm:
        raise ValueError(f"obsm['{use_rep}'] not found; available: {list(data.obsm)}.")
    if graph_key not in data.obsp:
        raise ValueError(
            f"obsp['{graph_key}'] not found: build the spatial graph first with "
            "remadom.data.spatial_graph(data), or pass graph_key= naming another graph."
        )
    if mix is not None and not 0.0 <= mix <= 1.0:
        raise ValueError(f"`mix` must be None or in [0, 1], got {mix}.")
    z = np.asarray(data.obsm[use_rep], dtype=np.float32)
    graph = data.obsp[graph_key]
    if graph.shape != (z.shape[0], z.shape[0]):
        raise ValueError(f"obsp['{graph_key}'] is {graph.shape}, expected ({z.shape[0]}, {z.shape[0]}).")
    nbr = neighbor_mean(graph, z, include_self=mix is None)
    out = nbr if mix is None else np.hstack([np.sqrt(1.0 - mix) * z, np.sqrt(mix) * nbr])
    out = np.asarray(out, dtype=np.float32)
    data.obsm[key_added or f"{use_rep}_nbr"] = out
    return out
