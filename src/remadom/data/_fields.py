"""scvi-tools registry field for ``obsp`` graphs (scvi-tools ships none)."""

from __future__ import annotations

import hashlib

import numpy as np
import rich
import scipy.sparse as sp
from anndata import AnnData
from mudata import MuData
from scvi.data.fields import BaseAnnDataField, MuDataWrapper


def graph_fingerprint(graph: sp.spmatrix) -> str:
    """SHA-1 of a sparse graph's structure (indptr + indices), used to detect a swapped graph."""
    g = sp.csr_matrix(graph)
    g.sort_indices()
    h = hashlib.sha1()
    h.update(np.asarray(g.indptr, dtype=np.int64).tobytes())
    h.update(np.asarray(g.indices, dtype=np.int64).tobytes())
    return h.hexdigest()


class ObspField(BaseAnnDataField):
    """Registers a sparse ``(n_obs, n_obs)`` graph in ``obsp`` (AnnData or MuData level).

    The graph is validated (present, sparse, square, ``n_obs x n_obs``, finite, non-negative) at
    registration, and its size, number of edges and a structural fingerprint are kept in the state
    registry so that a model loaded onto other data (:meth:`transfer_field`) refuses a graph
    built for other cells. It has no per-row data registry: a graph is not minibatched row by
    row; models read it once (for example to precompute propagation).

    Parameters
    ----------
    registry_key
        Key in the scvi-tools registry.
    obsp_key
        Key in ``obsp``; ``None`` marks the field empty (optional graph).
    required
        Whether ``obsp_key`` may be ``None``.

    Raises
    ------
    ValueError
        On registration, if the graph is missing or malformed; on transfer, if ``n_obs`` differs.
    """

    _attr_name = "obsp"

    def __init__(self, registry_key: str, obsp_key: str | None, required: bool = True) -> None:
        super().__init__()
        if required and obsp_key is None:
            raise ValueError(f"`obsp_key` for '{registry_key}' cannot be None.")
        self._registry_key = registry_key
        self._attr_key = obsp_key

    @property
    def registry_key(self) -> str:
        return self._registry_key

    @property
    def attr_name(self) -> str:
        return self._attr_name

    @property
    def attr_key(self) -> str | None:
        return self._attr_key

    @property
    def is_empty(self) -> bool:
        return self._attr_key is None

    def get_data_registry(self) -> dict:  # noqa: D102 - graphs are not row-minibatched
        return {}

    def get_graph(self, adata: AnnData | MuData) -> sp.csr_matrix:
        """Return the registered graph as CSR."""
        return sp.csr_matrix(adata.obsp[self.attr_key])

    def validate_field(self, adata: AnnData | MuData) -> None:
        key = self.attr_key
        if key not in adata.obsp:
            raise ValueError(
                f"obsp['{key}'] not found. Build it first, e.g. "
                "`remadom.data.spatial_graph(mdata)` (gives obsp['spatial_connectivities']), "
                f"or pass the name of an existing obsp graph; available: {list(adata.obsp.keys())}."
            )
        g = adata.obsp[key]
        if not sp.issparse(g):
            raise ValueError(
                f"obsp['{key}'] is a dense array; graphs must be sparse. Fix: "
                f"`adata.obsp['{key}'] = scipy.sparse.csr_matrix(adata.obsp['{key}'])`."
            )
        if g.shape != (adata.n_obs, adata.n_obs):
            raise ValueError(
                f"obsp['{key}'] has shape {g.shape} but the data has n_obs={adata.n_obs}: the graph "
                "was built for other cells. Rebuild it on these cells."
            )
        data = g.data if hasattr(g, "data") else g.tocoo().data
        if not np.isfinite(data).all():
            raise ValueError(f"obsp['{key}'] has NaN or inf edge weights; rebuild the graph.")
        if (data < 0).any():
            raise ValueError(f"obsp['{key}'] has negative edge weights; use a connectivity graph.")

    def register_field(self, adata: AnnData | MuData) -> dict:
        self.validate_field(adata)
        g = self.get_graph(adata)
        return {
            "n_obs": int(adata.n_obs),
            "n_edges": int(g.nnz),
            "fingerprint": graph_fingerprint(g),
        }

    def transfer_field(self, state_registry: dict, adata_target: AnnData | MuData, **kwargs) -> dict:
        self.validate_field(adata_target)
        return self.register_field(adata_target)

    def get_summary_stats(self, state_registry: dict) -> dict:
        return {f"n_{self.registry_key}_edges": state_registry.get("n_edges", 0)}

    def view_state_registry(self, state_registry: dict) -> rich.table.Table | None:
        return None


class MuDataObspField(MuDataWrapper(ObspField)):
    """:class:`ObspField` on one modality of a MuData (``mdata[mod_key].obsp``).

    scvi-tools' :func:`~scvi.data.fields.MuDataWrapper` gives every wrapped field a per-row data
    registry, so its data loader would slice and densify ``batch_size x n_obs`` rows of the graph
    at every step; a graph is read once by the model instead, so this wrapper keeps it out of the
    minibatches.

    Parameters
    ----------
    registry_key, obsp_key, required
        As in :class:`ObspField`.
    mod_key
        Modality name.
    """

    def get_data_registry(self) -> dict:  # noqa: D102 - graphs are not row-minibatched
        return {}

    def get_graph(self, mdata: MuData) -> sp.csr_matrix:
        """Return the modality's registered graph as CSR."""
        return self.adata_field.get_graph(self.get_modality(mdata))
