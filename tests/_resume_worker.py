"""Models of ``tests/test_resume.py`` on small real data, and the process that gets killed.

``python -m tests._resume_worker DIR MODEL ...`` trains each model with ``checkpoint_dir=DIR/MODEL``
in a forked child (the libraries are imported once, in the parent, before any computation) that
kills itself with SIGKILL part-way through training; it writes ``DIR/MODEL.json`` with the
child's exit signal.
"""

from __future__ import annotations

import json
import os
import signal
import sys
from pathlib import Path

import anndata as ad
import mudata as md
import numpy as np
import pandas as pd
import scvi
from lightning.pytorch.callbacks import Callback

import remadom
from remadom.model import MORPHOVI, MOSAICVI, PRIORVI, STEREOMM, URMF

from ._shared import SHARED

md.set_options(pull_on_update=False)

# model -> file in ../shared/data, epochs (iterations for MORPHOVI), epoch at which the run dies
FILES = {"urmf": "her2st_c1.h5ad", "stereomm": "her2st_c1.h5ad", "mosaicvi": "midas_pbmc_mosaic.h5mu",
         "priorvi": "midas_pbmc_mosaic.h5mu", "morphovi": "patchseq_m1_morph_ephys.h5ad"}
KILL_EPOCH = 3


def _her2st():
    a = ad.read_h5ad(SHARED / FILES["urmf"])
    a = a[:, np.asarray(a.X.sum(0)).ravel() >= 20].copy()  # expressed genes: a quick PCA
    m = md.MuData({"rna": a})
    m.obsm["spatial"] = np.asarray(a.obsm["spatial"], dtype=np.float64)
    return m


def _pbmc():
    full = md.read_h5mu(SHARED / FILES["mosaicvi"])
    keep = full.obs.groupby("batch", observed=True).head(75).index  # 75 cells of each of 4 batches
    mods = {k: full[k][full[k].obs_names.isin(keep)].copy() for k in ("rna", "adt")}
    m = md.MuData(mods)
    m.obs = full.obs[["batch"]].reindex(m.obs_names)
    return m


def _patchseq():
    a = ad.read_h5ad(SHARED / FILES["morphovi"])
    a = a[a.obs["has_ephys"].astype(bool)].copy()[:200]
    names = a.obs_names.astype(str)
    mods = {}
    for key, x in (("morph", a.X), ("ephys", a.obsm["ephys"])):
        x = np.asarray(x, dtype=np.float32)
        x = x[:, ~np.isnan(x).all(0)]  # features undefined in every one of these neurons
        mods[key] = ad.AnnData(x, obs=pd.DataFrame(index=[f"{n}_{key}" for n in names]))
    return md.MuData(mods)


def make(name: str):
    """A freshly set-up model (seed 0) and its ``train()`` arguments."""
    quiet = {"enable_progress_bar": False}
    if name in ("urmf", "stereomm"):
        m = _her2st()
        scvi.settings.seed = 0
        if name == "urmf":
            remadom.pp.pca_rna(m["rna"], n_comps=15, n_top_genes=None)
            remadom.data.spatial_graph(m, n_neighs=6)
            URMF.setup_mudata(m, modalities=["rna"], layers={"rna": "X_pca"})
            return URMF(m), {"max_epochs": 6, "batch_size": 64, **quiet}
        STEREOMM.setup_mudata(m, modalities=["rna"], n_dims=16, dim_reduction_method="pca")
        return STEREOMM(m, hidden_dims=[32, 8], n_latent=8), {"max_epochs": 6, "batch_size": 64, **quiet}
    if name in ("mosaicvi", "priorvi"):
        m = _pbmc()
        scvi.settings.seed = 0
        cls = MOSAICVI if name == "mosaicvi" else PRIORVI
        cls.setup_mudata(m, modalities=["rna", "adt"], batch_key="batch")
        model = (MOSAICVI(m, problem="mosaic", n_hidden=64) if name == "mosaicvi"
                 else PRIORVI(m, n_components=4, n_hidden=64))
        return model, {"max_epochs": 6, "batch_size": 64, **quiet}
    m = _patchseq()
    scvi.settings.seed = 0
    MORPHOVI.setup_mudata(m, modality_a="morph", modality_b="ephys", nan_policy="mask")
    # 400 cells in minibatches of 64: 7 iterations per epoch, 6 epochs
    return MORPHOVI(m, n_latent=4, n_hidden=16), {"max_iter": 42, "batch_size": 64, "gan_w": 1.0, **quiet}


def final_loss(model) -> float:
    return float(model.history["train_loss"].iloc[-1, 0])


class KillAt(Callback):
    """SIGKILL the process at the second minibatch of epoch ``epoch`` (after that epoch's
    predecessor was checkpointed)."""

    def __init__(self, epoch: int):
        self.epoch = epoch

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
        if trainer.current_epoch == self.epoch and batch_idx == min(1, trainer.num_training_batches - 1):
            os.kill(os.getpid(), signal.SIGKILL)


def _kill_during_save(n: int) -> None:
    """SIGKILL the process half-way through writing the ``n``-th checkpoint file."""
    import lightning.fabric.plugins.io.torch_io as tio

    save, calls = tio._atomic_save, []

    def dying_save(checkpoint, path):
        calls.append(path)
        if len(calls) < n:
            return save(checkpoint, path)
        import io

        import torch

        buf = io.BytesIO()
        torch.save(checkpoint, buf)
        with open(path, "wb") as f:
            f.write(buf.getvalue()[: len(buf.getvalue()) // 2])
        os.kill(os.getpid(), signal.SIGKILL)

    tio._atomic_save = dying_save


def _child(name: str, ckpt_dir: Path) -> None:
    model, kw = make(name)
    if name == "urmf":  # dies while writing the checkpoint of epoch KILL_EPOCH
        _kill_during_save(KILL_EPOCH + 1)
        model.train(**kw, checkpoint_dir=str(ckpt_dir))
    else:
        model.train(**kw, checkpoint_dir=str(ckpt_dir), callbacks=[KillAt(KILL_EPOCH)])
    os._exit(0)  # not killed: the test fails on the exit status


def main(out: Path, names: list[str]) -> None:
    for name in names:
        pid = os.fork()
        if pid == 0:
            try:
                _child(name, out / name)
            except BaseException as err:  # noqa: BLE001 - report, never return into the parent's loop
                (out / f"{name}.err").write_text(repr(err))
                os._exit(3)
        _, status = os.waitpid(pid, 0)
        err = out / f"{name}.err"
        (out / f"{name}.json").write_text(json.dumps({
            "signal": os.WTERMSIG(status) if os.WIFSIGNALED(status) else None,
            "exit": os.waitstatus_to_exitcode(status), "error": err.read_text() if err.exists() else None}))


if __name__ == "__main__":
    main(Path(sys.argv[1]), sys.argv[2:])
