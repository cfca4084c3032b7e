"""Preprocessing of each modality before setup, in scanpy's ``pp`` namespace.

Each function reads counts (or an image) from an AnnData/MuData and writes a representation to
``obsm`` (``X_pca``, ``X_lsi``, ``X_image``, ``X_link``); ``.X`` and ``layers`` are never
changed. The models' ``setup_*`` methods then only declare fields, as in scvi-tools.

>>> import remadom
>>> remadom.pp.pca_rna(mdata["rna"], n_comps=30)       # normalise, log1p, HVG, scale, PCA
>>> remadom.pp.pca_protein(mdata["prot"])              # CLR, scale, PCA
>>> remadom.pp.lsi_atac(mdata["atac"], n_comps=50)     # TF-IDF + truncated SVD

Importing :mod:`remadom.pp` loads scanpy and scikit-learn, not PyTorch or scvi-tools
(squidpy only when :func:`image_features` runs).
"""

from ._image import image_features, image_modality
from ._link import link_features
from ._preprocess import clr, lsi_atac, pca_protein, pca_rna

__all__ = [
    "clr",
    "image_features",
    "image_modality",
    "link_features",
    "lsi_atac",
    "pca_protein",
    "pca_rna",
]
