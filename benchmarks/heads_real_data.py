"""Alignment heads on real data (issue 7 evidence), beside the MOSAICVI runs of
``mosaicvi_real_data.py`` (whose ``unpaired`` and ``bridge`` sections compare MMD, Sinkhorn, GW,
CrossGraph and BridgeDictionary on the MOp halves).

* ``pbmc_batch``: MIDAS PBMC mosaic, batch heads (group_by="batch") vs none: cell-type ARI/NMI
  (Leiden, 8 clusters) against batch mixing (iLISI, scib-metrics).
* ``mop_batch``: the 12 batches of MOp SNARE-seq (paired RNA + ATAC, ``batch_key="batch"``),
  the same batch heads vs none: subclass ARI/NMI (Leiden, 23 clusters) against iLISI.
* ``spatial``: GraphRegularizer on the spatial graph (squidpy, 6 neighbours) vs none, one
  RNA modality (NB): her2st A1-D1 (pathologist label; k-means with that many clusters) and
  STARmap mPFC (cell types; Leiden): ARI and Moran's I of the clusters.

Run: ``python benchmarks/heads_real_data.py --data ../shared/data --seeds 0 1``
"""

from __future__ import annotations

import argparse
import warnings
from pathlib import Path

import anndata as ad
import mudata as md
import numpy as np
import pandas as pd
import scvi

import remadom
from remadom.metrics import ari, ilisi, morans_i_labels, nmi
from remadom.model import MOSAICVI

warnings.filterwarnings("ignore")
md.set_options(pull_on_update=False)
ROWS: list[dict] = []
W = 100.0  # the preset MMD weight, used for every head (not tuned per head)


def record(section, method, seed, **vals):
    row = {"section": section, "method": method, "seed": seed, **vals}
    ROWS.append(row)
    print(row, flush=True)


def batch_heads(which) -> dict[str, list[dict]]:
    """The batch-head variants compared, each at the same weight and warm-up (not tuned)."""
    variants = {"none": [], "mmd": [{"name": "mmd", "group_by": "batch", "weight": W, "warmup_epochs": 10}],
                "sinkhorn": [{"name": "sinkhorn", "group_by": "batch", "weight": W, "warmup_epochs": 10}],
                "crossgraph[latent]": [{"name": "crossgraph", "space": "latent", "group_by": "batch",
                                        "weight": W, "warmup_epochs": 10}]}
    return {k: v for k, v in variants.items() if not which or k in which}


def pbmc_batch(data: Path, seeds, epochs, which=None):
    full = md.read_h5mu(data / "midas_pbmc_mosaic.h5mu")
    for seed in seeds:
        for name, heads in batch_heads(which).items():
            scvi.settings.seed = seed
            m = md.MuData({"rna": full["rna"].copy(), "adt": full["adt"].copy()})
            m.obs = full.obs[["batch", "celltype"]].reindex(m.obs_names)
            MOSAICVI.setup_mudata(m, modalities=["rna", "adt"], batch_key="batch")
            model = MOSAICVI(m, problem="mosaic", heads=heads)
            model.train(max_epochs=epochs, enable_progress_bar=False)
            m.obsm["z"] = model.get_latent_representation()
            lab = remadom.tl.cluster(m, "z", n_clusters=8, key_added="cl", random_state=seed)
            record("pbmc_batch", f"MOSAICVI mosaic, {name}", seed, ari=ari(m.obs["celltype"], lab),
                   nmi=nmi(m.obs["celltype"], lab), ilisi=ilisi(m.obsm["z"], m.obs["batch"]))


def mop_batch(data: Path, seeds, epochs, which=None):
    from mosaicvi_real_data import load_mop, mop_obs, mudata_from

    m0 = load_mop(data)
    for seed in seeds:
        for name, heads in batch_heads(which).items():
            scvi.settings.seed = seed
            m = mudata_from({"rna": m0["rna"].copy(), "atac": m0["atac"].copy()}, mop_obs(m0))
            MOSAICVI.setup_mudata(m, modalities=["rna", "atac"], layers={"atac": "binary"}, batch_key="batch")
            model = MOSAICVI(m, problem="paired", heads=heads)
            model.train(max_epochs=epochs, enable_progress_bar=False)
            m.obsm["z"] = model.get_latent_representation()
            lab = remadom.tl.cluster(m, "z", n_clusters=23, key_added="cl", random_state=seed)
            record("mop_batch", f"MOSAICVI paired, {name}", seed, ari=ari(m.obs["subclass"], lab),
                   nmi=nmi(m.obs["subclass"], lab), ilisi=ilisi(m.obsm["z"], m.obs["batch"]))


def _spatial_run(adata: ad.AnnData, label_key: str, k: int, method: str, seed: int, epochs: int, library_key=None):
    for name in ("none", "graph"):
        scvi.settings.seed = seed
        a = adata.copy()
        m = md.MuData({"rna": a})
        m.obs = a.obs.copy()
        m.obsm["spatial"] = np.asarray(a.obsm["spatial"], dtype=np.float64)
        remadom.data.spatial_graph(m, n_neighs=6, library_key=library_key)
        MOSAICVI.setup_mudata(m, modalities=["rna"])
        heads = [{"name": "graph", "weight": W, "warmup_epochs": 10}] if name == "graph" else []
        model = MOSAICVI(m, problem="mosaic", heads=heads)
        model.train(max_epochs=epochs, enable_progress_bar=False)
        m.obsm["z"] = model.get_latent_representation()
        lab = remadom.tl.cluster(m, "z", method=method, n_clusters=k, key_added="cl", random_state=seed)
        y = m.obs[label_key]
        keep = y.notna() & (y.astype(str) != "NA")
        yield name, ari(y[keep], lab[keep]), morans_i_labels(lab, m.obsp["spatial_connectivities"])


def spatial(data: Path, seeds, epochs):
    for sec in ("a1", "b1", "c1", "d1"):
        a = ad.read_h5ad(data / f"her2st_{sec}.h5ad")
        a = a[:, np.asarray((a.X > 0).sum(0)).ravel() >= 10].copy()
        k = a.obs["label"].nunique()
        for seed in seeds:
            for name, s_ari, mi in _spatial_run(a, "label", k, "kmeans", seed, epochs):
                record("spatial", f"her2st {sec.upper()}, {name}", seed, ari=s_ari, morans_i=mi)
    a = ad.read_h5ad(data / "starmap_mpfc_s0_s1.h5ad")
    k = a.obs["cell_type"].astype(str).replace("NA", np.nan).nunique()  # 15 labelled types
    for seed in seeds:
        for name, s_ari, mi in _spatial_run(a, "cell_type", k, "leiden", seed, epochs, library_key="section"):
            record("spatial", f"STARmap, {name}", seed, ari=s_ari, morans_i=mi)


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", type=Path, default=Path(__file__).resolve().parents[1] / ".." / "shared" / "data")
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    p.add_argument("--only", default="pbmc_batch,spatial")
    p.add_argument("--epochs", type=int, default=200)
    p.add_argument("--epochs-mop", type=int, default=60)
    p.add_argument("--variants", default="", help="comma-separated subset of none,mmd,sinkhorn,crossgraph[latent]")
    p.add_argument("--out", type=Path, default=Path("heads_real_data.csv"))
    a = p.parse_args()
    only = set(a.only.split(","))
    which = set(a.variants.split(",")) - {""}
    if "pbmc_batch" in only:
        pbmc_batch(a.data, a.seeds, a.epochs, which)
    if "mop_batch" in only:
        mop_batch(a.data, a.seeds, a.epochs_mop, which)
    if "spatial" in only:
        spatial(a.data, a.seeds, a.epochs)
    df = pd.DataFrame(ROWS)
    if a.out.exists():
        df = pd.concat([pd.read_csv(a.out), df])
    df.to_csv(a.out, index=False)
    num = [c for c in df.select_dtypes("number").columns if c != "seed"]
    with pd.option_context("display.width", 250, "display.max_columns", 50):
        print(df.groupby(["section", "method"])[num].agg(["mean", "std"]).round(3).dropna(axis=1, how="all"))


if __name__ == "__main__":
    main()
