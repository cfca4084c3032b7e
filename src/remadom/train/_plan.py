"""Training plans built on scvi-tools' :class:`~scvi.train.TrainingPlan`."""

from __future__ import annotations

import torch
from scvi.train import TrainingPlan


class NonFiniteLossError(FloatingPointError):
    """Raised when a training loss is NaN or inf."""


class CheckedTrainingPlan(TrainingPlan):
    """scvi-tools' :class:`~scvi.train.TrainingPlan` that stops at the first non-finite loss.

    A NaN/inf loss, or a NaN/inf gradient behind a finite loss, raises :class:`NonFiniteLossError`
    naming the epoch (and the step, or the first bad parameter), instead of an optimizer step that
    leaves NaN weights and a cryptic error later. A module whose ``loss`` takes an ``epoch``
    argument gets the current epoch (for warm-up schedules, e.g. of :mod:`remadom.heads`). Fix
    suggestions: lower ``plan_kwargs={'lr': ...}``, check the input for extreme values, or use
    ``gradient_clip_val=`` in ``train()``.
    """

    def training_step(self, batch, batch_idx):
        if "epoch" in self._loss_args:  # warm-up schedules of alignment heads read the epoch
            self.loss_kwargs["epoch"] = self.current_epoch
        out = super().training_step(batch, batch_idx)
        loss = out["loss"] if isinstance(out, dict) else out
        if not torch.isfinite(loss):
            raise NonFiniteLossError(
                f"non-finite training loss ({loss.item()}) at epoch {self.current_epoch}, step "
                f"{batch_idx}. Lower the learning rate (plan_kwargs={{'lr': ...}}), pass "
                "gradient_clip_val=1.0 to train(), or check the inputs for extreme values."
            )
        return out

    def on_before_optimizer_step(self, optimizer):
        grads = [p.grad for p in self.module.parameters() if p.grad is not None]
        if grads and not torch.isfinite(torch.nn.utils.get_total_norm(grads)):
            name = next(n for n, p in self.module.named_parameters()
                        if p.grad is not None and not torch.isfinite(p.grad).all())
            raise NonFiniteLossError(
                f"non-finite gradient of '{name}' at epoch {self.current_epoch} (the loss was "
                "finite). Lower the learning rate (plan_kwargs={'lr': ...}) or a head's weight, "
                "or pass gradient_clip_val=1.0 to train()."
            )
