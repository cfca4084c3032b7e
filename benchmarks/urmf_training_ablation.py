"""URMF ablation on the labelled sections: training length, the KL weight it ends at, the encoder's
propagation depths and the latent width.

On small sections URMF's default runs 400 epochs and its KL warm-up (400 epochs) ends at weight 1,
while from 6,400 spots up it ends near 0.125. This script trains the documented recipe
(``spatial_domains.run_urmf``) with a few ``max_epochs`` / ``n_epochs_kl_warmup`` settings and
scores every latent with the benchmark's shared clustering (Leiden to the number of labels, and
k-means; ARI and the Moran's I of the domains).

Usage::

    python benchmarks/urmf_training_ablation.py --seeds 0,1        # writes results/urmf_training_ablation.csv
    python benchmarks/urmf_training_ablation.py --table
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import spatial_domains as sd  # noqa: E402
from _results import write_merged  # noqa: E402

CSV = HERE / "results" / "urmf_training_ablation.csv"
#: name -> keyword arguments of ``train()``; "setup" / "model" entries go to ``setup_mudata`` and
#: ``URMF()``. "default" is the documented recipe.
SETTINGS = {
    "default": {},
    "epochs_1": {"max_epochs": 1},
    "epochs_10": {"max_epochs": 10},
    "epochs_50": {"max_epochs": 50},
    "epochs_150": {"max_epochs": 150},
    "default_kl_0.125": {"plan_kwargs": {"n_epochs_kl_warmup": 3200}},
    # encoder inputs: which propagation depths of the PCA (default (1, 2): no raw features)
    "hops_0_1": {"setup": {"hops": (0, 1)}},
    "hops_0_1_2": {"setup": {"hops": (0, 1, 2)}},
    "hops_1": {"setup": {"hops": (1,)}},
    # latent width (default 20)
    "n_latent_10": {"model": {"n_latent": 10}},
    "n_latent_30": {"model": {"n_latent": 30}},
    "hops_0_1+n_latent_30": {"setup": {"hops": (0, 1)}, "model": {"n_latent": 30}},
    # graphs: the spatial graph alone (no feature kNN graph, SpatialGlue's second view)
    "no_feature_graph": {"setup": {"use_feature_graph": False}},
}


def run_urmf(sec: dict, seed: int, setting: dict) -> tuple[np.ndarray, int]:
    """The benchmark's URMF recipe with one setting: (latent, epochs trained)."""
    kw = dict(setting)
    model = sd.train_urmf(sec, seed, kw.pop("setup", None), kw.pop("model", None), **kw)
    return model.get_latent_representation(), len(model.history["elbo_train"])


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--sections", default=",".join(sd.MAIN))
    p.add_argument("--seeds", default="0,1")
    p.add_argument("--settings", default=",".join(SETTINGS))
    p.add_argument("--data", default=str(HERE.parent.parent / "shared" / "data"))
    p.add_argument("--table", action="store_true")
    args = p.parse_args()
    if args.table:
        d = pd.read_csv(CSV)
        g = d.groupby(["setting", "section"])[["ARI_L", "ARI_K", "MoranI_L"]].mean().unstack("section")
        print(g.round(3).to_string())
        print(d.groupby("setting")[["ARI_L", "ARI_K", "MoranI_L", "fit_s"]].mean().round(3).to_string())
        return
    import torch

    torch.set_num_threads(1)
    rows = []
    for section in args.sections.split(","):
        sec = sd.load(section, Path(args.data))
        graph = sd.graph6(sec)
        for setting in args.settings.split(","):
            for seed in map(int, args.seeds.split(",")):
                t0 = time.time()
                z, epochs = run_urmf(sec, seed, SETTINGS[setting])
                fit_s = time.time() - t0
                row = {"section": section, "setting": setting, "seed": seed, "epochs": epochs,
                       "fit_s": fit_s} | sd.score(z, sec["labels"], sec["k"], seed, graph)
                rows.append(row)
                print(row, flush=True)
                write_merged(rows, CSV, ["section", "setting", "seed"])


if __name__ == "__main__":
    main()
