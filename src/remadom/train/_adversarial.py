"""Adversarial training plan with manual optimisation and phased losses (Lightning)."""

from __future__ import annotations

import torch
from lightning.pytorch import LightningModule
from torch import nn

from ._phases import PhaseSchedule
from ._plan import NonFiniteLossError

INITS = ("gaussian", "xavier", "kaiming", "orthogonal", "default")
LR_POLICIES = ("constant", "step")


def init_weights(module: nn.Module, init: str = "gaussian") -> None:
    """Initialise every ``nn.Linear`` of ``module``: ``gaussian`` N(0, 0.02), ``xavier`` (Glorot &
    Bengio 2010), ``kaiming`` (He et al. 2015), ``orthogonal`` (Saxe et al. 2014; gain 1) or
    ``default`` (PyTorch's); biases to 0.

    Raises
    ------
    ValueError
        Unknown ``init``.
    """
    if init not in INITS:
        raise ValueError(f"init '{init}' is unknown; choose one of {INITS}.")
    if init == "default":
        return
    for m in module.modules():
        if isinstance(m, nn.Linear):
            if init == "gaussian":
                nn.init.normal_(m.weight, 0.0, 0.02)
            elif init == "xavier":
                nn.init.xavier_normal_(m.weight)
            elif init == "orthogonal":
                nn.init.orthogonal_(m.weight)
            else:
                nn.init.kaiming_normal_(m.weight, a=0.0, mode="fan_in")
            if m.bias is not None:
                nn.init.zeros_(m.bias)


class AdversarialTrainingPlan(LightningModule):
    """Generator/critic training with manual optimisation and a phased loss schedule.

    Each iteration: one critic step on detached latents (when the ``gan`` loss is active), then
    one generator step on ``sum_k w_k * active_k(iteration) * loss_k``. Two Adam optimisers
    (``beta1``, ``beta2``, ``weight_decay``); ``lr_policy="step"`` multiplies both learning rates by
    ``gamma`` every ``step_size`` iterations. The module provides ``generator_parameters()``,
    ``discriminator_parameters()``, ``training_forward(tensors) -> (state, latents)``,
    ``training_losses(tensors, state, active) -> raw losses`` (only the ``active`` ones need be
    computed) and ``critic_loss(latents)``. Raw and weighted losses and the phase are logged every step; the
    iteration counter and RNG states go into checkpoints, so a resumed run repeats an
    uninterrupted one.

    Parameters
    ----------
    module
        The model's module.
    loss_weights
        ``{"recon": recon_x_w, "kl": kl_w, "gan": gan_w, "gw": gw_w, "prior": lambda_p}``.
    schedule
        :class:`PhaseSchedule` (``None``: every loss always on).
    lr, beta1, beta2, weight_decay, lr_policy, step_size, gamma
        Optimiser settings (seed names).

    Raises
    ------
    ValueError
        Unknown ``lr_policy``.
    remadom.train.NonFiniteLossError
        At the first non-finite loss.
    """

    def __init__(self, module, loss_weights: dict[str, float], schedule: PhaseSchedule | None = None,
                 lr: float = 1e-4, beta1: float = 0.5, beta2: float = 0.999, weight_decay: float = 1e-4,
                 lr_policy: str = "constant", step_size: int = 1000, gamma: float = 0.5):
        super().__init__()
        if lr_policy not in LR_POLICIES:
            raise ValueError(f"lr_policy '{lr_policy}' is unknown; choose one of {LR_POLICIES}.")
        self.module = module
        self.automatic_optimization = False
        self.loss_weights = dict(loss_weights)
        self.schedule = schedule or PhaseSchedule()
        self.lr, self.betas, self.weight_decay = lr, (beta1, beta2), weight_decay
        self.lr_policy, self.step_size, self.gamma = lr_policy, step_size, gamma
        self.iteration = 0

    def on_fit_start(self):
        # the module may be in eval mode (after an earlier `train()` or `load`); Lightning 2 keeps
        # the mode it finds, so set training mode explicitly
        super().on_fit_start()
        self.module.train()

    def configure_optimizers(self):
        def adam(params):
            return torch.optim.Adam(params, lr=self.lr, betas=self.betas, weight_decay=self.weight_decay)

        opts = [adam(self.module.generator_parameters()), adam(self.module.discriminator_parameters())]
        if self.lr_policy == "step":
            scheds = [torch.optim.lr_scheduler.StepLR(o, step_size=self.step_size, gamma=self.gamma) for o in opts]
            return opts, [{"scheduler": s, "interval": "step"} for s in scheds]
        return opts

    def training_step(self, batch, batch_idx):
        opt_g, opt_d = self.optimizers()
        w = self.schedule.weights(self.iteration, self.loss_weights)
        state, latents = self.module.training_forward(batch)
        if w.get("gan", 0.0) > 0 and latents is not None:
            d_loss = self.module.critic_loss({k: v.detach() for k, v in latents.items()})
            self._check(d_loss, "critic")
            opt_d.zero_grad()
            self.manual_backward(d_loss)
            opt_d.step()
            self.log("critic_loss", d_loss.detach(), on_step=False, on_epoch=True)
        losses = self.module.training_losses(batch, state, active={k for k, v in w.items() if v > 0})
        total = sum(w[k] * v for k, v in losses.items() if w.get(k, 0.0) > 0)
        if not torch.is_tensor(total):
            total = next(iter(losses.values())) * 0.0
        self._check(total, "generator")
        opt_g.zero_grad()
        self.manual_backward(total)
        opt_g.step()
        if self.lr_policy == "step":
            for s in self.lr_schedulers():
                s.step()
        n = len(batch[next(iter(batch))])
        self.log("train_loss", total.detach(), on_step=False, on_epoch=True, prog_bar=True, batch_size=n)
        self.log("phase", float(self.schedule.phase(self.iteration)), on_step=False, on_epoch=True, batch_size=n)
        for k, v in losses.items():
            self.log(f"{k}_raw", v.detach(), on_step=False, on_epoch=True, batch_size=n)
            self.log(f"{k}_weighted", w.get(k, 0.0) * v.detach(), on_step=False, on_epoch=True, batch_size=n)
        self.iteration += 1

    def _check(self, loss: torch.Tensor, what: str) -> None:
        if not torch.isfinite(loss):
            raise NonFiniteLossError(
                f"non-finite {what} loss at iteration {self.iteration} (epoch {self.current_epoch}). "
                "Lower lr, use gan_type 'wgan-gp' or 'lsgan', or check the inputs for extreme values."
            )

    def on_save_checkpoint(self, checkpoint: dict) -> None:
        # the minibatch order is a function of (seed, epoch) (GroupBalancedBatchSampler.set_epoch);
        # the torch generator drives the reparameterisation noise
        checkpoint["remadom_iteration"] = self.iteration
        checkpoint["remadom_torch_rng"] = torch.get_rng_state()

    def on_load_checkpoint(self, checkpoint: dict) -> None:
        self.iteration = int(checkpoint.get("remadom_iteration", 0))
        if "remadom_torch_rng" in checkpoint:
            torch.set_rng_state(checkpoint["remadom_torch_rng"])
