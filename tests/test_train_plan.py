"""CheckedTrainingPlan: epoch-level logging gives the same history as scvi-tools' per-step path."""

import numpy as np
import pytest
import scvi
from scvi.train import TrainingPlan

import remadom
from remadom.model import URMF
from remadom.train import CheckedTrainingPlan


def _with_kl_global(monkeypatch):
    """Give URMF's loss a non-zero global KL that varies between minibatches."""
    from scvi.module.base import LossOutput

    from remadom.model.urmf._module import URMFModule

    orig = URMFModule.loss

    def loss(self, tensors, inference_outputs, generative_outputs, **kw):
        out = orig(self, tensors, inference_outputs, generative_outputs, **kw)
        kl_g = 1.0 + out.loss.detach() ** 2  # scalar per minibatch, different each step
        return LossOutput(loss=out.loss, reconstruction_loss=out.reconstruction_loss,
                          kl_local=out.kl_local, kl_global=kl_g, extra_metrics=out.extra_metrics)

    monkeypatch.setattr(URMFModule, "loss", loss)


def _history(m, monkeypatch, per_step_path: bool, kl_global: bool = False, **train_kw):
    if kl_global:
        _with_kl_global(monkeypatch)
    if per_step_path:  # route every step through scvi-tools' own training_step (logs every step)
        monkeypatch.setattr(CheckedTrainingPlan, "_epoch_logged_step",
                            lambda self, b, i: TrainingPlan.training_step(self, b, i))
    scvi.settings.seed = 0
    remadom.data.spatial_graph(m, n_neighs=6)
    URMF.setup_mudata(m, modalities=["rna", "prot"])
    model = URMF(m, n_latent=5, n_hidden=16)
    model.train(max_epochs=3, batch_size=64, enable_progress_bar=False, **train_kw)
    monkeypatch.undo()
    return model.history, model.get_latent_representation()


@pytest.mark.parametrize(("train_size", "kl_global"), [(1.0, False), (0.8, False), (1.0, True)])
def test_epoch_logging_matches_scvi_history(toy_mdata, monkeypatch, train_size, kl_global):
    kw = {"train_size": train_size, **({"check_val_every_n_epoch": 1} if train_size < 1 else {})}
    h_new, z_new = _history(toy_mdata.copy(), monkeypatch, False, kl_global, **kw)
    h_old, z_old = _history(toy_mdata.copy(), monkeypatch, True, kl_global, **kw)
    if kl_global:  # the per-minibatch global KL really entered the ELBO
        assert (h_new["kl_global_train"].to_numpy(float) > 1.0).all()
    np.testing.assert_array_equal(z_new, z_old)  # same optimisation
    keys = ["train_loss", "elbo_train", "reconstruction_loss_train", "kl_local_train", "kl_global_train",
            "udr_train"]  # udr: an extra metric of URMF's LossOutput
    if train_size < 1:
        keys += ["validation_loss", "elbo_validation"]
    for k in keys:
        assert k in h_new, (k, list(h_new))
        assert len(h_new[k]) == 3
        np.testing.assert_allclose(h_new[k].to_numpy(float), h_old[k].to_numpy(float), rtol=1e-5, err_msg=k)


def test_early_stopping_on_train_elbo(toy_mdata):
    """Lightning's EarlyStopping reads the epoch metric logged at the last step."""
    scvi.settings.seed = 0
    remadom.data.spatial_graph(toy_mdata, n_neighs=6)
    URMF.setup_mudata(toy_mdata, modalities=["rna", "prot"])
    model = URMF(toy_mdata, n_latent=5, n_hidden=16)
    model.train(max_epochs=4, batch_size=64, train_size=0.8, enable_progress_bar=False, early_stopping=True,
                early_stopping_monitor="elbo_train", early_stopping_patience=50)
    assert len(model.history["elbo_train"]) == 4



def test_second_train_call_and_training_after_load_run_in_train_mode(toy_mdata, tmp_path):
    # scvi-tools puts the module in eval mode after training and on load; Lightning 2 keeps the
    # mode it finds, so without CheckedTrainingPlan.on_fit_start a second `train()` (or training a
    # loaded model) would run with dropout off and URMF's training-only terms skipped.
    from lightning.pytorch.callbacks import Callback

    class Modes(Callback):
        def __init__(self):
            self.modes = []

        def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
            self.modes.append(pl_module.module.training)

    remadom.data.spatial_graph(toy_mdata, n_neighs=6)
    URMF.setup_mudata(toy_mdata, modalities=["rna", "prot"])
    model = URMF(toy_mdata, n_latent=5, n_hidden=16)
    for _ in range(2):
        rec = Modes()
        model.train(max_epochs=1, batch_size=64, enable_progress_bar=False, callbacks=[rec])
        assert rec.modes and all(rec.modes)
        assert not model.module.training  # scvi-tools' eval mode after training is kept
    model.save(tmp_path / "m", overwrite=True)
    loaded = URMF.load(tmp_path / "m", adata=toy_mdata)
    rec = Modes()
    loaded.train(max_epochs=1, batch_size=64, enable_progress_bar=False, callbacks=[rec])
    assert rec.modes and all(rec.modes)


@pytest.mark.parametrize("bad", [None, float("nan"), float("inf"), -float("inf")])
def test_gradient_finiteness_check_both_paths(bad):
    """The fused one-kernel check and the norm fallback agree and leave the gradients unchanged."""
    import torch

    from remadom.train._plan import _FINITE_CHECK, _all_finite

    torch.manual_seed(0)
    grads = [torch.randn(5, 3), torch.randn(7), torch.randn(2, 2, 2)]
    if bad is not None:
        grads[1][4] = bad
    before = [g.clone() for g in grads]
    paths = [False] + ([True] if _FINITE_CHECK is not None else [])
    for one_kernel in paths:
        assert _all_finite(grads, one_kernel) is (bad is None)
        for g, b in zip(grads, before, strict=True):
            torch.testing.assert_close(g, b, equal_nan=True)
    # mixed dtypes go through the norm
    assert _all_finite([torch.ones(3), torch.ones(3, dtype=torch.float64)], False)


def test_gradient_check_left_to_the_fp16_scaler(toy_mdata):
    """With a gradient scaler (fp16 AMP) non-finite gradients skip a step; without one they raise."""
    from types import SimpleNamespace

    import torch

    from remadom.train import NonFiniteLossError

    remadom.data.spatial_graph(toy_mdata, n_neighs=6)
    URMF.setup_mudata(toy_mdata, modalities=["rna", "prot"])
    model = URMF(toy_mdata, n_latent=5, n_hidden=16)
    plan = CheckedTrainingPlan(model.module)
    for p in model.module.parameters():
        p.grad = torch.full_like(p, float("nan"))
    plan._trainer = SimpleNamespace(precision_plugin=SimpleNamespace(scaler=object()), current_epoch=0)
    plan.on_train_start()
    plan.on_before_optimizer_step(None)  # the scaler will skip this step: no error
    plan._trainer.precision_plugin.scaler = None
    plan.on_train_start()
    with pytest.raises(NonFiniteLossError, match="non-finite gradient of"):
        plan.on_before_optimizer_step(None)
