"""MOSAICVI, URMF and STEREOMM at growing n_obs, in memory and backed (``read_h5mu(..., backed="r")``).

Time and peak RSS of each run.

MOSAICVI (``--model mosaicvi``, the default). Data: the real PBMC RNA + ADT mosaic of
``../shared/data/midas_pbmc_mosaic.h5mu`` (1600 cells: 400 RNA only, 400 ADT only, 800 paired;
500 genes, 224 proteins) tiled to the requested number of cells by repeating its cells in order
(each copy keeps its modalities, batch and counts; obs names made unique), written once per size
as an uncompressed ``.h5mu`` in ``--workdir``. Tiling repeats the real counts, so these runs
measure memory and time, not quality. Each (size, mode) run is its own spawned process
(``_isolate.measure``): open the file (in memory, or backed: the modalities' ``.X`` stay on disk
and minibatches are read by scvi-tools' loader), ``MOSAICVI.setup_mudata(...,
batch_key="batch")``, ``MOSAICVI(problem="mosaic")``, one epoch of ``train`` (batch size 256),
``get_latent_representation``.

URMF (``--model urmf``). Data: the RNA + ADT part of the simulated
``../shared/data/spatialglue_sim_triplet.h5mu`` (1296 spots on a 36 x 36 grid), tiled to ``n``
spots by ``urmf_vs_spatialglue.make_inputs`` (copies of the grid side by side; RNA PCA 30 and
ADT CLR-PCA 99 features, jittered by 0.05), written once per size as an uncompressed ``.h5mu``
that holds each modality's representation as its ``.X`` (``--urmf-rep X``, the default: a
backed file keeps it on disk) or in ``obsm["X_feat"]`` (``--urmf-rep obsm``: anndata's backed
mode reads ``obsm`` into memory), and the coordinates in ``obsm["spatial"]``. Each run (its own
process): open the file (in memory or backed), ``remadom.data.spatial_graph(n_neighs=6)``,
``URMF.setup_mudata`` (Gaussian likelihoods; builds the feature kNN graphs; backed, the
propagations and targets are written to the store ``<file>.remadom/``), ``URMF()``, one epoch
of ``train`` (batch size 256), ``get_latent_representation``. ``setup_s`` is open + graph +
setup + model; the peak RSS after each stage is printed. ``x_on_disk_after`` is, for URMF,
whether the encoder inputs are read from the on-disk store.

STEREOMM (``--model stereomm``, ``--modes memory``). Data: ``../shared/data/her2st_a1.h5ad``
(346 spots), its 2,000 most variable genes, tiled to ``n`` spots by
``stereomm_real_data.tile_section`` with 100 standard-normal image columns, written once per
size as an uncompressed ``.h5ad``. Each run (its own process): read the file,
``STEREOMM.setup_anndata(image_key="X_image")`` (radius graph, reduction to 200 HVG + 100 image
columns), ``STEREOMM()``, one epoch of ``train`` (tiles of 20,000 spots with their halos, the
default), ``get_latent_representation``. STEREOMM has no backed mode.

Peak RSS is the child's own high-water mark (``_isolate``: ``VmHWM``, imports included); the
bytes-per-cell slope is ``(peak(n2) - peak(n1)) / (n2 - n1)`` between the two largest sizes of
each mode.

Usage: python benchmarks/scale.py [--model mosaicvi|urmf|stereomm] [--sizes 10000,100000]
                                  [--modes memory,backed] [--workdir /tmp/remadom_scale]
                                  [--out benchmarks/results/scale.csv]
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
URMF_DATA = "spatialglue_sim_triplet.h5mu"


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


def _train_and_embed(model, epochs: int, peaks: dict | None = None):
    """``epochs`` epochs of ``model.train`` and the latent: (latent, s per epoch, latent s).

    With ``peaks``, the peak RSS after training and after the latent go in as ``"train"`` and
    ``"latent"``.
    """
    t0 = time.time()
    model.train(
        max_epochs=epochs, enable_progress_bar=False, logger=False, enable_checkpointing=False
    )
    t1 = time.time()
    if peaks is not None:
        peaks["train"] = _isolate._peak_gb()
    z = model.get_latent_representation()
    t2 = time.time()
    if peaks is not None:
        peaks["latent"] = _isolate._peak_gb()
    return z, (t1 - t0) / epochs, t2 - t1


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
    z, train_s, latent_s = _train_and_embed(model, epochs)
    on_disk = all(isinstance(m[k].X, CSRDataset) for k in ("rna", "adt"))
    if mode == "backed" and not on_disk:
        raise RuntimeError("a modality's .X was loaded into memory during the backed run")
    return {
        "setup_s": t1 - t0,
        "train_s_per_epoch": train_s,
        "latent_s": latent_s,
        "finite": bool(np.isfinite(z).all()),
        "x_on_disk_after": on_disk,
    }


def make_urmf_file(n: int, data: str, workdir: str, rep: str = "X") -> str:
    """Write (once) the RNA + ADT triplet simulation tiled to ``n`` spots as an uncompressed h5mu.

    Each modality holds its representation (``urmf_vs_spatialglue.make_inputs``) as its ``.X``
    (``rep="X"``: a backed file keeps it on disk) or in ``obsm["X_feat"]`` with an empty ``.X``
    (``rep="obsm"``: anndata's backed mode reads obsm into memory); the MuData holds the
    coordinates.
    """
    import anndata as ad
    import mudata as md
    from urmf_vs_spatialglue import make_inputs

    md.set_options(pull_on_update=False)
    path = Path(workdir) / f"urmf_triplet_{n}_{rep}.h5mu"
    if path.exists():
        return str(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    xy, f_rna, f_adt = make_inputs(n, Path(data) / URMF_DATA)
    names = [f"s{i}" for i in range(n)]
    mods = {}
    for m, f in (("rna", f_rna), ("adt", f_adt)):
        a = ad.AnnData(f) if rep == "X" else ad.AnnData(obsm={"X_feat": f})
        a.obs_names = names
        a.var_names = [f"{m}_pc{i}" for i in range(a.n_vars)]
        mods[m] = a
    out = md.MuData(mods)
    out.obsm["spatial"] = xy
    out.uns["provenance"] = {"tiled_from": URMF_DATA, "n_obs": int(n)}
    tmp = path.with_suffix(".tmp.h5mu")
    out.write_h5mu(tmp)
    tmp.rename(path)
    return str(path)


def run_urmf(path: str, mode: str, epochs: int, rep: str = "X") -> dict:
    """One measured URMF run (in its own process): graph + setup, ``epochs`` epochs, the latent."""
    import h5py
    import mudata as md
    import scvi
    import squidpy  # noqa: F401 - imported on use by spatial_graph: not part of the setup time
    import torch_geometric  # noqa: F401 - imported on use by the propagations

    import remadom
    from remadom.model import URMF

    md.set_options(pull_on_update=False)
    peaks = {"imports": _isolate._peak_gb()}
    t0 = time.time()
    m = md.read_h5mu(path, backed="r" if mode == "backed" else None)
    peaks["open"] = _isolate._peak_gb()
    remadom.data.spatial_graph(m, n_neighs=6)
    peaks["spatial_graph"] = _isolate._peak_gb()
    scvi.settings.seed = 0
    mods = ["rna", "adt"]
    layers = {} if rep == "X" else dict.fromkeys(mods, "X_feat")
    likelihoods = dict.fromkeys(mods, "gaussian")
    URMF.setup_mudata(m, modalities=mods, layers=layers, likelihoods=likelihoods)
    peaks["setup_mudata"] = _isolate._peak_gb()
    model = URMF(m)
    t1 = time.time()
    z, train_s, latent_s = _train_and_embed(model, epochs, peaks)
    inputs = [model.adata_manager.get_from_registry(f"{k}_input") for k in mods]
    in_store = all(isinstance(x, h5py.Dataset) for x in inputs)
    if mode == "backed" and not in_store:
        raise RuntimeError("the backed run did not read URMF's encoder inputs from the store")
    return {
        "setup_s": t1 - t0,
        "train_s_per_epoch": train_s,
        "latent_s": latent_s,
        "finite": bool(np.isfinite(z).all()),
        "x_on_disk_after": in_store,
        "peaks": peaks,
    }


STEREOMM_DATA = "her2st_a1.h5ad"
#: genes of the tiled STEREOMM file: her2st A1's most variable (STEREOMM keeps 200 of them)
STEREOMM_GENES = 2000


def make_stereomm_file(n: int, data: str, workdir: str) -> str:
    """Write (once) her2st A1 tiled to ``n`` spots as an uncompressed h5ad; return its path.

    The section's ``STEREOMM_GENES`` most variable genes (scanpy ``seurat`` flavour on its
    normalised, log1p counts) tiled by ``stereomm_real_data.tile_section`` (copies side by side,
    100 standard-normal columns in ``obsm["X_image"]`` for the image features). All 15,045 genes
    at 10^6 spots would be 2.3 x 10^9 stored counts (18.5 GB as CSR), more than this machine's
    memory holds next to the model; STEREOMM reduces the RNA to its 200 most variable genes anyway.
    """
    import anndata as ad
    import scanpy as sc
    from stereomm_real_data import tile_section

    path = Path(workdir) / f"her2st_a1_{STEREOMM_GENES}hvg_{n}.h5ad"
    if path.exists():
        return str(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    a = ad.read_h5ad(Path(data) / STEREOMM_DATA)
    logn = sc.pp.log1p(sc.pp.normalize_total(a, target_sum=1e4, copy=True), copy=True)
    sc.pp.highly_variable_genes(logn, n_top_genes=STEREOMM_GENES, flavor="seurat")
    big = tile_section(a[:, logn.var["highly_variable"].to_numpy()].copy(), n)
    big.uns["provenance"] = {
        "tiled_from": STEREOMM_DATA,
        "n_obs": int(n),
        "genes": f"{STEREOMM_GENES} most variable (seurat)",
    }
    tmp = path.with_suffix(".tmp.h5ad")
    big.write_h5ad(tmp)
    tmp.rename(path)
    return str(path)


def run_stereomm(path: str, mode: str, epochs: int) -> dict:
    """One measured STEREOMM run (its own process): setup, ``epochs`` epochs, the latent.

    In memory only: STEREOMM's reduction reads the whole RNA matrix (``mode="backed"`` raises).
    Training runs in spatial tiles of ``batch_size=20_000`` spots with their halos (the default).
    """
    import anndata as ad
    import scvi

    from remadom.model import STEREOMM

    if mode != "memory":
        raise ValueError("STEREOMM trains in memory only (its setup refuses backed AnnData)")
    peaks = {"imports": _isolate._peak_gb()}
    t0 = time.time()
    a = ad.read_h5ad(path)
    peaks["open"] = _isolate._peak_gb()
    scvi.settings.seed = 0
    STEREOMM.setup_anndata(a, image_key="X_image")
    peaks["setup_anndata"] = _isolate._peak_gb()
    model = STEREOMM(a)
    t1 = time.time()
    z, train_s, latent_s = _train_and_embed(model, epochs, peaks)
    return {
        "setup_s": t1 - t0,
        "train_s_per_epoch": train_s,
        "latent_s": latent_s,
        "finite": bool(np.isfinite(z).all()),
        "x_on_disk_after": False,
        "peaks": peaks,
    }


#: per model: (file maker, run function, model name, data description)
MODELS = {
    "mosaicvi": (make_file, "run", "MOSAICVI", "midas_pbmc_mosaic tiled"),
    "urmf": (make_urmf_file, "run_urmf", "URMF", "spatialglue_sim_triplet rna+adt tiled"),
    "stereomm": (
        make_stereomm_file,
        "run_stereomm",
        "STEREOMM",
        f"her2st_a1 {STEREOMM_GENES} HVG + 100 image columns tiled",
    ),
}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", choices=sorted(MODELS), default="mosaicvi")
    ap.add_argument(
        "--urmf-rep",
        choices=["X", "obsm"],
        default="X",
        help="URMF: where the file holds each modality's representation",
    )
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
    if a.model == "stereomm" and a.modes != "memory":
        ap.error("STEREOMM trains in memory only: pass --modes memory")
    maker, fn_name, model_name, data_name = MODELS[a.model]
    extra = (a.urmf_rep,) if a.model == "urmf" else ()
    if extra:
        data_name += f" (representation in {'.X' if a.urmf_rep == 'X' else 'obsm'})"
    paths = {n: maker(n, a.data, a.workdir, *extra) for n in sizes}
    rows = []
    print(
        f"{'n_obs':>8} {'mode':>7} {'setup s':>8} {'s/epoch':>8} {'latent s':>8} {'peak GB':>8}  status",
        flush=True,
    )
    for n in sizes:
        for mode in a.modes.split(","):
            r = _isolate.measure("scale", fn_name, (paths[n], mode, a.epochs, *extra), a.timeout)
            res = r["result"] if isinstance(r["result"], dict) else {}
            row = {
                "label": a.label,
                "model": model_name,
                "data": data_name,
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
            if "peaks" in res:
                print(
                    "         peak GB after: "
                    + ", ".join(f"{k} {v:.3f}" for k, v in res["peaks"].items()),
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
