"""remadom.model.base: the one place where the model classes' shared call conventions live."""

import inspect

import pytest

from remadom.model import MORPHOVI, MOSAICVI, PRIORVI, STEREOMM, URMF
from remadom.model.base import deprecated_mdata

MODELS = (URMF, STEREOMM, MOSAICVI, PRIORVI, MORPHOVI)


class _Model:
    @deprecated_mdata
    def __init__(self, adata=None, n_latent: int = 2):
        self.data, self.n_latent = adata, n_latent

    @deprecated_mdata
    def impute(self, target, source=None, adata=None, indices=None):
        return target, source, adata, indices


def test_deprecated_mdata_passes_it_on_as_adata_with_a_warning():
    with pytest.warns(DeprecationWarning, match=r"_Model\(mdata=\.\.\.\) is deprecated.*pass adata="):
        assert _Model(mdata="d", n_latent=3).data == "d"
    with pytest.warns(DeprecationWarning, match=r"_Model\.impute\(mdata=\.\.\.\) is deprecated"):
        assert _Model("d").impute("rna", ["adt"], mdata="e", indices=[1]) == ("rna", ["adt"], "e", [1])
    assert _Model("d").impute("rna", None, "e") == ("rna", None, "e", None)  # positional: as before
    assert _Model(adata="d").data == "d"


@pytest.mark.filterwarnings("error::DeprecationWarning")
def test_deprecated_mdata_is_silent_without_mdata_and_refuses_both():
    m = _Model("d")
    assert m.impute("rna", adata="e")[2] == "e"
    with pytest.raises(TypeError, match=r"_Model\.impute: pass adata= only"):
        m.impute("rna", None, "e", mdata="f")  # adata given positionally (third argument)
    with pytest.raises(TypeError, match="pass adata= only"):
        m.impute("rna", adata="e", mdata="f")
    with pytest.raises(TypeError, match=r"_Model: pass adata= only"):
        _Model("d", mdata="e")
    assert m.impute("rna", ["adt"]) == ("rna", ["adt"], None, None)  # fewer positionals: fine


def test_decorated_signature_is_the_method_s_own():
    params = inspect.signature(_Model.impute).parameters
    assert list(params) == ["self", "target", "source", "adata", "indices"]


@pytest.mark.parametrize("cls", MODELS, ids=lambda c: c.__name__)
def test_data_parameter_has_scvi_tools_name(cls):
    """Every public method and __init__ calls its data argument adata (setup_mudata: mdata, as in
    scvi-tools); where mdata= was accepted before, it still is, through deprecated_mdata."""
    for name in ["__init__", *(n for n in dir(cls) if not n.startswith("_"))]:
        func = getattr(cls, name)
        if not callable(func) or inspect.isclass(func):
            continue
        try:
            params = inspect.signature(func).parameters
        except (TypeError, ValueError):
            continue
        if name != "setup_mudata":
            assert "mdata" not in params, f"{cls.__name__}.{name} takes mdata="


def test_workflow_reads_annotations_of_decorated_methods():
    """The YAML schema resolves the annotations of a decorated __init__ in the model's module."""
    from remadom.heads import AlignmentHead
    from remadom.workflow import config_parameters

    heads = config_parameters("mosaicvi", "model_kwargs")["heads"].annotation  # a name of mosaicvi/_model.py
    assert heads == list[AlignmentHead | dict] | None
    for model in ("urmf", "mosaicvi", "priorvi", "morphovi"):
        assert config_parameters(model, "model_kwargs")["n_latent"].annotation is int, model
