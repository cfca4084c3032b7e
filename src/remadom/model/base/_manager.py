"""Model inputs that setup derives from the user's data, held by the model instead of the data.

scvi-tools' data loader reads every registered tensor from the registered object through
:meth:`scvi.data.AnnDataManager.get_from_registry`. remadom's setups derive some inputs
(standardised representations, graph propagations, modalities padded to the MuData's rows,
missing-value masks) that are not part of the user's data. A :class:`DerivedField` holds such an
array in memory, aligned to the registered object's observations; :class:`RemadomDataManager`
serves it to the data loader next to the fields that point into the user's object, so that setup
writes no private arrays into it and ``mdata.write_h5mu`` works after training.
"""

from __future__ import annotations

import numpy as np
import rich
import scipy.sparse as sp
from scvi.data import AnnDataManager
from scvi.data.fields import BaseAnnDataField

from remadom.data import is_backed

_DERIVED = (
    "derived"  # data-registry ``attr_name`` of a DerivedField: held by the field, not the data
)


class DerivedField(BaseAnnDataField):
    """A model input computed by setup, held by the field rather than written to the data object.

    The array is kept in memory with the manager (and so with the model); the state registry
    (saved with the model) keeps only its shape and the small ``state`` given here, e.g. the
    standardisation constants needed to prepare new data the same way. On ``load`` or on new
    data the model's setup computes the array again and :meth:`transfer_field` checks its width.

    Parameters
    ----------
    registry_key
        Key in the scvi-tools registry (the tensor's name in each minibatch).
    values
        ``(n_obs, n_features)`` dense :class:`numpy.ndarray`, scipy sparse matrix, or an on-disk
        matrix that the data loader reads by minibatch (:class:`remadom.data.BackedRows` of a
        backed modality, an :class:`h5py.Dataset` from :func:`remadom.data.write_store`), rows
        in the registered object's ``obs`` order.
    state
        Extra JSON-like entries for the state registry (kept with the saved model).

    Raises
    ------
    ValueError
        On registration, if ``values`` has another number of rows than the object has
        observations, or is not 2-D; on transfer, if the width differs from the one at training.
    """

    def __init__(self, registry_key: str, values, state: dict | None = None) -> None:
        super().__init__()
        if not (sp.issparse(values) or is_backed(values)):  # on-disk data stay on disk
            values = np.asarray(values)
        if values.ndim != 2:
            raise ValueError(
                f"derived input '{registry_key}' must be 2-D, got shape {values.shape}."
            )
        self._registry_key = registry_key
        self.values = values
        self._state = dict(state or {})

    @property
    def registry_key(self) -> str:
        return self._registry_key

    @property
    def attr_name(self) -> str:
        return _DERIVED

    @property
    def attr_key(self) -> str:
        return self._registry_key

    @property
    def is_empty(self) -> bool:
        return False

    def get_field_data(self, adata=None):
        """The held array (``adata`` is ignored: the data object does not hold it)."""
        return self.values

    def validate_field(self, adata) -> None:
        if self.values.shape[0] != adata.n_obs:
            raise ValueError(
                f"derived input '{self.registry_key}' has {self.values.shape[0]} rows, but the "
                f"data has n_obs={adata.n_obs}; run the model's setup on this object again."
            )

    def register_field(self, adata) -> dict:
        self.validate_field(adata)
        return {"n_obs": int(adata.n_obs), "n_vars": int(self.values.shape[1]), **self._state}

    def transfer_field(self, state_registry: dict, adata_target, **kwargs) -> dict:
        """Register the recomputed array after checking it has the width it had at training.

        Raises
        ------
        ValueError
            If the width differs (other features or another setup than at training).
        """
        new = self.register_field(adata_target)
        old = state_registry.get("n_vars", new["n_vars"])
        if new["n_vars"] != old:
            raise ValueError(
                f"derived input '{self.registry_key}' has {new['n_vars']} columns on this data but "
                f"had {old} at training: set the data up with the features used at training."
            )
        return new

    def get_summary_stats(self, state_registry: dict) -> dict:
        return {f"n_{self.registry_key}": state_registry.get("n_vars", 0)}

    def view_state_registry(self, state_registry: dict) -> rich.table.Table | None:
        return None


class RemadomDataManager(AnnDataManager):
    """:class:`scvi.data.AnnDataManager` that also serves :class:`DerivedField` arrays.

    Registered tensors of ordinary scvi-tools fields are read from the registered object as
    usual; those of a :class:`DerivedField` come from the field, so the data loader (scvi-tools'
    :class:`~scvi.data.AnnTorchDataset`) sees one registry with both.
    """

    def derived_field(self, registry_key: str) -> DerivedField | None:
        """The :class:`DerivedField` registered as ``registry_key``, or None."""
        for f in self.fields:
            if isinstance(f, DerivedField) and f.registry_key == registry_key:
                return f
        return None

    def get_from_registry(self, registry_key: str):
        """The registered data of ``registry_key`` (a derived input from its field)."""
        field = self.derived_field(registry_key)
        if field is not None:
            self._assert_anndata_registered()
            return field.values
        return super().get_from_registry(registry_key)

    def transfer_fields(self, adata_target, **kwargs):
        """Not possible for derived inputs: the model's setup must prepare new data.

        Raises
        ------
        ValueError
            Always when a derived input is registered, naming the fix.
        """
        if any(isinstance(f, DerivedField) for f in self.fields):
            raise ValueError(
                "This object was not set up for the model, and its derived inputs cannot be copied "
                "from another object: call the model's method with this object (it sets it up "
                "with the training setup), or run the model's setup on it."
            )
        return super().transfer_fields(adata_target, **kwargs)
