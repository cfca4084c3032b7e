"""Loaders for larger public data sets, fetched with :mod:`pooch` on request (never in tests)."""

from __future__ import annotations

import os

import pooch

#: Registry: name -> (url, sha256 or None). The remadom build machines have no network access to
#: these hosts, so the hashes could not be pinned yet. A ``None`` entry is trusted on first use:
#: :func:`fetch` records the sha256 of the first download beside the file and checks every later
#: use against it. Pass ``known_hash=`` to check against a published hash instead.
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
        Unknown name, or the cached file no longer matches the sha256 recorded at its first
        download (delete the file and its ``.sha256`` to fetch it again).
    """
    if name not in REGISTRY:
        raise ValueError(f"unknown data set '{name}'; available: {sorted(REGISTRY)}.")
    url, sha = REGISTRY[name]
    sha = known_hash or sha
    path = pooch.retrieve(url, known_hash=sha, path=cache_dir(), fname=f"{name}.download",
                          progressbar=progressbar)
    if sha is None:
        _check_first_use(path)
    return path


def _check_first_use(path: str) -> None:
    """Record the sha256 of ``path`` beside it on first use; compare on every later use."""
    record = f"{path}.sha256"
    digest = pooch.file_hash(path, alg="sha256")
    if not os.path.exists(record):
        with open(record, "w") as fh:
            fh.write(digest)
        return
    with open(record) as fh:
        expected = fh.read().strip()
    if digest != expected:
        raise ValueError(f"{path} has sha256 {digest}, but {expected} was recorded at its first "
                         f"download; delete {path} and {record} to fetch it again.")


def lymph_node_full() -> str:
    """Path of the downloaded SpatialGlue lymph node archive (GEO GSE263617, RNA + protein)."""
    return fetch("lymph_node_full")


def pancreas_st() -> str:
    """Path of the downloaded pancreatic cancer spatial transcriptomics archive (figshare 28835765)."""
    return fetch("pancreas_st")
