"""Time per training step (forward + backward of the loss alone) of each alignment head.

``z_bio`` is random ``(batch, 20)`` split into two equal groups (the shape every head sees in
MOSAICVI); GraphRegularizer reads a 6-neighbour random graph over 100k cells through the bank.
Printed as milliseconds per step at batch sizes 256, 1024 and 4096 (median of ``--repeats``).

Usage: python benchmarks/heads.py [--sizes 256,1024,4096] [--repeats 5]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import scipy.sparse as sp
import torch

from remadom.heads import make_head

N_BANK = 100_000


def context_for(head, b: int, d: int) -> dict:
    ctx = {}
    if "graph" in head.requires:
        rng = np.random.default_rng(0)
        rows = np.repeat(np.arange(N_BANK), 6)
        g = sp.csr_matrix((np.ones(len(rows)), (rows, rng.integers(0, N_BANK, len(rows)))), shape=(N_BANK, N_BANK))
        head.set_graph(g)
        ctx.update(bank=torch.randn(N_BANK, d), indices=torch.randint(0, N_BANK, (b,)))
    if "time" in head.requires:
        ctx["time"] = torch.rand(b)
    if "link" in head.requires:
        ctx["link"] = torch.randn(b, 50)
    if "experts" in head.requires:
        mask = torch.ones(b, 2)
        mask[: b // 3, 1] = 0
        mask[b // 3: 2 * b // 3, 0] = 0
        ctx.update(experts=torch.randn(2, b, d), mask=mask, modalities=["rna", "atac"])
    return ctx


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="256,1024,4096")
    ap.add_argument("--repeats", type=int, default=5)
    a = ap.parse_args()
    d = 20
    specs = [{"name": "mmd"}, {"name": "sinkhorn"}, {"name": "gw"}, {"name": "crossgraph", "space": "latent"},
             {"name": "crossgraph", "space": "link"}, {"name": "graph"}, {"name": "temporal", "n_latent": d},
             {"name": "bridge", "source": "rna", "target": "atac", "n_latent": d}]
    sizes = [int(s) for s in a.sizes.split(",")]
    print(f"{'head':>20} " + " ".join(f"{'b=' + str(b):>10}" for b in sizes) + "   (ms per step, torch threads: "
          f"{torch.get_num_threads()})")
    for spec in specs:
        label = spec["name"] + (f"[{spec['space']}]" if "space" in spec else "")
        cells = []
        for b in sizes:
            head = make_head(dict(spec))
            ctx = context_for(head, b, d)
            groups = torch.tensor([0] * (b // 2) + [1] * (b - b // 2))
            times = []
            for _ in range(a.repeats):
                z = torch.randn(b, d, requires_grad=True)
                t = time.perf_counter()
                head(z, groups, **ctx).backward()
                times.append(time.perf_counter() - t)
            cells.append(f"{1000 * np.median(times):>10.1f}")
        print(f"{label:>20} " + " ".join(cells), flush=True)


if __name__ == "__main__":
    main()
