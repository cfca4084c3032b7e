"""Data layer shared by all models: graphs, registry fields, masks, input checks.

The user's preprocessing (``pca_rna``, ``pca_protein``, ``lsi_atac``, ``clr``, ``image_features``,
``image_modality``, ``link_features``) moved to :mod:`remadom.pp`; the old names here still work
for one release and raise a ``DeprecationWarning``.
"""

from ._backed import (
    BackedRows,
    check_not_backed,
    close_store,
    is_backed,
    new_store,
    read_zarr_lazy,
    set_store_dir,
    write_store,
)
from ._deprecated import (  # noqa: F401  (deprecated aliases, not in __all__)
    clr,
    image_features,
    image_modality,
    link_features,
    lsi_atac,
    pca_protein,
    pca_rna,
)
from ._fields import DataSignatureField, MuDataObspField, ObspField, graph_fingerprint
from ._graph import feature_graph, knn_transformer, spatial_graph
from ._mosaic import pad_rows, presence_mask
from ._propagate import neighbor_mean, normalized_adjacency, ppr_propagate, propagate
from ._reduce import REDUCTIONS, SCALES, reduce_to_width, select_genes
from ._validate import (
    as_float32,
    check_coordinates,
    check_counts,
    check_finite,
    check_modalities,
    check_n_obs,
    check_same_obs,
    check_unique_names,
    check_zero_cells,
    count_violations,
    get_matrix,
    is_counts,
    keep_unchanged_on_error,
    stored_values,
    warn_not_counts,
)

__all__ = [
    "BackedRows",
    "check_not_backed",
    "close_store",
    "is_backed",
    "new_store",
    "read_zarr_lazy",
    "set_store_dir",
    "write_store",
    "DataSignatureField",
    "MuDataObspField",
    "ObspField",
    "as_float32",
    "check_coordinates",
    "check_counts",
    "check_finite",
    "check_modalities",
    "check_n_obs",
    "check_same_obs",
    "check_unique_names",
    "check_zero_cells",
    "count_violations",
    "feature_graph",
    "get_matrix",
    "graph_fingerprint",
    "is_counts",
    "keep_unchanged_on_error",
    "knn_transformer",
    "neighbor_mean",
    "normalized_adjacency",
    "pad_rows",
    "presence_mask",
    "ppr_propagate",
    "propagate",
    "REDUCTIONS",
    "SCALES",
    "reduce_to_width",
    "select_genes",
    "spatial_graph",
    "stored_values",
    "warn_not_counts",
]
