"""PRIORVI on real data (issue 9 evidence): learned priors vs N(0, I), missing modalities.

Sections (``--only``):

* ``mop``: MOp SNARE-seq RNA + ATAC (23 subclasses): ARI/NMI (Leiden, 23 clusters) of PRIORVI
  with ``prior="mog"``, ``"vamp"`` and ``"normal"`` (the seed's claim, tested) and the RNA PCA
  baseline.
* ``missing``: hide ATAC (then RNA) for a random 25/50/75/90% of nuclei; ARI over all nuclei for
  PRIORVI (mog) and MOSAICVI (mosaic) on the same splits.
* ``pbmc``: MIDAS PBMC mosaic, its natural missing blocks; ARI over all 1600 cells (MOSAICVI's
  figures on the same data are in ``mosaicvi_real_data.py``'s table).
* ``starmap``: STARmap mPFC RNA with and without the spatial modality (coordinates).

Run: ``python benchmarks/priorvi_real_data.py --data ../shared/data --seeds 0 1``.
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from pathlib import Path

import anndata as ad
import mudata as md
import numpy as np
import pandas as pd
import scanpy as sc
import scvi

sys.path.insert(0, str(Path(__file__).resolve().parent))
from mosaicvi_real_data import leiden_scores, load_mop, mop_obs, mudata_from  # noqa: E402

from remadom.model import MOSAICVI, PRIORVI  # noqa: E402

warnings.filterwarnings("ignore")
md.set_options(pull_on_update=False)
ROWS: list[dict] = []


def record(section, method, seed, **vals):
    row = {"section": section, "method": method, "seed": seed, **vals}
    ROWS.append(row)
    print(row, flush=True)


def fit(cls, m, seed, epochs, setup, **kw):
    scvi.settings.seed = seed
    cls.setup_mudata(m, **setup)
    model = cls(m, **kw)
    t = time.time()
    model.train(max_epochs=epochs, enable_progress_bar=False)
    return model, time.time() - t


def mop(data, seeds, epochs, priors=("mog", "normal", "vamp")):
    m0 = load_mop(data)
    labels = m0.obs["subclass"]
    r = ad.AnnData(m0["rna"].X.copy())
    sc.pp.normalize_total(r, target_sum=1e4)
    sc.pp.log1p(r)
    sc.pp.pca(r, n_comps=30)
    setup = {"modalities": ["rna", "atac"], "layers": {"atac": "binary"}, "batch_key": "batch"}
    for seed in seeds:
        a, n = leiden_scores(r.obsm["X_pca"], labels, 23, seed)
        record("mop", "RNA PCA", seed, ari=a, nmi=n)
        for prior in priors:
            if prior == "vamp" and seed != seeds[0]:
                continue
            m = mudata_from({"rna": m0["rna"].copy(), "atac": m0["atac"].copy()}, mop_obs(m0))
            model, t = fit(PRIORVI, m, seed, epochs, setup, prior=prior)
            a, n = leiden_scores(model.get_latent_representation(), labels, 23, seed)
            record("mop", f"PRIORVI {prior}", seed, ari=a, nmi=n, train_s=t)


def missing(data, seeds, epochs, fractions=(0.25, 0.5, 0.75, 0.9), hide=("atac", "rna"), n_sub=None):
    m0 = load_mop(data)
    if n_sub is not None and n_sub < m0.n_obs:  # a random subset of nuclei (same for every split)
        keep = np.sort(np.random.default_rng(0).choice(m0.n_obs, n_sub, replace=False))
        m0 = mudata_from({k: m0[k][m0.obs_names[keep]].copy() for k in ("rna", "atac")}, mop_obs(m0))
    labels = m0.obs["subclass"]
    for seed in seeds:
        rng = np.random.default_rng(seed)
        for mod in hide:
            for f in fractions:
                if f == 0 and mod != hide[0]:
                    continue  # nothing hidden: the same run for both directions
                hidden = rng.random(m0.n_obs) < f
                keep = {"rna": m0.obs_names, "atac": m0.obs_names}
                keep[mod] = m0.obs_names[~hidden]
                mods = {k: m0[k][keep[k]].copy() for k in ("rna", "atac")}
                for name, cls, kw in (("PRIORVI mog", PRIORVI, {"prior": "mog"}),
                                      ("MOSAICVI mosaic", MOSAICVI, {"problem": "mosaic"})):
                    m = mudata_from({k: v.copy() for k, v in mods.items()}, mop_obs(m0))
                    model, t = fit(cls, m, seed, epochs, {"modalities": ["rna", "atac"],
                                                         "layers": {"atac": "binary"}, "batch_key": "batch"}, **kw)
                    z = model.get_latent_representation()
                    a, n = leiden_scores(z, labels.reindex(m.obs_names), 23, seed)
                    record("missing", name, seed, hidden=mod, fraction=f, ari=a, nmi=n, train_s=t)


def pbmc(data, seeds, epochs):
    m0 = md.read_h5mu(data / "midas_pbmc_mosaic.h5mu")
    for seed in seeds:
        for name, cls, kw in (("PRIORVI mog", PRIORVI, {"prior": "mog"}),
                              ("PRIORVI normal", PRIORVI, {"prior": "normal"}),
                              ("PRIORVI mog attention", PRIORVI, {"prior": "mog", "fusion": "attention"})):
            m = m0.copy()
            model, t = fit(cls, m, seed, epochs, {"modalities": ["rna", "adt"], "batch_key": "batch"}, **kw)
            a, n = leiden_scores(model.get_latent_representation(), m.obs["celltype"], 8, seed)
            record("pbmc", name, seed, ari=a, nmi=n, train_s=t)


def starmap(data, seeds, epochs):
    a0 = ad.read_h5ad(data / "starmap_mpfc_s0_s1.h5ad")
    keep = a0.obs["cell_type"].astype(str) != "NA"
    labels = a0.obs["cell_type"].astype(str)[keep]
    k = labels.nunique()
    for seed in seeds:
        for name, spatial in (("PRIORVI rna", None), ("PRIORVI rna + spatial", "spatial")):
            m = md.MuData({"rna": a0.copy()})
            m.obs = a0.obs.copy()
            m.obsm["spatial"] = np.asarray(a0.obsm["spatial"])
            model, t = fit(PRIORVI, m, seed, epochs, {"modalities": ["rna"], "batch_key": "section",
                                                     "spatial_key": spatial})
            z = model.get_latent_representation()[keep.to_numpy()]
            a, n = leiden_scores(z, labels, k, seed)
            record("starmap", name, seed, ari=a, nmi=n, train_s=t)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--data", default="../shared/data")
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    p.add_argument("--only", default="mop,missing,pbmc,starmap")
    p.add_argument("--epochs-mop", type=int, default=60)
    p.add_argument("--epochs-small", type=int, default=None, help="default: the model's")
    p.add_argument("--fractions", type=float, nargs="+", default=[0.25, 0.5, 0.75, 0.9])
    p.add_argument("--n-sub", type=int, default=None, help="missing: random subset of nuclei")
    p.add_argument("--out", default="priorvi_results.csv")
    args = p.parse_args()
    data = Path(args.data)
    only = args.only.split(",")
    if "mop" in only:
        mop(data, args.seeds, args.epochs_mop)
    if "pbmc" in only:
        pbmc(data, args.seeds, args.epochs_small)
    if "starmap" in only:
        starmap(data, args.seeds, args.epochs_small)
    if "missing" in only:
        missing(data, args.seeds, args.epochs_mop, fractions=tuple(args.fractions), n_sub=args.n_sub)
    df = pd.DataFrame(ROWS)
    df.to_csv(args.out, index=False)
    keys = [c for c in ("section", "method", "hidden", "fraction") if c in df]
    print(df.groupby(keys, dropna=False)[["ari", "nmi"]].agg(["mean", "std"]).round(3).to_string())


if __name__ == "__main__":
    main()
