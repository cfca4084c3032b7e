"""URMF readouts on the same trained latents: neighbourhood means and BANKSY-style mixing.

Trains URMF once per (section, seed) at its defaults, takes the posterior mean ``z``
(``readout_hops=0``) and scores several readouts of it with the shared clustering of
``spatial_domains.py``: the 1- and 2-hop neighbourhood mean ``D^-1 (A + I)`` (the default is one
hop), ``w z + (1 - w) n`` and ``[sqrt(1 - lam) z, sqrt(lam) n]`` (BANKSY's mixing, Singhal et al.
2024), where ``n`` is the mean over a spot's neighbours without itself.

Usage::

    python benchmarks/urmf_readout_mixing.py            # writes results/urmf_readout_mixing.csv
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import spatial_domains as sd  # noqa: E402

CSV = HERE / "results" / "urmf_readout_mixing.csv"


def posterior_mean(sec: dict, seed: int):
    """URMF trained by the benchmark's recipe: (posterior mean ``(n_obs, n_latent)``, its graph)."""
    model = sd.train_urmf(sec, seed)
    return model.get_latent_representation(readout_hops=0), model.adata.obsp["spatial_connectivities"]


def readouts(z: np.ndarray, graph) -> dict[str, np.ndarray]:
    from remadom.data import neighbor_mean

    n = neighbor_mean(graph, z, include_self=False)
    z1 = neighbor_mean(graph, z)
    out = {"mean0": z, "hop1": z1, "hop2": neighbor_mean(graph, z1)}
    for w in (0.3, 0.5):
        out[f"mix{w}"] = w * z + (1 - w) * n
    for lam in (0.5, 0.8):
        out[f"concat{lam}"] = np.hstack([np.sqrt(1 - lam) * z, np.sqrt(lam) * n])
    return out


def main():
    import torch

    torch.set_num_threads(1)
    data = HERE.parent.parent / "shared" / "data"
    rows = []
    for section in sd.MAIN:
        sec = sd.load(section, data)
        graph = sd.graph6(sec)
        for seed in (0, 1, 2):
            z, g = posterior_mean(sec, seed)
            for name, emb in readouts(z, g).items():
                rows.append({"section": section, "seed": seed, "readout": name}
                            | sd.score(emb, sec["labels"], sec["k"], seed, graph))
            pd.DataFrame(rows).to_csv(CSV, index=False)
    d = pd.DataFrame(rows)
    print(d.groupby(["readout", "section"])[["ARI_L", "ARI_K"]].mean().unstack().round(3).to_string())
    print(d.groupby("readout")[["ARI_L", "ARI_K", "MoranI_L", "MoranI_K"]].mean().round(3).to_string())


if __name__ == "__main__":
    main()
