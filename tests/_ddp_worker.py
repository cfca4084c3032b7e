"""Models of ``tests/test_ddp.py`` trained with Lightning DDP on 2 CPU processes (gloo).

``python -m tests._ddp_worker OUT [--devices N] [--seed S] [--epochs E] MODEL ...`` trains each
model on the bundled her2st B1 section (295 spots, 5 pathologist regions) with
``strategy="ddp", devices=N, accelerator="cpu"`` (``--devices 1``: one process, no strategy).
Lightning's DDP launcher starts rank 1 by running this same command again, so every rank runs
:func:`main`; rank ``r`` writes

* ``OUT/MODEL.rank{r}.npy``: the latent ``(n_obs, n_latent)`` after training;
* ``OUT/MODEL.rank{r}.json``: for each of the first epochs, a hash of every observation the
  rank's training steps received (each row of the batch's tensors, so the check is on what the
  model saw, not on the sampler), the world size, and the k-means ARI of the latent against the
  pathologist labels.

The quality score is k-means (5 clusters, ``n_init=10``, ``random_state=0``) on the latent,
ARI against ``obs["label"]``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import warnings
from pathlib import Path

import numpy as np

warnings.filterwarnings("ignore")

N_RECORDED_EPOCHS = 3
MODELS = ("urmf", "mosaicvi", "priorvi", "stereomm")


def data():
    """her2st B1 as a MuData: RNA counts (the 1500 genes of highest total count) and their PCA."""
    import mudata as md

    import remadom

    md.set_options(pull_on_update=False)
    a = remadom.datasets.her2st_b1()
    top = np.argsort(-np.asarray(a.X.sum(0)).ravel(), kind="stable")[:1500]
    a = a[:, np.sort(top)].copy()
    pca = getattr(getattr(remadom, "pp", None), "pca_rna", None) or remadom.data.pca_rna
    pca(a, n_comps=15, n_top_genes=None)
    m = md.MuData({"rna": a})
    m.obs = a.obs.copy()
    m.obsm["spatial"] = np.asarray(a.obsm["spatial"], dtype=np.float64)
    return m


def make(name: str, seed: int):
    """A freshly set-up model and its data (``scvi.settings.seed = seed``)."""
    import scvi

    from remadom.model import MOSAICVI, PRIORVI, STEREOMM, URMF

    m = data()
    scvi.settings.seed = seed
    if name == "urmf":
        import remadom

        remadom.data.spatial_graph(m, n_neighs=6)
        URMF.setup_mudata(m, modalities=["rna"], layers={"rna": "X_pca"})
        return URMF(m, n_latent=10, n_hidden=64), m, {"batch_size": 64}
    if name in ("mosaicvi", "priorvi"):
        cls = MOSAICVI if name == "mosaicvi" else PRIORVI
        cls.setup_mudata(m, modalities=["rna"])
        model = (
            MOSAICVI(m, n_latent=10, n_hidden=64) if name == "mosaicvi" else PRIORVI(m, n_hidden=64)
        )
        return model, m, {"batch_size": 64}
    a = m["rna"].copy()
    STEREOMM.setup_anndata(a, n_dims=15)
    return STEREOMM(a, hidden_dims=[32, 8], n_latent=8), m, {"batch_size": 75, "lr": 1e-3}


def _row_hashes(batch: dict) -> list[str]:
    """A short hash per observation of a minibatch, over all of its per-observation tensors."""
    import torch

    tensors = [v for _, v in sorted(batch.items()) if torch.is_tensor(v) and v.ndim >= 1]
    n = max(len(t) for t in tensors)
    parts = [t.detach().cpu().reshape(len(t), -1).float().numpy() for t in tensors if len(t) == n]
    rows = np.ascontiguousarray(np.concatenate(parts, axis=1))
    return [hashlib.blake2b(r.tobytes(), digest_size=8).hexdigest() for r in rows]


def _recorder(seen: dict):
    from lightning.pytorch.callbacks import Callback

    class Seen(Callback):
        def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
            seen["world_size"], seen["rank"] = trainer.world_size, trainer.global_rank
            e = trainer.current_epoch
            if e < N_RECORDED_EPOCHS:
                if "seed" in batch and "index" in batch:  # STEREOMM tiles: the tile's own spots
                    rows = batch["index"][batch["seed"]].tolist()
                    seen.setdefault(e, []).extend(str(int(i)) for i in rows)
                else:
                    seen.setdefault(e, []).extend(_row_hashes(batch))

    return Seen()


def kmeans_ari(z: np.ndarray, labels) -> float:
    from sklearn.cluster import KMeans
    from sklearn.metrics import adjusted_rand_score

    lab = KMeans(5, n_init=10, random_state=0).fit_predict(z)
    return float(adjusted_rand_score(np.asarray(labels).astype(str), lab))


def run(out: Path, name: str, devices: int, seed: int, epochs: int) -> None:
    model, m, kw = make(name, seed)
    seen: dict = {}
    ddp = {"strategy": "ddp", "devices": devices} if devices > 1 else {"devices": 1}
    model.train(
        max_epochs=epochs,
        accelerator="cpu",
        enable_progress_bar=False,
        callbacks=[_recorder(seen)],
        **ddp,
        **kw,
    )
    world, rank = seen.pop("world_size"), seen.pop("rank")
    z = model.get_latent_representation()
    np.save(out / f"{name}.rank{rank}.npy", z)
    (out / f"{name}.rank{rank}.json").write_text(
        json.dumps(
            {
                "seen": {str(e): v for e, v in seen.items()},
                "world_size": world,
                "ari": kmeans_ari(z, m.obs["label"]) if np.isfinite(z).all() else None,
            }
        )
    )


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("out", type=Path)
    p.add_argument("models", nargs="+", choices=MODELS)
    p.add_argument("--devices", type=int, default=2)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--epochs", type=int, default=30)
    args = p.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    for name in args.models:
        run(args.out, name, args.devices, args.seed, args.epochs)


if __name__ == "__main__":
    main()
