"""Registry keys of STEREOMM: the names of its data fields, as scvi-tools' ``REGISTRY_KEYS``."""

from typing import NamedTuple


class _STEREOMM_REGISTRY_KEYS_NT(NamedTuple):
    #: the radius spatial graph (``obsp``), see :class:`remadom.data.ObspField`
    SPATIAL_GRAPH_KEY: str = "spatial_graph"
    #: spot coordinates ``(n_obs, 2)``
    COORDS_KEY: str = "coords"
    #: suffix of each modality's reduced, z-scored input (``f"{modality}_input"``)
    INPUT_SUFFIX: str = "_input"

    def input_key(self, modality: str) -> str:
        """A modality's encoder input ``(n_obs, n_dims)``."""
        return f"{modality}{self.INPUT_SUFFIX}"


STEREOMM_REGISTRY_KEYS = _STEREOMM_REGISTRY_KEYS_NT()
