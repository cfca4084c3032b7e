"""Data layer shared by all models: graphs, registry fields, masks, preprocessing, checks."""

from ._fields import MuDataObspField, ObspField, graph_fingerprint
from ._graph import feature_graph, knn_transformer, spatial_graph
from ._image import image_features, image_modality
from ._link import link_features
from ._mosaic import pad_rows, presence_mask
from ._preprocess import clr, lsi_atac, pca_protein, pca_rna
from ._propagate import normalized_adjacency, propagate
from ._reduce import REDUCTIONS, SCALES, reduce_to_width
from ._validate import (
    check_counts,
    check_finite,
    check_modalities,
    check_same_obs,
    get_matrix,
    is_counts,
    stored_values,
)

__all__ = [
    "MuDataObspField",
    "ObspField",
    "check_counts",
    "check_finite",
    "check_modalities",
    "check_same_obs",
    "clr",
    "feature_graph",
    "get_matrix",
    "graph_fingerprint",
    "image_features",
    "image_modality",
    "is_counts",
    "knn_transformer",
    "link_features",
    "lsi_atac",
    "normalized_adjacency",
    "pca_protein",
    "pca_rna",
    "pad_rows",
    "presence_mask",
    "propagate",
    "REDUCTIONS",
    "SCALES",
    "reduce_to_width",
    "spatial_graph",
    "stored_values",
]
