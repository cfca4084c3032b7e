"""Kill-and-resume for every model: a run killed with SIGKILL mid-training, resumed from its
``last.ckpt``, ends where the uninterrupted run ends (small real data of ../shared/data)."""

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from remadom.train import NonFiniteLossError, add_checkpointing

from . import _resume_worker as w
from ._shared import shared_file

MODELS = ["urmf", "stereomm", "mosaicvi", "priorvi", "morphovi"]
ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def killed(tmp_path_factory):
    """Checkpoint folders of the runs killed by ``tests/_resume_worker.py`` (one process, a fork
    per model), for the models whose data exist."""
    out = tmp_path_factory.mktemp("killed")
    names = [n for n in MODELS if (w.SHARED / w.FILES[n]).exists()]
    if names:
        env = {**os.environ, "PYTHONWARNINGS": "ignore"}
        res = subprocess.run([sys.executable, "-m", "tests._resume_worker", str(out), *names], cwd=ROOT,
                             env=env, timeout=600, capture_output=True, text=True)
        if res.returncode:
            pytest.fail(f"tests/_resume_worker.py failed:\n{res.stderr[-3000:]}")
    return out


def _load(path: Path) -> dict:
    # the way Lightning reads it on resume (torch's weights_only loader)
    return torch.load(path, map_location="cpu", weights_only=True)


@pytest.mark.shared_data
@pytest.mark.parametrize("name", MODELS)
def test_sigkill_then_resume_matches_uninterrupted(name, killed):
    shared_file(w.FILES[name])
    import json

    status = json.loads((killed / f"{name}.json").read_text())
    assert status["signal"] == 9, status  # the run died by SIGKILL, not by an error or at its end
    ckpt = killed / name / "last.ckpt"
    state = _load(ckpt)  # intact: the file of the last finished epoch loads
    assert state["epoch"] == w.KILL_EPOCH - 1
    assert all(torch.isfinite(v).all() for v in state["state_dict"].values() if v.is_floating_point())
    if name == "urmf":  # killed while writing the next checkpoint: only its temporary file is partial
        assert (killed / name / "last.ckpt.tmp").exists()
    full, kw = w.make(name)
    full.train(**kw)
    resumed, kw = w.make(name)
    resumed.train(**kw, checkpoint_dir=str(killed / name), resume=True)
    a, b = w.final_loss(full), w.final_loss(resumed)
    print(f"{name}: final train_loss uninterrupted {a:.6f}, killed at epoch {w.KILL_EPOCH} and resumed {b:.6f}")
    assert abs(a - b) <= 0.01 * abs(a), (a, b)
    assert _load(ckpt)["epoch"] == kw.get("max_epochs", 6) - 1  # the resumed run kept saving


@pytest.mark.shared_data
def test_nan_failure_keeps_the_last_good_checkpoint(tmp_path):
    shared_file(w.FILES["urmf"])
    from lightning.pytorch.callbacks import Callback

    class Poison(Callback):  # NaN weights at the end of epoch 2: no save, then a NaN loss
        def on_train_epoch_end(self, trainer, pl_module):
            if trainer.current_epoch == 2:
                with torch.no_grad():
                    next(pl_module.module.parameters()).fill_(float("nan"))

    model, kw = w.make("urmf")
    with pytest.warns(RuntimeWarning, match="NaN/inf weights"), pytest.raises(NonFiniteLossError):
        model.train(**kw, checkpoint_dir=str(tmp_path), callbacks=[Poison()])
    state = _load(tmp_path / "last.ckpt")
    assert state["epoch"] == 1
    assert all(torch.isfinite(v).all() for v in state["state_dict"].values() if v.is_floating_point())
    with pytest.raises(FileExistsError, match="resume=True"):  # a new run does not replace it
        w.make("urmf")[0].train(**kw, checkpoint_dir=str(tmp_path))
    resumed, kw = w.make("urmf")
    resumed.train(**kw, checkpoint_dir=str(tmp_path), resume=True)
    assert np.isfinite(resumed.get_latent_representation()).all()


def test_add_checkpointing_arguments(tmp_path):
    assert add_checkpointing({"a": 1}, None) == {"a": 1}
    with pytest.raises(ValueError, match="checkpoint_dir"):
        add_checkpointing({}, None, resume=True)
    with pytest.raises(FileNotFoundError, match="no checkpoint"):
        add_checkpointing({}, tmp_path, resume=True)
    kw = add_checkpointing({"callbacks": [1]}, tmp_path)
    assert kw["callbacks"][0] == 1 and kw["enable_checkpointing"] and "ckpt_path" not in kw
    assert kw["check_val_every_n_epoch"] == sys.maxsize  # no validation set with train_size=1.0
    assert "check_val_every_n_epoch" not in add_checkpointing({}, tmp_path, validate=True)
    (tmp_path / "last.ckpt").write_bytes(b"x")
    assert add_checkpointing({}, tmp_path, resume=True)["ckpt_path"] == str(tmp_path / "last.ckpt")
    with pytest.raises(ValueError, match="not both"):
        add_checkpointing({"ckpt_path": "x"}, tmp_path, resume=True)
    assert add_checkpointing({}, tmp_path, overwrite=True)["enable_checkpointing"]


@pytest.mark.parametrize("model", ["urmf", "stereomm"])
def test_cli_fit_resume(model, tmp_path, monkeypatch, capsys):
    """``remadom fit --resume`` after a crash (URMF's path is MOSAICVI's and PRIORVI's too)."""
    import json

    import yaml

    from remadom.cli import main
    from remadom.train import ResumeCheckpoint

    from .test_cli_config import _example

    if model == "stereomm":
        cfg = _example("stereomm_toy.yaml")
    else:  # the bundled her2st C2 section (187 spots)
        cfg = {"model": "urmf", "data": {"dataset": "her2st_c2", "preprocess": {"rna": "rna"}, "n_comps": 15},
               "setup": {"modalities": ["rna"]}, "train": {}, "outputs": {}}
    cfg["train"]["max_epochs"] = 3
    cfg["outputs"] = {**cfg["outputs"], "dir": str(tmp_path / "run"), "plot": False}
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(cfg))
    save = ResumeCheckpoint.on_train_epoch_end

    def crash_after_epoch_1(self, trainer, pl_module):
        save(self, trainer, pl_module)
        if trainer.current_epoch == 1:
            raise RuntimeError("simulated crash")

    with monkeypatch.context() as m:
        m.setattr(ResumeCheckpoint, "on_train_epoch_end", crash_after_epoch_1)
        with pytest.raises(RuntimeError, match="simulated crash"):
            main(["fit", str(path), "--no-progress"])
    last = tmp_path / "run" / "checkpoints" / "last.ckpt"
    assert _load(last)["epoch"] == 1
    capsys.readouterr()
    assert main(["fit", str(path), "--no-progress"]) == 2  # refuses to start over it
    assert "--resume" in capsys.readouterr().err and last.exists()
    assert main(["fit", str(path), "--no-progress", "--resume"]) == 0
    assert json.loads(capsys.readouterr().out)["latent_key"] == f"X_{model}"
    assert last.exists()  # kept in the run directory's checkpoints/
    assert main(["fit", str(tmp_path / "c.yaml"), "--no-progress", "--resume",
                 "--set", f"outputs.dir={tmp_path / 'other'}"]) == 2
    assert "no checkpoint" in capsys.readouterr().err
