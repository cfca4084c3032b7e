"""MOSAICVI on real data (issue 6 evidence), with scvi-tools peers side by side.

Sections (``--only``):

* ``pbmc``: MIDAS PBMC mosaic (RNA-only, ADT-only, two paired batches). The ADT of paired batch
  p4_0 is hidden; MOSAICVI (problem="mosaic") and TOTALVI (on the RNA cells, ADT missing for
  p1_0/p4_0) are trained; cell-type ARI/NMI (Leiden, 8 clusters), iLISI on batch, and the mean
  per-protein Pearson r of p4_0's imputed ADT against the hidden truth (log-normalised).
* ``mop``: MOp SNARE-seq RNA + ATAC paired (23 subclasses): ARI/NMI of MOSAICVI (paired), an
  RNA PCA baseline and MULTIVI with the same epochs.
* ``unpaired``: two disjoint halves, RNA of one and ATAC of the other; FOSCTTM from encoding
  each nucleus' hidden modality with the trained encoder, label transfer ATAC <- RNA.
* ``bridge``: 1%, 5%, 10% of nuclei paired, the rest split into RNA-only and ATAC-only halves.
* ``prediction``: train paired on 80% of nuclei, impute RNA from ATAC on the other 20%.
* ``hierarchical``: the 12 MOp batches as studies.

Run: ``python benchmarks/mosaicvi_real_data.py --data ../shared/data --seeds 0 1 2``.
Nothing is downloaded. Prints one table per section and appends rows to ``--out`` (CSV).
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
import scanpy as sc
import scipy.sparse as sp

import remadom
from remadom.metrics import (
    ari,
    foscttm,
    ilisi,
    imputation_correlation,
    label_transfer_accuracy,
    nmi,
)
from remadom.model import MOSAICVI

warnings.filterwarnings("ignore")
md.set_options(pull_on_update=False)
ROWS: list[dict] = []
#: weight of the alignment heads compared in the unpaired/bridge sections (the preset MMD weight);
#: not tuned per head
HEAD_WEIGHT = 100.0


def log_norm(x) -> np.ndarray:
    x = np.asarray(x.toarray() if sp.issparse(x) else x, dtype=np.float64)
    lib = x.sum(1, keepdims=True)
    lib[lib == 0] = 1
    return np.log1p(x / lib * 1e4)


def leiden_scores(z, labels, n_clusters, seed):
    a = ad.AnnData(obs=pd.DataFrame(index=[str(i) for i in range(len(z))]))
    a.obsm["z"] = np.asarray(z)
    remadom.tl.cluster(a, use_rep="z", method="leiden", n_clusters=n_clusters, key_added="cl",
                       random_state=seed)
    return ari(np.asarray(labels), a.obs["cl"].to_numpy()), nmi(np.asarray(labels), a.obs["cl"].to_numpy())


def record(section, method, seed, **vals):
    row = {"section": section, "method": method, "seed": seed, **vals}
    ROWS.append(row)
    print(row, flush=True)


def mudata_from(mods: dict[str, ad.AnnData], obs: pd.DataFrame) -> md.MuData:
    m = md.MuData(mods)
    m.obs = obs.reindex(m.obs_names)
    return m


# ---------------------------------------------------------------------------------------- PBMC
def pbmc(data: Path, seeds, epochs):
    full = md.read_h5mu(data / "midas_pbmc_mosaic.h5mu")
    obs = full.obs[["batch", "celltype"]].copy()
    rna, adt = full["rna"], full["adt"]
    hold = "p4_0"
    truth_cells = adt.obs_names[adt.obs["batch"] == hold]
    truth = log_norm(adt[truth_cells].X)
    keep = truth.std(0) > 0
    for seed in seeds:
        import scvi

        scvi.settings.seed = seed
        m = mudata_from({"rna": rna.copy(), "adt": adt[adt.obs["batch"] != hold].copy()}, obs)
        MOSAICVI.setup_mudata(m, modalities=["rna", "adt"], batch_key="batch")
        model = MOSAICVI(m, problem="mosaic")
        t = time.time()
        model.train(max_epochs=epochs, enable_progress_bar=False)
        t_train = time.time() - t
        z = model.get_latent_representation()
        a, n = leiden_scores(z, m.obs["celltype"], 8, seed)
        rna_cells = m.obs_names.isin(rna.obs_names)
        a_rna, n_rna = leiden_scores(z[rna_cells], m.obs["celltype"][rna_cells], 8, seed)
        idx = np.flatnonzero(m.obs_names.isin(truth_cells))
        assert (m.obs_names[idx] == truth_cells).all()
        res = {}
        for tb in (None, "p3_0"):
            imp = model.impute("adt", source=["rna"], indices=idx, transform_batch=tb)
            r = imputation_correlation(truth[:, keep], log_norm(imp.X)[:, keep])
            res["r_own_batch" if tb is None else "r_as_p3"] = float(np.nanmean(r))
        record("pbmc", "MOSAICVI", seed, ari=a, nmi=n, ari_rna_cells=a_rna, nmi_rna_cells=n_rna,
               ilisi=ilisi(z, m.obs["batch"]), train_s=t_train, **res)

        # TOTALVI on the RNA cells; ADT rows of p1_0 and p4_0 are zeros (scvi-tools treats an
        # all-zero batch as missing proteins)
        cells = rna.obs_names
        prot = np.zeros((len(cells), adt.n_vars), dtype=np.float32)
        pos = pd.Series(np.arange(len(cells)), index=cells)
        have = adt.obs_names[(adt.obs["batch"] != hold) & adt.obs_names.isin(cells)]
        prot[pos[have].to_numpy()] = np.asarray(adt[have].X.toarray() if sp.issparse(adt.X) else adt[have].X)
        tv = md.MuData({"rna": rna.copy(), "prot": ad.AnnData(prot, obs=rna.obs[[]].copy(), var=adt.var.copy())})
        tv.obs = obs.reindex(tv.obs_names)
        scvi.model.TOTALVI.setup_mudata(tv, batch_key="batch",
                                        modalities={"rna_layer": "rna", "protein_layer": "prot",
                                                    "batch_key": "rna"})
        tv["rna"].obs["batch"] = obs.loc[tv["rna"].obs_names, "batch"].to_numpy()
        tmodel = scvi.model.TOTALVI(tv)
        t = time.time()
        tmodel.train(max_epochs=epochs, enable_progress_bar=False)
        t_tv = time.time() - t
        zt = tmodel.get_latent_representation()
        a_t, n_t = leiden_scores(zt, tv.obs["celltype"], 8, seed)
        idx_t = np.flatnonzero(tv.obs_names.isin(truth_cells))
        _, prot_pred = tmodel.get_normalized_expression(indices=idx_t, n_samples=25, transform_batch="p3_0",
                                                        include_protein_background=True, return_mean=True)
        r_t = imputation_correlation(truth[:, keep], log_norm(prot_pred.to_numpy())[:, keep])
        record("pbmc", "TOTALVI", seed, ari_rna_cells=a_t, nmi_rna_cells=n_t,
               ilisi=ilisi(zt, tv.obs["batch"]), train_s=t_tv, r_as_p3=float(np.nanmean(r_t)))


# ---------------------------------------------------------------------------------------- MOp
def load_mop(data: Path, min_frac: float = 0.005) -> md.MuData:
    """MOp SNARE-seq; ATAC regions open in >= 0.5% of nuclei (5420 of 25734, 70% of the signal),
    binarised into ``layers["binary"]`` -- the usual peak filtering before PeakVI/MultiVI."""
    m = md.read_h5mu(data / "scmomat_mop_snare.h5mu")
    atac = m["atac"]
    frac = np.asarray((atac.X > 0).mean(0)).ravel()
    atac = atac[:, frac >= min_frac].copy()
    atac.layers["binary"] = (atac.X > 0).astype(np.float32)
    out = md.MuData({"rna": m["rna"].copy(), "atac": atac})
    out.obs = m.obs.reindex(out.obs_names)
    out.uns["gene_region_association"] = sp.csr_matrix(m.uns["gene_region_association"])[:, frac >= min_frac]
    return out


def mop_obs(m):
    return m.obs[["batch", "subclass"]].copy()


def mop(data: Path, seeds, epochs, multivi: bool):
    m0 = load_mop(data)
    labels = m0.obs["subclass"]
    # PCA baseline on RNA
    r = ad.AnnData(m0["rna"].X.copy())
    sc.pp.normalize_total(r, target_sum=1e4)
    sc.pp.log1p(r)
    sc.pp.pca(r, n_comps=30)
    for seed in seeds:
        a, n = leiden_scores(r.obsm["X_pca"], labels, 23, seed)
        record("mop", "RNA PCA", seed, ari=a, nmi=n)
        import scvi

        scvi.settings.seed = seed
        m = mudata_from({"rna": m0["rna"].copy(), "atac": m0["atac"].copy()}, mop_obs(m0))
        MOSAICVI.setup_mudata(m, modalities=["rna", "atac"], layers={"atac": "binary"}, batch_key="batch")
        model = MOSAICVI(m, problem="paired")
        t = time.time()
        model.train(max_epochs=epochs, enable_progress_bar=False)
        t_mv = time.time() - t
        z = model.get_latent_representation()
        a, n = leiden_scores(z, labels, 23, seed)
        scores = {}
        for mod in ("rna", "atac"):
            zm = model.get_latent_representation(modality=mod)
            scores[f"ari_{mod}_only"], _ = leiden_scores(zm, labels, 23, seed)
        record("mop", "MOSAICVI paired", seed, ari=a, nmi=n, ilisi=ilisi(z, m.obs["batch"]),
               train_s=t_mv, **scores)
        if multivi:
            mv = md.MuData({"rna": m0["rna"].copy(), "atac": m0["atac"].copy()})
            mv["atac"].X = mv["atac"].layers["binary"]
            mv.obs = mop_obs(m0).reindex(mv.obs_names)
            mv["rna"].obs["batch"] = mv.obs["batch"].to_numpy()
            scvi.model.MULTIVI.setup_mudata(mv, batch_key="batch",
                                            modalities={"rna_layer": "rna", "atac_layer": "atac",
                                                        "batch_key": "rna"})
            mvm = scvi.model.MULTIVI(mv, n_genes=mv["rna"].n_vars, n_regions=mv["atac"].n_vars)
            t = time.time()
            mvm.train(max_epochs=epochs, enable_progress_bar=False, early_stopping=False)
            t_mvi = time.time() - t
            zm = mvm.get_latent_representation()
            a, n = leiden_scores(zm, labels, 23, seed)
            record("mop", "MULTIVI", seed, ari=a, nmi=n, ilisi=ilisi(zm, mv.obs["batch"]), train_s=t_mvi)


def _split_model(m0, rna_cells, atac_cells, problem, seed, epochs, heads=None):
    import scvi

    scvi.settings.seed = seed
    m = mudata_from({"rna": m0["rna"][rna_cells].copy(), "atac": m0["atac"][atac_cells].copy()}, mop_obs(m0))
    link = None
    if any(h.get("name") == "crossgraph" and h.get("space", "link") == "link" for h in heads or []):
        remadom.pp.link_features(m, association=m0.uns["gene_region_association"])
        link = "X_link"
    MOSAICVI.setup_mudata(m, modalities=["rna", "atac"], layers={"atac": "binary"}, batch_key="batch",
                          link_key=link)
    model = MOSAICVI(m, problem=problem, heads=heads)
    model.train(max_epochs=epochs, enable_progress_bar=False)
    return m, model


def _unpaired_scores(m0, model, cells):
    """FOSCTTM over ``cells`` from each modality alone (hidden pairing)."""
    full = mudata_from({"rna": m0["rna"][cells].copy(), "atac": m0["atac"][cells].copy()}, mop_obs(m0).loc[cells])
    if "X_link" in model.adata.obsm:  # a registered field: new data needs it too (not used to encode)
        remadom.pp.link_features(full, association=m0.uns["gene_region_association"])
    z_rna = model.get_latent_representation(full, modality="rna")
    z_atac = model.get_latent_representation(full, modality="atac")
    return foscttm(z_rna, z_atac)


def unpaired(data: Path, seeds, epochs, heads=("none", "mmd", "sinkhorn", "gw", "crossgraph")):
    m0 = load_mop(data)
    labels = m0.obs["subclass"]
    for seed in seeds:
        rng = np.random.default_rng(seed)
        perm = rng.permutation(m0.n_obs)
        half_a, half_b = m0.obs_names[perm[: m0.n_obs // 2]], m0.obs_names[perm[m0.n_obs // 2:]]
        variants = [("no head", []), ("MMD (preset)", None)]
        for name in ("sinkhorn", "gw", "crossgraph"):
            variants.append((name, [{"name": name, "weight": HEAD_WEIGHT, "warmup_epochs": 10}]))
        keys = ["none", "mmd", "sinkhorn", "gw", "crossgraph"]
        variants = [v for k, v in zip(keys, variants, strict=True) if k in heads]
        for name, heads in variants:
            m, model = _split_model(m0, half_a, half_b, "unpaired", seed, epochs, heads=heads)
            z = model.get_latent_representation()
            rna_cells = m.obs_names.isin(half_a)
            lt = label_transfer_accuracy(z[rna_cells], labels[m.obs_names[rna_cells]],
                                         z[~rna_cells], labels[m.obs_names[~rna_cells]])
            sub = m0.obs_names[perm[:2000]]  # FOSCTTM on 2000 nuclei (both halves)
            record("unpaired", f"MOSAICVI unpaired, {name}", seed, foscttm=_unpaired_scores(m0, model, sub),
                   label_transfer_atac_from_rna=lt, ari=leiden_scores(z, labels[m.obs_names], 23, seed)[0])


def bridge(data: Path, seeds, epochs, fractions=(0.01, 0.05, 0.10), dictionary_fractions=(0.01, 0.05, 0.10)):
    m0 = load_mop(data)
    labels = m0.obs["subclass"]
    for seed in seeds:
        for frac in fractions:
            rng = np.random.default_rng(seed)
            perm = rng.permutation(m0.n_obs)
            n_b = int(round(frac * m0.n_obs))
            bridge_cells = m0.obs_names[perm[:n_b]]
            rest = perm[n_b:]
            a_cells = m0.obs_names[rest[: len(rest) // 2]]
            b_cells = m0.obs_names[rest[len(rest) // 2:]]
            for dictionary in (False, True) if frac in dictionary_fractions else (False,):
                heads = None if not dictionary else [
                    *MOSAICVI.preset("bridge")["heads"],
                    {"name": "bridge", "source": "atac", "target": "rna", "weight": HEAD_WEIGHT / 2,
                     "warmup_epochs": 10}]
                _bridge_run(m0, labels, seed, frac, bridge_cells, a_cells, b_cells, rest, epochs, heads)


def _bridge_run(m0, labels, seed, frac, bridge_cells, a_cells, b_cells, rest, epochs, heads):
    """One bridge integration: FOSCTTM on non-bridge nuclei, label transfer ATAC-only <- RNA-only."""
    m, model = _split_model(m0, bridge_cells.append(a_cells), bridge_cells.append(b_cells),
                            "bridge", seed, epochs, heads=heads)
    z = model.get_latent_representation()
    rna_only = m.obs_names.isin(a_cells)
    atac_only = m.obs_names.isin(b_cells)
    lt = label_transfer_accuracy(z[rna_only], labels[m.obs_names[rna_only]],
                                 z[atac_only], labels[m.obs_names[atac_only]])
    sub = m0.obs_names[rest[:2000]]
    tag = " + BridgeDictionary" if heads else ""
    record("bridge", f"MOSAICVI bridge {frac:.0%}{tag}", seed, foscttm=_unpaired_scores(m0, model, sub),
           label_transfer_atac_from_rna=lt)


def prediction(data: Path, seeds, epochs):
    m0 = load_mop(data)
    for seed in seeds:
        rng = np.random.default_rng(seed)
        perm = rng.permutation(m0.n_obs)
        n_test = m0.n_obs // 5
        test, train = m0.obs_names[perm[:n_test]], m0.obs_names[perm[n_test:]]
        m, model = _split_model(m0, train, train, "prediction", seed, epochs)
        held = mudata_from({"rna": m0["rna"][test].copy(), "atac": m0["atac"][test].copy()}, mop_obs(m0).loc[test])
        imp = model.impute("rna", source=["atac"], adata=held)
        truth = log_norm(m0["rna"][test].X)
        r_gene = imputation_correlation(truth, log_norm(imp.X))
        r_cell = imputation_correlation(truth, log_norm(imp.X), axis=1)
        # the 500 most variable genes (log-normalised, training nuclei)
        var = log_norm(m0["rna"][train].X).var(0)
        top = np.argsort(-var)[:500]
        record("prediction", "MOSAICVI rna<-atac", seed, r_gene_mean=float(np.nanmean(r_gene)),
               r_gene_top500_hvg=float(np.nanmean(r_gene[top])), r_cell_mean=float(np.nanmean(r_cell)))


def hierarchical(data: Path, seeds, epochs):
    m0 = load_mop(data)
    labels = m0.obs["subclass"]
    import scvi

    for seed in seeds:
        for problem in ("hierarchical",):  # compare with the `mop` section (paired, batch_key)
            scvi.settings.seed = seed
            m = mudata_from({"rna": m0["rna"].copy(), "atac": m0["atac"].copy()}, mop_obs(m0))
            if problem == "hierarchical":
                MOSAICVI.setup_mudata(m, modalities=["rna", "atac"], layers={"atac": "binary"}, study_key="batch")
            else:
                MOSAICVI.setup_mudata(m, modalities=["rna", "atac"], layers={"atac": "binary"})
            model = MOSAICVI(m, problem=problem)
            model.train(max_epochs=epochs, enable_progress_bar=False)
            z = model.get_latent_representation()
            a, n = leiden_scores(z, labels, 23, seed)
            record("hierarchical", f"MOSAICVI {problem}" + (" (no covariate)" if problem == "paired" else ""),
                   seed, ari=a, nmi=n, ilisi=ilisi(z, m.obs["batch"]))


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", type=Path, default=Path(__file__).resolve().parents[1] / ".." / "shared" / "data")
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--only", default="pbmc,mop,unpaired,bridge,prediction,hierarchical")
    p.add_argument("--epochs-pbmc", type=int, default=400)
    p.add_argument("--epochs-mop", type=int, default=100)
    p.add_argument("--no-multivi", action="store_true")
    p.add_argument("--unpaired-heads", nargs="+", default=["none", "mmd", "sinkhorn", "gw", "crossgraph"])
    p.add_argument("--fractions", type=float, nargs="+", default=[0.01, 0.05, 0.10], help="bridge sizes")
    p.add_argument("--dictionary-fractions", type=float, nargs="*", default=[0.01, 0.05, 0.10],
                   help="bridge sizes also run with BridgeDictionary")
    p.add_argument("--out", type=Path, default=Path("mosaicvi_real_data.csv"))
    a = p.parse_args()
    only = set(a.only.split(","))
    if "pbmc" in only:
        pbmc(a.data, a.seeds, a.epochs_pbmc)
    if "mop" in only:
        mop(a.data, a.seeds, a.epochs_mop, multivi=not a.no_multivi)
    if "unpaired" in only:
        unpaired(a.data, a.seeds, a.epochs_mop, tuple(a.unpaired_heads))
    if "bridge" in only:
        bridge(a.data, a.seeds, a.epochs_mop, tuple(a.fractions), tuple(a.dictionary_fractions))
    if "prediction" in only:
        prediction(a.data, a.seeds, a.epochs_mop)
    if "hierarchical" in only:
        hierarchical(a.data, a.seeds, a.epochs_mop)
    df = pd.DataFrame(ROWS)
    if a.out.exists():
        df = pd.concat([pd.read_csv(a.out), df])
    df.to_csv(a.out, index=False)
    num = df.select_dtypes("number").columns.drop("seed", errors="ignore")
    summary = df.groupby(["section", "method"])[list(num)].agg(["mean", "std"]).round(3)
    with pd.option_context("display.width", 250, "display.max_columns", 50):
        print(summary.dropna(axis=1, how="all"))


if __name__ == "__main__":
    main()
