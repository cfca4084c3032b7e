"""remadom.datasets.patchseq_m1_unpaired / cluster_prior and `remadom prepare patchseq` (issue 24).

The real-file tests read ../shared/data/patchseq_m1_morph_ephys.h5ad and skip with a reason when
it is absent."""

from pathlib import Path

import mudata as md
import numpy as np
import pytest
import yaml

import remadom
from remadom.cli import main
from remadom.datasets import cluster_prior, patchseq_m1_unpaired
from remadom.workflow import parse_config

from ._shared import shared_file

FILE = "patchseq_m1_morph_ephys.h5ad"


@pytest.fixture(scope="module")
def mdata():
    return patchseq_m1_unpaired(
        shared_file(FILE).parent, prior_fraction=0.5, n_clusters=8, random_state=0
    )


@pytest.mark.shared_data
def test_unpaired_modalities_shapes_and_names(mdata):
    assert set(mdata.mod) == {"morph", "ephys"}
    m, e = mdata["morph"], mdata["ephys"]
    assert m.shape == (645, 61) and e.shape == (645, 29)
    assert not set(m.obs_names) & set(e.obs_names)  # unpaired: no shared cell name
    # same neuron order in both: position i is the true partner (scoring only)
    assert [n.removesuffix("_morph") for n in m.obs_names] == [
        n.removesuffix("_ephys") for n in e.obs_names
    ]
    assert m.obs["rna_family"].nunique() == 10
    assert np.isnan(m.X).any()  # undefined morphology features stay NaN (masked by MORPHOVI)


@pytest.mark.shared_data
def test_prior_uses_only_the_prior_fraction(mdata):
    prior = mdata.uns["prior"]
    assert prior.shape == (8, 8) and np.isfinite(prior.to_numpy()).all()
    assert (np.abs(prior.to_numpy()) <= 1 + 1e-9).all()
    used = mdata["morph"].obs["prior_pair"].to_numpy()
    assert np.array_equal(used, mdata["ephys"].obs["prior_pair"].to_numpy())
    info = mdata.uns["prior_pairs"]
    assert info["n_used"] == used.sum() and len(info["neurons"]) == used.sum()
    assert 0.4 < used.mean() < 0.6  # ~prior_fraction of 645 neurons
    cm = mdata["morph"].obs["cluster"].astype(int).to_numpy()
    ce = mdata["ephys"].obs["cluster"].astype(int).to_numpy()
    assert len(np.unique(cm)) == 8 and len(np.unique(ce)) == 8
    np.testing.assert_allclose(prior.to_numpy(), cluster_prior(cm, ce, 8, use=used).to_numpy())
    # the held-out neurons did not enter: the prior over all neurons differs
    assert not np.allclose(prior.to_numpy(), cluster_prior(cm, ce, 8).to_numpy(), atol=1e-3)


@pytest.mark.shared_data
def test_prior_fraction_zero_and_cli_prepare(tmp_path, capsys):
    data = shared_file(FILE).parent
    m0 = patchseq_m1_unpaired(data, prior_fraction=0.0)
    assert "prior" not in m0.uns and "cluster" not in m0["morph"].obs
    assert m0.uns["prior_pairs"]["n_used"] == 0
    out = tmp_path / "p.h5mu"
    assert (
        main(["prepare", "patchseq", "--data", str(data), "--out", str(out), "--n-clusters", "5"])
        == 0
    )
    assert '"prior_neurons"' in capsys.readouterr().out
    r = md.read_h5mu(out)
    assert r.uns["prior"].shape == (5, 5) and r["ephys"].obs["cluster"].nunique() == 5


def test_missing_file_and_bad_arguments(tmp_path, capsys):
    with pytest.raises(FileNotFoundError, match=r"patchseq_m1_morph_ephys\.h5ad.*path="):
        patchseq_m1_unpaired(tmp_path)
    with pytest.raises(ValueError, match="prior_fraction"):
        patchseq_m1_unpaired(tmp_path, prior_fraction=1.5)
    assert (
        main(["prepare", "patchseq", "--data", str(tmp_path), "--out", str(tmp_path / "x.h5mu")])
        == 2
    )
    assert "patchseq_m1_morph_ephys.h5ad" in capsys.readouterr().err
    assert not (tmp_path / "x.h5mu").exists()


def test_cluster_prior_synthetic():
    c = np.array([0, 0, 1, 1, 2, 2])
    p = cluster_prior(c, c, 3)  # identical clusterings: positive diagonal, negative off it
    assert p.shape == (3, 3) and list(p.index) == ["0", "1", "2"]
    assert (np.diag(p) > 0.99).all() and (p.to_numpy()[~np.eye(3, dtype=bool)] < 0).all()
    # a cluster absent from the used cells gives zeros, not NaN
    q = cluster_prior(c, c, 3, use=c < 2)
    assert np.isfinite(q.to_numpy()).all() and (q.loc["2"] == 0).all()
    with pytest.raises(ValueError, match="n_clusters"):
        cluster_prior(c, c, 2)
    with pytest.raises(ValueError, match="same cells"):
        cluster_prior(c, c[:3], 3)


def test_morphovi_example_uses_the_prior_loss():
    path = Path(__file__).resolve().parents[1] / "examples" / "patchseq_morphovi.yaml"
    text = path.read_text()
    assert "remadom prepare patchseq" in text  # the one preparation command in the header
    cfg = parse_config(yaml.safe_load(text))
    assert cfg.model == "morphovi"
    assert cfg.train_kwargs["lambda_p"] > 0 and cfg.train_kwargs["prior_loss_warmup"] == 200
    setup = cfg.setup_kwargs
    assert setup["prior_key"] == "prior"
    assert setup["cluster_key_a"] == "cluster" and setup["cluster_key_b"] == "cluster"
    assert remadom.datasets.patchseq_m1_unpaired is patchseq_m1_unpaired
