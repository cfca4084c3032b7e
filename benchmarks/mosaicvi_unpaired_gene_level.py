"""Unpaired MOp RNA / ATAC with a shared gene-level modality (issue 6, unpaired section).

The nuclei are split into two disjoint halves; RNA is kept for one half and ATAC for the other
(as in ``mosaicvi_real_data.py --only unpaired``). A third, Gaussian modality ``gene`` is added
for every nucleus: its log-normalised RNA for the RNA half, its gene activity (ATAC counts of
all 25,734 regions summed through ``uns["gene_region_association"]``, log-normalised) for the
ATAC half. Each source is z-scored per gene on its own training nuclei, and a truncated SVD
(50 components, standardised) fitted on the training rows only gives the modality's features.
The ``gene`` expert is then shared by both halves, so the prior feature association enters the
product of experts instead of an alignment head.

FOSCTTM on 2000 nuclei: each nucleus is encoded once from (RNA, gene-from-RNA) and once from
(ATAC, gene-from-ATAC) with the trained model; the hidden pairing scores the two latents.
Label transfer: kNN on the RNA half's ``z_bio`` predicts the ATAC half's subclass.
``--bridge 0.01 0.05``: that fraction of nuclei keeps both modalities (gene features from RNA),
the rest is split as above, ``problem="bridge"``; FOSCTTM and label transfer on non-bridge nuclei.

``--heads mmd`` forces the unpaired preset's MMD head over modality sets, which MOSAICVI drops
by default once a modality covers every cell.

Run: ``python benchmarks/mosaicvi_unpaired_gene_level.py --data ../shared/data --seeds 0 1 2 --epochs 60``.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import anndata as ad
import mudata as md
import numpy as np
import scipy.sparse as sp
from mosaicvi_real_data import load_mop, log_norm, mop_obs, mudata_from
from sklearn.decomposition import TruncatedSVD

from remadom.metrics import foscttm, label_transfer_accuracy
from remadom.model import MOSAICVI


def _zscore(x, ref):
    mu, sd = ref.mean(0), ref.std(0)
    sd[sd == 0] = 1
    return (x - mu) / sd


def run(data: Path, seed: int, epochs: int, bridge: float = 0.0, heads: str = "default") -> dict:
    import scvi

    full = md.read_h5mu(data / "scmomat_mop_snare.h5mu")
    m0 = load_mop(data)
    labels = m0.obs["subclass"]
    perm = np.random.default_rng(seed).permutation(m0.n_obs)
    n_b = int(round(bridge * m0.n_obs))
    rest = perm[n_b:]
    half = len(rest) // 2
    ia, ib, ie = np.concatenate([perm[:n_b], rest[:half]]), rest[half:], rest[:2000]
    a_cells, b_cells, ev = m0.obs_names[ia], m0.obs_names[ib], m0.obs_names[ie]
    bridge_cells = m0.obs_names[perm[:n_b]]
    assoc = sp.csr_matrix(full.uns["gene_region_association"], dtype=np.float64)
    g_rna = log_norm(full["rna"][m0.obs_names].X)
    g_atac = log_norm(sp.csr_matrix(full["atac"][m0.obs_names].X, dtype=np.float64) @ assoc.T)
    zr, za = _zscore(g_rna, g_rna[ia]), _zscore(g_atac, g_atac[ib])
    svd = TruncatedSVD(50, random_state=0).fit(np.vstack([zr[ia], za[ib]]))
    fr, fa = svd.transform(zr), svd.transform(za)
    sd = np.vstack([fr[ia], fa[ib]]).std(0)
    fr, fa = (fr / sd).astype(np.float32), (fa / sd).astype(np.float32)

    scvi.settings.seed = seed
    gene = ad.AnnData(X=np.vstack([fr[ia], fa[ib]]), obs=m0.obs.loc[a_cells.append(b_cells), []].copy())
    m = mudata_from({"rna": m0["rna"][a_cells].copy(), "atac": m0["atac"][b_cells.append(bridge_cells)].copy(),
                     "gene": gene}, mop_obs(m0))
    MOSAICVI.setup_mudata(m, modalities=["rna", "atac", "gene"], layers={"atac": "binary"},
                          batch_key="batch", likelihoods={"gene": "gaussian"})
    problem = "bridge" if n_b else "unpaired"
    # "default": the problem's defaults (unpaired with a shared modality: no head); "mmd": the
    # unpaired preset's MMD head over modality sets, forced
    model = MOSAICVI(m, problem=problem, heads=None if heads == "default" else MOSAICVI.preset("unpaired")["heads"])
    t = time.time()
    model.train(max_epochs=epochs, enable_progress_bar=False)
    train_s = time.time() - t
    z = model.get_latent_representation()
    rna_only = m.obs_names.isin(a_cells) & ~m.obs_names.isin(bridge_cells)
    atac_only = m.obs_names.isin(b_cells)
    lt = label_transfer_accuracy(z[rna_only], labels[m.obs_names[rna_only]],
                                 z[atac_only], labels[m.obs_names[atac_only]])

    def held_out(feat):
        return mudata_from({"rna": m0["rna"][ev].copy(), "atac": m0["atac"][ev].copy(),
                            "gene": ad.AnnData(X=feat[ie], obs=m0.obs.loc[ev, []].copy())},
                           mop_obs(m0).loc[ev])

    mr, ma = held_out(fr), held_out(fa)
    return {
        "seed": seed,
        "bridge": bridge,
        "heads": heads,
        "foscttm_gene_features_alone": foscttm(fr[ie], fa[ie]),
        "foscttm": foscttm(model.get_latent_representation(mr, modality=["rna", "gene"]),
                           model.get_latent_representation(ma, modality=["atac", "gene"])),
        "foscttm_rna_vs_atac_expert": foscttm(model.get_latent_representation(mr, modality="rna"),
                                              model.get_latent_representation(ma, modality="atac")),
        "label_transfer_atac_from_rna": lt,
        "train_s": train_s,
    }


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--data", type=Path, default=Path("../shared/data"))
    p.add_argument("--seeds", type=int, nargs="+", default=[0])
    p.add_argument("--epochs", type=int, default=60)
    p.add_argument("--bridge", type=float, nargs="+", default=[0.0],
                   help="fractions of nuclei kept paired (0: unpaired; >0: problem='bridge')")
    p.add_argument("--heads", choices=["default", "mmd"], default="default",
                   help="MOSAICVI's defaults for the problem, or force the MMD head over modality sets")
    a = p.parse_args()
    for seed in a.seeds:
        for frac in a.bridge:
            print(run(a.data, seed, a.epochs, frac, a.heads), flush=True)


if __name__ == "__main__":
    main()
