"""Resumable training: Lightning checkpoints for every model's ``train(checkpoint_dir=, resume=)``."""

from __future__ import annotations

import os
import random
import sys
import warnings
from pathlib import Path

import numpy as np
import torch
from lightning.pytorch.callbacks import ModelCheckpoint
from scvi.train import SaveCheckpoint

LAST = "last.ckpt"


class ResumeCheckpoint(SaveCheckpoint):
    """Lightning's :class:`~lightning.pytorch.callbacks.ModelCheckpoint` keeping one ``last.ckpt``.

    The file holds the full training state (weights, optimisers, schedulers, loop counters, the
    callbacks' states and the torch/NumPy/Python random states), so ``trainer.fit(...,
    ckpt_path=...)`` continues where the run stopped and repeats the uninterrupted run's
    minibatches and dropout masks.

    It is a :class:`~scvi.train.SaveCheckpoint` only so that scvi-tools' Trainer does not add its
    own one (which monitors ``validation_loss`` and so needs a validation set, absent with
    ``train_size=1.0``); it behaves as Lightning's class: no scvi-tools model folders, no
    best-model reload.

    A failed run never replaces a good checkpoint: each save goes to ``last.ckpt.tmp`` and is then
    renamed over ``last.ckpt`` (a rename is atomic, so a kill during the save leaves the previous
    file whole); nothing is saved on an exception (e.g.
    :class:`~remadom.train.NonFiniteLossError`), nor when a weight is NaN/inf.

    Parameters
    ----------
    dirpath
        Folder of ``last.ckpt``.
    every_n_epochs
        Save after every this many training epochs.
    """

    def __init__(self, dirpath: str | os.PathLike, every_n_epochs: int = 1):
        ModelCheckpoint.__init__(self, dirpath=str(dirpath), save_last=True, save_top_k=0,
                                 every_n_epochs=int(every_n_epochs), save_on_train_epoch_end=True,
                                 enable_version_counter=False)
        self.load_best_on_end = False
        self.check_nan_gradients = False
        self.loss_is_nan = False

    def on_train_epoch_end(self, trainer, pl_module) -> None:
        """Write ``last.ckpt`` every ``every_n_epochs`` epochs (the only file kept)."""
        if (not self._should_skip_saving_checkpoint(trainer)
                and (trainer.current_epoch + 1) % self._every_n_epochs == 0):
            self._save_last_checkpoint(trainer, self._monitor_candidates(trainer))

    # scvi-tools' SaveCheckpoint overrides, back to Lightning's behaviour
    def on_save_checkpoint(self, trainer, pl_module, checkpoint: dict) -> None:
        """Store the random states next to the training state."""
        _, keys, pos, has_gauss, cached = np.random.get_state()
        # tensors and plain numbers only: Lightning loads checkpoints with torch's weights_only
        checkpoint["remadom_rng"] = {"torch": torch.get_rng_state(),
                                     "numpy": (torch.from_numpy(keys.astype(np.int64)), int(pos),
                                               int(has_gauss), float(cached)),
                                     "python": random.getstate()}

    def on_load_checkpoint(self, trainer, pl_module, checkpoint: dict) -> None:
        """Restore the random states saved with the checkpoint."""
        rng = checkpoint.get("remadom_rng")
        if rng is not None:
            torch.set_rng_state(rng["torch"])
            keys, pos, has_gauss, cached = rng["numpy"]
            np.random.set_state(("MT19937", keys.numpy().astype(np.uint32), pos, has_gauss, cached))
            random.setstate(rng["python"])

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        return None

    def on_exception(self, trainer, pl_module, exception) -> None:
        return None

    def on_train_end(self, trainer, pl_module) -> None:
        return None

    def _remove_checkpoint(self, trainer, filepath: str) -> None:
        ModelCheckpoint._remove_checkpoint(self, trainer, filepath)

    def _update_best_and_save(self, current, trainer, monitor_candidates) -> None:
        ModelCheckpoint._update_best_and_save(self, current, trainer, monitor_candidates)

    def _save_checkpoint(self, trainer, filepath: str) -> None:
        module = getattr(trainer.lightning_module, "module", trainer.lightning_module)
        if not all(torch.isfinite(p).all() for p in module.parameters()):
            warnings.warn(f"not saving '{filepath}': the model has NaN/inf weights; the previous "
                          "checkpoint is kept.", RuntimeWarning, stacklevel=2)
            return
        tmp = f"{filepath}.tmp"
        super()._save_checkpoint(trainer, tmp)
        if trainer.is_global_zero:
            os.replace(tmp, filepath)
        self._last_checkpoint_saved = filepath


def add_checkpointing(
    trainer_kwargs: dict,
    checkpoint_dir: str | os.PathLike | None,
    resume: bool = False,
    every_n_epochs: int = 1,
    validate: bool = False,
    overwrite: bool = False,
) -> dict:
    """Set up ``train(checkpoint_dir=, resume=)`` in the keyword arguments of a Lightning Trainer.

    Adds a :class:`ResumeCheckpoint` writing ``checkpoint_dir/last.ckpt`` to ``callbacks`` and,
    with ``resume``, ``ckpt_path`` pointing at it (scvi-tools' :class:`~scvi.train.TrainRunner`
    hands ``ckpt_path`` to ``Trainer.fit``). Without ``validate`` validation stays off
    (``check_val_every_n_epoch`` unless given), as it is without checkpoints in scvi-tools.

    Parameters
    ----------
    trainer_kwargs
        Keyword arguments for the Trainer; changed in place and returned.
    checkpoint_dir
        Folder of the checkpoint; ``None``: no checkpointing (``trainer_kwargs`` unchanged).
    resume
        Continue from ``checkpoint_dir/last.ckpt`` (same data, model and ``train()`` arguments).
    every_n_epochs
        Save after every this many epochs.
    validate
        Whether the run validates every epoch (early stopping).
    overwrite
        Allow a new run (``resume=False``) to replace an existing ``last.ckpt`` once it has
        trained an epoch.

    Returns
    -------
    ``trainer_kwargs``.

    Raises
    ------
    ValueError
        ``resume`` without ``checkpoint_dir``, both ``resume`` and ``ckpt_path``, or
        ``every_n_epochs < 1``.
    FileNotFoundError
        ``resume`` but no ``last.ckpt`` in ``checkpoint_dir``.
    FileExistsError
        ``checkpoint_dir`` holds a ``last.ckpt``, ``resume`` and ``overwrite`` are off.
    """
    if checkpoint_dir is None:
        if resume:
            raise ValueError("resume=True needs checkpoint_dir= (the folder of the run's last.ckpt).")
        return trainer_kwargs
    if int(every_n_epochs) < 1:
        raise ValueError(f"checkpoint every_n_epochs must be >= 1, got {every_n_epochs}.")
    last = Path(checkpoint_dir) / LAST
    if resume:
        if trainer_kwargs.get("ckpt_path") is not None:
            raise ValueError("pass either resume=True or ckpt_path=, not both.")
        if not last.is_file():
            raise FileNotFoundError(f"resume=True: no checkpoint at '{last}'; train without resume first.")
        trainer_kwargs["ckpt_path"] = str(last)
    elif last.exists() and not overwrite:
        raise FileExistsError(f"'{last}' exists; pass resume=True to continue that run, or use another "
                              "checkpoint_dir (nothing was overwritten).")
    trainer_kwargs["callbacks"] = [*(trainer_kwargs.get("callbacks") or []),
                                   ResumeCheckpoint(checkpoint_dir, every_n_epochs)]
    trainer_kwargs["enable_checkpointing"] = True
    if not validate and trainer_kwargs.get("check_val_every_n_epoch") is None:
        # scvi-tools' Trainer turns validation on (every epoch) when it sees a checkpoint
        # callback; with train_size=1.0 there is nothing to validate on
        trainer_kwargs["check_val_every_n_epoch"] = sys.maxsize
    return trainer_kwargs
