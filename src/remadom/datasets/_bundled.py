"""Small real data sets shipped inside the package (no network needed)."""

from __future__ import annotations

import warnings
from importlib.resources import files

import anndata as ad
import mudata as md

_FILES = files("remadom.datasets") / "files"


def lymph_node_s1() -> md.MuData:
    """Human lymph node slice A1, 10x Visium CytAssist protein panel (31 ADTs, 3484 spots).

    ``mdata["prot"].X`` holds ADT counts; ``obsm["spatial"]`` Visium array coordinates;
    ``obs["final_annot"]`` 10 annotated regions. The paired RNA half is not redistributable at
    this size (see :func:`remadom.datasets.lymph_node_full` for the full data).

    Source: Long et al., SpatialGlue, Nat Methods 2024 (data), as redistributed by SpaMosaic
    (MIT). Full provenance in ``uns["provenance"]``.

    Returns
    -------
    MuData ``3484 x 31`` with modality ``"prot"``.
    """
    with warnings.catch_warnings():
        # mudata 0.3 announces a change of its `update()` default on every read; the labels are
        # stored in the MuData's own obs (`final_annot`, ...), so they do not depend on it
        warnings.filterwarnings("ignore", message=r"From 0\.4 \.update\(\)", category=FutureWarning)
        mdata = md.read_h5mu(str(_FILES / "lymph_node_s1.h5mu"))
    return mdata


def her2st_c2() -> ad.AnnData:
    """HER2+ breast tumour section C2, spatial transcriptomics counts with the H&E image.

    187 spots x 11477 genes (genes detected in at least 10 spots); ``obsm["spatial"]`` in
    full-resolution pixels; H&E in ``uns["spatial"]["C2"]["images"]["hires"]`` (2000 x 1871 x 3)
    with scalefactors (scanpy / squidpy convention); ``obs["expr_cluster"]`` the authors'
    expression clusters (no pathologist labels exist for C2).

    Source: Andersson et al., Nat Commun 2021 (github almaan/her2st; Zenodo 3957257). Full
    provenance in ``uns["provenance"]``.
    """
    return ad.read_h5ad(str(_FILES / "her2st_c2_he.h5ad"))


def her2st_b1() -> ad.AnnData:
    """HER2+ breast tumour section B1, spatial transcriptomics counts with pathologist labels.

    295 spots x 9945 genes (genes detected in at least 10 spots); ``.X`` raw counts (CSR,
    float32); ``obsm["spatial"]`` full-resolution pixel coordinates of the spot centres;
    ``obs["label"]`` the pathologist's annotation (5 regions: connective tissue, adipose tissue,
    invasive cancer, breast glands, undetermined); ``obs["expr_cluster"]`` the authors'
    expression clusters. No image.

    Source: Andersson et al., Nat Commun 2021 (github almaan/her2st; the authors' public Zenodo
    deposit 3957257; cite the paper). Full provenance in ``uns["provenance"]``.

    Returns
    -------
    AnnData ``295 x 9945``.
    """
    return ad.read_h5ad(str(_FILES / "her2st_b1.h5ad"))
