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
