"""STEREOMM ablation: loss weights and a neighbourhood-mean readout, on the labelled sections.

Trains the benchmark's STEREOMM recipe (``spatial_domains.run_stereomm``: counts, no image,
reference defaults) with a few ``STEREOMM(**model_kwargs)`` settings and scores every latent with
the benchmark's shared clustering (Leiden to the number of labels, and k-means; ARI and the
Moran's I of the domains). ``+mean1`` rows apply the one-hop neighbourhood mean of URMF's default
readout (``D^-1 (A + I) z`` on the benchmark's 6-NN graph) to the latents of the row before it,
so that they differ only in the readout.

Usage::

    python benchmarks/stereomm_ablation.py --seeds 0,1,2,3,4     # writes results/stereomm_ablation.csv
    python benchmarks/stereomm_ablation.py --table
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import pandas as pd

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import spatial_domains as sd  # noqa: E402
from _results import write_merged  # noqa: E402

CSV = HERE / "results" / "stereomm_ablation.csv"
#: name -> keyword arguments of ``spatial_domains.run_stereomm`` (``setup_kwargs`` for
#: ``setup_anndata``, ``train_kwargs`` for ``train()``, the rest for ``STEREOMM()``); "default"
#: is STEREOMM as documented.
SETTINGS = {
    "default": {},
    "edge_0.1": {"edge_weight": 0.1},
    "no_edge": {"edge_weight": 0.0},
    "pca_inputs": {"setup_kwargs": {"dim_reduction_method": "pca"}},
    "edge_0.3": {"edge_weight": 0.3},
    # depth: one hidden GCN layer instead of two (encoder and feature decoder: 4 hops, not 6)
    "one_hidden_layer": {"hidden_dims": (2048,)},
    "n_latent_30": {"n_latent": 30},
    "n_dims_500": {"setup_kwargs": {"n_dims": 500}},
    "hvg200_none": {"setup_kwargs": {"scale": "none"}},  # log-normalised HVGs, not z-scored
    "n_latent_30+n_dims_500": {"n_latent": 30, "setup_kwargs": {"n_dims": 500}},
    # training length and learning rate (the reference's 100 epochs at lr 1e-4, full graph)
    "epochs_30": {"train_kwargs": {"max_epochs": 30}},
    "epochs_400": {"train_kwargs": {"max_epochs": 400}},
    "lr_1e-3": {"train_kwargs": {"lr": 1e-3}},
    # graph attention encoder and decoder (STAGATE's layer type), with and without a lighter edge loss
    "gat": {"gnn_type": "GAT", "decoder_type": "GAT"},
    "gat+edge_0.1": {"gnn_type": "GAT", "decoder_type": "GAT", "edge_weight": 0.1},
}


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--sections", default=",".join(sd.MAIN))
    p.add_argument("--seeds", default="0,1,2,3,4")
    p.add_argument("--settings", default="default,edge_0.1,no_edge,pca_inputs")
    p.add_argument("--data", default=str(HERE.parent.parent / "shared" / "data"))
    p.add_argument("--table", action="store_true")
    args = p.parse_args()
    if args.table:
        d = pd.read_csv(CSV)
        cols = ["ARI_L", "ARI_K", "MoranI_L"]
        print(d.groupby(["setting", "section"])[cols].mean().unstack("section").round(3).to_string())
        s = d.groupby(["setting", "section"])[cols].std().groupby("setting").mean()
        m = d.groupby(["setting", "section"])[cols + ["fit_s"]].mean().groupby("setting").mean()
        print(m.round(3).to_string(), "\nmean per-section s.d.:\n", s.round(3).to_string())
        return
    import torch

    torch.set_num_threads(1)
    rows = []
    for section in args.sections.split(","):
        sec = sd.load(section, Path(args.data))
        graph = sd.graph6(sec)
        mean1 = sd.row_normalise(graph + sd.sp.eye(graph.shape[0]))
        for setting in args.settings.split(","):
            for seed in map(int, args.seeds.split(",")):
                t0 = time.time()
                z = sd.run_stereomm(sec, seed, **SETTINGS[setting])
                fit_s = time.time() - t0
                for name, emb in ((setting, z), (setting + "+mean1", mean1 @ z)):
                    row = {"section": section, "setting": name, "seed": seed, "fit_s": fit_s} | sd.score(
                        emb, sec["labels"], sec["k"], seed, graph)
                    rows.append(row)
                    print({k: (round(v, 3) if isinstance(v, float) else v) for k, v in row.items()}, flush=True)
                write_merged(rows, CSV, ["section", "setting", "seed"])


if __name__ == "__main__":
    main()
