"""Spatial domains, side by side: remadom's URMF and STEREOMM against PCA baselines and peers.

Every method runs at its documented defaults on the same inputs; every embedding is clustered
the same way (``remadom.tl.cluster``: Leiden with the resolution searched to the number of
labelled classes, ``_L``, and k-means, ``_K``) and scored against the labels with ARI / NMI and
the Moran's I of the domains over the 6-NN spatial graph. One CSV row per (section, method,
seed); a rerun of some methods replaces their rows and keeps the others.

Usage::

    python benchmarks/spatial_domains.py                          # everything, seeds 0..4
    python benchmarks/spatial_domains.py --methods urmf,stereomm  # rerun ours only, merge
    python benchmarks/spatial_domains.py --sections her2st_a1 --seeds 0,1 --methods pca,banksy
    python benchmarks/spatial_domains.py --table                  # print the markdown summary

Methods (``--methods``): pca, smoothed (BANKSY-style lambda 0.2/0.5/0.8 and the one-hop
neighbourhood mean), banksy, graphst, stagate, spagcn, cellcharter, spatialglue, urmf, stereomm.
Sections (``--sections``): her2st_a1, her2st_b1, her2st_c1, her2st_d1, lymph_node,
starmap (report only), sim_triplet (report only). Data: ``--data`` (default ../shared/data).
Peers are installed by ``nox -s bench`` (or by hand in a separate venv; benchmarks/README.md).
Each section runs in its own process (``_isolate.measure``), all the --methods in it.
"""

from __future__ import annotations

import argparse
import importlib.metadata as im
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import scipy.sparse as sp

warnings.filterwarnings("ignore")
HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
CSV = HERE / "results" / "spatial_domains.csv"
SECTIONS = ["her2st_a1", "her2st_b1", "her2st_c1", "her2st_d1", "lymph_node", "starmap", "sim_triplet"]
MAIN = SECTIONS[:5]  # the mean column: her2st A1-D1 + lymph node
PEERS = {"banksy": "pybanksy", "graphst": "graphst-modern", "stagate": "stagate-modern",
         "spagcn": "spagcn-modern", "cellcharter": "cellcharter", "spatialglue": "SpatialGlue"}


# ---------------------------------------------------------------------------------------------
# remadom's models: the documented recipe, public API, default arguments. Edit the recipe here.
# ---------------------------------------------------------------------------------------------
def urmf_input(sec: dict, seed: int):
    """URMF's documented input: per-modality PCA -> MuData + 6-NN squidpy graph (docs/urmf.md)."""
    import mudata as md

    import remadom

    mods = {}
    for name, a in sec["modalities"].items():
        a = a.copy()
        if name == "rna":
            remadom.pp.pca_rna(a, n_comps=30, random_state=seed)
        else:
            remadom.pp.pca_protein(a, random_state=seed)
        mods[name] = a
    m = md.MuData(mods)
    m.obsm["spatial"] = sec["spatial"]
    if "section" in sec:
        m.obs["section"] = sec["section"]
    remadom.data.spatial_graph(m, n_neighs=6, library_key="section" if "section" in sec else None)
    return m


def train_urmf(sec: dict, seed: int, setup_kwargs: dict | None = None, model_kwargs: dict | None = None,
               **train_kwargs):
    """URMF (docs/urmf.md): ``urmf_input`` -> ``setup_mudata(**setup_kwargs)`` ->
    ``URMF(**model_kwargs)`` -> ``train(**train_kwargs)``; the model."""
    import scvi

    from remadom.model import URMF

    m = urmf_input(sec, seed)
    scvi.settings.seed = seed
    mods = list(m.mod)
    URMF.setup_mudata(m, modalities=mods, layers={k: "X_pca" for k in mods}, **(setup_kwargs or {}))
    model = URMF(m, **(model_kwargs or {}))
    model.train(enable_progress_bar=False, **train_kwargs)
    return model


def run_urmf(sec: dict, seed: int) -> np.ndarray:
    """URMF at its defaults: the latent (with its default spatial readout)."""
    return train_urmf(sec, seed).get_latent_representation()


def run_stereomm(sec: dict, seed: int, setup_kwargs: dict | None = None, train_kwargs: dict | None = None,
                 **model_kwargs) -> np.ndarray:
    """STEREOMM (docs/stereomm.md): counts -> setup (no image, ``**setup_kwargs``) ->
    ``STEREOMM(**model_kwargs)`` -> ``train(**train_kwargs)`` -> latent.

    One modality (RNA, or the lymph node's ADT counts) through ``setup_anndata(image_key=None)``;
    two (the simulated triplet's rna + adt) through ``setup_mudata``. STEREOMM normalises counts
    itself and refuses spots without counts (the lymph node has 1 of 3,484): it trains on the
    others, and such a spot gets the embedding of its nearest spot in space.
    """
    import mudata as md
    import scvi
    from sklearn.neighbors import NearestNeighbors

    from remadom.model import STEREOMM

    scvi.settings.seed = seed
    mods = sec["modalities"]
    keep = np.ones(len(sec["spatial"]), dtype=bool)
    for v in mods.values():
        keep &= np.asarray(v.X.sum(1)).ravel() > 0
    xy = sec["spatial"][keep]
    if len(mods) == 1:
        a = next(iter(mods.values()))[keep].copy()
        a.obsm["spatial"] = xy
        STEREOMM.setup_anndata(a, image_key=None, **(setup_kwargs or {}))
    else:
        a = md.MuData({k: v[keep].copy() for k, v in mods.items()})
        a.obsm["spatial"] = xy
        STEREOMM.setup_mudata(a, modalities=list(mods), **(setup_kwargs or {}))
    model = STEREOMM(a, **model_kwargs)
    model.train(enable_progress_bar=False, **(train_kwargs or {}))
    z = model.get_latent_representation()
    if keep.all():
        return z
    nearest = NearestNeighbors(n_neighbors=1).fit(xy).kneighbors(sec["spatial"][~keep])[1][:, 0]
    out = np.empty((len(keep), z.shape[1]), dtype=z.dtype)
    out[keep], out[~keep] = z, z[nearest]
    return out


# ---------------------------------------------------------------------------------------------
# data
# ---------------------------------------------------------------------------------------------
def load(name: str, data: Path) -> dict:
    """One section: counts per modality (AnnData, counts in .X), coordinates, labels, k.

    ``kind`` is the modality that single-modality methods get ("rna", or "adt" for the lymph
    node). STARmap's second section is shifted far away in x so that no method's spatial graph
    joins the two sections (their coordinates overlap); the reported 6-NN graph is built per section.
    """
    import anndata as ad
    import mudata as md

    def dense_counts(a, layer=None):
        x = a.layers[layer] if layer else a.X
        b = ad.AnnData(sp.csr_matrix(x, dtype=np.float32), obs=pd.DataFrame(index=a.obs_names),
                       var=pd.DataFrame(index=a.var_names))
        return b

    if name.startswith("her2st"):
        a = ad.read_h5ad(data / f"{name}.h5ad")
        sec = {"modalities": {"rna": dense_counts(a)}, "kind": "rna", "labels": a.obs["label"]}
        xy = a.obsm["spatial"]
    elif name == "lymph_node":
        m = md.read_h5mu(data / "lymph_node_s1.h5mu")
        sec = {"modalities": {"adt": dense_counts(m["prot"])}, "kind": "adt",
               "labels": m.obs["final_annot"]}
        xy = m.obsm["spatial"]
    elif name == "starmap":
        a = ad.read_h5ad(data / "starmap_mpfc_s0_s1.h5ad")
        xy = np.asarray(a.obsm["spatial"], dtype=np.float64).copy()
        s1 = (a.obs["section"] == "section1").to_numpy()
        xy[s1, 0] += 10 * (np.ptp(xy[:, 0]) + 1)
        sec = {"modalities": {"rna": dense_counts(a)}, "kind": "rna",
               "labels": a.obs["cell_type"].astype(str).replace("NA", np.nan),
               "section": a.obs["section"].astype(str).to_numpy()}
    elif name == "sim_triplet":
        m = md.read_h5mu(data / "spatialglue_sim_triplet.h5mu")
        sec = {"modalities": {"rna": dense_counts(m["rna"], "counts"),
                              "adt": dense_counts(m["adt"], "counts")},
               "kind": "rna", "labels": m.obs["ground_truth"]}
        xy = m.obsm["spatial"]
    else:
        raise ValueError(f"unknown section {name!r}; choose from {SECTIONS}")
    labels = pd.Series(np.asarray(sec["labels"], dtype=object))
    labels[labels.astype(str) == "nan"] = np.nan
    sec["labels"] = labels.to_numpy()
    sec["k"] = int(labels.dropna().nunique())
    sec["spatial"] = np.asarray(xy, dtype=np.float64)
    sec["name"] = name
    return sec


def single(sec: dict):
    """The AnnData (counts in .X, obsm["spatial"]) that single-modality methods get."""
    a = sec["modalities"][sec["kind"]].copy()
    a.obsm["spatial"] = sec["spatial"].copy()
    return a


def graph6(sec: dict) -> sp.csr_matrix:
    """The 6-NN squidpy spatial graph (per section for STARmap) used for Moran's I and smoothing."""
    import anndata as ad

    import remadom

    a = ad.AnnData(obs=pd.DataFrame(index=[str(i) for i in range(len(sec["spatial"]))]))
    a.obsm["spatial"] = sec["spatial"]
    lib = None
    if "section" in sec:
        a.obs["section"], lib = sec["section"], "section"
    remadom.data.spatial_graph(a, n_neighs=6, library_key=lib)
    return sp.csr_matrix(a.obsp["spatial_connectivities"])


def pca_of(sec: dict, seed: int) -> np.ndarray:
    import remadom

    a = sec["modalities"][sec["kind"]].copy()
    if sec["kind"] == "rna":
        remadom.pp.pca_rna(a, n_comps=30, random_state=seed)
    else:
        remadom.pp.pca_protein(a, random_state=seed)
    return a.obsm["X_pca"]


def row_normalise(g: sp.spmatrix) -> sp.csr_matrix:
    d = np.asarray(g.sum(1)).ravel()
    return sp.diags(1 / np.maximum(d, 1e-12)) @ g


# ---------------------------------------------------------------------------------------------
# methods: each returns {row label: embedding (n_obs, d) or ("labels", array)}
# ---------------------------------------------------------------------------------------------
def m_pca(sec, seed):
    return {"PCA": pca_of(sec, seed)}


def m_smoothed(sec, seed):
    z = pca_of(sec, seed)
    g = graph6(sec)
    az = row_normalise(g) @ z
    out = {f"smoothed PCA BANKSY-style lambda={lam}": np.hstack([np.sqrt(1 - lam) * z, np.sqrt(lam) * az])
           for lam in (0.2, 0.5, 0.8)}
    out["smoothed PCA (1-hop mean)"] = row_normalise(g + sp.identity(g.shape[0], format="csr")) @ z
    return out


def m_banksy(sec, seed):
    """pybanksy's default pipeline (15 neighbours, scaled Gaussian decay, max_m 1, PCA 20), lambda
    0.8 (its domain-segmentation setting); preprocessing as in its notebooks (normalise, log1p,
    2000 HVG when there are more genes, z-score). Deterministic: the seed only goes to clustering."""
    import scanpy as sc
    from banksy.embed_banksy import generate_banksy_matrix
    from banksy.initialize_banksy import initialize_banksy
    from banksy_utils.umap_pca import pca_umap

    a = single(sec)
    sc.pp.normalize_total(a, target_sum=1e4)
    sc.pp.log1p(a)
    if a.n_vars > 2000:
        sc.pp.highly_variable_genes(a, n_top_genes=2000, flavor="seurat")
        a = a[:, a.var["highly_variable"].to_numpy()].copy()
    a.X = sc.pp.scale(np.asarray(a.X.todense()), copy=True)
    a.obs["x"], a.obs["y"] = a.obsm["spatial"][:, 0], a.obsm["spatial"][:, 1]
    d = initialize_banksy(a, ("x", "y", "spatial"), num_neighbours=15, nbr_weight_decay="scaled_gaussian",
                          max_m=1, plt_edge_hist=False, plt_nbr_weights=False, plt_theta=False)
    d, _ = generate_banksy_matrix(a, d, [0.8], max_m=1, verbose=False)
    pca_umap(d, pca_dims=[20], plt_remaining_var=False, add_umap=False)
    return {"BANKSY lambda=0.8": d["scaled_gaussian"][0.8]["adata"].obsm["reduced_pc_20"]}


def m_graphst(sec, seed):
    """GraphST(adata, device='cpu', random_seed=seed).train() -> obsm["emb"] (its own
    preprocessing and 3-NN graph; 600 epochs)."""
    import torch
    from GraphST.GraphST import GraphST

    out = GraphST(single(sec), device=torch.device("cpu"), random_seed=seed).train()
    return {"GraphST": out.obsm["emb"]}


def m_stagate(sec, seed):
    """STAGATE tutorial: 3000 seurat_v3 HVG (all features when fewer), normalise, log1p; its
    KNN spatial net with k=6 (the radius cutoff is per-technology); train_STAGATE defaults."""
    import scanpy as sc
    import STAGATE_pyG as st

    a = single(sec)
    if a.n_vars > 3000:
        sc.pp.highly_variable_genes(a, flavor="seurat_v3", n_top_genes=3000)
    sc.pp.normalize_total(a, target_sum=1e4)
    sc.pp.log1p(a)
    st.Cal_Spatial_Net(a, k_cutoff=6, model="KNN", verbose=False)
    st.train_STAGATE(a, random_seed=seed, verbose=False, device="cpu")
    return {"STAGATE": a.obsm["STAGATE"]}


def m_spagcn(sec, seed):
    """SpaGCN's domain workflow without histology: adjacency from coordinates, gene filters,
    normalise + log1p, l searched for p = 0.5, resolution searched to k, train; the embedding is
    its graph-convolved hidden layer, and its own DEC labels form a second row."""
    import random

    import scanpy as sc
    import SpaGCN as spg
    import torch

    a = single(sec)
    x, y = a.obsm["spatial"][:, 0], a.obsm["spatial"][:, 1]
    adj = spg.calculate_adj_matrix(x=x, y=y, histology=False)
    spg.prefilter_genes(a, min_cells=3)
    spg.prefilter_specialgenes(a)
    sc.pp.normalize_per_cell(a, min_counts=0)
    sc.pp.log1p(a)
    n_pcs = min(50, a.n_vars - 1)  # its default 50 PCs, fewer for the 31 ADT
    l_ = spg.search_l(0.5, adj, start=0.01, end=1000, tol=0.01, max_run=100)
    res = spg.search_res(a, adj, l_, sec["k"], start=0.7, step=0.1, tol=5e-3, lr=0.05, max_epochs=20,
                         r_seed=seed, t_seed=seed, n_seed=seed)
    clf = spg.SpaGCN()
    clf.set_l(l_)
    random.seed(seed)
    torch.manual_seed(seed)
    np.random.seed(seed)
    clf.train(a, adj, num_pcs=n_pcs, init_spa=True, res=res, tol=5e-3, lr=0.05, max_epochs=200)
    pred, _ = clf.predict()
    z, _ = clf.model.predict(clf.embed, clf.adj_exp)
    return {"SpaGCN": z.numpy(), "SpaGCN (own labels)": ("labels", pred)}


def m_cellcharter(sec, seed):
    """CellCharter: Delaunay graph + remove_long_links, aggregate_neighbors(n_layers=3) of the
    PCA (the tutorials feed an scVI latent; any reduction works), its GMM Cluster with k."""
    import cellcharter as cc
    import squidpy as sq

    a = single(sec)
    a.obsm["X_pca"] = pca_of(sec, seed)
    kw = {}
    if "section" in sec:
        a.obs["section"] = pd.Categorical(sec["section"])
        kw = {"library_key": "section"}
    sq.gr.spatial_neighbors(a, coord_type="generic", delaunay=True, **kw)
    cc.gr.remove_long_links(a)
    cc.gr.aggregate_neighbors(a, n_layers=3, use_rep="X_pca", out_key="X_cellcharter",
                              sample_key=kw.get("library_key"))
    gmm = cc.tl.Cluster(n_clusters=sec["k"], random_state=seed)
    gmm.fit(a, use_rep="X_cellcharter")
    lab = np.asarray(gmm.predict(a, use_rep="X_cellcharter")).astype(str)
    return {"CellCharter": a.obsm["X_cellcharter"], "CellCharter (own GMM labels)": ("labels", lab)}


def m_spatialglue(sec, seed):
    """SpatialGlue tutorial (RNA + ADT): RNA normalise/log1p/scale (3000 seurat_v3 HVG when more
    genes), ADT CLR + scale, both PCA to n_adt - 1; construct_neighbor_graph; Train_SpatialGlue
    (datatype 'SPOTS', 600 epochs)."""
    import scanpy as sc
    import torch
    from SpatialGlue.preprocess import clr_normalize_each_cell, construct_neighbor_graph, pca
    from SpatialGlue.SpatialGlue_pyG import Train_SpatialGlue

    if set(sec["modalities"]) != {"rna", "adt"}:
        raise RuntimeError("needs two modalities (rna + adt)")
    r, p = (sec["modalities"][k].copy() for k in ("rna", "adt"))
    for b in (r, p):
        b.obsm["spatial"] = sec["spatial"].copy()
    sc.pp.filter_genes(r, min_cells=10)
    if r.n_vars > 3000:
        sc.pp.highly_variable_genes(r, flavor="seurat_v3", n_top_genes=3000)
        r = r[:, r.var["highly_variable"]].copy()
    sc.pp.normalize_total(r, target_sum=1e4)
    sc.pp.log1p(r)
    sc.pp.scale(r)
    p.X = p.X.toarray()  # its CLR reads sparse input through `.A`, which scipy >= 1.14 removed
    p = clr_normalize_each_cell(p)
    sc.pp.scale(p)
    r.obsm["feat"] = pca(r, n_comps=p.n_vars - 1)
    p.obsm["feat"] = pca(p, n_comps=p.n_vars - 1)
    d = construct_neighbor_graph(r, p, datatype="SPOTS")
    out = Train_SpatialGlue(d, datatype="SPOTS", device=torch.device("cpu"), random_seed=seed).train()
    return {"SpatialGlue": out["SpatialGlue"]}


def m_urmf(sec, seed):
    name = "URMF" + (" (rna+adt)" if len(sec["modalities"]) > 1 else "")
    return {name: run_urmf(sec, seed)}


def m_stereomm(sec, seed):
    name = "STEREOMM" + (" (rna+adt)" if len(sec["modalities"]) > 1 else "")
    return {name: run_stereomm(sec, seed)}


METHODS = {"pca": m_pca, "smoothed": m_smoothed, "banksy": m_banksy, "graphst": m_graphst,
           "stagate": m_stagate, "spagcn": m_spagcn, "cellcharter": m_cellcharter,
           "spatialglue": m_spatialglue, "urmf": m_urmf, "stereomm": m_stereomm}


# ---------------------------------------------------------------------------------------------
# scoring, one process per (section, method)
# ---------------------------------------------------------------------------------------------
def score(emb, y, k, seed, graph) -> dict:
    import anndata as ad

    import remadom

    if isinstance(emb, tuple):  # a peer's own labels
        lab = np.asarray(emb[1]).astype(str)
        return {"ARI_L": remadom.metrics.ari(y, lab), "NMI_L": remadom.metrics.nmi(y, lab),
                "MoranI_L": remadom.metrics.morans_i_labels(lab, graph), "n_L": len(set(lab))}
    a = ad.AnnData(obs=pd.DataFrame(index=[str(i) for i in range(len(y))]))
    a.obsm["z"] = np.nan_to_num(np.asarray(emb, dtype=np.float32))
    out = {}
    for meth, tag in (("leiden", "L"), ("kmeans", "K")):
        lab = remadom.tl.cluster(a, "z", method=meth, n_clusters=k, key_added="_c", random_state=seed)
        out |= {f"ARI_{tag}": remadom.metrics.ari(y, lab), f"NMI_{tag}": remadom.metrics.nmi(y, lab),
                f"MoranI_{tag}": remadom.metrics.morans_i_labels(lab, graph), f"n_{tag}": lab.nunique()}
    return out


def run_one(section: str, methods: list[str], seeds: list[int], data: str, threads: int = 2) -> list[dict]:
    """All seeds of the given methods on one section (called in a child process)."""
    import torch

    torch.set_num_threads(threads)
    sec = load(section, Path(data))
    graph = graph6(sec)
    pca_of(sec, 0)  # warm-up: scanpy's first call compiles / imports (kept out of every fit time)
    rows = []
    for method in methods:
        for seed in seeds:
            base = {"section": section, "method_key": method, "seed": seed}
            t0 = time.time()
            try:
                embs = METHODS[method](sec, seed)
            except Exception as err:  # noqa: BLE001 - record why a peer failed and move on
                import traceback

                traceback.print_exc()
                rows.append(base | {"method": method, "status": f"failed: {type(err).__name__}: {err}"[:300]})
                break  # a failure repeats with every seed
            fit_s = time.time() - t0
            for name, emb in embs.items():
                rows.append(base | {"method": name, "fit_s": fit_s, "status": "ok"}
                            | score(emb, sec["labels"], sec["k"], seed, graph))
            print(f"{section} {method} seed {seed}: {fit_s:.1f} s", flush=True)
    return rows


def remadom_rev() -> str:
    """Commit of the remadom checkout, ``+dirty`` when src/ has uncommitted changes."""
    import subprocess

    def git(*args):
        return subprocess.run(["git", *args], cwd=HERE.parent, capture_output=True, text=True).stdout.strip()

    return git("rev-parse", "--short", "HEAD") + ("+dirty" if git("status", "--porcelain", "src") else "")


def versions() -> dict:
    out = {}
    for pkg in ["remadom", "torch", "scvi-tools", "scanpy", "squidpy", *PEERS.values()]:
        try:
            out[pkg] = im.version(pkg)
        except im.PackageNotFoundError:
            out[pkg] = "not installed"
    return out


# ---------------------------------------------------------------------------------------------
# summary table
# ---------------------------------------------------------------------------------------------
def table(df: pd.DataFrame) -> str:
    """Markdown: mean ± s.d. over seeds per (section, method), plus the mean over MAIN."""
    ok = df[df["status"] == "ok"]
    rank = {k: i for i, k in enumerate(METHODS)}
    order = list(dict.fromkeys(df.assign(r=df["method_key"].map(rank)).sort_values("r", kind="stable")["method"]))

    def ms(x):
        x = x.dropna()
        if not len(x):
            return ""
        return f"{x.mean():.3f}" if len(x) == 1 else f"{x.mean():.3f} ± {x.std():.3f}"

    lines = []
    for section in [s for s in SECTIONS if s in set(df["section"])]:
        d = ok[ok["section"] == section]
        lines += [f"\n**{section}**\n", "| method | seeds | ARI_L | ARI_K | NMI_L | Moran's I (L) | fit s |",
                  "|---|---|---|---|---|---|---|"]
        for m in order:
            r = d[d["method"] == m]
            if len(r):
                lines.append(f"| {m} | {r['seed'].nunique()} | {ms(r['ARI_L'])} | {ms(r['ARI_K'])} | "
                             f"{ms(r['NMI_L'])} | {ms(r['MoranI_L'])} | {r['fit_s'].mean():.1f} |")
        bad = df[(df["section"] == section) & (df["status"] != "ok")]
        for _, r in bad.iterrows():
            lines.append(f"| {r['method']} | — | {r['status']} | | | | |")
    per = ok[ok["section"].isin(MAIN)].groupby(["method", "section"])[["ARI_L", "ARI_K", "NMI_L", "MoranI_L"]].mean()
    lines += ["\n**mean over her2st A1–D1 + lymph node** (mean of the per-section means; "
              "sections: how many of the 5 the method ran on)\n",
              "| method | sections | ARI_L | ARI_K | NMI_L | Moran's I (L) |", "|---|---|---|---|---|---|"]
    for m in order:
        if m in per.index.get_level_values(0):
            r = per.loc[m]
            vals = [r[c].mean() for c in r.columns]
            lines.append(f"| {m} | {len(r)} | " + " | ".join("" if np.isnan(v) else f"{v:.3f}" for v in vals) + " |")
    return "\n".join(lines)


def merge(new: pd.DataFrame) -> pd.DataFrame:
    """Replace the rows of the rerun (section, method_key, seed) keys in the CSV, keep the rest."""
    key = ["section", "method_key", "seed"]
    if CSV.exists():
        old = pd.read_csv(CSV)
        drop = old.set_index(key).index.isin(new.set_index(key).index)
        # a rerun of a (section, method) also drops its old failure rows, whatever their seed
        pairs = set(map(tuple, new[["section", "method_key"]].to_numpy()))
        drop |= (old["status"] != "ok").to_numpy() & np.array(
            [(s, m) in pairs for s, m in old[["section", "method_key"]].to_numpy()], dtype=bool)
        new = pd.concat([old[~drop], new], ignore_index=True)
    CSV.parent.mkdir(parents=True, exist_ok=True)
    new.to_csv(CSV, index=False)
    return new


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", default=str(HERE.parent / ".." / "shared" / "data"))
    ap.add_argument("--methods", default=",".join(METHODS))
    ap.add_argument("--sections", default=",".join(SECTIONS))
    ap.add_argument("--seeds", default="0,1,2,3,4")
    ap.add_argument("--threads", type=int, default=2,
                    help="torch threads per run (1 on a shared machine: oversubscribed threads stall)")
    ap.add_argument("--timeout", type=float, default=3 * 3600, help="seconds per (section, method)")
    ap.add_argument("--table", action="store_true", help="print the summary of the CSV and exit")
    a = ap.parse_args()
    if a.table:
        print(table(pd.read_csv(CSV)))
        return
    import _isolate

    print("versions:", versions(), "remadom code:", remadom_rev(), flush=True)
    seeds = [int(s) for s in a.seeds.split(",")]
    for section in a.sections.split(","):  # one process per section, all --methods in it
        methods = [m for m in a.methods.split(",") if m != "spatialglue" or section == "sim_triplet"]
        if not methods:
            continue  # SpatialGlue needs two modalities: only the simulated triplet has them
        r = _isolate.measure("spatial_domains", "run_one", (section, methods, seeds, a.data, a.threads),
                             timeout=a.timeout, mem_limit_gb=16)
        rows = r["result"] if r["status"] == "ok" else [
            {"section": section, "method_key": m, "seed": seeds[0], "method": m, "status": r["status"]}
            for m in methods]
        for row in rows:
            row["peak_gb"], row["remadom_rev"] = r["peak_gb"], remadom_rev()
        merge(pd.DataFrame(rows))
        print(f"== {section} {','.join(methods)}: {r['status']}, peak {r['peak_gb']:.2f} GB", flush=True)
    print(table(pd.read_csv(CSV)))


if __name__ == "__main__":
    main()
