"""``remadom demo``: URMF and STEREOMM on the bundled real sections, scored next to baselines.

Three parts, each on data shipped in the package (no network):

1. her2st B1 (breast cancer ST, pathologist regions): URMF and STEREOMM against PCA and the
   neighbour-averaged PCA (:func:`remadom.tl.neighbor_average`), the training-free floor.
2. Lymph node slice A1 (31 ADTs, 10 annotated regions): URMF against the same baselines.
3. her2st C2 with its H&E image: URMF on RNA + image features, drawn over the H&E. C2 has no
   pathologist labels; its ``expr_cluster`` is an expression clustering, which favours
   expression-only baselines by construction, so it is shown but not a headline score.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import anndata as ad
import mudata as md
import numpy as np

from . import data, datasets, metrics, pl, pp, tl
from .model import STEREOMM, URMF
from .workflow._inputs import as_mudata


def _scores(obj, rep: str, labels_key: str, n_clusters: int, key: str, seed: int) -> dict:
    """Leiden (resolution searched to ``n_clusters``) and k-means on ``obsm[rep]``."""
    y = obj.obs[labels_key]
    lab = tl.cluster(obj, rep, method="leiden", n_clusters=n_clusters, key_added=key,
                     random_state=seed)
    km = tl.cluster(obj, rep, method="kmeans", n_clusters=n_clusters, key_added="_kmeans",
                    random_state=seed)
    del obj.obs["_kmeans"]
    return {"ARI": metrics.ari(y, lab), "NMI": metrics.nmi(y, lab),
            "Moran_I": metrics.morans_i_labels(lab, obj.obsp["spatial_connectivities"]),
            "ARI_kmeans": metrics.ari(y, km)}


def _urmf(mdata: md.MuData, modalities: list[str], seed: int, max_epochs, progress_bar) -> URMF:
    """URMF's documented recipe at its defaults on ``obsm["X_pca"]`` of each modality."""
    import scvi

    scvi.settings.seed = seed
    URMF.setup_mudata(mdata, modalities=modalities, layers=dict.fromkeys(modalities, "X_pca"))
    model = URMF(mdata)
    model.train(max_epochs=max_epochs, enable_progress_bar=progress_bar)
    return model


def her2st_b1(outdir: Path, seed: int, max_epochs: int | None, progress_bar: bool) -> dict:
    """her2st B1: URMF and STEREOMM (RNA only) against the pathologist's 5 regions."""
    import scvi

    adata = datasets.her2st_b1()
    pp.pca_rna(adata, n_comps=30)
    mdata = as_mudata(adata, "rna")
    mdata.obsm["X_pca"] = adata.obsm["X_pca"]
    data.spatial_graph(mdata, n_neighs=6)
    tl.neighbor_average(mdata, "X_pca", key_added="X_pca_nbr")
    k = int(mdata.obs["label"].dropna().nunique())
    model = _urmf(mdata, ["rna"], seed, max_epochs, progress_bar)
    mdata.obsm["X_urmf"] = model.get_latent_representation()

    scvi.settings.seed = seed
    STEREOMM.setup_anndata(adata)
    st = STEREOMM(adata)
    st.train(enable_progress_bar=progress_bar, **({"max_epochs": max_epochs} if max_epochs else {}))
    mdata.obsm["X_stereomm"] = st.get_latent_representation()

    res = {name: _scores(mdata, rep, "label", k, f"{key}_domain", seed)
           for name, rep, key in (("URMF", "X_urmf", "urmf"), ("STEREOMM", "X_stereomm", "stereomm"),
                                  ("PCA", "X_pca", "pca"),
                                  ("neighbour-averaged PCA", "X_pca_nbr", "pca_nbr"))}
    pl.domains(mdata, ["label", "urmf_domain", "stereomm_domain", "pca_nbr_domain"], size=60,
               title=["pathologist label", "URMF", "STEREOMM", "neighbour-averaged PCA"],
               save=str(outdir / "her2st_b1_domains.png"))
    mdata.write_h5mu(outdir / "her2st_b1_remadom.h5mu")
    return res


def lymph_node(outdir: Path, seed: int, max_epochs: int | None, progress_bar: bool) -> dict:
    """Lymph node slice A1 protein: URMF against the 10 annotated regions."""
    mdata = datasets.lymph_node_s1()
    pp.pca_protein(mdata["prot"])
    mdata.obsm["X_pca"] = mdata["prot"].obsm["X_pca"]
    data.spatial_graph(mdata, n_neighs=6)
    tl.neighbor_average(mdata, "X_pca", key_added="X_pca_nbr")
    model = _urmf(mdata, ["prot"], seed, max_epochs, progress_bar)
    mdata.obsm["X_urmf"] = model.get_latent_representation()
    res = {name: _scores(mdata, rep, "final_annot", 10, f"{key}_domain", seed)
           for name, rep, key in (("URMF", "X_urmf", "urmf"), ("PCA", "X_pca", "pca"),
                                  ("neighbour-averaged PCA", "X_pca_nbr", "pca_nbr"))}
    pl.domains(mdata, ["final_annot", "urmf_domain", "pca_nbr_domain", "pca_domain"], size=8,
               title=["annotation (final_annot)", "URMF", "neighbour-averaged PCA", "PCA"],
               save=str(outdir / "lymph_node_domains.png"))
    mdata.write_h5mu(outdir / "lymph_node_urmf.h5mu")
    return res


def her2st_c2_image(outdir: Path, seed: int, max_epochs: int | None, progress_bar: bool) -> dict:
    """her2st C2: URMF on RNA + H&E image features, domains drawn over the H&E image."""
    adata = datasets.her2st_c2()
    pp.pca_rna(adata, n_comps=30)
    pp.image_features(adata)
    img = pp.image_modality(adata, n_comps=20)
    rna = ad.AnnData(adata.X, obs=adata.obs.copy(), var=adata.var.copy(),
                     obsm={"X_pca": adata.obsm["X_pca"], "spatial": adata.obsm["spatial"]})
    mdata = md.MuData({"rna": rna, "image": img})
    mdata.obs["expr_cluster"] = adata.obs["expr_cluster"].astype(str).replace("nan", np.nan)
    mdata.obsm["spatial"] = np.asarray(adata.obsm["spatial"])
    mdata.obsm["X_pca"] = adata.obsm["X_pca"]
    data.spatial_graph(mdata, n_neighs=6)
    k = int(mdata.obs["expr_cluster"].nunique())
    model = _urmf(mdata, ["rna", "image"], seed, max_epochs, progress_bar)
    mdata.obsm["X_urmf"] = model.get_latent_representation()
    res = {"URMF rna+image": _scores(mdata, "X_urmf", "expr_cluster", k, "urmf_domain", seed),
           "PCA (rna)": _scores(mdata, "X_pca", "expr_cluster", k, "pca_domain", seed)}
    res["URMF rna+image"]["mean image weight"] = float(model.get_modality_weights()["image"].mean())
    lib = adata.uns["spatial"]["C2"]
    pl.domains(mdata, ["urmf_domain", "expr_cluster"], img=lib["images"]["hires"],
               scale_factor=lib["scalefactors"]["tissue_hires_scalef"], size=40,
               title=["URMF rna + H&E", "authors' expr_cluster"],
               save=str(outdir / "her2st_c2_domains_on_he.png"))
    mdata.write_h5mu(outdir / "her2st_c2_urmf.h5mu")
    return res


def run_demo(outdir: str = "remadom_demo", seed: int = 0, max_epochs: int | None = None,
             progress_bar: bool = True) -> dict:
    """Run the three parts, print a score table and write ``scores.json``, PNGs and ``.h5mu`` files.

    Parameters
    ----------
    outdir
        Folder for the outputs (created).
    seed
        ``scvi.settings.seed`` and the clustering seed.
    max_epochs
        Override every model's default training length (for a quick look).
    progress_bar
        Show Lightning's progress bars.

    Returns
    -------
    ``{part: {method: {"ARI", "NMI", "Moran_I", "ARI_kmeans", ...}}}``.
    """
    out = Path(outdir)
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.time()
    res = {
        "her2st_b1 (rna, 5 pathologist regions)": her2st_b1(out, seed, max_epochs, progress_bar),
        "lymph_node_s1 (prot, 10 annotated regions)": lymph_node(out, seed, max_epochs, progress_bar),
        "her2st_c2 (rna + H&E; vs expr_cluster, an expression clustering: not a headline score)":
            her2st_c2_image(out, seed, max_epochs, progress_bar),
    }
    print("\nremadom demo: Leiden with the reference number of clusters (ARI, NMI, Moran's I of the "
          "domains) and k-means ARI")
    for part, rows in res.items():
        print(f"\n{part}")
        print(f"  {'method':<24}{'ARI':>8}{'NMI':>8}{'Moran I':>9}{'ARI km':>9}")
        for name, s in rows.items():
            print(f"  {name:<24}{s['ARI']:>8.3f}{s['NMI']:>8.3f}{s['Moran_I']:>9.3f}"
                  f"{s['ARI_kmeans']:>9.3f}")
    print(f"\nwrote {out}/ (h5mu files with the latents in obsm, PNGs, scores.json) in "
          f"{time.time() - t0:.0f} s")
    (out / "scores.json").write_text(json.dumps(res, indent=2))
    return res
