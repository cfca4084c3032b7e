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


def _example(name):
    from pathlib import Path

    return yaml.safe_load((Path(__file__).resolve().parents[1] / "examples" / name).read_text())


def test_stereomm_configs_validate_and_reject_other_models_keys():
    ref = parse_config(_example("her2st_stereomm.yaml"))
    assert ref.model_kwargs["hidden_dims"] == [2048, 256] and ref.data.image.tile_size == 150
    toy = _example("stereomm_toy.yaml")
    with pytest.raises(ConfigError, match="'setup.hops' is not a stereomm setting"):
        parse_config({**toy, "setup": {"modalities": ["rna"], "hops": [1]}})
    with pytest.raises(ConfigError, match="'setup.n_dims' is not a urmf setting"):
        parse_config({**BASE, "setup": {"modalities": ["prot"], "n_dims": 10}})
    with pytest.raises(ConfigError, match="'train.opt' is a stereomm setting"):
        parse_config({**BASE, "train": {"opt": "adam"}})
    with pytest.raises(ConfigError, match="dim_reduction_method"):
        parse_config({**toy, "setup": {"modalities": ["rna"], "dim_reduction_method": "umap"}})
    with pytest.raises(ConfigError, match="needs 'rna' beside 'image'"):
        parse_config({**toy, "setup": {"modalities": ["image"]}})


def test_cli_fit_stereomm_toy_run(tmp_path):
    """StereoMM's toy run (-t) as a smoke test: synthetic bands, RNA + image features."""
    cfg = _example("stereomm_toy.yaml")
    cfg["outputs"]["dir"] = str(tmp_path / "toy")
    path = tmp_path / "toy.yaml"
    path.write_text(yaml.safe_dump(cfg))
    assert main(["fit", str(path), "--no-progress"]) == 0
    scores = json.loads((tmp_path / "toy" / "scores.json").read_text())
    assert scores["latent_key"] == "X_stereomm" and scores["n_clusters"] == 4
    assert scores["ari"] > 0.5  # four clean synthetic bands


def test_cli_fit_priorvi_with_spatial_modality(tmp_path):
    """PRIORVI from YAML on the bundled lymph node panel, coordinates as a 'spatial' modality."""
    cfg = {"model": "priorvi", "data": {"dataset": "lymph_node_s1"},
           "setup": {"modalities": ["prot"], "spatial_key": "spatial"},
           "model_kwargs": {"prior": "mog", "n_components": 5},
           "train": {"max_epochs": 3},
           "outputs": {"dir": str(tmp_path / "pv"), "labels_key": "final_annot",
                       "cluster": {"n_clusters": 10}}}
    assert parse_config(cfg).setup.spatial_key == "spatial"
    with pytest.raises(ConfigError, match="'setup.spatial_key' is not a urmf setting"):
        parse_config({**BASE, "setup": {"modalities": ["prot"], "spatial_key": "spatial"}})
    with pytest.raises(ConfigError, match="'heads' is a mosaicvi setting"):
        parse_config({**cfg, "heads": [{"name": "mmd"}]})
    path = tmp_path / "pv.yaml"
    path.write_text(yaml.safe_dump(cfg))
    assert main(["fit", str(path), "--no-progress"]) == 0
    scores = json.loads((tmp_path / "pv" / "scores.json").read_text())
    assert scores["latent_key"] == "X_priorvi" and scores["n_clusters"] == 10 and 0 <= scores["ari"] <= 1
    assert parse_config(_example("mop_priorvi.yaml")).model_kwargs["prior"] == "mog"


def test_morphovi_example_config_validates(capsys):
    from pathlib import Path

    path = Path(__file__).resolve().parents[1] / "examples" / "patchseq_morphovi.yaml"
    assert main(["fit", str(path), "--check"]) == 0
    assert "configuration is valid" in capsys.readouterr().out
