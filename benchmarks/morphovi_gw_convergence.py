"""MORPHOVI GAN + GW (flat) on Patch-seq: Sinkhorn warnings, the GW loss and FOSCTTM (issue 23).

Counts POT's "Sinkhorn did not converge" warnings per iteration, checks that the logged GW loss
is finite and that no plan was reported unconverged, and scores the held-out half as
``morphovi_real_data.py`` does.

Run: ``python benchmarks/morphovi_gw_convergence.py --data ../shared/data --max-iter 500 --seeds 0 1 2``.
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import scvi

sys.path.insert(0, str(Path(__file__).resolve().parent))
import morphovi_real_data as b  # noqa: E402

from remadom.model import MORPHOVI  # noqa: E402


def run(data: Path, seed: int, max_iter: int, batch_size: int) -> dict:
    a, morph, ephys = b.load_patchseq(data)
    labels = a.obs["rna_family"].astype(str).to_numpy()
    test = ~(np.random.default_rng(seed).random(len(a)) < 0.5)
    mdata = b.build_mudata(a, morph, ephys)
    scvi.settings.seed = seed
    MORPHOVI.setup_mudata(mdata, modality_a="morph", modality_b="ephys", nan_policy="mask",
                          labels_key="rna_family")
    model = MORPHOVI(mdata)
    t = time.time()
    with warnings.catch_warnings(record=True) as rec:
        warnings.simplefilter("always")
        model.train(max_iter=max_iter, batch_size=batch_size, gan_w=1.0, gw_w=1.0, enable_progress_bar=False)
    elapsed = time.time() - t
    n_warn = sum("Sinkhorn did not converge" in str(w.message) for w in rec)
    gw = model.history["gw_raw"].iloc[:, 0].to_numpy(float)
    head = model.module.gw
    za = model.get_latent_representation(modality="morph")
    ze = model.get_latent_representation(modality="ephys")
    mask = np.asarray(model.adata_manager.get_from_registry("mask")).astype(bool)
    za, ze = za[mask[:, 0]], ze[mask[:, 1]]
    order_m = pd.Index(mdata["morph"].obs_names).get_indexer([f"{n}_morph" for n in a.obs_names])
    order_e = pd.Index(mdata["ephys"].obs_names).get_indexer([f"{n}_ephys" for n in a.obs_names])
    pos_m = pd.Index(mdata.obs_names[mask[:, 0]]).get_indexer(mdata["morph"].obs_names[order_m])
    pos_e = pd.Index(mdata.obs_names[mask[:, 1]]).get_indexer(mdata["ephys"].obs_names[order_e])
    return {"seed": seed, "iters": max_iter, "train_s": elapsed, "sinkhorn_warnings_per_iter": n_warn / max_iter,
            "gw_finite": bool(np.isfinite(gw).all()), "gw_last": float(gw[-1]),
            "unconverged": getattr(head, "n_unconverged", None), "solves": getattr(head, "n_solves", None),
            **b.scores(za[pos_m], ze[pos_e], labels, test)}


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--data", default="../shared/data")
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--max-iter", type=int, default=500)
    p.add_argument("--batch-size", type=int, default=128)
    args = p.parse_args()
    for seed in args.seeds:
        row = run(Path(args.data), seed, args.max_iter, args.batch_size)
        print({k: round(v, 4) if isinstance(v, float) else v for k, v in row.items()}, flush=True)


if __name__ == "__main__":
    main()
