"""Lightning callbacks shared by the models."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
from lightning.pytorch.callbacks import Callback


class LatentBank(Callback):
    """Refreshes a module's memory bank of every cell's latent at the start of every k-th epoch.

    Heads that compare a minibatch with cells outside it (graph neighbours, known partners) read
    the bank (:class:`remadom.heads.GraphRegularizer`); it costs one inference pass over the data
    per refresh and ``(n_obs, n_latent)`` memory.

    Parameters
    ----------
    compute
        Returns the ``(n_obs, n_latent)`` latent of all cells (e.g. the model's
        ``get_latent_representation``).
    every
        Refresh period in epochs.
    """

    def __init__(self, compute: Callable[[], np.ndarray], every: int = 1):
        self.compute, self.every = compute, max(1, int(every))

    def on_train_epoch_start(self, trainer, pl_module) -> None:
        if trainer.current_epoch % self.every:
            return
        module = pl_module.module
        z = torch.as_tensor(self.compute(), dtype=module.bank.dtype, device=module.bank.device)
        module.bank.copy_(z)
        module.train()


class LatentStats(Callback):
    """Prints, every ``every`` epochs, the phase, the active losses and statistics of two latents.

    Statistics (as the morpho_integration seed prints them): the mean and s.d. of each modality's
    latent, the correlation of their per-dimension means, and the cosine similarity of their
    centroids. ``compute`` returns ``(z_a, z_b)`` for all cells.

    Parameters
    ----------
    compute
        Callable returning the two latents (``(n_a, d)``, ``(n_b, d)``).
    every
        Period in epochs.
    """

    def __init__(self, compute: Callable[[], tuple[np.ndarray, np.ndarray]], every: int = 10):
        self.compute, self.every = compute, max(1, int(every))

    def on_train_epoch_end(self, trainer, pl_module) -> None:
        if (trainer.current_epoch + 1) % self.every:
            return
        plan = pl_module
        it = getattr(plan, "iteration", 0)
        schedule = getattr(plan, "schedule", None)
        active = [k for k, w in plan.loss_weights.items() if w > 0 and (schedule is None or schedule.active(k, it))] \
            if hasattr(plan, "loss_weights") else []
        z_a, z_b = self.compute()
        ma, mb = z_a.mean(0), z_b.mean(0)
        corr = float(np.corrcoef(ma, mb)[0, 1]) if len(ma) > 1 else float("nan")
        cos = float(ma @ mb / (np.linalg.norm(ma) * np.linalg.norm(mb) + 1e-12))
        phase = schedule.phase(it) if schedule is not None else 1
        trainer.print(
            f"[iter {it} | phase {phase} | active {active}] z_a mean {ma.mean():+.3f} sd {z_a.std():.3f}; "
            f"z_b mean {mb.mean():+.3f} sd {z_b.std():.3f}; mean-corr {corr:+.3f}; centroid cos {cos:+.3f}"
        )
        pl_module.module.train()
