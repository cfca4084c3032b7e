"""Registry keys of PRIORVI: MOSAICVI's (it shares MOSAICVI's data handling) and its optional
spatial modality."""

from typing import NamedTuple

from ..mosaicvi._constants import MOSAICVI_REGISTRY_KEYS


class _PRIORVI_REGISTRY_KEYS_NT(NamedTuple):
    MASK_KEY: str = MOSAICVI_REGISTRY_KEYS.MASK_KEY
    INDEX_KEY: str = MOSAICVI_REGISTRY_KEYS.INDEX_KEY
    BATCH_KEY: str = MOSAICVI_REGISTRY_KEYS.BATCH_KEY
    TOTAL_SUFFIX: str = MOSAICVI_REGISTRY_KEYS.TOTAL_SUFFIX
    #: name of the coordinates modality that ``setup_mudata(spatial_key=...)`` adds
    SPATIAL_MODALITY: str = "spatial"

    def total_key(self, modality: str) -> str:
        """A beta-binomial modality's total counts (trials)."""
        return f"{modality}{self.TOTAL_SUFFIX}"


PRIORVI_REGISTRY_KEYS = _PRIORVI_REGISTRY_KEYS_NT()
