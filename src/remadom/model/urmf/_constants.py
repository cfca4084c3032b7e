"""Registry keys of URMF: the names of its data fields, as scvi-tools' ``REGISTRY_KEYS``;
a minibatch ``tensors`` dict carries the same keys."""

from typing import NamedTuple


class _URMF_REGISTRY_KEYS_NT(NamedTuple):
    #: the spatial graph (``obsp``), see :class:`remadom.data.ObspField`
    SPATIAL_GRAPH_KEY: str = "spatial_graph"
    #: suffixes of the per-modality fields
    INPUT_SUFFIX: str = "_input"
    TARGET_SUFFIX: str = "_target"
    FEATURE_GRAPH_SUFFIX: str = "_feature_graph"

    def input_key(self, modality: str) -> str:
        """A modality's encoder input: its graph propagations side by side ``(n_obs, n_graphs * width)``."""
        return f"{modality}{self.INPUT_SUFFIX}"

    def target_key(self, modality: str) -> str:
        """What a modality's decoder reconstructs ``(n_obs, n_vars)`` (counts under ``"nb"``)."""
        return f"{modality}{self.TARGET_SUFFIX}"

    def feature_graph_key(self, modality: str) -> str:
        """A modality's feature kNN graph (``obsp``)."""
        return f"{modality}{self.FEATURE_GRAPH_SUFFIX}"


URMF_REGISTRY_KEYS = _URMF_REGISTRY_KEYS_NT()
