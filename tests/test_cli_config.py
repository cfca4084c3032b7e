import json

import pytest
import yaml

from remadom.cli import main
from remadom.config import ConfigError, parse_config

BASE = {
    "model": "urmf",
    "data": {"dataset": "lymph_node_s1", "preprocess": {"prot": "protein"}},
    "setup": {"modalities": ["prot"]},
    "train": {"max_epochs": 3},
    "outputs": {"labels_key": "final_annot", "cluster": {"n_clusters": 10}},
}


def test_valid_config_parses():
    cfg = parse_config(BASE)
    assert cfg.graph.n_neighs == 6 and cfg.setup.hops == [1, 2]


def test_unknown_key_suggests_nearest():
    bad = {**BASE, "train": {"max_epoch": 3}}
    with pytest.raises(ConfigError, match=r"unknown key 'train.max_epoch'.*Did you mean 'max_epochs'"):
        parse_config(bad)


def test_missing_and_invalid_values():
    with pytest.raises(ConfigError, match="missing required key 'setup'"):
        parse_config({k: v for k, v in BASE.items() if k != "setup"})
    with pytest.raises(ConfigError, match="batch_size"):
        parse_config({**BASE, "train": {"batch_size": -1}})
    with pytest.raises(ConfigError, match="preprocess"):
        parse_config({**BASE, "data": {"dataset": "lymph_node_s1", "preprocess": {"rna": "rna"}}})
    with pytest.raises(ConfigError, match="unknown bundled dataset"):
        parse_config({**BASE, "data": {"dataset": "pbmc"}})


def test_cli_fit_writes_outputs_and_refuses_overwrite(tmp_path, capsys):
    cfg = dict(BASE)
    cfg["outputs"] = {**BASE["outputs"], "dir": str(tmp_path / "run")}
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(cfg))
    assert main(["fit", str(path), "--no-progress"]) == 0
    scores = json.loads((tmp_path / "run" / "scores.json").read_text())
    assert scores["n_clusters"] == 10 and 0 <= scores["nmi"] <= 1
    assert (tmp_path / "run" / "domains.png").stat().st_size > 0
    assert (tmp_path / "run" / "model" / "model.pt").exists()
    mtime = (tmp_path / "run" / "model" / "model.pt").stat().st_mtime
    with pytest.raises(FileExistsError, match="overwrite"):
        main(["fit", str(path), "--no-progress"])
    assert (tmp_path / "run" / "model" / "model.pt").stat().st_mtime == mtime


def test_cli_fit_bad_config_exit_code(tmp_path, capsys):
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump({**BASE, "modell": "urmf"}))
    assert main(["fit", str(path)]) == 2
    assert "unknown key 'modell'" in capsys.readouterr().err


MOSAIC = {
    "model": "mosaicvi",
    "problem": "mosaic",
    "data": {"dataset": "lymph_node_s1"},
    "setup": {"modalities": ["prot"]},
    "model_kwargs": {"n_latent": 8},
    "train": {"max_epochs": 3},
    "outputs": {"labels_key": "final_annot", "cluster": {"n_clusters": 10}, "plot": False},
}


def test_mosaicvi_config_model_specific_keys():
    cfg = parse_config({**MOSAIC, "heads": [{"name": "mmd", "weight": 2.0}]})
    assert cfg.problem == "mosaic" and cfg.heads[0]["weight"] == 2.0
    with pytest.raises(ConfigError, match="'setup.hops' is not a mosaicvi setting"):
        parse_config({**MOSAIC, "setup": {"modalities": ["prot"], "hops": [1]}})
    with pytest.raises(ConfigError, match="'problem' is a mosaicvi setting"):
        parse_config({**BASE, "problem": "paired"})
    with pytest.raises(ConfigError, match="'setup.batch_key' is not a urmf setting"):
        parse_config({**BASE, "setup": {"modalities": ["prot"], "batch_key": "b"}})
    with pytest.raises(ConfigError, match="'bernouli' is not a mosaicvi likelihood"):
        parse_config({**MOSAIC, "setup": {"modalities": ["prot"], "likelihoods": {"prot": "bernouli"}}})
    with pytest.raises(ConfigError, match=r"heads.0.*unknown head 'mdm'"):
        parse_config({**MOSAIC, "heads": [{"name": "mdm"}]})
    with pytest.raises(ConfigError, match="problem"):
        parse_config({**MOSAIC, "problem": "multiome"})


def test_cli_fit_mosaicvi(tmp_path):
    cfg = {**MOSAIC, "outputs": {**MOSAIC["outputs"], "dir": str(tmp_path / "mv")}}
    path = tmp_path / "mv.yaml"
    path.write_text(yaml.safe_dump(cfg))
    assert main(["fit", str(path), "--no-progress"]) == 0
    scores = json.loads((tmp_path / "mv" / "scores.json").read_text())
    assert scores["latent_key"] == "X_mosaicvi" and scores["n_clusters"] == 10
    assert 0 <= scores["ari"] <= 1 and "morans_i" in scores
