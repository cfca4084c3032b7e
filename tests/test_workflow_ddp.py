"""``remadom fit`` under Lightning DDP: ``train: {strategy: ddp, devices: 2, accelerator: cpu}``.

Lightning starts the second process by running the ``remadom fit`` command again, so the run
is a subprocess (2 CPU processes, gloo) on the bundled her2st B1 section (real data, 295
spots). Only rank 0 may write the run directory. Before this was handled, rank 1 found rank 0's
fresh run directory, refused to overwrite it (exit 2), and Lightning then killed rank 0. With
``--overwrite`` it would also have deleted the staging folder that rank 0 was building.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import mudata as md
import numpy as np
import pytest
import yaml

from remadom.train import is_main_process

from .test_ddp import _ddp_unavailable

ROOT = Path(__file__).resolve().parents[1]
CONFIG = {
    "model": "urmf",
    "data": {"dataset": "her2st_b1", "preprocess": {"rna": "rna"}, "n_comps": 15},
    "setup": {"modalities": ["rna"]},
    "model_kwargs": {"n_latent": 8, "n_hidden": 32},
    "train": {
        "max_epochs": 3,
        "batch_size": 64,
        "strategy": "ddp",
        "devices": 2,
        "accelerator": "cpu",
    },
    "outputs": {
        "labels_key": "label",
        "cluster": {"method": "kmeans", "n_clusters": 5},
        "visualization": {"method": "pca"},
    },
}
RUN_FILES = {
    "config.yaml",
    "scores.json",
    "result.h5mu",
    "checkpoints/last.ckpt",
    "images/loss.png",
    "images/latent.png",
    "images/domains.png",
    "logs/hparams.yaml",
    "model/model.pt",
}


def _remadom_fit(args, tmp_path):
    """``remadom fit ARGS`` in a subprocess (the console script, as a user runs it)."""
    exe = Path(sys.executable).with_name("remadom")
    cmd = [str(exe)] if exe.is_file() else [sys.executable, "-m", "remadom.cli"]
    scratch = tmp_path / "tmp"
    scratch.mkdir(exist_ok=True)
    env = {**os.environ, "PYTHONWARNINGS": "ignore", "OMP_NUM_THREADS": "1", "TMPDIR": str(scratch)}
    env.pop("MASTER_PORT", None)  # Lightning picks a free port
    for key in ("RANK", "LOCAL_RANK", "NODE_RANK", "GROUP_RANK", "SLURM_PROCID", "WORLD_SIZE"):
        env.pop(key, None)
    res = subprocess.run(
        [*cmd, "fit", *args, "--no-progress"],
        cwd=tmp_path,
        env=env,
        timeout=300,
        capture_output=True,
        text=True,
    )
    if res.returncode:
        pytest.fail(f"remadom fit failed (exit {res.returncode}):\n{res.stderr[-4000:]}")
    return res


def _check_run(run: Path, res) -> dict:
    result = json.loads(res.stdout)  # one JSON object: rank 1 printed nothing
    assert result["world_size"] == 2 and "MEMBER: 2/2" in res.stderr
    assert json.loads((run / "scores.json").read_text()) == result
    files = {str(p.relative_to(run)) for p in run.rglob("*") if p.is_file()}
    events = {f for f in files if f.startswith("logs/events.out.tfevents")}
    assert files - events == RUN_FILES and len(events) == 1, sorted(files)
    res_data = md.read_h5mu(run / "result.h5mu")
    z = res_data.obsm["X_urmf"]
    assert z.shape == (295, 8) and np.isfinite(z).all()
    assert res_data.obs["domain"].nunique() == result["n_clusters"] == 5
    return result


def test_fit_under_ddp_rank_zero_writes_the_run_once(tmp_path):
    reason = _ddp_unavailable()
    if reason:
        pytest.skip(reason)
    (tmp_path / "ddp.yaml").write_text(yaml.safe_dump(CONFIG))
    run = tmp_path / "run"
    _check_run(run, _remadom_fit(["ddp.yaml", "--output-path", "run"], tmp_path))
    # --overwrite: rank 0 builds the new run in a staging folder that rank 1 must leave alone
    res = _remadom_fit(
        ["ddp.yaml", "--output-path", "run", "--overwrite", "--set", "train.seed=1"], tmp_path
    )
    _check_run(run, res)
    assert yaml.safe_load((run / "config.yaml").read_text())["train"]["seed"] == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ddp.yaml", "run", "tmp"]
    assert not any((tmp_path / "tmp").iterdir())  # rank 1's scratch folder was removed


@pytest.mark.parametrize(
    ("env", "main"),
    [
        ({}, True),
        ({"LOCAL_RANK": "0", "NODE_RANK": "0"}, True),  # Lightning's rank 0 during training
        ({"LOCAL_RANK": "1"}, False),  # a process that Lightning's launcher started
        ({"LOCAL_RANK": "0", "NODE_RANK": "1"}, False),  # rank 0 of the second node
        ({"RANK": "3", "LOCAL_RANK": "1"}, False),  # torchrun
        ({"SLURM_PROCID": "2"}, False),  # srun
        ({"SLURM_PROCID": "0"}, True),
    ],
)
def test_is_main_process(monkeypatch, env, main):
    for key in ("RANK", "LOCAL_RANK", "NODE_RANK", "GROUP_RANK", "SLURM_PROCID"):
        monkeypatch.delenv(key, raising=False)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    assert is_main_process() is main
