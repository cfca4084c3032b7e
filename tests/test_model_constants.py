"""Registry keys as named constants (``model/<name>/_constants.py``, after scvi-tools' REGISTRY_KEYS)."""

import pytest
from scvi import REGISTRY_KEYS

from remadom.model import MOSAICVI
from remadom.model.morphovi._constants import MORPHOVI_REGISTRY_KEYS
from remadom.model.mosaicvi._constants import MOSAICVI_REGISTRY_KEYS
from remadom.model.priorvi._constants import PRIORVI_REGISTRY_KEYS
from remadom.model.stereomm._constants import STEREOMM_REGISTRY_KEYS
from remadom.model.urmf._constants import URMF_REGISTRY_KEYS
from tests.test_mosaicvi import _toy_mosaic


def test_key_values_and_helpers():
    assert (
        MOSAICVI_REGISTRY_KEYS.BATCH_KEY
        == PRIORVI_REGISTRY_KEYS.BATCH_KEY
        == REGISTRY_KEYS.BATCH_KEY
    )
    assert MOSAICVI_REGISTRY_KEYS.LABELS_KEY == REGISTRY_KEYS.LABELS_KEY
    assert (
        MOSAICVI_REGISTRY_KEYS.total_key("met")
        == PRIORVI_REGISTRY_KEYS.total_key("met")
        == "met_total"
    )
    assert URMF_REGISTRY_KEYS.input_key("rna") == "rna_input"
    assert URMF_REGISTRY_KEYS.target_key("rna") == "rna_target"
    assert URMF_REGISTRY_KEYS.feature_graph_key("prot") == "prot_feature_graph"
    assert STEREOMM_REGISTRY_KEYS.input_key("image") == "image_input"
    assert [MORPHOVI_REGISTRY_KEYS.x_key(s) for s in MORPHOVI_REGISTRY_KEYS.SIDES] == ["x_a", "x_b"]
    with pytest.raises(AttributeError):
        URMF_REGISTRY_KEYS.SPATIAL_GRAPH_KEY = "other"  # immutable, as scvi-tools' REGISTRY_KEYS


def test_mosaicvi_registers_under_its_constants():
    m = _toy_mosaic()
    MOSAICVI.setup_mudata(m, modalities=["rna", "adt"], batch_key="batch")
    registry = MOSAICVI(m).adata_manager.data_registry
    K = MOSAICVI_REGISTRY_KEYS
    assert {K.MASK_KEY, K.INDEX_KEY, K.BATCH_KEY, K.data_key("rna"), K.data_key("adt")} <= set(
        registry
    )
