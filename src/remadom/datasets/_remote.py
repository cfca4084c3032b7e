"""Loaders for larger public data sets, fetched with :mod:`pooch` on request (never in tests)."""

from __future__ import annotations

import os

import pooch

#: Registry: name -> (url, sha256 or None). A ``None`` hash is checked on first download only
#: against the size reported by the server; pin it once the file is fetched on a networked machine.
REGISTRY: dict[str, tuple[str, str | None]] = {
    # SpatialGlue human lymph node (10x Visium CytAssist RNA + protein), GEO GSE263617.
    "lymph_node_full": (
        "https://www.ncbi.nlm.nih.gov/geo/download/?acc=GSE263617&format=file",
        None,
    ),
    # Pancreatic cancer spatial transcriptomics (Nature Genetics 2024), figshare 28835765.
    "pancreas_st": ("https://figshare.com/ndownloader/articles/28835765/versions/1", None),
}


def cache_dir() -> str:
    """Cache folder: ``$REMADOM_DATA`` or pooch's OS cache for ``remadom``."""
    return os.environ.get("REMADOM_DATA", str(pooch.os_cache("remadom")))


def fetch(name: str, known_hash: str | None = None, progressbar: bool = True) -> str:
    """Download (once) and return the local path of a registered data set.

    Parameters
    ----------
    name
        A key of :data:`REGISTRY`.
    known_hash
        Overrides the registry's sha256.
    progressbar
        Show a download progress bar.

    Raises
    ------
    ValueError
        Unknown name.
    """
    if name not in REGISTRY:
        raise ValueError(f"unknown data set '{name}'; available: {sorted(REGISTRY)}.")
    url, sha = REGISTRY[name]
    return pooch.retrieve(url, known_hash=known_hash or sha, path=cache_dir(),
                          fname=f"{name}.download", progressbar=progressbar)


def lymph_node_full() -> str:
    """Path of the downloaded SpatialGlue lymph node archive (GEO GSE263617, RNA + protein)."""
    return fetch("lymph_node_full")


def pancreas_st() -> str:
    """Path of the downloaded pancreatic cancer spatial transcriptomics archive (figshare 28835765)."""
    return fetch("pancreas_st")
