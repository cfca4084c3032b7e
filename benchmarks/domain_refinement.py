"""Domain refinement (``remadom.tl.refine_domains``, SpaGCN's majority rule) for every method alike.

For each labelled section and seed, each method's embedding is clustered as in
``spatial_domains.py`` (Leiden searched to the number of labels, ``_L``, and k-means, ``_K``);
the labels are scored as they are (``refined=False``) and after one round of refinement over the
benchmark's 6-NN spatial graph (``refined=True``). The same step is applied to every method, so
the comparison between methods stays fair; the question is whether the step helps at all, and
whom.

Usage::

    python benchmarks/domain_refinement.py --seeds 0,1,2,3,4      # writes results/domain_refinement.csv
    python benchmarks/domain_refinement.py --table
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import spatial_domains as sd  # noqa: E402
from _results import write_merged  # noqa: E402

CSV = HERE / "results" / "domain_refinement.csv"
METHODS = {
    "PCA": lambda sec, seed: sd.pca_of(sec, seed),
    "smoothed PCA (1-hop mean)": lambda sec, seed: sd.m_smoothed(sec, seed)["smoothed PCA (1-hop mean)"],
    "URMF": sd.run_urmf,
    "STEREOMM": sd.run_stereomm,
}


def scores(emb, sec, seed, graph) -> list[dict]:
    """Leiden and k-means labels of ``emb``, raw and refined once: ARI, NMI, Moran's I."""
    import anndata as ad
    import scipy.sparse as sp

    import remadom

    a = ad.AnnData(obs=pd.DataFrame(index=[str(i) for i in range(len(sec["labels"]))]))
    a.obsm["z"] = np.nan_to_num(np.asarray(emb, dtype=np.float32))
    a.obsp["spatial_connectivities"] = sp.csr_matrix(graph)
    out = []
    for meth, tag in (("leiden", "L"), ("kmeans", "K")):
        raw = remadom.tl.cluster(a, "z", method=meth, n_clusters=sec["k"], key_added="c", random_state=seed)
        ref = remadom.tl.refine_domains(a, "c")
        for refined, lab in ((False, raw), (True, ref)):
            lab = lab.astype(str).to_numpy()
            out.append({"clustering": tag, "refined": refined, "ARI": remadom.metrics.ari(sec["labels"], lab),
                        "NMI": remadom.metrics.nmi(sec["labels"], lab),
                        "MoranI": remadom.metrics.morans_i_labels(lab, graph)})
    return out


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--sections", default=",".join(sd.MAIN))
    p.add_argument("--seeds", default="0,1,2,3,4")
    p.add_argument("--methods", default=",".join(METHODS))
    p.add_argument("--data", default=str(HERE.parent.parent / "shared" / "data"))
    p.add_argument("--table", action="store_true")
    args = p.parse_args()
    if args.table:
        d = pd.read_csv(CSV)
        per = d.groupby(["method", "clustering", "refined", "section"])[["ARI", "MoranI"]].mean()
        mean = per.groupby(["method", "clustering", "refined"]).mean().unstack("refined")
        print(mean.round(3).to_string())
        return
    import torch

    torch.set_num_threads(1)
    rows = []
    for section in args.sections.split(","):
        sec = sd.load(section, Path(args.data))
        graph = sd.graph6(sec)
        for method in args.methods.split(","):
            for seed in map(int, args.seeds.split(",")):
                t0 = time.time()
                emb = METHODS[method](sec, seed)
                fit_s = time.time() - t0
                for r in scores(emb, sec, seed, graph):
                    rows.append({"section": section, "method": method, "seed": seed, "fit_s": fit_s} | r)
                print(section, method, seed, f"{fit_s:.1f} s", rows[-4:], flush=True)
                write_merged(rows, CSV, ["section", "method", "seed"])


if __name__ == "__main__":
    main()
