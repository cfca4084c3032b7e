"""The likelihood registry (remadom.nn.LIKELIHOODS) and the decoders built on it."""

import json
import subprocess
import sys

import pytest
import torch

from remadom.nn import (
    COUNT_LIKELIHOODS,
    DECODERS,
    LIBRARY_SIZE_LIKELIHOODS,
    LIKELIHOOD_DECODERS,
    LIKELIHOODS,
    MEAN_DECODER_LIKELIHOODS,
    NBDecoder,
    NegativeBinomialDecoder,
    check_likelihood,
    make_decoder,
)


def test_registry_and_decoders_list_the_same_names():
    assert set(LIKELIHOOD_DECODERS) == set(LIKELIHOODS)
    assert set(DECODERS) == set(MEAN_DECODER_LIKELIHOODS) == {"gaussian", "nb"}
    assert LIBRARY_SIZE_LIKELIHOODS == ("nb", "zinb", "poisson")
    assert set(COUNT_LIKELIHOODS) == {"nb", "zinb", "poisson", "nbmixture", "betabinomial"}
    assert LIKELIHOODS["bernoulli"].data == "binary" and not LIKELIHOODS["bernoulli"].counts
    assert not LIKELIHOODS["gaussian"].counts and LIKELIHOODS["gaussian"].library is None
    with pytest.raises(TypeError):
        LIKELIHOODS["new"] = LIKELIHOODS["nb"]  # read-only


def test_check_likelihood_errors_name_modality_and_choices():
    assert check_likelihood("zinb").needs_library_size
    with pytest.raises(
        ValueError, match=r"modality 'rna': unknown likelihood 'zip'; choose one of \("
    ):
        check_likelihood("zip", "rna")
    with pytest.raises(
        ValueError, match=r"unknown likelihood 'zinb'; choose one of \('nb', 'gaussian'\)"
    ):
        check_likelihood("zinb", allowed=MEAN_DECODER_LIKELIHOODS)
    with pytest.raises(ValueError, match="unknown likelihood 'zip'"):
        make_decoder("zip", 4, 6)


def test_registry_import_is_light():
    code = (
        "import sys, json\n"
        "from remadom.nn import LIKELIHOODS, COUNT_LIKELIHOODS\n"
        "heavy = ('scvi', 'torch', 'lightning')\n"
        "print(json.dumps([sorted(LIKELIHOODS), sorted(m for m in heavy if m in sys.modules)]))\n"
    )
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr
    names, heavy = json.loads(res.stdout)
    assert names == sorted(LIKELIHOODS) and heavy == []


def test_urmf_nb_decoder_is_the_distribution_decoder():
    """URMF's mean + NLL NB decoder and MOSAICVI's NB decoder give one likelihood."""
    torch.manual_seed(0)
    mean_dec = NegativeBinomialDecoder(5, 7, n_hidden=8)
    dist_dec = NBDecoder(5, 7, n_hidden=8)
    assert sorted(mean_dec.state_dict()) == sorted(dist_dec.state_dict())  # old checkpoints load
    with torch.no_grad():
        mean_dec.log_theta.normal_()
    dist_dec.load_state_dict(mean_dec.state_dict())
    z = torch.randn(4, 5)
    lib = torch.tensor([[10.0], [3.0], [50.0], [1.0]])
    x = torch.poisson(torch.full((4, 7), 2.0), generator=torch.Generator().manual_seed(1))
    mean = mean_dec(z, lib)
    assert mean.shape == (4, 7) and torch.allclose(mean.sum(-1, keepdim=True), lib)
    px = dist_dec(z, lib)
    torch.testing.assert_close(px.mean, mean.clamp_min(1e-8))
    nll = mean_dec.nll(x, mean)
    assert nll.shape == (4,) and torch.isfinite(nll).all()
    torch.testing.assert_close(nll, -px.log_prob(x).sum(-1), rtol=0, atol=0)
