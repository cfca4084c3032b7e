"""STEREOMM on real data: her2st A1-D1 (pathologist labels), C2 with H&E, stability, speed.

Usage::

    python benchmarks/stereomm_real_data.py --data ../shared/data --seeds 5 \
        --only her2st,c2,stability,speed

Clustering: k-means (_K) and Leiden (_L) with the number of labelled classes, on the STEREOMM
latent, on the PCA baseline (log-normalised, 3000 HVG, scaled, 30 PCs; the same clustering) and
on STEREOMM without the graph (the same model on a graph with no edges: its GCN layers reduce to
per-spot linear maps, no edge loss). Reference defaults throughout (100 epochs, lr 1e-4,
hidden [2048, 256], latent 100, 200 HVG, z-score, 4 heads, GCN encoder and decoder).
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from pathlib import Path

import anndata as ad
import numpy as np
import pandas as pd
import scipy.sparse as sp
import scvi

import remadom
from remadom.model import STEREOMM

warnings.filterwarnings("ignore")
sys.path.insert(0, str(Path(__file__).resolve().parent))


def score(a, rep, labels, k, seed, graph):
    out = {}
    for meth, tag in (("kmeans", "K"), ("leiden", "L")):
        lab = remadom.tl.cluster(a, rep, method=meth, n_clusters=k, key_added="_c", random_state=seed)
        out[f"ARI_{tag}"] = remadom.metrics.ari(labels, lab)
        out[f"NMI_{tag}"] = remadom.metrics.nmi(labels, lab)
        out[f"MoranI_{tag}"] = remadom.metrics.morans_i_labels(lab, graph)
    return out


def fit(a, seed, epochs=100, image_key=None, no_graph=False, **model_kwargs):
    a = a.copy()
    scvi.settings.seed = seed
    kw = {}
    if no_graph:
        a.obsp["no_edges"] = sp.identity(a.n_obs, format="csr", dtype=np.float32)
        kw["spatial_graph_key"] = "no_edges"
    STEREOMM.setup_anndata(a, image_key=image_key, **kw)
    model = STEREOMM(a, **model_kwargs)
    model.train(max_epochs=epochs, enable_progress_bar=False)
    loss = model.history["train_loss"].iloc[:, 0].to_numpy(dtype=float)
    return model.get_latent_representation(), model, loss


def her2st(data: Path, seeds: list[int], sections=("a1", "b1", "c1", "d1")):
    rows = []
    for sec in sections:
        a = ad.read_h5ad(data / f"her2st_{sec}.h5ad")
        a = a[a.obs["label"].notna()].copy()
        y, k = a.obs["label"].astype(str), a.obs["label"].nunique()
        remadom.data.spatial_graph(a, n_neighs=6)
        graph = a.obsp["spatial_connectivities"]
        remadom.pp.pca_rna(a, n_comps=30)
        for seed in seeds:
            rows.append({"data": sec, "method": "PCA", "seed": seed, **score(a, "X_pca", y, k, seed, graph)})
            for name, kw in (("STEREOMM", {}), ("STEREOMM no graph", {"no_graph": True})):
                a.obsm["X_st"], _, _ = fit(a, seed, **kw)
                rows.append({"data": sec, "method": name, "seed": seed, **score(a, "X_st", y, k, seed, graph)})
            print(pd.DataFrame(rows[-3:]).round(3).to_string(index=False), flush=True)
    return pd.DataFrame(rows)


def c2(data: Path, seeds: list[int], out: Path):
    a = ad.read_h5ad(data / "her2st_c2_he.h5ad")
    remadom.pp.image_features(a, img_key="hires")
    a = a[a.obs["expr_cluster"].notna()].copy()
    y, k = a.obs["expr_cluster"].astype(str), a.obs["expr_cluster"].nunique()
    remadom.data.spatial_graph(a, n_neighs=6)
    graph = a.obsp["spatial_connectivities"]
    remadom.pp.pca_rna(a, n_comps=30)
    rows, attn = [], []
    for seed in seeds:
        rows.append({"data": "c2", "method": "PCA rna", "seed": seed, **score(a, "X_pca", y, k, seed, graph)})
        for name, key in (("STEREOMM rna", None), ("STEREOMM rna + H&E", "X_image")):
            z, model, _ = fit(a, seed, image_key=key)
            a.obsm["X_st"] = z
            rows.append({"data": "c2", "method": name, "seed": seed, **score(a, "X_st", y, k, seed, graph)})
            if key is not None:
                attn.append(model.get_attention_weights().mean())
                if seed == seeds[0]:
                    a.obs["STEREOMM domain"] = a.obs["_c"].astype(str)
        print(pd.DataFrame(rows[-3:]).round(3).to_string(index=False), flush=True)
    import matplotlib
    matplotlib.use("Agg")
    import squidpy as sq

    a.obs["expr_cluster"] = y.astype("category")
    sq.pl.spatial_scatter(a, color=["STEREOMM domain", "expr_cluster"], library_id="C2",
                          img_res_key="hires", size=1.3, save=None)
    import matplotlib.pyplot as plt

    plt.savefig(out / "stereomm_c2_domains.png", dpi=100, bbox_inches="tight")
    print("mean attention (rna+H&E):\n", pd.concat(attn, axis=1).mean(1).round(3).to_string())
    return pd.DataFrame(rows)


def stability(data: Path, seeds: list[int], epochs: int = 200):
    rows = []
    for sec, key in (("a1", None), ("c2_he", "X_image")):
        a = ad.read_h5ad(data / f"her2st_{sec}.h5ad")
        if key:
            remadom.pp.image_features(a, img_key="hires")
        for seed in seeds:
            z, _, loss = fit(a, seed, epochs=epochs, image_key=key)
            rows.append({"data": sec, "seed": seed, "epochs": len(loss), "finite loss": bool(np.isfinite(loss).all()),
                         "finite latent": bool(np.isfinite(z).all()), "final loss": float(loss[-1])})
            print(rows[-1], flush=True)
    return pd.DataFrame(rows)


def tile_section(a: ad.AnnData, n_spots: int, n_image_features: int = 100) -> ad.AnnData:
    """``a`` repeated on a square grid of copies (each shifted past the last) and cut to ``n_spots``.

    Each copy keeps the section's counts and layout, its obs names get ``-<copy>``; copies lie
    1000 coordinate units apart, so no radius graph joins two of them. ``obsm["X_image"]`` holds
    ``n_image_features`` standard-normal columns (seeded) standing in for image features: the
    tiled runs measure time and memory, not quality.
    """
    reps = int(np.ceil(n_spots / a.n_obs))
    side = int(np.ceil(np.sqrt(reps)))
    span = np.ptp(a.obsm["spatial"], axis=0) + 1000
    parts = []
    for r in range(reps):
        b = a.copy()
        b.obsm["spatial"] = b.obsm["spatial"] + span * np.array([r % side, r // side])
        b.obs_names = [f"{o}-{r}" for o in b.obs_names]
        parts.append(b)
    big = ad.concat(parts, uns_merge="first")[:n_spots].copy()
    rng = np.random.default_rng(0)
    big.obsm["X_image"] = rng.normal(size=(big.n_obs, n_image_features)).astype(np.float32)
    return big


def tiled(data_dir: str, n_spots: int, epochs: int, batch_size: int | None):
    """Time per epoch of STEREOMM on her2st A1 tiled to ``n_spots`` spots (run in a child)."""
    import warnings as w

    w.filterwarnings("ignore")
    big = tile_section(ad.read_h5ad(Path(data_dir) / "her2st_a1.h5ad"), n_spots)
    t0 = time.perf_counter()
    STEREOMM.setup_anndata(big, image_key="X_image")
    model = STEREOMM(big)
    t1 = time.perf_counter()
    model.train(max_epochs=epochs, batch_size=batch_size, enable_progress_bar=False, logger=False)
    t2 = time.perf_counter()
    model.get_latent_representation()
    return {"setup_s": t1 - t0, "s_per_epoch": (t2 - t1) / epochs}


def speed(data: Path, sizes: list[int], epochs: int):
    from _isolate import measure

    rows = []
    for n in sizes:
        r = measure("stereomm_real_data", "tiled", (str(data), n, epochs, 20_000), timeout=3600)
        res = r["result"] if isinstance(r["result"], dict) else {}
        rows.append({"n_spots": n, **{k: round(v, 2) for k, v in res.items()},
                     "peak_GB": round(r["peak_gb"], 2), "status": r["status"]})
        print(rows[-1], flush=True)
    return pd.DataFrame(rows)


def summarise(df: pd.DataFrame) -> pd.DataFrame:
    cols = [c for c in df.columns if c.startswith(("ARI", "NMI", "Moran"))]
    g = df.groupby(["data", "method"], sort=False)[cols]
    mean, sd = g.mean(), g.std()
    return mean.round(3).astype(str) + " ± " + sd.fillna(0).round(3).astype(str)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--data", default="../shared/data")
    p.add_argument("--seeds", type=int, default=5)
    p.add_argument("--only", default="her2st,c2,stability,speed")
    p.add_argument("--sizes", default="346,10000,100000")
    p.add_argument("--epochs-speed", type=int, default=3)
    p.add_argument("--out", default="stereomm_out")
    args = p.parse_args()
    data, out = Path(args.data), Path(args.out)
    out.mkdir(exist_ok=True)
    seeds = list(range(args.seeds))
    only = args.only.split(",")
    if "her2st" in only:
        print(summarise(her2st(data, seeds)).to_string())
    if "c2" in only:
        print(summarise(c2(data, seeds, out)).to_string())
    if "stability" in only:
        print(stability(data, seeds).to_string(index=False))
    if "speed" in only:
        print(speed(data, [int(s) for s in args.sizes.split(",")], args.epochs_speed).to_string(index=False))


if __name__ == "__main__":
    main()
