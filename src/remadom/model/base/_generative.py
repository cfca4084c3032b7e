"""scvi-tools' model criticism and differential expression for the generative remadom models.

:class:`PosteriorPredictiveMixin` gives a model ``posterior_predictive_sample`` (what
:class:`scvi.criticism.PosteriorPredictiveCheck` calls); :class:`DifferentialExpressionMixin`
gives it ``differential_expression`` through scvi-tools' public
:class:`scvi.model.base.DifferentialComputation`. A model supplies one small hook each:
``_posterior_predictive_batches`` (the likelihood per minibatch) and
``get_normalized_expression`` with scvi-tools' arguments.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from functools import partial

import numpy as np
import pandas as pd
import scipy.sparse as sp
import torch

from remadom.nn import LIBRARY_SIZE_LIKELIHOODS

from ._mixin import modality_data

#: likelihoods with counts to sample and expression frequencies to compare (nb, zinb, poisson)
COUNT_LIKELIHOODS = LIBRARY_SIZE_LIKELIHOODS
#: modality names taken as the expression modality when several have a count likelihood
_EXPRESSION_NAMES = ("rna", "gex", "expression", "mrna")


class PosteriorPredictiveMixin:
    """``posterior_predictive_sample`` with scvi-tools' signature and return type, per modality.

    A model using it has ``self.modalities`` (registered modality names),
    ``self.module.likelihoods`` (modality -> likelihood name) and implements
    ``_posterior_predictive_batches(adata, indices, n_samples, batch_size, modality)``, a
    generator of one :class:`torch.distributions.Distribution` per minibatch with batch shape
    ``(n_samples * n_cells, n_vars)``, sample-major (row ``s * n_cells + i`` is draw ``s`` of
    cell ``i``), whose ``sample()`` gives counts: :class:`scvi.distributions.NegativeBinomial`,
    :class:`~scvi.distributions.ZeroInflatedNegativeBinomial` or
    :class:`~scvi.distributions.Poisson`.
    """

    #: likelihoods ``posterior_predictive_sample`` can sample; a model may narrow it
    _PREDICTIVE_LIKELIHOODS: tuple[str, ...] = COUNT_LIKELIHOODS

    def _expression_modality(
        self,
        modality: str | None,
        method: str,
        likelihoods: Sequence[str] | None = COUNT_LIKELIHOODS,
    ) -> str:
        """The modality ``method`` works on: ``modality`` checked, or the default.

        The default is the only registered modality whose likelihood is in
        ``COUNT_LIKELIHOODS``, else the one of them named ``rna`` (``gex``, ``expression``,
        ``mrna``). ``likelihoods=None`` accepts any registered modality when one is named.

        Raises
        ------
        ValueError
            ``modality`` is not registered or its likelihood is not in ``likelihoods``; no
            default can be chosen.
        """
        name = type(self).__name__
        liks = self.module.likelihoods
        if modality is not None:
            if modality not in self.modalities:
                raise ValueError(
                    f"{name}.{method}: modality '{modality}' is not registered; "
                    f"registered: {list(self.modalities)}."
                )
            if likelihoods is not None and liks[modality] not in likelihoods:
                raise ValueError(
                    f"{name}.{method}: modality '{modality}' has likelihood '{liks[modality]}', "
                    f"but this needs counts under one of {list(likelihoods)}. Register raw counts "
                    f"for it with {self._setup_call()}(..., "
                    f"{self._setup_arg('likelihoods', modality, repr('nb'))}), or pick another modality: "
                    f"{self._count_modalities(likelihoods) or 'none has counts'}."
                )
            return modality
        counts = self._count_modalities(likelihoods or COUNT_LIKELIHOODS)
        named = [m for m in counts if m.lower() in _EXPRESSION_NAMES]
        if len(counts) == 1 or len(named) == 1:
            return counts[0] if len(counts) == 1 else named[0]
        if not counts:
            raise ValueError(
                f"{name}.{method}: no registered modality has a count likelihood "
                f"({list(COUNT_LIKELIHOODS)}); likelihoods: {dict(liks)}. Register raw counts, e.g. "
                f"{self._setup_call()}(..., {self._setup_arg('likelihoods', 'rna', repr('nb'))})."
            )
        raise ValueError(f"{name}.{method}: several count modalities {counts}; pass modality=.")

    def _count_modalities(self, likelihoods: Sequence[str]) -> list[str]:
        return [m for m in self.modalities if self.module.likelihoods[m] in likelihoods]

    @staticmethod
    def _gene_mask(adata, modality: str, gene_list: Sequence[str] | None) -> np.ndarray:
        """Boolean mask over ``adata[modality].var_names`` (all True when ``gene_list`` is None);
        an AnnData (one modality, ``setup_anndata``) is the modality itself.

        Raises
        ------
        ValueError
            ``modality`` is not a modality of the MuData; no name of ``gene_list`` is a feature.
        """
        if hasattr(adata, "mod") and modality not in adata.mod:
            raise ValueError(
                f"'{modality}' is not a modality of the MuData (mdata.mod: {list(adata.mod)})."
            )
        names = modality_data(adata, modality).var_names
        if gene_list is None:
            return np.ones(len(names), dtype=bool)
        mask = np.asarray(names.isin(list(gene_list)))
        if not mask.any():
            raise ValueError(
                f"none of gene_list {list(gene_list)[:5]}... is a feature of modality "
                f"'{modality}' (e.g. {list(names[:5])})."
            )
        return mask

    def _posterior_predictive_batches(
        self, adata, indices, n_samples: int, batch_size: int, modality: str
    ) -> Iterator[torch.distributions.Distribution]:
        raise NotImplementedError(
            f"{type(self).__name__} has no posterior predictive distribution."
        )

    def posterior_predictive_sample(
        self,
        adata=None,
        indices: Sequence[int] | None = None,
        n_samples: int = 1,
        gene_list: Sequence[str] | None = None,
        batch_size: int | None = None,
        modality: str | None = None,
    ):
        r"""Counts drawn from the posterior predictive distribution :math:`p(\hat{x} \mid x)`.

        For each cell, ``z`` is drawn ``n_samples`` times from the variational posterior given
        all of the cell's data, and one count vector is drawn from ``modality``'s likelihood at
        each ``z`` (with the cell's observed library size). Arguments and return type are those of
        :meth:`scvi.model.base.RNASeqMixin.posterior_predictive_sample` (scvi-tools 1.4), plus
        ``modality``: these models have several modalities.

        Parameters
        ----------
        adata
            MuData set up like the training data (default: the training data).
        indices
            Cells (MuData rows) to sample (default all), in this order.
        n_samples
            Draws per cell.
        gene_list
            Features of ``modality`` to keep (default all), in the modality's order; needs
            ``modality``.
        batch_size
            Cells per minibatch (default 1024).
        modality
            The modality to sample: one with an ``nb``, ``zinb`` or ``poisson`` likelihood
            (URMF: ``nb``). ``None`` samples every such modality and returns a dict, as
            :meth:`scvi.model.TOTALVI.posterior_predictive_sample` does for a MuData; this is
            what lets :class:`scvi.criticism.PosteriorPredictiveCheck` run unchanged: it calls
            this method without ``modality`` and takes its own ``modality=`` entry of the dict.

        Returns
        -------
        :class:`sparse.GCXS` of float32 non-negative integer counts, shape ``(n_cells, n_vars)``
        if ``n_samples == 1``, else ``(n_cells, n_vars, n_samples)``; rows in ``indices`` order.
        With ``modality=None`` a dict ``{modality: GCXS}``.

        Raises
        ------
        ValueError
            ``modality`` is not registered or has no count likelihood (e.g. ``gaussian``); no
            modality has one; ``n_samples < 1``; ``gene_list`` without ``modality`` or with no
            feature of it.

        Notes
        -----
        A MOSAICVI/PRIORVI cell that lacks ``modality`` is sampled from the posterior given its
        other modalities, at the median library size of the cells that have it. To check a
        mosaic model with ``PosteriorPredictiveCheck(mdata, ..., modality=m, indices=...)``,
        pass as ``indices`` the MuData rows of the cells that have ``m`` (the check compares
        with ``mdata[indices][m]``).

        Two limits of ``PosteriorPredictiveCheck`` in scvi-tools 1.4.2, not of this method: its
        ``calibration_error`` reads the model named ``"model1"`` in ``models_dict`` whatever
        the keys are, so name the model ``"model1"``; and its integer test fails on a sparse
        float32 count matrix (the usual ``.X``), so pass ``count_layer_key=`` a layer of
        integer dtype (e.g. ``mdata["rna"].layers["counts"] = mdata["rna"].X.astype(np.int32)``).
        The first check in a process also spends some seconds compiling ``sparse``'s numba
        kernels.

        Examples
        --------
        >>> from scvi.criticism import PosteriorPredictiveCheck
        >>> ppc = PosteriorPredictiveCheck(mdata, {"mosaicvi": model}, modality="rna", n_samples=5)
        >>> ppc.coefficient_of_variation("features")
        >>> ppc.calibration_error()
        """
        if (
            isinstance(n_samples, bool)
            or not isinstance(n_samples, int | np.integer)
            or n_samples < 1
        ):
            raise ValueError(f"n_samples must be an int >= 1, got {n_samples!r}.")
        adata = self._validate_anndata(adata)
        batch_size = self._batch_size_arg(batch_size)
        if modality is None:
            if gene_list is not None:
                raise ValueError("gene_list= needs modality= (the modality the genes belong to).")
            mods = self._count_modalities(self._PREDICTIVE_LIKELIHOODS)
            if not mods:
                self._expression_modality(
                    None, "posterior_predictive_sample", self._PREDICTIVE_LIKELIHOODS
                )  # raises with the fix
            return {
                m: self._sample_modality(adata, indices, n_samples, None, batch_size, m)
                for m in mods
            }
        m = self._expression_modality(
            modality, "posterior_predictive_sample", self._PREDICTIVE_LIKELIHOODS
        )
        return self._sample_modality(adata, indices, n_samples, gene_list, batch_size, m)

    def _sample_modality(self, adata, indices, n_samples, gene_list, batch_size, modality):
        import sparse

        genes = self._gene_mask(adata, modality, gene_list)
        chunks = []
        for px in self._posterior_predictive_batches(
            adata, indices, n_samples, batch_size, modality
        ):
            x = px.sample()  # in the loop body: under _inference_batches' torch.inference_mode
            x = x.reshape(n_samples, -1, x.shape[-1])[..., torch.as_tensor(genes, device=x.device)]
            x = x[0] if n_samples == 1 else x.permute(1, 2, 0)  # (n_cells, n_vars[, n_samples])
            chunks.append(sp.csr_matrix(x.reshape(x.shape[0], -1).cpu().numpy().astype(np.float32)))
        if not chunks:
            raise ValueError("posterior_predictive_sample: indices selects no cell.")
        # one compressed-row array, as scvi-tools' concatenation of per-minibatch GCXS gives,
        # built from the CSR parts (fewer numba compilations than sparse.concatenate)
        rows = sp.vstack(chunks, format="csr")
        shape = (rows.shape[0], int(genes.sum())) + ((n_samples,) if n_samples > 1 else ())
        return sparse.GCXS(
            (rows.data, rows.indices, rows.indptr), shape=shape, compressed_axes=(0,)
        )


class DifferentialExpressionMixin:
    """``differential_expression`` on one count modality, through scvi-tools' DE machinery.

    The Bayesian tests (``"vanilla"``, Lopez et al., Nat Methods 2018; ``"change"``, Boyeau et
    al., 2019) are :meth:`scvi.model.base.DifferentialComputation.get_bayes_factors`, fed with the
    model's ``get_normalized_expression(adata, indices=, transform_batch=, n_samples_overall=,
    return_numpy=True, modality=)``; the result has the layout of
    :meth:`scvi.model.SCVI.differential_expression`. Needs :class:`PosteriorPredictiveMixin`
    (for the modality checks).
    """

    def differential_expression(
        self,
        adata=None,
        groupby: str | None = None,
        group1: str | Sequence[str] | None = None,
        group2: str | None = None,
        idx1: Sequence[int] | Sequence[bool] | str | None = None,
        idx2: Sequence[int] | Sequence[bool] | str | None = None,
        mode: str = "vanilla",
        delta: float = 0.25,
        batch_size: int | None = None,
        all_stats: bool = True,
        batch_correction: bool = False,
        batchid1: Sequence[str] | None = None,
        batchid2: Sequence[str] | None = None,
        fdr_target: float = 0.05,
        silent: bool = False,
        filter_outlier_cells: bool = False,
        modality: str | None = None,
        observed_only: bool = True,
        **kwargs,
    ) -> pd.DataFrame:
        r"""Differential expression of one count modality between groups of cells.

        scvi-tools' arguments and result (:meth:`scvi.model.SCVI.differential_expression`):
        for each group of ``group1`` (default every category of ``groupby``) against ``group2``
        (default the rest), or for the cells ``idx1`` against ``idx2``, the model's normalized
        expression is sampled in both sets (``n_samples_overall`` draws, uniform cell weights) and
        compared gene by gene with :meth:`scvi.model.base.DifferentialComputation.get_bayes_factors`.

        Parameters
        ----------
        adata
            MuData set up like the training data (default: the training data).
        groupby
            ``adata.obs`` column of the groups.
        group1
            Groups to test, each against ``group2`` (default: every category, one vs rest).
        group2
            Reference group (default: the rest of the cells).
        idx1, idx2
            Instead of ``groupby``: two sets of cells as boolean masks or integer rows of the
            MuData, or :meth:`pandas.DataFrame.query` strings on ``adata.obs``; ``idx2=None``
            means the rest.
        mode
            ``"vanilla"`` (Bayes factor of :math:`h_1 > h_2`) or ``"change"`` (posterior
            probability that the log fold change leaves :math:`[-\delta, \delta]`).
        delta
            Log fold-change threshold of ``"change"`` mode.
        batch_size
            Cells per inference minibatch (default 1024).
        all_stats
            Add the raw-count statistics of each set (``raw_mean``, ``non_zeros_proportion``,
            ``raw_normalized_mean``; library-normalised to 10^4; cells that lack the modality
            excluded).
        batch_correction
            Decode every draw under each registered batch in turn (``batchid1``/``batchid2``:
            which ones) instead of the cells' own batches.
        fdr_target
            Target posterior FDR of the ``is_de_fdr_{fdr_target}`` column (``"change"`` mode).
        silent
            No progress bar.
        filter_outlier_cells
            Drop cells that are outliers in the latent space of their set
            (:meth:`~scvi.model.base.DifferentialComputation.filter_outlier_cells`).
        modality
            The modality to test (default: the count modality, or the one named ``rna``); its
            likelihood must be ``nb``, ``zinb`` or ``poisson``.
        observed_only
            Compare only cells in which ``modality`` was measured (default). False also uses the
            cells that lack it, through the expression predicted from their other modalities.
        **kwargs
            Passed to :meth:`scvi.model.base.DifferentialComputation.get_bayes_factors`
            (``n_samples_overall``, ``pseudocounts``, ``test_mode``, ...).

        Returns
        -------
        DataFrame with one row per feature of ``modality`` and test, sorted by ``bayes_factor``
        (``"vanilla"``) or ``proba_de`` (``"change"``): ``proba_m1``, ``proba_m2``,
        ``bayes_factor``, ``scale1``, ``scale2`` (``"vanilla"``); ``proba_de``, ``proba_not_de``,
        ``bayes_factor``, ``scale1``, ``scale2``, ``pseudocounts``, ``delta``, ``lfc_mean``,
        ``lfc_median``, ``lfc_std``, ``lfc_min``, ``lfc_max``, ``is_de_fdr_{fdr_target}``
        (``"change"``); the raw statistics with suffixes ``1``/``2`` (``all_stats``); and, with
        ``groupby``, ``comparison``, ``group1``, ``group2``.

        Raises
        ------
        ValueError
            Unknown ``mode``; neither ``groupby`` nor ``idx1``; ``groupby`` not in ``adata.obs``;
            a group not among its values; only one group; a set with no cell (having the
            modality, with ``observed_only``); the modality checks of
            :meth:`posterior_predictive_sample`.

        Examples
        --------
        >>> de = model.differential_expression(groupby="celltype", group1="B", group2="Mono")
        >>> de.head()  # MS4A1, CD79A, ... with lfc_mean > 0 in mode="change"
        """
        from scvi.model.base import DifferentialComputation
        from scvi.utils import track

        if mode not in ("vanilla", "change"):
            raise ValueError(f"mode must be 'vanilla' or 'change', got '{mode}'.")
        adata = self._validate_anndata(adata)
        m = self._expression_modality(modality, "differential_expression")
        has = np.asarray(adata.obs_names.isin(modality_data(adata, m).obs_names))
        present = has if observed_only else np.ones(adata.n_obs, dtype=bool)
        tests = self._de_tests(adata, groupby, group1, group2, idx1, idx2)
        model_fn = partial(
            self.get_normalized_expression,
            modality=m,
            return_numpy=True,
            n_samples=1,
            batch_size=batch_size,
        )
        counts = self._modality_counts(adata, m)
        manager = _CountsManager(self.get_anndata_manager(adata, required=True), counts)
        dc = DifferentialComputation(
            model_fn, self.get_latent_representation if filter_outlier_cells else None, manager
        )
        var_names = modality_data(adata, m).var_names
        results = []
        for label1, label2, sel1, sel2 in track(tests, description="DE...", disable=silent):
            sel1, sel2 = sel1 & present, sel2 & present
            for label, sel in ((label1 or "idx1", sel1), (label2 or "idx2", sel2)):
                if not sel.any():
                    raise ValueError(
                        f"differential_expression: set '{label}' has no cell"
                        + (f" with modality '{m}' (observed_only=True)." if observed_only else ".")
                    )
            info = dc.get_bayes_factors(
                sel1,
                sel2,
                mode=mode,
                delta=delta,
                batchid1=batchid1,
                batchid2=batchid2,
                use_observed_batches=not batch_correction,
                **kwargs,
            )
            if all_stats:
                info = {**info, **_count_statistics(counts, sel1 & has, sel2 & has)}
            res = pd.DataFrame(info, index=var_names)
            res = res.sort_values(
                by="proba_de" if mode == "change" else "bayes_factor", ascending=False
            )
            if mode == "change":
                res[f"is_de_fdr_{fdr_target}"] = _fdr_calls(res["proba_de"], fdr_target)
            if label1 is not None:
                res["comparison"] = f"{label1} vs {label2}"
                res["group1"], res["group2"] = label1, label2
            results.append(res)
        return pd.concat(results, axis=0)

    @staticmethod
    def _de_tests(adata, groupby, group1, group2, idx1, idx2) -> list[tuple]:
        """``(label1, label2, mask1, mask2)`` per test, masks over the MuData rows."""
        obs = adata.obs
        if idx1 is not None:
            sel1 = _selection(idx1, obs, "idx1")
            sel2 = ~sel1 if idx2 is None else _selection(idx2, obs, "idx2")
            return [(None, None, sel1, sel2)]
        if groupby is None:
            raise ValueError("differential_expression: pass groupby= (an obs column) or idx1=.")
        if groupby not in obs:
            raise ValueError(
                f"differential_expression: groupby '{groupby}' is not a column of "
                f"adata.obs (columns: {list(obs.columns)})."
            )
        labels = obs[groupby].astype(str).to_numpy()
        values = list(pd.unique(labels[obs[groupby].notna().to_numpy()]))
        if group1 is None:
            group1 = list(obs[groupby].astype("category").cat.categories.astype(str))
            if len(group1) < 2:
                raise ValueError(
                    f"differential_expression: '{groupby}' has a single group; nothing to compare."
                )
        groups = [group1] if isinstance(group1, str) else list(group1)
        bad = [
            g for g in [*groups, *([group2] if group2 is not None else [])] if str(g) not in values
        ]
        if bad:
            raise ValueError(
                f"differential_expression: {bad} not among the values of '{groupby}': {values}."
            )
        tests = []
        for g in groups:
            sel1 = labels == str(g)
            sel2 = ~sel1 if group2 is None else labels == str(group2)
            tests.append((str(g), "Rest" if group2 is None else str(group2), sel1, sel2))
        return tests

    def _modality_counts(self, adata, modality: str) -> sp.csr_matrix:
        """The modality's registered counts at the MuData rows ``(n_obs, n_vars)``, zero rows for
        cells that lack it."""
        from remadom.data import get_matrix

        info = self.adata_manager.registry["setup_args"]
        layers = info.get("layers") or {info.get("modality"): info.get("layer")}  # setup_anndata
        part = modality_data(adata, modality)
        x, _, _ = get_matrix(part, layers.get(modality))
        rows = part.obs_names.get_indexer(adata.obs_names)
        have = np.flatnonzero(rows >= 0)
        place = sp.csr_matrix(
            (np.ones(len(have)), (have, rows[have])), shape=(adata.n_obs, x.shape[0])
        )
        return sp.csr_matrix(place @ sp.csr_matrix(x))


class _CountsManager:
    """The model's :class:`~scvi.data.AnnDataManager` as :class:`~scvi.model.base.DifferentialComputation`
    reads it, with the DE modality's counts at the MuData rows as its ``"X"`` (which the
    ``"change"`` mode reads to set the pseudocounts); everything else is the model's manager."""

    def __init__(self, manager, counts: sp.csr_matrix):
        self._manager, self._counts = manager, counts

    @property
    def adata(self):
        return self._manager.adata

    def get_from_registry(self, key: str):
        return self._counts if key == "X" else self._manager.get_from_registry(key)

    def __getattr__(self, name: str):
        return getattr(self._manager, name)


def _selection(idx, obs: pd.DataFrame, name: str) -> np.ndarray:
    """Boolean mask over obs from a mask, integer rows or a query string."""
    if isinstance(idx, str):
        return np.asarray(obs.index.isin(obs.query(idx).index))
    a = np.asarray(idx).ravel()
    if a.dtype == bool:
        if a.shape[0] != obs.shape[0]:
            raise ValueError(
                f"{name}: boolean mask of length {a.shape[0]} for {obs.shape[0]} cells."
            )
        return a
    mask = np.zeros(obs.shape[0], dtype=bool)
    mask[a.astype(int)] = True
    return mask


def _count_statistics(
    x: sp.csr_matrix, sel1: np.ndarray, sel2: np.ndarray
) -> dict[str, np.ndarray]:
    """Per feature, in each set of rows of ``x``: mean count, fraction of cells with a non-zero
    count, and mean count after scaling each cell to 10^4 total counts."""
    lib = np.asarray(x.sum(1)).ravel()
    out = {}
    for k, sel in (("1", sel1), ("2", sel2)):
        r = np.flatnonzero(sel)
        xs = x[r]
        out[f"raw_mean{k}"] = np.asarray(xs.mean(0)).ravel()
        out[f"non_zeros_proportion{k}"] = np.asarray((xs != 0).mean(0)).ravel()
        scale = sp.diags(1e4 / np.maximum(lib[r], 1e-12))
        out[f"raw_normalized_mean{k}"] = np.asarray((scale @ xs).mean(0)).ravel()
    return out


def _fdr_calls(proba_de: pd.Series, fdr: float) -> pd.Series:
    """Features called DE at posterior expected FDR ``fdr``: the longest list, by decreasing
    ``proba_de``, whose mean ``1 - proba_de`` stays at or under ``fdr``."""
    order = proba_de.sort_values(ascending=False)
    expected_fdr = np.cumsum(1.0 - order.to_numpy()) / np.arange(1, len(order) + 1)
    n_called = int((expected_fdr <= fdr).sum())
    called = pd.Series(False, index=order.index)
    called.iloc[:n_called] = True
    return called.reindex(proba_de.index)
