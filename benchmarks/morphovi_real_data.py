"""MORPHOVI on real data (issue 10 evidence).

Sections (``--only``):

* ``patchseq``: Patch-seq mouse M1 morphology (61 features, NaN where undefined) and
  electrophysiology (29 features) of the same 645 neurons, *treated as unpaired* (the two
  modalities get different cell names). The true pairing is used only to score, on a held-out
  half of the neurons: FOSCTTM, top-5 matching and `rna_family` label transfer in both
  directions. Ablation: GAN only, + GW, + prior loss (the prior matrix -- correlation of
  morphology k-means clusters with ephys k-means clusters -- is built from the *training* half's
  pairing only), each with all losses on from the start ("flat") or phased (reconstruction first).
  Baselines: independent PCAs (no alignment) and CCA fitted on the training half's true pairs
  (supervised, an upper reference).
* ``rna``: gene expression of 185 other neurons (exon counts) <-> the 645 morphologies, which
  share no cell: `rna_family` label transfer both ways (families present in both sets), scored on
  a held-out half of the morphology neurons; with and without a prior matrix (8 morphology
  k-means clusters x transcriptomic families, from the *other* half's family labels; the RNA
  neurons' clusters are their families, which come from their own RNA).

Run: ``python benchmarks/morphovi_real_data.py --data ../shared/data --seeds 0 1 2 3 4``.
"""

from __future__ import annotations

import argparse
import time
import warnings
from pathlib import Path

import anndata as ad
import mudata as md
import numpy as np
import pandas as pd
import scvi
from sklearn.cluster import KMeans
from sklearn.cross_decomposition import CCA
from sklearn.decomposition import PCA

from remadom.datasets import cluster_prior, patchseq_m1_unpaired
from remadom.metrics import foscttm, label_transfer_accuracy, topk_matching
from remadom.model import MORPHOVI

warnings.filterwarnings("ignore")
md.set_options(pull_on_update=False)
ROWS: list[dict] = []

SCHEDULES = {
    "flat": ({}, {}),
    "phased": ({"recon": 1, "kl": 1, "gan": 2, "gw": 2, "prior": 2}, {1: 500, 2: 1500}),
}
ABLATION = {
    "GAN only": {"gan_w": 1.0},
    "GAN + GW": {"gan_w": 1.0, "gw_w": 1.0},
    "GAN + GW + prior": {"gan_w": 1.0, "gw_w": 1.0, "lambda_p": 1.0, "prior_loss_warmup": 200},
}


def record(section, method, seed, **vals):
    row = {"section": section, "method": method, "seed": seed, **vals}
    ROWS.append(row)
    print({k: (round(v, 4) if isinstance(v, float) else v) for k, v in row.items()}, flush=True)


def _std(x):
    x = np.asarray(x, dtype=np.float64)
    mu, sd = np.nanmean(x, 0), np.nanstd(x, 0)
    sd[sd == 0] = 1
    return np.nan_to_num((x - mu) / sd)


def load_patchseq(data: Path):
    a = ad.read_h5ad(data / "patchseq_m1_morph_ephys.h5ad")
    a = a[a.obs["has_ephys"].astype(bool)].copy()
    morph = np.asarray(a.X, dtype=np.float32)
    ephys = np.asarray(a.obsm["ephys"], dtype=np.float32)
    return a, morph, ephys


def build_mudata(a, morph, ephys, clusters_m=None, clusters_e=None, prior=None) -> md.MuData:
    names = a.obs_names.astype(str)
    m = ad.AnnData(morph, obs=pd.DataFrame({"rna_family": a.obs["rna_family"].astype(str).to_numpy()},
                                           index=[f"{n}_morph" for n in names]))
    e = ad.AnnData(ephys, obs=pd.DataFrame({"rna_family": a.obs["rna_family"].astype(str).to_numpy()},
                                           index=[f"{n}_ephys" for n in names]))
    if clusters_m is not None:
        m.obs["cl"] = clusters_m.astype(str)
        e.obs["cl"] = clusters_e.astype(str)
    mdata = md.MuData({"morph": m, "ephys": e})
    if prior is not None:
        mdata.uns["prior"] = prior
    return mdata


def scores(za, ze, labels, test):
    zt_a, zt_e, lt = za[test], ze[test], labels[test]
    return {"foscttm": foscttm(zt_a, zt_e), "top5": topk_matching(zt_a, zt_e, 5),
            "label_e2m": label_transfer_accuracy(zt_e, lt, zt_a, lt),
            "label_m2e": label_transfer_accuracy(zt_a, lt, zt_e, lt)}


def prior_matrix(cm, ce, train, k):
    """Correlation of morphology-cluster and ephys-cluster indicators over the training neurons."""
    return cluster_prior(cm, ce, k, use=train)


def patchseq(data: Path, seeds, max_iter: int, batch_size: int, k: int = 8):
    a, morph, ephys = load_patchseq(data)
    labels = a.obs["rna_family"].astype(str).to_numpy()
    for seed in seeds:
        rng = np.random.default_rng(seed)
        train = rng.random(len(a)) < 0.5
        test = ~train
        # baselines
        pm = PCA(16, random_state=seed).fit_transform(_std(morph))
        pe = PCA(16, random_state=seed).fit_transform(_std(ephys))
        record("patchseq", "independent PCAs (no alignment)", seed, **scores(pm, pe, labels, test))
        cca = CCA(n_components=10, max_iter=2000).fit(_std(morph)[train], _std(ephys)[train])
        cm_, ce_ = cca.transform(_std(morph), _std(ephys))
        record("patchseq", "CCA on the training half's true pairs (supervised)", seed,
               **scores(cm_, ce_, labels, test))
        # clusters for the prior: k-means per modality (unsupervised, all neurons)
        cl_m = KMeans(k, n_init=10, random_state=seed).fit_predict(_std(morph))
        cl_e = KMeans(k, n_init=10, random_state=seed).fit_predict(_std(ephys))
        prior = prior_matrix(cl_m, cl_e, train, k)
        for sched, (ls, pd_) in SCHEDULES.items():
            for name, w in ABLATION.items():
                mdata = build_mudata(a, morph, ephys, cl_m, cl_e, prior)
                scvi.settings.seed = seed
                use_prior = w.get("lambda_p", 0) > 0
                MORPHOVI.setup_mudata(mdata, modality_a="morph", modality_b="ephys", nan_policy="mask",
                                      labels_key="rna_family",
                                      cluster_key_a="cl" if use_prior else None,
                                      cluster_key_b="cl" if use_prior else None,
                                      prior_key="prior" if use_prior else None)
                model = MORPHOVI(mdata)
                t = time.time()
                model.train(max_iter=max_iter, batch_size=batch_size, loss_schedule=ls, phase_durations=pd_,
                            enable_progress_bar=False, **w)
                elapsed = time.time() - t
                za = model.get_latent_representation(modality="morph")
                ze = model.get_latent_representation(modality="ephys")
                mask = np.asarray(model.adata_manager.get_from_registry("mask")).astype(bool)
                za, ze = za[mask[:, 0]], ze[mask[:, 1]]
                # rows: MuData order; map back to neuron order
                order_m = pd.Index(mdata["morph"].obs_names).get_indexer([f"{n}_morph" for n in a.obs_names])
                order_e = pd.Index(mdata["ephys"].obs_names).get_indexer([f"{n}_ephys" for n in a.obs_names])
                pos_m = pd.Index(mdata.obs_names[mask[:, 0]]).get_indexer(mdata["morph"].obs_names[order_m])
                pos_e = pd.Index(mdata.obs_names[mask[:, 1]]).get_indexer(mdata["ephys"].obs_names[order_e])
                record("patchseq", f"MORPHOVI {name} [{sched}]", seed, train_s=elapsed,
                       **scores(za[pos_m], ze[pos_e], labels, test))


def rna_vs_morph(data: Path, seeds, max_iter: int, batch_size: int):
    a, morph, _ = load_patchseq(data)
    r = md.read_h5mu(data / "patchseq_m1_phystemp_rna_ephys.h5mu")["rna"]
    r = r[r.obs["rna_family"].notna()].copy()
    shared = sorted(set(r.obs["rna_family"].astype(str)) & set(a.obs["rna_family"].astype(str)))
    a = a[a.obs["rna_family"].astype(str).isin(shared).to_numpy()].copy()
    r = r[r.obs["rna_family"].astype(str).isin(shared).to_numpy()].copy()
    morph = np.asarray(a.X, dtype=np.float32)
    counts = r.layers["exon"] if "exon" in r.layers else r.X
    fam_m = a.obs["rna_family"].astype(str).to_numpy()
    for seed in seeds:
        rng = np.random.default_rng(seed)
        train = rng.random(len(a)) < 0.5  # morphology neurons whose family may inform the prior
        cl_m = KMeans(8, n_init=10, random_state=seed).fit_predict(_std(morph))
        # prior: morphology clusters x transcriptomic families, from the training half's labels
        fams = sorted(shared)
        prior = np.nan_to_num(np.corrcoef(np.eye(8)[cl_m[train]].T,
                                          np.array([[f == g for g in fams] for f in fam_m[train]]).T.astype(float))[:8, 8:])
        prior = pd.DataFrame(prior, index=[str(i) for i in range(8)], columns=fams)
        for name, use_prior in (("MORPHOVI GAN + GW", False), ("MORPHOVI GAN + GW + prior", True)):
            m = ad.AnnData(morph, obs=pd.DataFrame({"rna_family": fam_m, "cl": cl_m.astype(str)},
                                                   index=[f"{n}_morph" for n in a.obs_names]))
            g = ad.AnnData(counts.copy(), obs=pd.DataFrame({"rna_family": r.obs["rna_family"].astype(str).to_numpy()},
                                                            index=[f"{n}_rna" for n in r.obs_names]))
            g.obs["cl"] = g.obs["rna_family"]  # the RNA neurons' families come from their own RNA
            mdata = md.MuData({"morph": m, "rna": g})
            mdata.uns["prior"] = prior
            scvi.settings.seed = seed
            MORPHOVI.setup_mudata(mdata, modality_a="morph", modality_b="rna", nan_policy="mask",
                                  labels_key="rna_family", cluster_key_a="cl" if use_prior else None,
                                  cluster_key_b="cl" if use_prior else None,
                                  prior_key="prior" if use_prior else None)
            model = MORPHOVI(mdata)
            model.train(max_iter=max_iter, batch_size=batch_size, gan_w=1.0, gw_w=1.0,
                        lambda_p=1.0 if use_prior else 0.0, prior_loss_warmup=200 if use_prior else 0,
                        enable_progress_bar=False)
            mask = np.asarray(model.adata_manager.get_from_registry("mask")).astype(bool)
            za = pd.DataFrame(model.get_latent_representation(modality="morph"), index=mdata.obs_names)
            zr = model.get_latent_representation(modality="rna")[mask[:, 1]]
            lr = np.asarray(mdata["rna"].obs.loc[mdata.obs_names[mask[:, 1]], "rna_family"])
            test_names = [f"{n}_morph" for n in a.obs_names[~train]]
            za_test, la_test = za.loc[test_names].to_numpy(), fam_m[~train]
            majority = max((la_test == c).mean() for c in shared)
            record("rna", name, seed, label_rna2morph_heldout=label_transfer_accuracy(zr, lr, za_test, la_test),
                   label_morph2rna=label_transfer_accuracy(za_test, la_test, zr, lr),
                   majority_class_morph=float(majority), n_families=len(shared))


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--data", default="../shared/data")
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    p.add_argument("--only", default="patchseq,rna")
    p.add_argument("--max-iter", type=int, default=2000)
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--out", default="morphovi_results.csv")
    p.add_argument("--write-h5mu", default=None,
                   help="only write the unpaired Patch-seq MuData of examples/patchseq_morphovi.yaml "
                   "(remadom.datasets.patchseq_m1_unpaired; = remadom prepare patchseq)")
    args = p.parse_args()
    data = Path(args.data)
    if args.write_h5mu:
        # the same input as `remadom prepare patchseq` (clusters and prior of seed 0)
        patchseq_m1_unpaired(data).write_h5mu(args.write_h5mu)
        print(f"wrote {args.write_h5mu}")
        return
    if "patchseq" in args.only:
        patchseq(data, args.seeds, args.max_iter, args.batch_size)
    if "rna" in args.only:
        rna_vs_morph(data, args.seeds, args.max_iter, args.batch_size)
    df = pd.DataFrame(ROWS)
    df.to_csv(args.out, index=False)
    cols = [c for c in df.columns if c not in ("section", "method", "seed")]
    print(df.groupby(["section", "method"], sort=False)[cols].agg(["mean", "std"]).round(3).to_string())


if __name__ == "__main__":
    main()
