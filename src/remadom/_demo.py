"""``remadom demo``: URMF on the bundled real data, scored against a PCA baseline, with plots."""

from __future__ import annotations

import json
import time
from pathlib import Path

import anndata as ad
import mudata as md
import numpy as np
import scvi

from . import data, datasets, metrics, pl, tl
from .model import URMF


def _score(mdata, rep, labels_key, n_clusters, key, seed):
    lab = tl.cluster(mdata, rep, method="leiden", n_clusters=n_clusters, key_added=key,
                     random_state=seed)
    y = mdata.obs[labels_key]
    return {"ARI": metrics.ari(y, lab), "NMI": metrics.nmi(y, lab),
            "Moran_I": metrics.morans_i_labels(lab, mdata.obsp["spatial_connectivities"])}


def lymph_node(outdir: Path, seed: int, max_epochs: int | None, progress_bar: bool) -> dict:
    """URMF on lymph node slice A1 protein; Leiden with 10 clusters vs the 10 annotated regions."""
    scvi.settings.seed = seed
    mdata = datasets.lymph_node_s1()
    data.pca_protein(mdata["prot"])
    mdata.obsm["X_pca"] = mdata["prot"].obsm["X_pca"]
    data.spatial_graph(mdata, n_neighs=6)
    URMF.setup_mudata(mdata, modalities=["prot"], layers={"prot": "X_pca"})
    model = URMF(mdata)
    model.train(max_epochs=max_epochs, enable_progress_bar=progress_bar)
    mdata.obsm["X_urmf"] = model.get_latent_representation()
    res = {
        "URMF": _score(mdata, "X_urmf", "final_annot", 10, "urmf_domain", seed),
        "PCA baseline": _score(mdata, "X_pca", "final_annot", 10, "pca_domain", seed),
    }
    pl.domains(mdata, ["urmf_domain", "pca_domain", "final_annot"], size=8,
               title=["URMF domains", "PCA + Leiden", "annotation (final_annot)"],
               save=str(outdir / "lymph_node_domains.png"))
    URMF.remove_inputs(mdata)
    mdata.write_h5mu(outdir / "lymph_node_urmf.h5mu")
    return res


def her2st(outdir: Path, seed: int, max_epochs: int | None, progress_bar: bool) -> dict:
    """URMF on her2st C2: RNA alone and RNA + H&E image features; domains over the H&E image."""
    adata = datasets.her2st_c2()
    data.pca_rna(adata, n_comps=30)
    data.image_features(adata)
    img = data.image_modality(adata, n_comps=20)


    rna = ad.AnnData(adata.X, obs=adata.obs.copy(), var=adata.var.copy(),
                     obsm={"X_pca": adata.obsm["X_pca"], "spatial": adata.obsm["spatial"]})
    mdata = md.MuData({"rna": rna, "image": img})
    mdata.obs["expr_cluster"] = adata.obs["expr_cluster"].astype(str).replace("nan", np.nan)
    mdata.obsm["spatial"] = np.asarray(adata.obsm["spatial"])
    data.spatial_graph(mdata, n_neighs=6)
    n_clusters = int(mdata.obs["expr_cluster"].nunique())
    res = {}
    for name, mods in (("URMF rna", ["rna"]), ("URMF rna+image", ["rna", "image"])):
        scvi.settings.seed = seed
        URMF.setup_mudata(mdata, modalities=mods, layers=dict.fromkeys(mods, "X_pca"))
        model = URMF(mdata)
        model.train(max_epochs=max_epochs, enable_progress_bar=progress_bar)
        key = "X_urmf" if len(mods) == 2 else "X_urmf_rna"
        mdata.obsm[key] = model.get_latent_representation()
        res[name] = _score(mdata, key, "expr_cluster", n_clusters, key.replace("X_", "") + "_domain",
                           seed)
        if len(mods) == 2:
            res[name]["mean image weight"] = float(model.get_modality_weights()["image"].mean())
    mdata.obsm["X_pca"] = adata.obsm["X_pca"]
    res["PCA baseline"] = _score(mdata, "X_pca", "expr_cluster", n_clusters, "pca_domain", seed)
    lib = adata.uns["spatial"]["C2"]
    pl.domains(mdata, ["urmf_domain", "urmf_rna_domain", "expr_cluster"],
               img=lib["images"]["hires"], scale_factor=lib["scalefactors"]["tissue_hires_scalef"],
               size=40, title=["URMF rna+H&E", "URMF rna only", "authors' expr_cluster"],
               save=str(outdir / "her2st_c2_domains_on_he.png"))
    URMF.remove_inputs(mdata)
    mdata.write_h5mu(outdir / "her2st_c2_urmf.h5mu")
    return res


def run_demo(outdir: str = "remadom_demo", seed: int = 0, max_epochs: int | None = None,
             progress_bar: bool = True) -> dict:
    """Run both parts, print a score table and write ``scores.json``, PNGs and ``.h5mu`` files."""
    out = Path(outdir)
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.time()
    res = {"lymph_node_s1 (prot, 10 regions)": lymph_node(out, seed, max_epochs, progress_bar),
           "her2st_c2 (rna + H&E, vs expr_cluster)": her2st(out, seed, max_epochs, progress_bar)}
    print("\nremadom demo — Leiden with the reference number of clusters")
    for ds, rows in res.items():
        print(f"\n{ds}")
        print(f"  {'method':<18}{'ARI':>8}{'NMI':>8}{'Moran I':>9}")
        for name, s in rows.items():
            print(f"  {name:<18}{s['ARI']:>8.3f}{s['NMI']:>8.3f}{s['Moran_I']:>9.3f}")
    print(f"\nwrote {out}/ (h5mu with obsm['X_urmf'], PNGs, scores.json) in {time.time() - t0:.0f} s")
    (out / "scores.json").write_text(json.dumps(res, indent=2))
    return res
