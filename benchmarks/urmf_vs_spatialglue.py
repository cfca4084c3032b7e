"""URMF vs SpatialGlue: wall time and peak memory, side by side in one run, on the same inputs.

Data: the two-modality RNA + ADT part of ``spatialglue_sim_triplet.h5mu`` (1296 spots, from
../shared/data), at real size and tiled to larger sections (copies of the 36 x 36 grid placed side
by side, features jittered). Both tools get the same per-modality inputs (RNA PCA 30, ADT CLR-PCA).
Training length: by default each tool trains as its user would get it -- SpatialGlue with the
600 full-graph epochs it fixes for ``datatype="SPOTS"`` (it overrides any ``epochs`` argument for
that datatype), URMF with its default ``max_epochs``; ``--epochs N`` forces both to N epochs
(SpatialGlue: N full-graph steps; URMF: N passes over minibatches of 256 spots). Each run happens in its own child process so that its peak resident
memory (``VmHWM``, ``_isolate``) is its own; a run that fails (e.g. out of memory for SpatialGlue's dense
n x n graphs) or exceeds the time limit is recorded as such.

Install SpatialGlue beside remadom with ``pip install --no-deps SpatialGlue`` (``nox -s bench``).

Usage: python benchmarks/urmf_vs_spatialglue.py [--sizes 1296,10000,50000,100000] [--epochs N] [--compile]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _isolate  # noqa: E402

DATA = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "spatialglue_sim_triplet.h5mu"


def make_inputs(n_spots: int, data: Path, seed: int = 0):
    """RNA PCA and ADT CLR-PCA features of the triplet simulation, tiled to ``n_spots``."""
    import mudata as md

    import remadom

    t = md.read_h5mu(data)
    remadom.pp.pca_rna(t["rna"], n_comps=30, layer="counts", n_top_genes=None)
    remadom.pp.pca_protein(t["adt"], layer="counts")
    f1, f2 = t["rna"].obsm["X_pca"], t["adt"].obsm["X_pca"]
    xy = np.asarray(t.obsm["spatial"], dtype=np.float64)
    n0 = xy.shape[0]
    reps = int(np.ceil(n_spots / n0))
    width = xy[:, 0].max() - xy[:, 0].min() + 2
    side = int(np.ceil(np.sqrt(reps)))
    rng = np.random.default_rng(seed)
    tiles = [(i % side, i // side) for i in range(reps)]
    xy_all = np.concatenate([xy + np.array([a * width, b * width]) for a, b in tiles])[:n_spots]
    f1_all = np.concatenate([f1] * reps)[:n_spots]
    f2_all = np.concatenate([f2] * reps)[:n_spots]
    f1_all = (f1_all + 0.05 * rng.standard_normal(f1_all.shape)).astype(np.float32)
    f2_all = (f2_all + 0.05 * rng.standard_normal(f2_all.shape)).astype(np.float32)
    return xy_all, f1_all, f2_all


def _rss_gb() -> float:
    """Current resident memory of this process (GB)."""
    import psutil

    return psutil.Process().memory_info().rss / 1024**3


def run_urmf(n_spots, epochs, data, batch_size=None, compile_module=False):
    import anndata as ad
    import mudata as md
    import scvi

    # remadom imports squidpy (spatial_graph) and torch_geometric (propagation) lazily; like
    # SpatialGlue's library imports below, they belong before the clock and the memory baseline
    import squidpy  # noqa: F401
    import torch_geometric  # noqa: F401

    import remadom

    base = _rss_gb()
    xy, f1, f2 = make_inputs(n_spots, data)
    t0 = time.time()
    names = [f"s{i}" for i in range(n_spots)]
    a1 = ad.AnnData(obs={"_": np.zeros(n_spots)}, obsm={"X_feat": f1})
    a2 = ad.AnnData(obs={"_": np.zeros(n_spots)}, obsm={"X_feat": f2})
    a1.obs_names = a2.obs_names = names
    m = md.MuData({"rna": a1, "adt": a2})
    m.obsm["spatial"] = xy
    remadom.data.spatial_graph(m, n_neighs=6)
    scvi.settings.seed = 0
    remadom.model.URMF.setup_mudata(m, modalities=["rna", "adt"],
                                    layers={"rna": "X_feat", "adt": "X_feat"})
    model = remadom.model.URMF(m)
    if compile_module:  # torch.compile (inductor) of the module's training forward + loss
        import torch

        model.module.forward = torch.compile(model.module.forward)
    kw = {} if batch_size is None else {"batch_size": batch_size}
    model.train(max_epochs=epochs, enable_progress_bar=False, logger=False,
                enable_checkpointing=False, **kw)  # epochs None: URMF's default
    z = model.get_latent_representation()
    assert np.isfinite(z).all()
    return {"seconds": time.time() - t0, "import_gb": base}


def run_spatialglue(n_spots, epochs, data, batch_size=None, compile_module=False):  # noqa: ARG001
    import anndata as ad
    import torch
    from SpatialGlue.preprocess import construct_neighbor_graph
    from SpatialGlue.SpatialGlue_pyG import Train_SpatialGlue

    import remadom  # noqa: F401 - make_inputs uses it; imported before the baseline for parity

    base = _rss_gb()
    xy, f1, f2 = make_inputs(n_spots, data)
    t0 = time.time()
    a1 = ad.AnnData(np.zeros((n_spots, 1), dtype=np.float32), obsm={"feat": f1, "spatial": xy})
    a2 = ad.AnnData(np.zeros((n_spots, 1), dtype=np.float32), obsm={"feat": f2, "spatial": xy})
    d = construct_neighbor_graph(a1, a2, datatype="SPOTS")
    model = Train_SpatialGlue(d, datatype="SPOTS", device=torch.device("cpu"))
    if epochs is not None:
        model.epochs = epochs  # its constructor resets `epochs` to 600 for datatype "SPOTS"
    out = model.train()
    assert np.isfinite(out["SpatialGlue"]).all()
    return {"seconds": time.time() - t0, "import_gb": base}


def measure(fn_name, n_spots, epochs, data, timeout, mem_limit_gb=20.0, batch_size=None, compile_module=False):
    r = _isolate.measure("urmf_vs_spatialglue", fn_name, (n_spots, epochs, data, batch_size, compile_module), timeout,
                         mem_limit_gb)
    res = r["result"] if isinstance(r["result"], dict) else {"seconds": float("nan"), "import_gb": float("nan")}
    return {**res, "status": r["status"], "peak_gb": r["peak_gb"],
            "net_gb": r["peak_gb"] - res["import_gb"]}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="1296,10000,50000,100000")
    ap.add_argument("--epochs", type=int, default=None,
                    help="force both tools to this many epochs (default: each tool's own default)")
    ap.add_argument("--timeout", type=int, default=1800)
    ap.add_argument("--data", default=str(DATA))
    ap.add_argument("--tools", default="urmf,spatialglue")
    ap.add_argument("--out", default="urmf_vs_spatialglue.json")
    ap.add_argument("--mem-limit-gb", type=float, default=20.0)
    ap.add_argument("--batch-size", type=int, default=None, help="URMF batch size (default: URMF's)")
    ap.add_argument("--compile", action="store_true",
                    help="URMF: torch.compile the module's forward (compile time is counted)")
    a = ap.parse_args()
    rows = []
    print("epochs:", a.epochs or "each tool's default (SpatialGlue 600 full-graph epochs; URMF max_epochs=None)")
    print("peak GB: the child's peak RSS; net GB: peak minus the RSS right after the imports "
          "(torch, scvi-tools, Lightning, scanpy, ...), i.e. the memory of the run itself.")
    print(f"{'n_spots':>8} {'tool':>12} {'seconds':>9} {'peak GB':>8} {'net GB':>7}  status", flush=True)
    for n in map(int, a.sizes.split(",")):
        res = {}
        for tool in a.tools.split(","):
            r = measure(f"run_{tool}", n, a.epochs, a.data, a.timeout, a.mem_limit_gb, a.batch_size, a.compile)
            res[tool] = r
            rows.append({"n_spots": n, "tool": tool, **r})
            print(f"{n:>8} {tool:>12} {r['seconds']:>9.1f} {r['peak_gb']:>8.2f} {r['net_gb']:>7.2f}  "
                  f"{r['status']}", flush=True)
        if "urmf" in res and "spatialglue" in res and res["spatialglue"]["status"] == "ok":
            sg, u = res["spatialglue"], res["urmf"]
            print(f"{n:>8} {'ratio':>12} {sg['seconds'] / u['seconds']:>8.1f}x "
                  f"{sg['peak_gb'] / u['peak_gb']:>7.1f}x {sg['net_gb'] / u['net_gb']:>6.1f}x  "
                  "(SpatialGlue / URMF: time, peak, net)", flush=True)
    Path(a.out).write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
