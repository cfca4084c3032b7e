"""MOSAICVI vs TOTALVI and MULTIVI (scvi-tools): time per epoch and peak memory, side by side.

* RNA + ADT: the paired batches (p3_0, p4_0; 800 cells, 500 genes, 224 proteins) of
  ``midas_pbmc_mosaic.h5mu``; MOSAICVI (paired) vs TOTALVI.
* RNA + ATAC: ``scmomat_mop_snare.h5mu`` (10309 nuclei, 1677 genes, ATAC regions open in >= 0.5%
  of nuclei: 5420, binarised); MOSAICVI (paired) vs MULTIVI.

Each data set is used at real size and tiled (cells repeated) to the requested sizes; both tools
get the same cells, batch covariate, batch size (256) and epochs, each run in its own process
(peak RSS is its own). Seconds per epoch exclude setup.

Usage: python benchmarks/mosaicvi_vs_scvi.py [--pairs adt,atac] [--sizes real,10000,100000] [--epochs 3]
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

DATA = Path(__file__).resolve().parents[1] / ".." / "shared" / "data"


def make_mudata(pair: str, n: int | None, data: str):
    import anndata as ad
    import mudata as md

    md.set_options(pull_on_update=False)
    if pair == "adt":
        m = md.read_h5mu(Path(data) / "midas_pbmc_mosaic.h5mu")
        cells = m["rna"].obs_names.intersection(m["adt"].obs_names)
        a, b = m["rna"][cells].copy(), m["adt"][cells].copy()
    else:
        m = md.read_h5mu(Path(data) / "scmomat_mop_snare.h5mu")
        atac = m["atac"]
        keep = np.asarray((atac.X > 0).mean(0)).ravel() >= 0.005
        a, b = m["rna"].copy(), atac[:, keep].copy()
        b.X = (b.X > 0).astype(np.float32)
    batch = m.obs.loc[a.obs_names, "batch"].astype(str).to_numpy()
    if n is not None:
        idx = np.resize(np.arange(a.n_obs), n)
        a, b, batch = a[idx].copy(), b[idx].copy(), batch[idx]
        names = [f"c{i}" for i in range(n)]
        a.obs_names = b.obs_names = names
    a.obs = a.obs[[]].assign(batch=batch)
    b.obs = b.obs[[]].assign(batch=batch)
    out = md.MuData({"rna": a, "other": b})
    out.obs["batch"] = batch
    del ad
    return out


def run_mosaicvi(pair, n, epochs, data, n_hidden=None):
    import scvi

    from remadom.model import MOSAICVI

    m = make_mudata(pair, n, data)
    scvi.settings.seed = 0
    MOSAICVI.setup_mudata(m, modalities=["rna", "other"], batch_key="batch",
                          likelihoods={"other": "nb" if pair == "adt" else "bernoulli"})
    model = MOSAICVI(m, problem="paired", **({} if n_hidden is None else {"n_hidden": n_hidden}))
    t = time.time()
    model.train(max_epochs=epochs, enable_progress_bar=False, logger=False, enable_checkpointing=False)
    return (time.time() - t) / epochs


def run_scvi_peer(pair, n, epochs, data, n_hidden=None):  # n_hidden: MOSAICVI's only
    import scvi

    m = make_mudata(pair, n, data)
    scvi.settings.seed = 0
    if pair == "adt":
        m["other"].X = np.asarray(m["other"].X.toarray())  # TOTALVI needs dense protein counts
        scvi.model.TOTALVI.setup_mudata(m, batch_key="batch", modalities={
            "rna_layer": "rna", "protein_layer": "other", "batch_key": "rna"})
        model = scvi.model.TOTALVI(m)
        # TOTALVI's plan expects a validation set: keep its default 90/10 split and scale the
        # epoch time to all cells
        kw = {"train_size": 0.9, "logger": None}  # its LR monitor needs a logger
    else:
        scvi.model.MULTIVI.setup_mudata(m, batch_key="batch", modalities={
            "rna_layer": "rna", "atac_layer": "other", "batch_key": "rna"})
        model = scvi.model.MULTIVI(m, n_genes=m["rna"].n_vars, n_regions=m["other"].n_vars)
        kw = {"train_size": 1.0, "check_val_every_n_epoch": None}
    t = time.time()
    kw.setdefault("logger", False)
    model.train(max_epochs=epochs, enable_progress_bar=False, enable_checkpointing=False,
                early_stopping=False, **kw)
    return (time.time() - t) / epochs / kw["train_size"]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--pairs", default="adt,atac")
    ap.add_argument("--sizes", default="real,10000,100000")
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--timeout", type=int, default=3600)
    ap.add_argument("--data", default=str(DATA))
    ap.add_argument("--out", default="mosaicvi_vs_scvi.json")
    ap.add_argument("--n-hidden", type=int, default=None, help="MOSAICVI hidden width (default: its own)")
    a = ap.parse_args()
    rows = []
    peer = {"adt": "TOTALVI", "atac": "MULTIVI"}
    print(f"{'pair':>5} {'n_obs':>7} {'tool':>9} {'s/epoch':>8} {'peak GB':>8}  status", flush=True)
    for pair in a.pairs.split(","):
        for size in a.sizes.split(","):
            n = None if size == "real" else int(size)
            res = {}
            for fn, name in (("run_mosaicvi", "MOSAICVI"), ("run_scvi_peer", peer[pair])):
                r = _isolate.measure("mosaicvi_vs_scvi", fn, (pair, n, a.epochs, a.data, a.n_hidden),
                                    a.timeout)
                res[name] = r
                rows.append({"pair": pair, "n_obs": size, "tool": name, "s_per_epoch": r["result"],
                             "peak_gb": r["peak_gb"], "status": r["status"]})
                print(f"{pair:>5} {size:>7} {name:>9} {r['result']:>8.2f} {r['peak_gb']:>8.2f}  {r['status']}",
                      flush=True)
            p, mv = res[peer[pair]], res["MOSAICVI"]
            if p["status"] == mv["status"] == "ok":
                print(f"{pair:>5} {size:>7} {'ratio':>9} {p['result'] / mv['result']:>7.2f}x "
                      f"{p['peak_gb'] / mv['peak_gb']:>7.2f}x  ({peer[pair]} / MOSAICVI; >1: MOSAICVI better)",
                      flush=True)
    Path(a.out).write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
