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
        On registration, if the graph is missing or malformed; on transfer (``load``), if the
        graph's size, number of edges or fingerprint differs from the one at registration.
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
        """Register the target's graph after checking it is the graph the model was trained on.

        Raises
        ------
        ValueError
            If the target's graph has another size, number of edges or structure (fingerprint).
        """
        self.validate_field(adata_target)
        new = self.register_field(adata_target)
        key = self.attr_key
        diffs = [f"{what} {new[k]} vs {state_registry[k]} at training"
                 for k, what in (("n_obs", "n_obs"), ("n_edges", "edges")) if k in state_registry
                 and new[k] != state_registry[k]]
        if not diffs and state_registry.get("fingerprint", new["fingerprint"]) != new["fingerprint"]:
            diffs = ["same size, but other edges (its fingerprint differs)"]
        if diffs:
            raise ValueError(
                f"obsp['{key}'] is not the graph the model was trained on ({'; '.join(diffs)}): the "
                "model was trained on other cells or another graph. Load it onto the data it was "
                "trained on, with the graph built the same way, or set up and train a new model."
            )
        return new

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


def _names_sha1(names) -> str:
    h = hashlib.sha1()
    for n in names:
        h.update(str(n).encode())
        h.update(b"\0")
    return h.hexdigest()


class DataSignatureField(BaseAnnDataField):
    """Records what a model was set up on, so that ``load`` onto other data fails clearly.

    Keeps, in the state registry, each registered modality's input width (and, for ``.X`` or a
    layer, a hash of its var names) and, for transductive models, ``n_obs`` and a hash of the obs
    names. On transfer (``load``, or setting up new data with a trained model's registry) the
    target must match; the message names the modality and the mismatch. No data registry.

    Parameters
    ----------
    inputs
        Per modality name ``(field, width, var_names)``: the field's name for messages (e.g.
        ``".X"``, ``"obsm['X_pca']"``), its number of columns and its var names (``None`` for an
        ``obsm`` representation, whose columns have no names).
    check_obs
        Whether the obs names must match (transductive models: the latent is for these spots).
    model_name
        Name used in messages.

    Raises
    ------
    ValueError
        On transfer, if the obs names (``check_obs``), a modality's width or its var names differ.
    """

    _attr_name = "uns"  # nothing is read from the data; scvi-tools requires an attribute name

    def __init__(self, inputs: dict, check_obs: bool, model_name: str = "the model") -> None:
        super().__init__()
        self._inputs = {m: (f, int(w), None if v is None else list(map(str, v)))
                        for m, (f, w, v) in inputs.items()}
        self._check_obs = check_obs
        self._model_name = model_name

    @property
    def registry_key(self) -> str:
        return "data_signature"

    @property
    def attr_name(self) -> str:
        return self._attr_name

    @property
    def attr_key(self) -> None:
        return None

    @property
    def is_empty(self) -> bool:
        return False

    def get_data_registry(self) -> dict:  # noqa: D102 - nothing is minibatched
        return {}

    def validate_field(self, adata: AnnData | MuData) -> None:  # noqa: D102 - checked by setup
        return None

    def register_field(self, adata: AnnData | MuData) -> dict:
        return {
            "n_obs": int(adata.n_obs),
            "obs_names": _names_sha1(adata.obs_names),
            "inputs": {m: {"field": f, "width": w, "var_names": None if v is None else _names_sha1(v),
                           "n_vars": None if v is None else len(v)}
                       for m, (f, w, v) in self._inputs.items()},
        }

    def transfer_field(self, state_registry: dict, adata_target: AnnData | MuData, **kwargs) -> dict:
        new = self.register_field(adata_target)
        fix = (f"Load {self._model_name} onto the data it was trained on, or set up and train a new "
               "model on this data.")
        if self._check_obs and state_registry.get("obs_names") not in (None, new["obs_names"]):
            n0, n1 = state_registry["n_obs"], new["n_obs"]
            what = (f"{n1} cells/spots, the model was trained on {n0}" if n0 != n1
                    else f"the same number of cells/spots ({n1}) but other obs names or order")
            raise ValueError(
                f"this data has {what}: {self._model_name} is transductive (its latent and graphs "
                f"are for the spots it was trained on). {fix}"
            )
        fix = (f"{self._model_name} needs the features it was trained on, in the same order: "
               "subset the data to them, or set up and train a new model on this data.")
        old_inputs = state_registry.get("inputs", {})
        for m, cur in new["inputs"].items():
            old = old_inputs.get(m)
            if old is None:
                continue
            if old["width"] != cur["width"]:
                raise ValueError(
                    f"modality '{m}', {cur['field']}: {cur['width']} features, but the model was "
                    f"trained on {old['width']} ({old['field']}). {fix}"
                )
            if old["var_names"] is not None and cur["var_names"] is not None \
                    and old["var_names"] != cur["var_names"]:
                subset = ("adata = adata[:, trained_var_names]" if isinstance(adata_target, AnnData)
                          else f"mdata.mod['{m}'] = mdata['{m}'][:, trained_var_names]")
                raise ValueError(
                    f"modality '{m}', {cur['field']}: the same number of features ({cur['width']}) "
                    "but other var names or another order than at training. Subset and order them "
                    f"as at training (`{subset}`). {fix}"
                )
        missing = sorted(set(old_inputs) - set(new["inputs"]))
        if missing:
            raise ValueError(f"modalities {missing} were registered at training but are missing here. {fix}")
        return new

    def get_summary_stats(self, state_registry: dict) -> dict:
        return {}

    def view_state_registry(self, state_registry: dict) -> rich.table.Table | None:
        return None
