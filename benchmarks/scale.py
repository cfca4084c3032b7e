"""MOSAICVI at growing n_obs, in memory and backed (``read_h5mu(..., backed="r")``): time, peak RSS.

Data: the real PBMC RNA + ADT mosaic of ``../shared/data/midas_pbmc_mosaic.h5mu`` (1600 cells:
400 RNA only, 400 ADT only, 800 paired; 500 genes, 224 proteins) tiled to the requested number
of cells by repeating its cells in order (each copy keeps its modalities, batch and counts; obs
names made unique), written once per size as an uncompressed ``.h5mu`` in ``--workdir``. Tiling
repeats the real counts, so these runs measure memory and time, not quality.

Each (size, mode) run is its own spawned process (``_isolate.measure``): open the file (in memory,
or backed: the modalities' ``.X`` stay on disk and minibatches are read by scvi-tools' loader),
``MOSAICVI.setup_mudata(..., batch_key="batch")``, ``MOSAICVI(problem="mosaic")``, one epoch of
``train`` (batch size 256), ``get_latent_representation``. Peak RSS is the child's own high-water mark (``_isolate``: ``VmHWM``)
(imports included); the bytes-per-cell slope is ``(peak(n2) - peak(n1)) / (n2 - n1)`` between the
two largest sizes of each mode.

Usage: python benchmarks/scale.py [--sizes 10000,100000] [--modes memory,backed]
                                  [--workdir /tmp/remadom_scale] [--out benchmarks/results/scale.csv]
"""

from __future__ import annotations

import argparse
import csv
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _isolate  # noqa: E402

DATA = Path(__file__).resolve().parents[1] / ".." / "shared" / "data"


def make_file(n: int, data: str, workdir: str) -> str:
    """Write (once) the PBMC mosaic tiled to ``n`` cells as an uncompressed h5mu; return its path."""
    import mudata as md

    md.set_options(pull_on_update=False)
    path = Path(workdir) / f"pbmc_mosaic_{n}.h5mu"
    if path.exists():
        return str(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    src = md.read_h5mu(Path(data) / "midas_pbmc_mosaic.h5mu")
    reps = int(np.ceil(n / src.n_obs))
    keep = np.resize(np.arange(src.n_obs), n)  # cells in order, repeated, cut to n
    copy = np.repeat(np.arange(reps), src.n_obs)[:n]
    names = np.array([f"{c}-{k}" for c, k in zip(src.obs_names[keep], copy, strict=True)])
    mods = {}
    for m, a in src.mod.items():
        pos = src.obs_names.get_indexer(a.obs_names)
        at = {p: i for i, p in enumerate(pos)}
        rows = [(j, at[p]) for j, p in enumerate(keep) if p in at]  # tiled cells that have m
        sel = np.array([r for _, r in rows])
        t = a[sel].copy()
        t.obs_names = names[[j for j, _ in rows]]
        t.obs = t.obs[["batch"]].copy()
        mods[m] = t
    out = md.MuData(mods)
    out.obs["batch"] = src.obs["batch"].to_numpy()[keep].astype(str)
    out.obs = out.obs[["batch"]]
    out.uns["provenance"] = {"tiled_from": "midas_pbmc_mosaic.h5mu", "n_obs": int(n)}
    tmp = path.with_suffix(".tmp.h5mu")
    out.write_h5mu(tmp)
    tmp.rename(path)
    return str(path)


def run(path: str, mode: str, epochs: int) -> dict:
    """One measured run (in its own process): setup, ``epochs`` epochs, the latent."""
    import mudata as md
    import scvi
    from anndata.abc import CSRDataset

    from remadom.model import MOSAICVI

    md.set_options(pull_on_update=False)
    t0 = time.time()
    m = md.read_h5mu(path, backed="r" if mode == "backed" else None)
    scvi.settings.seed = 0
    MOSAICVI.setup_mudata(m, modalities=["rna", "adt"], batch_key="batch")
    model = MOSAICVI(m, problem="mosaic")
    t1 = time.time()
    model.train(
        max_epochs=epochs, enable_progress_bar=False, logger=False, enable_checkpointing=False
    )
    t2 = time.time()
    z = model.get_latent_representation()
    t3 = time.time()
    on_disk = all(isinstance(m[k].X, CSRDataset) for k in ("rna", "adt"))
    if mode == "backed" and not on_disk:
        raise RuntimeError("a modality's .X was loaded into memory during the backed run")
    return {
        "setup_s": t1 - t0,
        "train_s_per_epoch": (t2 - t1) / epochs,
        "latent_s": t3 - t2,
        "finite": bool(np.isfinite(z).all()),
        "x_on_disk_after": on_disk,
    }


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="10000,100000")
    ap.add_argument("--modes", default="memory,backed")
    ap.add_argument("--epochs", type=int, default=1)
    ap.add_argument("--timeout", type=int, default=3600)
    ap.add_argument("--data", default=str(DATA))
    ap.add_argument("--workdir", default="/tmp/remadom_scale")
    ap.add_argument("--out", default=str(Path(__file__).resolve().parent / "results" / "scale.csv"))
    ap.add_argument(
        "--label", default="", help="free text kept in the CSV's label column (e.g. the commit)"
    )
    ap.add_argument("--append", action="store_true", help="add the rows to an existing --out file")
    a = ap.parse_args()
    sizes = [int(float(s)) for s in a.sizes.split(",")]
    paths = {n: make_file(n, a.data, a.workdir) for n in sizes}
    rows = []
    print(
        f"{'n_obs':>8} {'mode':>7} {'setup s':>8} {'s/epoch':>8} {'latent s':>8} {'peak GB':>8}  status",
        flush=True,
    )
    for n in sizes:
        for mode in a.modes.split(","):
            r = _isolate.measure("scale", "run", (paths[n], mode, a.epochs), a.timeout)
            res = r["result"] if isinstance(r["result"], dict) else {}
            row = {
                "label": a.label,
                "model": "MOSAICVI",
                "data": "midas_pbmc_mosaic tiled",
                "n_obs": n,
                "mode": mode,
                "epochs": a.epochs,
                "setup_s": res.get("setup_s", float("nan")),
                "train_s_per_epoch": res.get("train_s_per_epoch", float("nan")),
                "latent_s": res.get("latent_s", float("nan")),
                "peak_gb": r["peak_gb"],
                "x_on_disk_after": res.get("x_on_disk_after", ""),
                "status": r["status"],
            }
            rows.append(row)
            print(
                f"{n:>8} {mode:>7} {row['setup_s']:>8.1f} {row['train_s_per_epoch']:>8.1f} "
                f"{row['latent_s']:>8.1f} {row['peak_gb']:>8.3f}  {r['status']}",
                flush=True,
            )
    for mode in a.modes.split(","):
        ok = sorted(
            (r["n_obs"], r["peak_gb"]) for r in rows if r["mode"] == mode and r["status"] == "ok"
        )
        if len(ok) >= 2:
            (n1, p1), (n2, p2) = ok[-2], ok[-1]
            print(
                f"{mode}: peak memory slope {(p2 - p1) * 1024**3 / (n2 - n1):.0f} bytes per cell "
                f"({n1} -> {n2} cells)",
                flush=True,
            )
    Path(a.out).parent.mkdir(parents=True, exist_ok=True)
    append = a.append and Path(a.out).exists()
    with open(a.out, "a" if append else "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        if not append:
            w.writeheader()
        w.writerows(rows)
    print(f"wrote {a.out}; sizes above {max(sizes)} cells were not run.", flush=True)


if __name__ == "__main__":
    main()
