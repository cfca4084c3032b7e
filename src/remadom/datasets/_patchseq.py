"""Patch-seq mouse M1 morphology and electrophysiology as two unpaired modalities (MORPHOVI input)."""

from __future__ import annotations

from pathlib import Path

import anndata as ad
import mudata as md
import numpy as np
import pandas as pd

PATCHSEQ_FILE = "patchseq_m1_morph_ephys.h5ad"


def cluster_prior(
    clusters_a: np.ndarray,
    clusters_b: np.ndarray,
    n_clusters: int,
    use: np.ndarray | None = None,
) -> pd.DataFrame:
    """Prior matrix of MORPHOVI's prior loss: correlation of two modalities' cluster indicators.

    For the cells whose pairing is known (``use``), the one-hot cluster indicators of modality a
    and of modality b are correlated (Pearson), giving entry ``(i, j)`` = how often a cell in
    cluster ``i`` of a is in cluster ``j`` of b, centred and scaled. A cluster absent from the
    used cells gives a zero row / column (not NaN).

    Parameters
    ----------
    clusters_a, clusters_b
        Integer cluster ids in ``[0, n_clusters)`` of the same cells, shape ``(n_obs,)`` each:
        ``clusters_b[i]`` is the cluster of the cell whose modality-a cluster is ``clusters_a[i]``.
    n_clusters
        Number of clusters in each modality.
    use
        Boolean mask, shape ``(n_obs,)``: the cells whose pairing informs the prior (the only
        place the true pairing enters). ``None``: all cells.

    Returns
    -------
    DataFrame ``n_clusters x n_clusters`` (rows: modality-a clusters, columns: modality-b
    clusters, both labelled ``"0"``, ``"1"``, ...), values in ``[-1, 1]``, finite.

    Raises
    ------
    ValueError
        If the arrays differ in length, a cluster id is outside ``[0, n_clusters)``, or ``use``
        selects fewer than 2 cells.
    """
    ca, cb = np.asarray(clusters_a, dtype=int), np.asarray(clusters_b, dtype=int)
    if ca.shape != cb.shape or ca.ndim != 1:
        raise ValueError(
            f"clusters_a and clusters_b must be 1-d arrays of the same cells; got shapes {ca.shape} and {cb.shape}."
        )
    for name, c in (("clusters_a", ca), ("clusters_b", cb)):
        if len(c) and (c.min() < 0 or c.max() >= n_clusters):
            raise ValueError(
                f"{name} has ids outside [0, {n_clusters}); pass n_clusters >= {c.max() + 1}."
            )
    use = np.ones(len(ca), dtype=bool) if use is None else np.asarray(use, dtype=bool)
    if use.sum() < 2:
        raise ValueError(
            f"the prior needs the pairing of at least 2 cells; `use` selects {int(use.sum())}."
        )
    ia = np.eye(n_clusters)[ca[use]]
    ib = np.eye(n_clusters)[cb[use]]
    with np.errstate(invalid="ignore", divide="ignore"):
        p = np.nan_to_num(np.corrcoef(ia.T, ib.T)[:n_clusters, n_clusters:])
    labels = [str(i) for i in range(n_clusters)]
    return pd.DataFrame(p, index=labels, columns=labels)


def _standardise(x: np.ndarray) -> np.ndarray:
    """z-score per feature ignoring NaN; NaN (undefined feature) becomes 0 (the mean)."""
    x = np.asarray(x, dtype=np.float64)
    mu, sd = np.nanmean(x, 0), np.nanstd(x, 0)
    sd[sd == 0] = 1
    return np.nan_to_num((x - mu) / sd)


def patchseq_m1_unpaired(
    path: str | Path = "../shared/data",
    prior_fraction: float = 0.5,
    n_clusters: int = 8,
    random_state: int = 0,
) -> md.MuData:
    """Patch-seq mouse M1 morphology and electrophysiology as two *unpaired* modalities.

    The input of ``examples/patchseq_morphovi.yaml``. The 645 neurons of
    ``patchseq_m1_morph_ephys.h5ad`` (Scala et al., Nature 2021) that have both a reconstructed
    morphology and electrophysiology become modality ``"morph"`` (61 morphometric features, NaN
    where a feature is undefined) and modality ``"ephys"`` (29 features), with different cell
    names (``<cell>_morph``, ``<cell>_ephys``): MORPHOVI sees two unpaired sets. Both modalities
    keep the neurons in the same order, so position ``i`` of one is the true partner of
    position ``i`` of the other (used only to score).

    For MORPHOVI's prior loss each modality is clustered by k-means (on z-scored features, NaN
    set to the mean; unsupervised, all neurons), and ``uns["prior"]`` is the
    :func:`cluster_prior` of the two clusterings over a random ``prior_fraction`` of the
    neurons. This is **semi-supervised prior knowledge**: the true pairing of those neurons
    enters, at the level of a cluster-by-cluster correlation matrix only (no cell pair is given
    to the model). Which neurons informed it is recorded, so that scores can be restricted to
    the others.

    Parameters
    ----------
    path
        Directory holding ``patchseq_m1_morph_ephys.h5ad`` (the shared data directory), or the
        file itself. Read locally; nothing is downloaded.
    prior_fraction
        Fraction of neurons, in ``[0, 1]``, whose pairing informs the prior; ``0`` leaves
        ``uns["prior"]`` and the cluster labels out (the unsupervised setting).
    n_clusters
        k of the k-means clustering of each modality (the prior is ``n_clusters x n_clusters``).
    random_state
        Seed of the neuron draw (``numpy.random.default_rng``) and of k-means.

    Returns
    -------
    MuData with modalities ``"morph"`` (``645 x 61``) and ``"ephys"`` (``645 x 29``). In each
    modality's ``obs``: ``rna_family`` (transcriptomic family, 10 classes; for scoring only),
    ``rna_type``, ``cluster`` (k-means id as a string, ``"0"`` ... ), ``prior_pair`` (bool: this
    neuron's pairing informed the prior). ``uns["prior"]``: DataFrame
    ``n_clusters x n_clusters`` (rows: morph clusters, columns: ephys clusters). ``uns["prior_pairs"]``: dict
    with ``prior_fraction``, ``n_clusters``, ``random_state``, ``n_used`` and ``neurons`` (the
    source cell ids whose pairing was used).

    Raises
    ------
    FileNotFoundError
        If the file is not at ``path``, with the fix.
    ValueError
        If ``prior_fraction`` is outside ``[0, 1]`` or ``n_clusters < 2``.

    Examples
    --------
    >>> mdata = remadom.datasets.patchseq_m1_unpaired("../shared/data")  # doctest: +SKIP
    >>> mdata.write_h5mu("patchseq_unpaired.h5mu")  # doctest: +SKIP
    """
    if not 0.0 <= prior_fraction <= 1.0:
        raise ValueError(f"prior_fraction must be in [0, 1]; got {prior_fraction}.")
    if n_clusters < 2:
        raise ValueError(f"n_clusters must be at least 2; got {n_clusters}.")
    p = Path(path)
    f = p if p.suffix == ".h5ad" else p / PATCHSEQ_FILE
    if not f.is_file():
        raise FileNotFoundError(
            f"'{f}' not found: patchseq_m1_unpaired reads the Patch-seq M1 file {PATCHSEQ_FILE} "
            "(Scala et al. 2021, from berenslab/mini-atlas) from a local directory. Pass "
            "path=<directory holding it> (the shared data directory, e.g. ../shared/data)."
        )
    a = ad.read_h5ad(f)
    a = a[a.obs["has_ephys"].astype(bool).to_numpy()].copy()
    morph = np.asarray(a.X, dtype=np.float32)
    ephys = np.asarray(a.obsm["ephys"], dtype=np.float32)
    names = a.obs_names.astype(str)

    rng = np.random.default_rng(random_state)
    use = rng.random(len(a)) < prior_fraction
    base = pd.DataFrame(
        {
            "rna_family": a.obs["rna_family"].astype(str).to_numpy(),
            "rna_type": a.obs["rna_type"].astype(str).to_numpy(),
        }
    )
    mods = {}
    feats = {
        "morph": a.var_names.astype(str),
        "ephys": pd.Index(np.asarray(a.uns["ephys_features"]).astype(str)),
    }
    for name, x in (("morph", morph), ("ephys", ephys)):
        obs = base.copy()
        obs.index = [f"{n}_{name}" for n in names]
        mods[name] = ad.AnnData(x, obs=obs, var=pd.DataFrame(index=feats[name]))
    if prior_fraction > 0:
        from sklearn.cluster import KMeans

        cl = {
            name: KMeans(n_clusters, n_init=10, random_state=random_state).fit_predict(
                _standardise(x)
            )
            for name, x in (("morph", morph), ("ephys", ephys))
        }
        for name in mods:
            mods[name].obs["cluster"] = pd.Categorical(
                cl[name].astype(str), categories=[str(i) for i in range(n_clusters)]
            )
    for name in mods:
        mods[name].obs["prior_pair"] = use
    mdata = md.MuData(mods)
    if prior_fraction > 0:
        mdata.uns["prior"] = cluster_prior(cl["morph"], cl["ephys"], n_clusters, use)
    mdata.uns["prior_pairs"] = {
        "prior_fraction": float(prior_fraction),
        "n_clusters": int(n_clusters),
        "random_state": int(random_state),
        "n_used": int(use.sum()),
        "neurons": np.asarray(names[use], dtype=str),
        "note": "semi-supervised prior knowledge: the true pairing of these neurons informed "
        "uns['prior'] (a cluster-level correlation matrix); score on the other neurons",
    }
    if "provenance" in a.uns:
        mdata.uns["provenance"] = a.uns["provenance"]
    return mdata
