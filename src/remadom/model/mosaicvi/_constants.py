"""Registry keys of MOSAICVI (and PRIORVI): the names of its data fields, as scvi-tools'
``REGISTRY_KEYS``; a minibatch ``tensors`` dict carries the same keys."""

from typing import NamedTuple


class _MOSAICVI_REGISTRY_KEYS_NT(NamedTuple):
    #: ``(n_obs, n_modalities)`` presence mask, 1 where the cell has the modality
    MASK_KEY: str = "mask"
    #: ``(n_obs, 1)`` row position of each cell (latent memory bank, graph heads)
    INDEX_KEY: str = "index"
    #: shared link features ``(n_obs, n_link)`` (``setup_mudata(link_key=...)``)
    LINK_KEY: str = "link"
    #: categorical covariates fed to ``z_tech``; same names as ``scvi.REGISTRY_KEYS``' batch/labels
    BATCH_KEY: str = "batch"
    STUDY_KEY: str = "study"
    LABELS_KEY: str = "labels"
    #: numerical time point per cell (temporal head)
    TIME_KEY: str = "time"
    #: a head's graph in ``obsp`` (Laplacian head)
    GRAPH_KEY: str = "graph"
    #: suffix of a beta-binomial modality's total-count field (``f"{modality}_total"``)
    TOTAL_SUFFIX: str = "_total"

    @property
    def covariate_keys(self) -> tuple[str, str]:
        """The technical covariates, in the order ``z_tech`` reads them."""
        return (self.BATCH_KEY, self.STUDY_KEY)

    def data_key(self, modality: str) -> str:
        """A modality's own data field: registered under the modality's name."""
        return modality

    def total_key(self, modality: str) -> str:
        """A beta-binomial modality's total counts (trials)."""
        return f"{modality}{self.TOTAL_SUFFIX}"


MOSAICVI_REGISTRY_KEYS = _MOSAICVI_REGISTRY_KEYS_NT()
