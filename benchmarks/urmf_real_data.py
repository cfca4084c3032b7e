"""URMF on the real data sets of ../shared/data: scores over seeds, baselines and ablation.

Usage: python benchmarks/urmf_real_data.py [--data ../shared/data] [--seeds 5] [--only ln,her2st,...]

Every score is Leiden (_L) and k-means (_K) clustering with the reference number of clusters on
the representation named, against the data set's labels (ARI / NMI), plus Moran's I of the domains on spatial data.
Baselines use the same clustering on the model's own input representation (PCA / LSI / CLR-PCA).
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

import remadom
from remadom.model import URMF

warnings.filterwarnings("ignore")
ROWS: list[dict] = []
TRAIN_KW: dict = {}  # e.g. {"batch_size": 1024} from --batch-size; empty = URMF's defaults


def score(m, rep, labels, n_clusters, seed, graph_key="spatial_connectivities"):
    out = {}
    for meth, tag in (("leiden", "L"), ("kmeans", "K")):
        lab = remadom.tl.cluster(m, rep, method=meth, n_clusters=n_clusters, key_added="_c",
                                 random_state=seed)
        out[f"ARI_{tag}"] = remadom.metrics.ari(labels, lab)
        out[f"NMI_{tag}"] = remadom.metrics.nmi(labels, lab)
        if graph_key in m.obsp:
            out[f"MoranI_{tag}"] = remadom.metrics.morans_i_labels(lab, m.obsp[graph_key])
    return out


def fit(m, mods, layers, seed, graph_key=None, spatial_key="spatial", **kw):
    scvi.settings.seed = seed
    URMF.setup_mudata(m, modalities=mods, layers=layers, spatial_key=spatial_key,
                      spatial_graph_key=graph_key)
    model = URMF(m, **kw)
    t = time.time()
    model.train(enable_progress_bar=False, **TRAIN_KW)
    return model.get_latent_representation(), time.time() - t, model


def record(dataset, method, seed, s, extra=None):
    row = {"dataset": dataset, "method": method, "seed": seed, **s, **(extra or {})}
    ROWS.append(row)
    print(" ".join(f"{k}={v:.3f}" if isinstance(v, float) else f"{k}={v}" for k, v in row.items()),
          flush=True)


def as_mdata(a, name="rna"):
    m = md.MuData({name: a})
    m.obs = a.obs.copy()
    m.obsm["spatial"] = np.asarray(a.obsm["spatial"])
    return m


def run_ln(d, seeds):
    m = md.read_h5mu(d / "lymph_node_s1.h5mu")
    remadom.pp.pca_protein(m["prot"])
    remadom.data.spatial_graph(m, n_neighs=6)
    m.obsm["X_pca"] = m["prot"].obsm["X_pca"]
    y = m.obs["final_annot"]
    for s in seeds:
        record("lymph_node_s1", "PCA", s, score(m, "X_pca", y, 10, s))
        m.obsm["X_urmf"], t, _ = fit(m, ["prot"], {"prot": "X_pca"}, s)
        record("lymph_node_s1", "URMF", s, score(m, "X_urmf", y, 10, s), {"train_s": t})


def run_her2st(d, seeds):
    for sec in ("a1", "b1", "c1", "d1"):
        a = ad.read_h5ad(d / f"her2st_{sec}.h5ad")
        remadom.pp.pca_rna(a, n_comps=30)
        m = as_mdata(a)
        m.obsm["X_pca"] = a.obsm["X_pca"]
        remadom.data.spatial_graph(m, n_neighs=6)
        y = m.obs["label"]
        k = int(y.dropna().nunique())
        for s in seeds:
            record(f"her2st_{sec}", "PCA", s, score(m, "X_pca", y, k, s))
            m.obsm["X_urmf"], t, _ = fit(m, ["rna"], {"rna": "X_pca"}, s)
            record(f"her2st_{sec}", "URMF", s, score(m, "X_urmf", y, k, s), {"train_s": t})


def _c2(d):
    """her2st C2 as MuData (RNA PCA, H&E features), the authors' ``expr_cluster`` and its size."""
    a = ad.read_h5ad(d / "her2st_c2_he.h5ad")
    remadom.pp.pca_rna(a, n_comps=30)
    remadom.pp.image_features(a)
    img = remadom.pp.image_modality(a, n_comps=20)
    rna = ad.AnnData(a.X, obs=a.obs.copy(), obsm={"X_pca": a.obsm["X_pca"]})
    m = md.MuData({"rna": rna, "image": img})
    m.obsm["spatial"] = np.asarray(a.obsm["spatial"])
    m.obsm["X_pca"] = a.obsm["X_pca"]
    y = a.obs["expr_cluster"].astype(str).replace("nan", np.nan).to_numpy()
    remadom.data.spatial_graph(m, n_neighs=6)
    return m, y, int(pd.Series(y).dropna().nunique())


def run_c2(d, seeds):
    m, y, k = _c2(d)
    for s in seeds:
        record("her2st_c2", "PCA(rna)", s, score(m, "X_pca", y, k, s))
        m.obsm["X_r"], t, _ = fit(m, ["rna"], {"rna": "X_pca"}, s)
        record("her2st_c2", "URMF rna", s, score(m, "X_r", y, k, s))
        m.obsm["X_ri"], t, model = fit(m, ["rna", "image"], {"rna": "X_pca", "image": "X_pca"}, s)
        w = float(model.get_modality_weights()["image"].mean())
        record("her2st_c2", "URMF rna+image", s, score(m, "X_ri", y, k, s), {"w_image": w})


def _mop(d):
    m = md.read_h5mu(d / "scmomat_mop_snare.h5mu")
    remadom.pp.pca_rna(m["rna"], n_comps=50, n_top_genes=None)
    remadom.pp.lsi_atac(m["atac"], n_comps=50)
    m.obsm["X_concat"] = np.concatenate([m["rna"].obsm["X_pca"], m["atac"].obsm["X_lsi"]], 1)
    m.obsm["X_rna_pca"] = m["rna"].obsm["X_pca"]
    m.obsm["X_atac_lsi"] = m["atac"].obsm["X_lsi"]
    tmp = ad.AnnData(obs=m.obs[[]])
    tmp.obsm["X"] = m.obsm["X_concat"]
    remadom.data.feature_graph(tmp, n_neighbors=10, use_rep="X", key_added="knn")
    m.obsp["knn_connectivities"] = tmp.obsp["knn_connectivities"]
    return m


def run_mop(d, seeds):
    m = _mop(d)
    y = m.obs["subclass"]
    layers = {"rna": "X_pca", "atac": "X_lsi"}
    for s in seeds[:3]:
        for rep in ("X_concat", "X_rna_pca", "X_atac_lsi"):
            record("mop_snare", f"PCA/LSI {rep}", s, score(m, rep, y, 23, s))
        for mods in (["rna"], ["atac"], ["rna", "atac"]):
            z, t, _ = fit(m, mods, {k: layers[k] for k in mods}, s, graph_key="knn_connectivities",
                          spatial_key=None)
            m.obsm["X_u"] = z
            record("mop_snare", f"URMF {'+'.join(mods)}", s, score(m, "X_u", y, 23, s),
                   {"train_s": t})


def run_starmap(d, seeds):
    a = ad.read_h5ad(d / "starmap_mpfc_s0_s1.h5ad")
    remadom.pp.pca_rna(a, n_comps=30, n_top_genes=None)
    m = as_mdata(a)
    m.obsm["X_pca"] = a.obsm["X_pca"]
    remadom.data.spatial_graph(m, n_neighs=6, library_key="section")
    y = m.obs["cell_type"].astype(str).replace("NA", np.nan).to_numpy()
    k = int(pd.Series(y).dropna().nunique())
    for s in seeds:
        record("starmap", "PCA", s, score(m, "X_pca", y, k, s))
        m.obsm["X_urmf"], t, _ = fit(m, ["rna"], {"rna": "X_pca"}, s)
        record("starmap", "URMF", s, score(m, "X_urmf", y, k, s), {"train_s": t})


def run_ablation(d, seeds):
    """Each fusion part toggled on the three-modality simulation (ground truth, 5 factors)."""
    t = md.read_h5mu(d / "spatialglue_sim_triplet.h5mu")
    remadom.pp.pca_rna(t["rna"], n_comps=30, layer="counts", n_top_genes=None)
    remadom.pp.pca_protein(t["adt"], layer="counts")
    remadom.pp.lsi_atac(t["atac"], n_comps=30, layer="counts")
    remadom.data.spatial_graph(t, n_neighs=6)
    _ablate("sim_triplet", t, ["rna", "adt", "atac"], {"rna": "X_pca", "adt": "X_pca", "atac": "X_lsi"},
            t.obs["ground_truth"], 5, seeds[:3])


# each variant differs from URMF's defaults in one switch (EURO is off by default)
ABLATION = {"URMF default": {}, "URMF -gating": {"use_gating": False},
            "URMF -channel_gate": {"use_channel_gate": False}, "URMF -udr": {"use_udr": False},
            "URMF +euro": {"use_euro": True}, "URMF -tsa": {"use_tsa": False}}


def _ablate(dataset, m, mods, layers, y, k, seeds, **fit_kw):
    for s in seeds:
        for name, kw in ABLATION.items():
            m.obsm["X_u"], _, model = fit(m, mods, layers, s, **fit_kw, **kw)
            w = model.get_modality_weights().mean().round(3).to_dict()
            record(dataset, name, s, score(m, "X_u", y, k, s), {"weights": w})


def run_ablation_mop(d, seeds):
    """Each fusion part switched off on MOp RNA + ATAC (23 subclasses)."""
    m = _mop(d)
    _ablate("mop_snare", m, ["rna", "atac"], {"rna": "X_pca", "atac": "X_lsi"}, m.obs["subclass"], 23,
            seeds, graph_key="knn_connectivities", spatial_key=None)


def run_ablation_c2(d, seeds):
    """Each fusion part switched off on her2st C2 RNA + H&E (agreement with ``expr_cluster``)."""
    m, y, k = _c2(d)
    _ablate("her2st_c2", m, ["rna", "image"], {"rna": "X_pca", "image": "X_pca"}, y, k, seeds)


RUNS = {"ln": run_ln, "her2st": run_her2st, "c2": run_c2, "mop": run_mop, "starmap": run_starmap,
        "ablation": run_ablation, "ablation_mop": run_ablation_mop, "ablation_c2": run_ablation_c2}


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--data", default=str(Path(__file__).resolve().parents[1] / ".." / "shared" / "data"))
    p.add_argument("--seeds", type=int, default=5)
    p.add_argument("--seeds-small", type=int, default=None,
                   help="seeds for every run but 'ln' (default: --seeds)")
    p.add_argument("--only", default=",".join(RUNS))
    p.add_argument("--out", default="urmf_real_data.csv")
    p.add_argument("--batch-size", type=int, default=None, help="URMF train batch_size (default: URMF's)")
    p.add_argument("--max-epochs", type=int, default=None, help="URMF max_epochs (default: URMF's)")
    a = p.parse_args()
    if a.batch_size:
        TRAIN_KW["batch_size"] = a.batch_size
    if a.max_epochs:
        TRAIN_KW["max_epochs"] = a.max_epochs
    d = Path(a.data)
    seeds = list(range(a.seeds))
    small = list(range(a.seeds_small)) if a.seeds_small else seeds
    for name in a.only.split(","):
        RUNS[name](d, seeds if name == "ln" else small)
        df = pd.DataFrame(ROWS)
        df.to_csv(a.out, index=False)
    df = pd.DataFrame(ROWS)
    cols = [c for c in df.columns if c.split("_")[0] in ("ARI", "NMI", "MoranI")]
    summary = df.groupby(["dataset", "method"], sort=False)[cols].agg(["mean", "std"]).round(3)
    print(summary.to_string())


if __name__ == "__main__":
    main()
