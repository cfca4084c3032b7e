"""MORPHOVI: shapes, NaN policies, phases, adversarial plan, CLI outputs and resume (synthetic).

Synthetic data test mechanics only; the real-data evidence is in
``test_shared_real_data_morphovi.py`` and ``benchmarks/morphovi_real_data.py``.
"""

import json

import anndata as ad
import mudata as md
import numpy as np
import pandas as pd
import pytest
import scvi
import yaml

from remadom.cli import main
from remadom.model import MORPHOVI
from remadom.model.morphovi import adaptive_depth
from remadom.train import PhaseSchedule, init_weights

md.set_options(pull_on_update=False)


def _tables(seed=0, n=90, nan_frac=0.05):
    rng = np.random.default_rng(seed)
    lab = rng.integers(0, 3, n)
    z = rng.normal(size=(n, 4)) + lab[:, None] * 2
    a = z @ rng.normal(size=(4, 20))
    b = z @ rng.normal(size=(4, 12))
    a[rng.random(a.shape) < nan_frac] = np.nan
    return a.astype(np.float32), b.astype(np.float32), lab.astype(str)


def _mdata(nan_frac=0.05):
    a, b, lab = _tables(nan_frac=nan_frac)
    ma = ad.AnnData(a, obs=pd.DataFrame({"label": lab}, index=[f"a{i}" for i in range(len(a))]))
    mb = ad.AnnData(b, obs=pd.DataFrame({"label": lab}, index=[f"b{i}" for i in range(len(b))]))
    return md.MuData({"morph": ma, "rna": mb})


def test_train_latents_nan_policies_and_save_load(tmp_path):
    m = _mdata()
    before = np.isnan(m["morph"].X).sum()
    with pytest.raises(ValueError, match="nan_policy='mask'"):
        MORPHOVI.setup_mudata(m, modality_a="morph", modality_b="rna")
    assert "_scvi_uuid" not in m.uns  # nothing written
    MORPHOVI.setup_mudata(m, modality_a="morph", modality_b="rna", nan_policy="mask")
    assert np.isnan(m["morph"].X).sum() == before  # user's matrix untouched
    assert not [k for k in m.obsm if k.startswith("_")]  # the model holds its inputs
    scvi.settings.seed = 0
    model = MORPHOVI(m, n_latent=4, n_hidden=16, gan_type="nsgan")
    obs = model.adata_manager.get_from_registry("observed_a")
    assert obs.shape == (180, 20) and obs[:90].mean() < 1  # NaN entries masked
    model.train(max_iter=20, batch_size=32, gw_w=1.0, enable_progress_bar=False)
    z = model.get_latent_representation()
    assert z.shape == (180, 4) and np.isfinite(z).all()
    za = model.get_latent_representation(modality="morph")
    assert np.isnan(za[90:]).all() and np.isfinite(za[:90]).all()
    assert {"recon_raw", "gan_weighted", "gw_raw", "critic_loss"} <= set(model.history)
    model.save(str(tmp_path / "mv"))
    loaded = MORPHOVI.load(str(tmp_path / "mv"), adata=m)
    np.testing.assert_allclose(loaded.get_latent_representation(), z, rtol=1e-5, atol=1e-5)
    m2 = _mdata()
    MORPHOVI.setup_mudata(m2, modality_a="morph", modality_b="rna", nan_policy="median")
    obs2 = MORPHOVI(m2, n_latent=4, n_hidden=16).adata_manager.get_from_registry("observed_a")
    assert obs2[:90].min() == 1 and len(m2.uns["morphovi_nan"]["morph"]["median"]) == 20


def test_phase_schedule_and_errors():
    s = PhaseSchedule({"recon": 1, "gan": 2, "gw": 3}, {1: 10, 2: 10, 3: 5})
    assert [s.phase(i) for i in (0, 9, 10, 19, 20, 100)] == [1, 1, 2, 2, 3, 3]
    assert not s.active("gan", 5) and s.active("gan", 10) and not s.active("gw", 15)
    assert s.weights(12, {"recon": 1.0, "gan": 2.0, "gw": 3.0}) == {"recon": 1.0, "gan": 2.0, "gw": 0.0}
    with pytest.raises(ValueError, match=r"phase\(s\) \[3\] that phase_durations lacks"):
        PhaseSchedule({"gan": 3}, {1: 10, 2: 10})
    assert adaptive_depth(20) == 1 and adaptive_depth(61) == 2 and adaptive_depth(2000) == 3


def test_bad_inputs_and_gan_types():
    m = _mdata()
    with pytest.raises(ValueError, match="both 'morph'"):
        MORPHOVI.setup_mudata(m, modality_a="morph", modality_b="morph")
    allnan = _mdata()
    allnan["morph"].X[:, 3] = np.nan
    with pytest.raises(ValueError, match="NaN in every cell"):
        MORPHOVI.setup_mudata(allnan, modality_a="morph", modality_b="rna", nan_policy="mask")
    m["morph"].obs["cl"] = np.repeat(["x", "y", "z"], 30)
    m["rna"].obs["cl"] = np.repeat(["u", "v"], 45)
    m.uns["prior"] = np.ones((3, 3))
    with pytest.raises(ValueError, match=r"shape \(3, 3\).*must be \(3, 2\)"):
        MORPHOVI.setup_mudata(m, modality_a="morph", modality_b="rna", nan_policy="mask",
                              cluster_key_a="cl", cluster_key_b="cl", prior_key="prior")
    m.uns["prior"] = np.array([[1.0, -1.0], [0.0, 0.0], [-1.0, 1.0]])
    MORPHOVI.setup_mudata(m, modality_a="morph", modality_b="rna", nan_policy="mask",
                          cluster_key_a="cl", cluster_key_b="cl", prior_key="prior")
    with pytest.raises(ValueError, match="gan_type"):
        MORPHOVI(m, gan_type="began")
    with pytest.raises(ValueError, match="init"):
        MORPHOVI(m, init="uniform_random")
    for gan in ("lsgan", "wgan-gp"):
        scvi.settings.seed = 0
        model = MORPHOVI(m, n_latent=4, n_hidden=16, gan_type=gan, init="xavier")
        model.train(max_iter=10, batch_size=32, lambda_p=1.0, prior_loss_warmup=5,
                    loss_schedule={"gan": 2, "prior": 2}, phase_durations={1: 3, 2: 7},
                    lr_policy="step", step_size=2, enable_progress_bar=False)
        assert "prior_raw" in model.history
    with pytest.raises(ValueError, match="unknown losses"):
        model.train(max_iter=2, loss_schedule={"gann": 2}, phase_durations={2: 1})
    with pytest.raises(ValueError, match="lr_policy"):
        model.train(max_iter=2, lr_policy="cosine", enable_progress_bar=False)
    init_weights(model.module, "kaiming")


def _write_cli_inputs(tmp_path):
    a, b, lab = _tables()
    pd.DataFrame(a, index=[f"a{i}" for i in range(len(a))]).to_csv(tmp_path / "a.csv")
    pd.DataFrame(b, index=[f"b{i}" for i in range(len(b))]).to_csv(tmp_path / "b.csv")
    pd.DataFrame({"label": lab}, index=[f"a{i}" for i in range(len(a))]).to_csv(tmp_path / "la.csv")
    pd.DataFrame({"label": lab}, index=[f"b{i}" for i in range(len(b))]).to_csv(tmp_path / "lb.csv")
    cfg = {"model": "morphovi", "seed": 0,
           "data": {"csv_a": str(tmp_path / "a.csv"), "csv_b": str(tmp_path / "b.csv"),
                    "labels_csv_a": str(tmp_path / "la.csv"), "labels_csv_b": str(tmp_path / "lb.csv"),
                    "nan_policy": "mask"},
           "max_iter": 24, "batch_size": 32, "input_dim_a": 20, "gen": {"dim": 16, "latent": 4},
           "dis": {"gan_type": "lsgan", "dim": 8}, "loss_schedule": {"gan": 2}, "phase_durations": {1: 6, 2: 18},
           "visualization": {"method": "pca"}}
    path = tmp_path / "run1.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return cfg, path


def test_cli_outputs_refuse_overwrite_and_resume(tmp_path, capsys):
    cfg, path = _write_cli_inputs(tmp_path)
    out = tmp_path / "out"
    assert main(["fit", str(path), "--output-path", str(out), "--resume", "--no-progress"]) == 2
    assert "no checkpoint" in capsys.readouterr().err
    assert main(["fit", str(path), "--output-path", str(out), "--no-progress"]) == 0
    run = out  # the run directory (the one layout of remadom fit)
    for f in ("checkpoints/last.ckpt", "images/latent.png", "images/loss.png", "knn_accuracy.txt",
              "result.h5mu", "config.yaml"):
        assert (run / f).exists(), f
    assert any((run / "logs").glob("events.out.tfevents*"))
    scores = json.loads((run / "scores.json").read_text())
    assert 0 <= scores["foscttm"] <= 1 and "label_rna_to_morph" in scores
    stamp = (run / "checkpoints" / "last.ckpt").stat().st_mtime
    # the same folder again without --resume: refused, nothing overwritten
    assert main(["fit", str(path), "--output-path", str(out), "--no-progress"]) == 2
    assert "nothing was overwritten" in capsys.readouterr().err
    other = dict(cfg, lr=1e-3)
    path.write_text(yaml.safe_dump(other))
    assert main(["fit", str(path), "--output-path", str(out), "--no-progress"]) == 2
    assert "another configuration's run" in capsys.readouterr().err
    assert (run / "checkpoints" / "last.ckpt").stat().st_mtime == stamp
    # --resume with the original config: the run is complete, the scores are the same
    path.write_text(yaml.safe_dump(cfg))
    assert main(["fit", str(path), "--output-path", str(out), "--resume", "--no-progress"]) == 0
    again = json.loads((run / "scores.json").read_text())
    assert set(again) == set(scores)
    assert {k: v for k, v in again.items() if isinstance(v, float)} == pytest.approx(
        {k: v for k, v in scores.items() if isinstance(v, float)})


def test_cli_config_errors(tmp_path, capsys):
    cfg, path = _write_cli_inputs(tmp_path)
    bad = dict(cfg, max_iters=10)
    path.write_text(yaml.safe_dump(bad))
    assert main(["fit", str(path), "--check"]) == 2
    assert "Did you mean 'max_iter'" in capsys.readouterr().err
    # phase 3 after phases 1-2 would be the seed's open last phase; phase 4 leaves a gap
    bad = dict(cfg, loss_schedule={"gan": 4}, phase_durations={1: 5, 2: 5})
    path.write_text(yaml.safe_dump(bad))
    assert main(["fit", str(path), "--check"]) == 2
    assert "phase_durations lacks" in capsys.readouterr().err
    bad = dict(cfg, input_dim_a=21)
    path.write_text(yaml.safe_dump(bad))
    assert main(["fit", str(path), "--output-path", str(tmp_path / "o"), "--no-progress"]) == 2
    assert "input_dim_a: 21" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()  # nothing trained: no trace of the run


def test_resume_equals_uninterrupted(tmp_path):
    from lightning.pytorch.callbacks import Callback, ModelCheckpoint

    class StopAt(Callback):
        def on_train_epoch_end(self, trainer, pl_module):
            if trainer.current_epoch + 1 >= 2:
                trainer.should_stop = True

    def make():
        m = _mdata()
        scvi.settings.seed = 0
        MORPHOVI.setup_mudata(m, modality_a="morph", modality_b="rna", nan_policy="mask")
        return MORPHOVI(m, n_latent=4, n_hidden=16, gan_type="wgan-gp")

    kw = {"max_iter": 24, "batch_size": 32, "loss_schedule": {"gan": 2}, "phase_durations": {1: 6, 2: 18},
          "lr_policy": "step", "step_size": 5, "enable_progress_bar": False}
    full = make()
    full.train(**kw)
    part = make()
    part.train(**kw, callbacks=[ModelCheckpoint(dirpath=str(tmp_path), save_last=True), StopAt()])
    assert not np.allclose(part.get_latent_representation(), full.get_latent_representation())
    resumed = make()
    resumed.train(**kw, ckpt_path=str(tmp_path / "last.ckpt"))
    np.testing.assert_array_equal(resumed.get_latent_representation(), full.get_latent_representation())


def test_second_train_call_runs_in_train_mode():
    from lightning.pytorch.callbacks import Callback

    class Modes(Callback):
        def __init__(self):
            self.modes = []

        def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
            self.modes.append(pl_module.module.training)

    m = _mdata()
    MORPHOVI.setup_mudata(m, modality_a="morph", modality_b="rna", nan_policy="mask")
    model = MORPHOVI(m, n_latent=4, n_hidden=16)
    for _ in range(2):  # scvi-tools leaves the module in eval mode after each run
        rec = Modes()
        model.train(max_iter=4, batch_size=32, enable_progress_bar=False, callbacks=[rec])
        assert rec.modes and all(rec.modes)
