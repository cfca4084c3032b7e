"""remadom.workflow: the seeds' YAML spellings, the CSV and image inputs, the run directory.

The spelling and input tests use small synthetic tables and images (shapes and mechanics only);
the two real-data runs use the Patch-seq neurons of ../shared/data (skipped when absent) and
the bundled her2st C2 section with its H&E image.
"""

import json

import anndata as ad
import mudata as md
import numpy as np
import pandas as pd
import pytest
import yaml

from remadom.cli import main
from remadom.workflow import (
    ConfigError,
    parse_config,
    prepare_run_dir,
    read_image,
    read_image_features,
    translate_morpho,
)

from ._shared import shared_file

md.set_options(pull_on_update=False)

# the morpho_integration seed's own spellings, as its YAML files write them
SEED_YAML = """\
model: morphovi
data: {path: cells.h5mu}
max_iter: 600
batch_size: 64
lr: 0.0001
init: orthogonal
gen: {dim: 32, latent: 8}
dis: {gan_type: wgan, dim: 16, norm: none}
loss_schedule: {kl_loss: 1, recon_loss: 1, gan_loss: 2, gw_loss: 3, prior_loss: 1}
phase_durations: {phase_1: 200, phase_2: 400}
snapshot_save_iter: 100
image_save_iter: 200
knn_save_iter: 50
"""


def test_morpho_seed_spellings_load_unchanged(tmp_path):
    path = tmp_path / "seed.yaml"
    path.write_text(SEED_YAML)
    cfg = parse_config(path)
    t, mk = cfg.train_kwargs, cfg.model_kwargs
    assert t["loss_schedule"] == {"kl": 1, "recon": 1, "gan": 2, "gw": 3, "prior": 1}
    # the seed's last phase (3) runs to the end: it starts after phases 1 and 2
    assert t["phase_durations"] == {1: 200, 2: 400, 3: 0}
    assert mk == {"n_hidden": 32, "n_latent": 8, "gan_type": "wgan-gp", "dis_dim": 16,
                  "dis_norm": "none", "init": "orthogonal"}
    assert t["max_iter"] == 600 and t["batch_size"] == 64 and t["lr"] == 1e-4
    o = cfg.outputs
    assert (o.checkpoint_every, o.plot_every, o.knn_every) == (100, 200, 50)

    from remadom.train import PhaseSchedule

    s = PhaseSchedule(t["loss_schedule"], t["phase_durations"])
    assert [s.active("gan", i) for i in (199, 200)] == [False, True]
    assert [s.active("gw", i) for i in (599, 600, 10_000)] == [False, True, True]
    # the same keys in this schema's own sections give the same configuration
    own = {"model": "morphovi", "data": {"path": "cells.h5mu"},
           "model_kwargs": {"n_hidden": 32, "n_latent": 8, "gan_type": "wgan-gp", "dis_dim": 16,
                            "dis_norm": "none", "init": "orthogonal"},
           "train": {"max_iter": 600, "batch_size": 64, "lr": 1e-4, "loss_schedule": t["loss_schedule"],
                     "phase_durations": {1: 200, 2: 400, 3: 0}},
           "outputs": {"checkpoint_every": 100, "plot_every": 200, "knn_every": 50}}
    other = parse_config(own)
    assert other.train_kwargs == t and other.model_kwargs == mk


def test_morpho_seed_spelling_errors():
    doc = yaml.safe_load(SEED_YAML)
    with pytest.raises(ConfigError, match=r"unknown key 'dis.gan_typ'.*Did you mean 'gan_type'"):
        parse_config({**doc, "dis": {"gan_typ": "wgan"}})
    with pytest.raises(ConfigError, match=r"'dis.gan_type'.*not one of \['lsgan', 'nsgan', 'wgan-gp'\]"):
        parse_config({**doc, "dis": {"gan_type": "hinge"}})
    with pytest.raises(ConfigError, match=r"'init'.*not one of"):
        parse_config({**doc, "init": "uniform"})
    with pytest.raises(ConfigError, match="'lr' and 'train.lr' are the same setting"):
        parse_config({**doc, "train": {"lr": 1e-3}})
    with pytest.raises(ConfigError, match=r"unknown key 'max_iters'.*Did you mean 'max_iter'"):
        parse_config({**doc, "max_iters": 3})
    with pytest.raises(ConfigError, match=r"phase\(s\) \[4\] that phase_durations lacks"):
        parse_config({**doc, "loss_schedule": {"gw_loss": 4}})
    with pytest.raises(ConfigError, match="'outputs.knn_every' is a morphovi setting"):
        parse_config({"model": "urmf", "data": {"path": "x.h5mu"}, "setup": {"modalities": ["rna"]},
                      "outputs": {"knn_every": 5}})
    with pytest.raises(ConfigError, match="'data.image' is set but 'setup.modalities' has no 'image'"):
        parse_config({"model": "stereomm", "data": {"path": "x.h5ad", "image": {"path": "he.tif"}},
                      "setup": {"modalities": ["rna"]}})
    assert translate_morpho(doc) is not doc and "gen" in doc  # the input is not changed


def test_orthogonal_init():
    import torch

    from remadom.train import INITS, init_weights

    assert "orthogonal" in INITS
    layer = torch.nn.Sequential(torch.nn.Linear(40, 12))
    init_weights(layer, "orthogonal")
    w = layer[0].weight.detach()
    torch.testing.assert_close(w @ w.T, torch.eye(12), atol=1e-5, rtol=0)
    assert torch.count_nonzero(layer[0].bias) == 0


def _tables(n=90, seed=0):
    rng = np.random.default_rng(seed)
    lab = rng.integers(0, 3, n)
    z = rng.normal(size=(n, 4)) + lab[:, None] * 2
    a = (z @ rng.normal(size=(4, 20))).astype(np.float32)
    b = (z @ rng.normal(size=(4, 12))).astype(np.float32)
    return a, b, lab


def _write_csv_layout(tmp_path, n=90):
    """The seed's CSV layout: one table per modality, labels, the cluster-label CSVs, a prior."""
    a, b, lab = _tables(n)
    ia, ib = [f"m{i}" for i in range(n)], [f"g{i}" for i in range(n)]
    pd.DataFrame(a, index=ia, columns=[f"f{j}" for j in range(a.shape[1])]).to_csv(tmp_path / "morpho.csv")
    pd.DataFrame(b, index=ib, columns=[f"gene{j}" for j in range(b.shape[1])]).to_csv(tmp_path / "GEX.csv")
    pd.DataFrame({"label": lab}, index=ia).to_csv(tmp_path / "label_morpho.csv")
    pd.DataFrame({"label": lab}, index=ib).to_csv(tmp_path / "label_GEX.csv")
    pd.DataFrame({"cluster": [f"M{c}" for c in lab]}, index=ia).to_csv(tmp_path / "cluster_label_morpho.csv")
    pd.DataFrame({"cluster": [f"G{c}" for c in lab]}, index=ib).to_csv(tmp_path / "cluster_label_GEX.csv")
    prior = pd.DataFrame(np.eye(3), index=[f"M{i}" for i in range(3)], columns=[f"G{i}" for i in range(3)])
    prior.to_csv(tmp_path / "prior.csv")
    return {"csv_a": str(tmp_path / "morpho.csv"), "csv_b": str(tmp_path / "GEX.csv"),
            "labels_csv_a": str(tmp_path / "label_morpho.csv"), "labels_csv_b": str(tmp_path / "label_GEX.csv"),
            "cluster_csv_a": str(tmp_path / "cluster_label_morpho.csv"),
            "cluster_csv_b": str(tmp_path / "cluster_label_GEX.csv"), "prior_csv": str(tmp_path / "prior.csv"),
            "modality_a": "morph", "modality_b": "rna"}


def test_cli_seed_csv_layout_prior_and_every_n_outputs(tmp_path, capsys):
    """The seed's CSV layout (cluster-label CSVs feed the prior loss), its spellings and its
    every-N-iteration checkpoints, plots and kNN accuracy, through ``remadom fit``."""
    data = _write_csv_layout(tmp_path)
    doc = {**yaml.safe_load(SEED_YAML), "data": data, "max_iter": 12, "batch_size": 32,
           "lambda_p": 1.0, "prior_loss_warmup": 4, "gen": {"dim": 16, "latent": 4},
           "phase_durations": {"phase_1": 4, "phase_2": 4}, "snapshot_save_iter": 6,
           "image_save_iter": 6, "knn_save_iter": 4, "visualization": {"method": "pca"}}
    cfg = parse_config(doc)
    assert cfg.setup_kwargs["cluster_key_a"] == "cluster" and cfg.setup_kwargs["prior_key"] == "prior"
    path = tmp_path / "seed.yaml"
    path.write_text(yaml.safe_dump(doc))
    run = tmp_path / "run"
    assert main(["fit", str(path), "--output-path", str(run), "--no-progress"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result == json.loads((run / "scores.json").read_text()) and result["run_dir"] == str(run)
    for f in ("config.yaml", "checkpoints/last.ckpt", "checkpoints/iter_000006.ckpt",
              "checkpoints/iter_000012.ckpt", "images/latent_iter_000006.png", "images/latent.png",
              "images/loss.png", "result.h5mu", "model/model.pt"):
        assert (run / f).is_file(), f
    assert any((run / "logs").glob("events.out.tfevents*"))
    knn = pd.read_csv(run / "knn_accuracy.txt", sep="\t")
    assert knn["iteration"].astype(str).tolist() == ["4", "8", "12", "final"]
    assert knn["label_rna_to_morph"].between(0, 1).all() and 0 <= result["foscttm"] <= 1
    res = md.read_h5mu(run / "result.h5mu")
    z = res.obsm["X_morphovi"]
    assert z.shape == (180, 4) and np.isfinite(z).all()
    assert res["morph"].obs["cluster"].nunique() == 3 and res.uns["prior"].shape == (3, 3)
    # the prior loss was on (lambda_p > 0 with the clusters and the prior matrix)
    from remadom.model import MORPHOVI

    model = MORPHOVI.load(str(run / "model"), adata=res)
    assert model.module.prior_matrix.shape == (3, 3)


def test_cli_csv_errors_leave_no_run(tmp_path, capsys):
    data = _write_csv_layout(tmp_path)
    pd.DataFrame({"cluster": ["M0"] * 10}, index=[f"m{i}" for i in range(10)]).to_csv(
        tmp_path / "short.csv")
    doc = {**yaml.safe_load(SEED_YAML), "data": {**data, "cluster_csv_a": str(tmp_path / "short.csv")},
           "max_iter": 6, "batch_size": 32}
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(doc))
    assert main(["fit", str(path), "--output-path", str(tmp_path / "run"), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert "cluster CSV of 'morph'" in err and "no row for 80 of the 90 cells" in err
    # one error line (a logging handler left by an earlier test may add its own complaint)
    assert [ln for ln in err.splitlines() if ln.startswith("remadom fit:")] == [err.strip().splitlines()[-1]]
    assert not (tmp_path / "run").exists()
    doc["data"]["cluster_csv_a"] = str(tmp_path / "nothere.csv")
    path.write_text(yaml.safe_dump(doc))
    assert main(["fit", str(path), "--check"]) == 2
    assert "data.cluster_csv_a" in capsys.readouterr().err


def test_run_directory_overwrite_rule(tmp_path):
    run = tmp_path / "run"
    doc = {"model": "urmf"}
    assert prepare_run_dir(run, doc, resume=False, overwrite=False) == run  # absent: fine
    run.mkdir()
    assert prepare_run_dir(run, doc, resume=False, overwrite=False) == run  # empty: fine
    (run / "config.yaml").write_text(yaml.safe_dump(doc))
    with pytest.raises(FileExistsError, match="a previous run; nothing was overwritten"):
        prepare_run_dir(run, doc, resume=False, overwrite=False)
    with pytest.raises(FileExistsError, match="another configuration's run"):
        prepare_run_dir(run, {"model": "stereomm"}, resume=False, overwrite=False)
    with pytest.raises(FileNotFoundError, match="no checkpoint"):
        prepare_run_dir(run, doc, resume=True, overwrite=False)
    (run / "checkpoints").mkdir()
    (run / "checkpoints" / "last.ckpt").write_bytes(b"x")
    assert prepare_run_dir(run, doc, resume=True, overwrite=False) == run
    with pytest.raises(FileExistsError, match="another configuration"):
        prepare_run_dir(run, {"model": "stereomm"}, resume=True, overwrite=False)
    staging = prepare_run_dir(run, doc, resume=False, overwrite=True)
    assert staging != run and staging.parent == run.parent and not staging.exists()
    with pytest.raises(ValueError, match="pass one of them"):
        prepare_run_dir(run, doc, resume=True, overwrite=True)


def test_failed_overwrite_keeps_the_previous_run(tmp_path, capsys):
    data = _write_csv_layout(tmp_path)
    doc = {**yaml.safe_load(SEED_YAML), "data": data, "max_iter": 6, "batch_size": 32,
           "gen": {"dim": 8, "latent": 2}, "loss_schedule": {}, "phase_durations": {},
           "visualization": {"method": "pca"}}
    for k in ("snapshot_save_iter", "image_save_iter", "knn_save_iter"):
        doc.pop(k)
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(doc))
    run = tmp_path / "run"
    assert main(["fit", str(path), "--output-path", str(run), "--no-progress"]) == 0
    before = {p.name: p.stat().st_mtime_ns for p in (run / "checkpoints").iterdir()}
    scores = (run / "scores.json").read_text()
    # a run that fails (input_dim_a does not match the data) with --overwrite: the old run stays
    path.write_text(yaml.safe_dump({**doc, "input_dim_a": 21}))
    assert main(["fit", str(path), "--output-path", str(run), "--overwrite", "--no-progress"]) == 2
    assert "input_dim_a: 21" in capsys.readouterr().err
    assert {p.name: p.stat().st_mtime_ns for p in (run / "checkpoints").iterdir()} == before
    assert (run / "scores.json").read_text() == scores
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []
    # a run that finishes with --overwrite replaces it
    path.write_text(yaml.safe_dump({**doc, "seed": 1}))
    assert main(["fit", str(path), "--output-path", str(run), "--overwrite", "--no-progress"]) == 0
    assert yaml.safe_load((run / "config.yaml").read_text())["seed"] == 1
    assert (run / "checkpoints" / "last.ckpt").stat().st_mtime_ns != before["last.ckpt"]


@pytest.mark.parametrize("suffix", [".tif", ".jpg"])
def test_read_image_file_into_uns_spatial(tmp_path, suffix):
    from PIL import Image

    rng = np.random.default_rng(0)
    img = rng.integers(0, 255, size=(60, 80, 3), dtype=np.uint8)
    path = tmp_path / f"he{suffix}"
    Image.fromarray(img).save(path)
    a = ad.AnnData(np.ones((4, 2), dtype=np.float32))
    a.obsm["spatial"] = np.array([[10, 10], [20, 30], [60, 40], [100, 80]], dtype=float)
    cfg = parse_config({"model": "stereomm", "data": {"path": "x.h5ad", "image": {
        "path": str(path), "scale_factor": 0.5, "spot_diameter": 20}}, "setup": {"modalities": ["rna", "image"]}})
    lib = read_image(a, cfg.data.image)
    got = a.uns["spatial"][lib]
    assert lib == "image" and got["images"]["hires"].shape == (60, 80, 3)
    if suffix == ".tif":  # lossless
        np.testing.assert_array_equal(got["images"]["hires"], img)
    assert got["scalefactors"] == {"tissue_hires_scalef": 0.5, "spot_diameter_fullres": 20.0}

    from remadom.pp import image_features

    image_features(a, library_id=lib, features=("summary",))
    assert a.obsm["X_image"].shape[0] == 4 and np.isfinite(a.obsm["X_image"]).all()


def test_read_image_features_back(tmp_path):
    feats = np.arange(12, dtype=np.float32).reshape(4, 3)
    a = ad.AnnData(np.ones((4, 2), dtype=np.float32), obs=pd.DataFrame(index=list("abcd")))
    a.obsm["X_image"] = feats
    md.MuData({"rna": a}).write_h5mu(tmp_path / "prev.h5mu")
    np.testing.assert_array_equal(read_image_features(tmp_path / "prev.h5mu", pd.Index(list("dba"))),
                                  feats[[3, 1, 0]])
    with pytest.raises(ValueError, match="lacks 1 of the 2 spots"):
        read_image_features(tmp_path / "prev.h5mu", pd.Index(["a", "z"]))
    with pytest.raises(ValueError, match="has no obsm\\['X_other'\\]"):
        read_image_features(tmp_path / "prev.h5mu", pd.Index(["a"]), key="X_other")


# ------------------------------------------------------------------------------- real data
@pytest.mark.shared_data
def test_cli_morpho_seed_yaml_on_patchseq(tmp_path):
    """A morpho-seed-style YAML on the Patch-seq neurons (morphology vs electrophysiology, given
    as two unpaired tables in the seed's CSV layout with its cluster-label CSVs)."""
    from sklearn.cluster import KMeans

    a = ad.read_h5ad(shared_file("patchseq_m1_morph_ephys.h5ad"))
    a = a[a.obs["has_ephys"].astype(bool)].copy()
    names = a.obs_names.astype(str)
    morph = pd.DataFrame(np.asarray(a.X, dtype=np.float32), index=[f"{n}_morph" for n in names],
                         columns=a.var_names.astype(str))
    ephys = pd.DataFrame(np.asarray(a.obsm["ephys"], dtype=np.float32), index=[f"{n}_ephys" for n in names])
    morph.to_csv(tmp_path / "morpho.csv")
    ephys.to_csv(tmp_path / "GEX.csv")
    fam = a.obs["rna_family"].astype(str).to_numpy()
    pd.DataFrame({"label": fam}, index=morph.index).to_csv(tmp_path / "label_morpho.csv")
    pd.DataFrame({"label": fam}, index=ephys.index).to_csv(tmp_path / "label_GEX.csv")

    def kmeans(x):
        x = np.nan_to_num((x - np.nanmean(x, 0)) / (np.nanstd(x, 0) + 1e-8))
        return KMeans(4, n_init=4, random_state=0).fit_predict(x)

    cm, ce = kmeans(morph.to_numpy()), kmeans(ephys.to_numpy())
    pd.DataFrame({"cluster": cm.astype(str)}, index=morph.index).to_csv(tmp_path / "cluster_label_morpho.csv")
    pd.DataFrame({"cluster": ce.astype(str)}, index=ephys.index).to_csv(tmp_path / "cluster_label_GEX.csv")
    prior = np.nan_to_num(np.corrcoef(np.eye(4)[cm].T, np.eye(4)[ce].T)[:4, 4:])
    pd.DataFrame(prior, index=[str(i) for i in range(4)], columns=[str(i) for i in range(4)]).to_csv(
        tmp_path / "prior.csv")
    doc = yaml.safe_load(SEED_YAML)
    doc.update({
        "data": {"csv_a": "morpho.csv", "csv_b": "GEX.csv", "labels_csv_a": "label_morpho.csv",
                 "labels_csv_b": "label_GEX.csv", "cluster_csv_a": "cluster_label_morpho.csv",
                 "cluster_csv_b": "cluster_label_GEX.csv", "prior_csv": "prior.csv",
                 "modality_a": "morph", "modality_b": "ephys", "nan_policy": "mask"},
        "max_iter": 22, "batch_size": 128, "lambda_p": 1.0, "gw_w": 1.0, "input_dim_a": 61, "input_dim_b": 29,
        "phase_durations": {"phase_1": 5, "phase_2": 5}, "snapshot_save_iter": 11, "image_save_iter": 22,
        "knn_save_iter": 11, "visualization": {"method": "pca"}})
    (tmp_path / "patchseq.yaml").write_text(yaml.safe_dump(doc))
    import os

    cwd = os.getcwd()
    os.chdir(tmp_path)  # relative paths, as in the seed's layout
    try:
        assert main(["fit", "patchseq.yaml", "--output-path", "run", "--no-progress"]) == 0
    finally:
        os.chdir(cwd)
    run = tmp_path / "run"
    for f in ("config.yaml", "checkpoints/last.ckpt", "checkpoints/iter_000011.ckpt", "images/latent.png",
              "images/latent_iter_000022.png", "images/loss.png", "result.h5mu", "scores.json"):
        assert (run / f).is_file(), f
    assert any((run / "logs").glob("events.out.tfevents*"))
    res = md.read_h5mu(run / "result.h5mu")
    z = res.obsm["X_morphovi"]
    assert z.shape == (2 * len(names), 8) and np.isfinite(z).all()
    scores = json.loads((run / "scores.json").read_text())
    assert 0 <= scores["foscttm"] <= 1 and 0 <= scores["label_ephys_to_morph"] <= 1
    knn = pd.read_csv(run / "knn_accuracy.txt", sep="\t")
    assert knn["iteration"].astype(str).tolist()[-1] == "final" and len(knn) >= 3


def test_cli_stereomm_he_image_file_on_her2st_c2(tmp_path):
    """STEREOMM with ``data.image.path``: the bundled her2st C2 H&E written as a TIFF and read
    back through squidpy (as StereoMM's ``-i image.tif``), 1 epoch; the image features are in
    the result file and a second run reads them from it instead of computing them."""
    from PIL import Image

    from remadom.datasets import her2st_c2

    st = her2st_c2()
    lib = st.uns["spatial"]["C2"]
    Image.fromarray(np.asarray(lib["images"]["hires"])).save(tmp_path / "C2_he.tif")
    scalef = lib["scalefactors"]["tissue_hires_scalef"]
    del st.uns["spatial"]  # the image comes from the file only
    st.write_h5ad(tmp_path / "c2.h5ad")
    doc = {"model": "stereomm",
           "data": {"path": str(tmp_path / "c2.h5ad"),
                    "image": {"path": str(tmp_path / "C2_he.tif"), "scale_factor": scalef,
                              "tile_size": 150, "features": ["summary", "histogram"]}},
           "setup": {"modalities": ["rna", "image"], "n_dims": 64},
           "model_kwargs": {"hidden_dims": [64, 16], "n_latent": 8},
           "train": {"max_epochs": 1},
           "outputs": {"dir": str(tmp_path / "run1"), "labels_key": "expr_cluster",
                       "cluster": {"method": "kmeans", "n_clusters": 7}, "save_model": False,
                       "visualization": {"method": "pca"}}}
    path = tmp_path / "c2.yaml"
    path.write_text(yaml.safe_dump(doc))
    assert main(["fit", str(path), "--no-progress"]) == 0
    res = md.read_h5mu(tmp_path / "run1" / "result.h5mu")
    feats = res.obsm["X_image"]
    assert feats.shape[0] == 187 and feats.shape[1] > 10 and np.isfinite(feats).all()
    assert res["rna"].uns["spatial"]["image"]["images"]["hires"].shape == (2000, 1871, 3)
    z = res.obsm["X_stereomm"]
    assert z.shape == (187, 8) and np.isfinite(z).all()
    assert (tmp_path / "run1" / "images" / "domains.png").is_file()
    # the features read back from the first result instead of recomputed
    doc["data"]["image"] = {"features_from": str(tmp_path / "run1" / "result.h5mu")}
    doc["outputs"].update(dir=str(tmp_path / "run2"), plot=False, cluster=None)
    path.write_text(yaml.safe_dump(doc))
    assert main(["fit", str(path), "--no-progress"]) == 0
    res2 = md.read_h5mu(tmp_path / "run2" / "result.h5mu")
    np.testing.assert_array_equal(res2.obsm["X_image"], feats)


def test_help_loads_no_heavy_dependency():
    """``remadom --help`` and ``remadom fit --help`` parse without PyTorch or scvi-tools."""
    import subprocess
    import sys

    code = (
        "import sys, json\n"
        "from remadom.cli import main\n"
        "for argv in (['--help'], ['fit', '--help']):\n"
        "    try:\n"
        "        main(argv)\n"
        "    except SystemExit as e:\n"
        "        assert e.code == 0\n"
        "heavy = ('scvi', 'torch', 'lightning', 'scanpy', 'squidpy', 'pydantic')\n"
        "print(json.dumps(sorted(m for m in heavy if m in sys.modules)))\n"
    )
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    assert "--overwrite" in res.stdout and "--resume" in res.stdout and "run directory" in res.stdout
    assert json.loads(res.stdout.strip().splitlines()[-1]) == []
