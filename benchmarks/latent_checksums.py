"""Checksums of the five models' latents on real data, to compare two commits bit for bit.

A refactor that must not change any result (issue 22's contract redesign) is checked by running
this script on the code before and after it, one thread each, and comparing the printed lines:
the same checksum means the same latent, so every benchmark figure of that model is unchanged.
Each model runs at its default architecture on a real data set of ``../shared/data``, seed 0:

- URMF: lymph node slice 1 ADT (``pca_protein``, 6-NN spatial graph), 100 epochs;
- STEREOMM: the bundled her2st B1 RNA counts, its default 100 epochs;
- MOSAICVI and PRIORVI: the MIDAS PBMC RNA + ADT mosaic (1,600 cells, 4 batches), 30 epochs;
- MORPHOVI: Patch-seq M1 morphology vs electrophysiology (645 neurons as unpaired cells),
  300 iterations.

Next to each checksum: k-means ARI against the labels (URMF ``final_annot``, STEREOMM
``label``, MOSAICVI/PRIORVI ``celltype``) or, for MORPHOVI, FOSCTTM of the two sides.

Usage (the worktree's ``src`` shadows the editable install)::

    git worktree add --detach /tmp/before <commit>
    OMP_NUM_THREADS=1 PYTHONPATH=/tmp/before/src python benchmarks/latent_checksums.py
    OMP_NUM_THREADS=1 python benchmarks/latent_checksums.py
    git worktree remove /tmp/before
"""

from __future__ import annotations

import argparse
import hashlib
import time
from pathlib import Path

import numpy as np

MODELS = ("urmf", "stereomm", "mosaicvi", "priorvi", "morphovi")


def checksum(z: np.ndarray) -> str:
    """First 12 hex digits of the SHA-1 of the float32 latent."""
    return hashlib.sha1(np.ascontiguousarray(z, dtype=np.float32).tobytes()).hexdigest()[:12]


def kmeans_ari(obj, z, labels_key: str, k: int) -> float:
    import remadom

    obj.obsm["_z"] = np.asarray(z, dtype=np.float32)
    lab = remadom.tl.cluster(obj, "_z", method="kmeans", n_clusters=k, key_added="_c", random_state=0)
    return float(remadom.metrics.ari(obj.obs[labels_key].astype(str), lab))


def _pp():
    """``remadom.pp`` (its home since issue 22), or ``remadom.data`` on older commits."""
    import remadom

    return getattr(remadom, "pp", None) or remadom.data


def run_urmf(data: Path):
    import mudata as md

    import remadom
    from remadom.model import URMF

    m = md.read_h5mu(data / "lymph_node_s1.h5mu")
    _pp().pca_protein(m["prot"])
    remadom.data.spatial_graph(m, n_neighs=6)
    URMF.setup_mudata(m, modalities=["prot"], layers={"prot": "X_pca"})
    model = URMF(m)
    model.train(max_epochs=100, enable_progress_bar=False)
    z = model.get_latent_representation()
    m.obs["final_annot"] = m["prot"].obs["final_annot"].to_numpy()
    return z, kmeans_ari(m, z, "final_annot", 10)


def run_stereomm(data: Path):
    import remadom
    from remadom.model import STEREOMM

    a = remadom.datasets.her2st_b1()
    STEREOMM.setup_anndata(a)
    model = STEREOMM(a)
    model.train(enable_progress_bar=False)
    z = model.get_latent_representation()
    return z, kmeans_ari(a, z, "label", 5)


def _run_mosaic(cls, data: Path):
    import mudata as md

    m = md.read_h5mu(data / "midas_pbmc_mosaic.h5mu")
    cls.setup_mudata(m, modalities=["rna", "adt"], batch_key="batch")
    model = cls(m)
    model.train(max_epochs=30, enable_progress_bar=False)
    z = model.get_latent_representation()
    return z, kmeans_ari(m, z, "celltype", m.obs["celltype"].nunique())


def run_mosaicvi(data: Path):
    from remadom.model import MOSAICVI

    return _run_mosaic(MOSAICVI, data)


def run_priorvi(data: Path):
    from remadom.model import PRIORVI

    return _run_mosaic(PRIORVI, data)


def run_morphovi(data: Path):
    import anndata as ad
    import mudata as md
    import pandas as pd

    from remadom.metrics import foscttm
    from remadom.model import MORPHOVI

    a = ad.read_h5ad(data / "patchseq_m1_morph_ephys.h5ad")
    a = a[a.obs["has_ephys"].astype(bool)].copy()
    names = a.obs_names.astype(str)
    sides = {}
    for side, x in (("morph", a.X), ("ephys", a.obsm["ephys"])):
        s = ad.AnnData(np.asarray(x, dtype=np.float32), obs=pd.DataFrame(index=[f"{n}_{side}" for n in names]))
        s.var_names = [f"{side}{j}" for j in range(s.n_vars)]
        sides[side] = s
    m = md.MuData(sides)
    MORPHOVI.setup_mudata(m, modality_a="morph", modality_b="ephys", nan_policy="mask")
    model = MORPHOVI(m)
    model.train(max_iter=300, enable_progress_bar=False)
    z = model.get_latent_representation()
    n = len(names)
    return z, float(foscttm(z[:n], z[n:]))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--models", default=",".join(MODELS))
    p.add_argument("--data", default=str(Path(__file__).resolve().parents[2] / "shared" / "data"))
    args = p.parse_args()
    import scvi
    import torch

    import remadom

    torch.set_num_threads(1)
    print(f"remadom from {Path(remadom.__file__).parent}")
    for name in args.models.split(","):
        scvi.settings.seed = 0
        t0 = time.time()
        z, score = globals()[f"run_{name}"](Path(args.data))
        print(f"{name:9s} latent {z.shape} sha1 {checksum(z)}  score {score:.4f}  ({time.time() - t0:.0f} s)",
              flush=True)


if __name__ == "__main__":
    main()
