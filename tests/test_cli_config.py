import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

import remadom
from remadom.cli import main
from remadom.workflow import (
    ConfigError,
    apply_overrides,
    config_parameters,
    load_yaml,
    parse_config,
)

BASE = {
    "model": "urmf",
    "data": {"dataset": "lymph_node_s1", "preprocess": {"prot": "protein"}},
    "setup": {"modalities": ["prot"]},
    "train": {"max_epochs": 3},
    "outputs": {"labels_key": "final_annot", "cluster": {"n_clusters": 10}},
}


def test_valid_config_parses():
    cfg = parse_config(BASE)
    assert cfg.graph.n_neighs == 6 and cfg.setup.modalities == ["prot"]
    # setup keys and their defaults are URMF.setup_mudata's own
    assert config_parameters("urmf", "setup")["hops"].default == (1, 2)
    assert parse_config({**BASE, "setup": {"modalities": ["prot"], "hops": [1]}}).setup.hops == (1,)


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
    assert json.loads(capsys.readouterr().out) == scores  # stdout: the result alone
    assert scores["n_clusters"] == 10 and 0 <= scores["nmi"] <= 1
    run = tmp_path / "run"
    assert (run / "images" / "domains.png").stat().st_size > 0
    assert (run / "images" / "loss.png").exists() and (run / "result.h5mu").exists()
    assert (run / "checkpoints" / "last.ckpt").exists() and any((run / "logs").glob("events.out.tfevents*"))
    assert yaml.safe_load((run / "config.yaml").read_text()) == cfg
    assert (run / "model" / "model.pt").exists()
    mtime = (tmp_path / "run" / "model" / "model.pt").stat().st_mtime
    assert main(["fit", str(path), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert "overwrite" in err and err.count("\n") == 1
    assert (tmp_path / "run" / "model" / "model.pt").stat().st_mtime == mtime


def test_cli_fit_bad_config_exit_code(tmp_path, capsys):
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump({**BASE, "modell": "urmf"}))
    assert main(["fit", str(path)]) == 2
    assert "unknown key 'modell'" in capsys.readouterr().err


MOSAIC = {
    "model": "mosaicvi",
    "problem": "mosaic",
    # one of the 3484 spots has no ADT count: count models refuse it, so the run drops it
    "data": {"dataset": "lymph_node_s1", "min_counts": 1},
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
    with pytest.raises(ConfigError, match="'train.opt' is not a urmf setting; it is a stereomm setting"):
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
    cfg = {"model": "priorvi", "data": {"dataset": "lymph_node_s1", "min_counts": 1},
           "setup": {"modalities": ["prot"], "spatial_key": "spatial"},
           "model_kwargs": {"prior": "mog", "n_components": 5},
           "train": {"max_epochs": 3},
           "outputs": {"dir": str(tmp_path / "pv"), "labels_key": "final_annot",
                       "cluster": {"n_clusters": 10}}}
    assert parse_config(cfg).setup.spatial_key == "spatial"
    # the same key name is URMF's own setup argument (the coordinates' obsm key), read from its signature
    assert parse_config({**BASE, "setup": {"modalities": ["prot"], "spatial_key": "xy"}}).setup.spatial_key == "xy"
    with pytest.raises(ConfigError, match="'heads' is a mosaicvi setting"):
        parse_config({**cfg, "heads": [{"name": "mmd"}]})
    path = tmp_path / "pv.yaml"
    path.write_text(yaml.safe_dump(cfg))
    assert main(["fit", str(path), "--no-progress"]) == 0
    scores = json.loads((tmp_path / "pv" / "scores.json").read_text())
    assert scores["latent_key"] == "X_priorvi" and scores["n_clusters"] == 10 and 0 <= scores["ari"] <= 1
    assert parse_config(_example("mop_priorvi.yaml")).model_kwargs["prior"] == "mog"


def test_morphovi_example_config_validates(tmp_path, capsys):
    """The example validates; ``--check`` passes once its input files exist (via ``--set``)."""
    path = Path(__file__).resolve().parents[1] / "examples" / "patchseq_morphovi.yaml"
    doc = yaml.safe_load(path.read_text())
    assert parse_config(doc).model == "morphovi"
    sets = []
    for key in ("path", "csv_a", "csv_b", "labels_csv_a", "labels_csv_b", "prior_csv"):
        if doc["data"].get(key):
            f = tmp_path / Path(doc["data"][key]).name
            f.write_text("")
            sets += ["--set", f"data.{key}={f}"]
    assert sets, "the example names no input file"
    assert main(["fit", str(path), "--check", *sets]) == 0
    assert "configuration is valid" in capsys.readouterr().out
    missing = str(tmp_path / "missing.h5mu")
    if doc["data"].get("path"):
        assert main(["fit", str(path), "--check", "--set", f"data.path={missing}"]) == 2
        assert "data.path" in capsys.readouterr().err


def _write(tmp_path, doc, name="c.yaml"):
    path = tmp_path / name
    path.write_text(yaml.safe_dump(doc) if isinstance(doc, dict) else doc)
    return path


def test_cli_version(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["--version"])
    assert exit_info.value.code == 0
    assert capsys.readouterr().out.strip() == f"remadom {remadom.__version__}"


def test_set_overrides_change_the_parsed_config(tmp_path):
    doc = load_yaml(_write(tmp_path, BASE))
    new = apply_overrides(doc, ["train.max_epochs=7", "train.lr=0.01", "graph.radius=null",
                                "outputs.cluster.method=kmeans", "train.trainer.log_every_n_steps=2",
                                "data.preprocess={prot: none}"])
    cfg = parse_config(new)
    assert cfg.train.max_epochs == 7 and cfg.train.lr == 0.01 and cfg.graph.radius is None
    assert cfg.outputs.cluster.method == "kmeans" and cfg.outputs.cluster.n_clusters == 10
    assert cfg.train.trainer == {"log_every_n_steps": 2} and cfg.data.preprocess == {"prot": "none"}
    assert doc == BASE  # the loaded dict is not modified
    heads = apply_overrides({**MOSAIC, "heads": [{"name": "mmd"}]}, ["heads.0.weight=2.5"])
    assert parse_config(heads).heads == [{"name": "mmd", "weight": 2.5}]


def test_set_bad_keys_error(tmp_path, capsys):
    with pytest.raises(ConfigError, match=r"unknown top-level key 'trian'.*Did you mean 'train'"):
        apply_overrides(BASE, ["trian.max_epochs=3"])
    with pytest.raises(ConfigError, match="KEY.SUB=VALUE"):
        apply_overrides(BASE, ["train.max_epochs"])
    with pytest.raises(ConfigError, match="'train.max_epochs' is 3, not a section"):
        apply_overrides(BASE, ["train.max_epochs.x=1"])
    with pytest.raises(ConfigError, match="index it with 0 to 0"):
        apply_overrides({**MOSAIC, "heads": [{"name": "mmd"}]}, ["heads.1.weight=2"])
    # keys below the top level are checked by validation, with the nearest key
    with pytest.raises(ConfigError, match="unknown key 'train.max_epoch'.*'max_epochs'"):
        parse_config(apply_overrides(BASE, ["train.max_epoch=3"]))
    path = _write(tmp_path, BASE)
    assert main(["fit", str(path), "--check", "--set", "trian.max_epochs=3"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("remadom fit: --set 'trian.max_epochs=3'") and err.count("\n") == 1
    assert main(["fit", str(path), "--check", "--set", "train.max_epochs=3"]) == 0


def test_malformed_yaml_one_line_error(tmp_path, capsys):
    path = _write(tmp_path, "model: urmf\ndata:\n  dataset: lymph_node_s1\n   setup: [prot\n")
    assert main(["fit", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "line 4" in err and "invalid YAML" in err
    with pytest.raises(ConfigError, match="line 4"):
        parse_config(path)


def test_missing_files_exit_2_and_check_fails(tmp_path, capsys):
    assert main(["fit", str(tmp_path / "nothere.yaml"), "--check"]) == 2
    assert "nothere.yaml' not found" in capsys.readouterr().err
    cfg = {**BASE, "data": {"path": str(tmp_path / "nothere.h5mu")}}
    path = _write(tmp_path, cfg)
    for extra in (["--check"], ["--no-progress"]):
        assert main(["fit", str(path), *extra]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and "data.path" in err and "does not exist" in err
    (tmp_path / "nothere.h5mu").write_text("")
    assert main(["fit", str(path), "--check"]) == 0


def test_unknown_model_lists_all_models(tmp_path, capsys):
    with pytest.raises(ConfigError, match="Did you mean 'urmf'.*urmf, mosaicvi, stereomm, priorvi, morphovi"):
        parse_config({**BASE, "model": "urmff"})
    assert main(["fit", str(_write(tmp_path, {**BASE, "model": "scvi"})), "--check"]) == 2
    assert "morphovi" in capsys.readouterr().err


def test_cli_stdout_is_the_json_result_alone(tmp_path):
    """A real process with the progress bar on: the bar and the logs go to stderr."""
    cfg = {"model": "urmf", "setup": {"modalities": ["rna"]},
           "data": {"dataset": "synthetic_spatial", "preprocess": {"rna": "rna"}, "n_comps": 10},
           "outputs": {"dir": str(tmp_path / "run"), "save_model": False, "plot": False,
                       "cluster": {"method": "kmeans", "n_clusters": 4}}}
    path = _write(tmp_path, cfg)
    res = subprocess.run([sys.executable, "-m", "remadom.cli", "fit", str(path),
                          "--set", "train.max_epochs=2"], capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr
    result = json.loads(res.stdout)
    assert result["latent_key"] == "X_urmf" and result["n_clusters"] == 4
    assert "Epoch" in res.stderr  # the progress bar
