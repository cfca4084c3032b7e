"""MOSAICVI model class: setup on a natural mosaic MuData, train, latents, imputation."""

from __future__ import annotations

import logging
import warnings
from collections.abc import Sequence

import numpy as np
import pandas as pd
import scipy.sparse as sp
import torch
from anndata import AnnData
from mudata import MuData
from scvi.data import AnnDataManagerValidationCheck
from scvi.data.fields import (
    CategoricalObsField,
    MuDataCategoricalObsField,
    MuDataNumericalObsField,
    MuDataObsmField,
    NumericalObsField,
    ObsmField,
)
from scvi.model.base import BaseModelClass, UnsupervisedTrainingMixin, VAEMixin

from remadom.data import (
    DataSignatureField,
    ObspField,
    as_float32,
    check_counts,
    check_finite,
    check_modalities,
    check_n_obs,
    check_unique_names,
    check_zero_cells,
    get_matrix,
    is_counts,
    keep_unchanged_on_error,
    pad_rows,
    presence_mask,
    warn_not_counts,
)
from remadom.data import stored_values as _values
from remadom.heads import AlignmentHead, make_head
from remadom.nn import COUNT_LIKELIHOODS, LIBRARY_SIZE_LIKELIHOODS
from remadom.nn import LIKELIHOODS as _REGISTRY
from remadom.train import BalancedDataSplitter, CheckedTrainingPlan, LatentBank

from ..base import (
    DerivedField,
    DifferentialExpressionMixin,
    PosteriorPredictiveMixin,
    RemadomModelMixin,
    deprecated_mdata,
)
from ..base._mixin import setup_arg
from ._constants import MOSAICVI_REGISTRY_KEYS
from ._module import MOSAICVIModule
from ._presets import PRESETS, preset

logger = logging.getLogger(__name__)

LIKELIHOODS = tuple(_REGISTRY)  # every name of the likelihood registry (remadom.nn.LIKELIHOODS)
_COUNT_LIKELIHOODS = COUNT_LIKELIHOODS
_PREFIX = "_mosaicvi_"

_NAME_DEFAULTS = {
    "rna": "nb", "gex": "nb", "expression": "nb", "mrna": "nb",
    "atac": "bernoulli", "peaks": "bernoulli", "chromatin": "bernoulli",
    "adt": "nb", "prot": "nb", "protein": "nb", "cite": "nb",
    "met": "betabinomial", "methylation": "betabinomial",
}


def _as_dict(modality: str, value) -> dict:
    """``{modality: value}``, or ``{}`` when ``value`` is None (setup_anndata's one modality)."""
    return {} if value is None else {modality: value}


def _default_likelihood(m: str, x) -> str:
    lik = _NAME_DEFAULTS.get(m.lower())
    counts = is_counts(x)
    if lik == "bernoulli" and counts and _values(x).size and _values(x).max() > 1:
        return "poisson"  # fragment counts: Poisson; binarise first for Bernoulli
    if lik is not None and (counts or lik == "gaussian"):
        return lik
    return "nb" if counts else "gaussian"


#: scvi-tools fields of the MuData-level (MuData) or AnnData-level (AnnData) obs and obsm
_FIELDS = {MuData: (MuDataCategoricalObsField, MuDataNumericalObsField, MuDataObsmField),
           AnnData: (CategoricalObsField, NumericalObsField, ObsmField)}


def _matrix(adata: AnnData, key: str | None, m: str):
    """``.X``, a layer or an obsm array of modality ``m`` and its field name (errors name ``m``)."""
    try:
        x, _, where = get_matrix(adata, key)
    except ValueError as e:
        raise ValueError(f"modality '{m}': {e}") from None
    return x, where


class MOSAICVI(RemadomModelMixin, PosteriorPredictiveMixin, DifferentialExpressionMixin, VAEMixin,
               UnsupervisedTrainingMixin, BaseModelClass):
    """Mosaic-first multimodal VAE: any cell may have any subset of the registered modalities.

    One encoder per modality gives a Gaussian expert; the product of the experts a cell has
    (and the prior) is ``z_bio``; ``z_tech`` carries batch/study effects from the registered
    covariates; each modality has its own likelihood; the ELBO is masked to the modalities each
    cell has. REMADOM's six integration problems are presets of this one model (see
    :data:`PRESETS` and :meth:`preset`). Module details: :class:`MOSAICVIModule`.

    scvi-tools' model criticism and differential expression work on the count modalities
    (``nb``, ``zinb``, ``poisson``): :meth:`posterior_predictive_sample` (what
    :class:`scvi.criticism.PosteriorPredictiveCheck` calls), :meth:`differential_expression`
    (:class:`scvi.model.base.DifferentialComputation` on :meth:`get_normalized_expression`,
    which takes scvi-tools' arguments plus ``modality``).

    Parameters
    ----------
    adata
        MuData registered with :meth:`setup_mudata`, or AnnData (one modality) registered with
        :meth:`setup_anndata`.
    problem
        ``paired``, ``unpaired``, ``bridge``, ``mosaic`` (default), ``prediction`` or
        ``hierarchical``; sets ``subset_prob`` and ``heads`` (print ``MOSAICVI.preset(problem)``).
        ``unpaired`` with a registered modality that covers every cell (a shared gene-level
        modality from :func:`remadom.pp.link_features` with ``as_modality=``) uses no head
        unless ``heads`` is given: the shared expert aligns the modality sets, and the MMD head
        lowered FOSCTTM quality there (MOp halves: 0.215 with it, 0.197 without). Without such a
        modality a warning names this fix.
    heads
        Overrides the preset's alignment heads: a list of :class:`remadom.heads.AlignmentHead` or
        dicts ``{"name": "mmd", "weight": ..., "group_by": ...}``.
    subset_prob
        Overrides the preset's probability of the mixture-of-PoE subset draw.
    n_latent, n_latent_tech, n_hidden, n_layers, dropout_rate
        Module sizes (see :class:`MOSAICVIModule`).

    Raises
    ------
    ValueError
        Unknown problem; a head that groups by a key that was not registered, by modality set
        with one modality, or by groups with fewer than two cells; a head that needs a graph or
        time values that were not registered.

    Examples
    --------
    >>> MOSAICVI.setup_mudata(mdata, modalities=["rna", "adt"], batch_key="batch")
    >>> model = MOSAICVI(mdata, problem="mosaic")
    >>> model.train()
    >>> mdata.obsm["X_mosaicvi"] = model.get_latent_representation()
    >>> adt = model.impute("adt", source=["rna"])
    >>> ppc = scvi.criticism.PosteriorPredictiveCheck(mdata, {"model1": model}, modality="rna")
    >>> de = model.differential_expression(groupby="celltype", group1="Mono", group2="B")
    """

    _module_cls = MOSAICVIModule
    _training_plan_cls = CheckedTrainingPlan
    _data_splitter_cls = BalancedDataSplitter
    PRESETS = PRESETS
    preset = staticmethod(preset)

    @deprecated_mdata
    def __init__(
        self,
        adata: MuData,
        problem: str = "mosaic",
        heads: list[AlignmentHead | dict] | None = None,
        subset_prob: float | None = None,
        n_latent: int = 20,
        n_latent_tech: int = 4,
        n_hidden: int = 256,
        n_layers: int = 2,
        dropout_rate: float = 0.1,
    ):
        super().__init__(adata)
        self.modalities = self._setup_modalities()
        self.problem = problem
        self.module = self._build_module(problem, heads, subset_prob, n_latent=n_latent,
                                         n_latent_tech=n_latent_tech, n_hidden=n_hidden,
                                         n_layers=n_layers, dropout_rate=dropout_rate)
        self.init_params_ = self._get_init_params(locals())

    def _build_module(self, problem: str | None, heads: list | None, subset_prob: float | None,
                      **sizes) -> MOSAICVIModule:
        """The module of this model (the one step a subclass overrides), its ``settings`` and summary.

        MOSAICVI: the problem preset (with ``heads``, ``subset_prob`` overrides) gives the alignment
        heads, validated against the registry, and the subset draw probability.

        Parameters
        ----------
        problem, heads, subset_prob
            As in :class:`MOSAICVI`.
        **sizes
            ``n_latent``, ``n_latent_tech``, ``n_hidden``, ``n_layers``, ``dropout_rate``.
        """
        shared = [m for m in self.modalities
                  if self._modality_data(self.adata, m).n_obs == self.adata.n_obs]
        if problem == "unpaired" and heads is None and shared:
            # a modality every cell has (e.g. link_features(as_modality=...)) aligns the modality
            # sets through its shared expert; the preset's MMD head then only costs (MOp halves,
            # 3 seeds: FOSCTTM 0.197 without it, 0.215 with it)
            heads = []
        settings = preset(problem, heads=heads, subset_prob=subset_prob)
        built = [make_head(h) for h in settings["heads"]]
        self._validate_heads(built)
        if len(self.modalities) > 1 and not built and MOSAICVI_REGISTRY_KEYS.LINK_KEY not in self.adata_manager.data_registry:
            mask = np.asarray(self.adata_manager.get_from_registry(MOSAICVI_REGISTRY_KEYS.MASK_KEY))
            if not (mask.sum(1) > 1).any():
                warnings.warn(
                    f"modalities {self.modalities} share no cell, and no head or link_key ties them: "
                    "each modality gets its own region of the latent space and nothing aligns them. "
                    "Add paired cells, a shared modality or link_key= (remadom.pp.link_features), "
                    "or a head (problem='unpaired' adds an MMD head).",
                    UserWarning,
                    stacklevel=4,  # the caller of MOSAICVI(...): past __init__ and deprecated_mdata
                )
        module = self._module_cls(
            **self._data_module_kwargs(),
            **sizes,
            subset_prob=settings["subset_prob"],
            heads=built,
            n_obs_bank=self.adata.n_obs if any("bank" in h.requires for h in built) else 0,
        )
        self.settings = {**settings, "heads": [repr(h) for h in built]}
        self._model_summary_string = (
            f"MOSAICVI ({problem}): modalities={self.modalities}, likelihoods={module.likelihoods}, "
            f"n_latent={sizes['n_latent']}, z_tech={module.n_latent_tech}, "
            f"subset_prob={settings['subset_prob']}, heads={[h.name for h in built]}"
        )
        if problem == "unpaired" and not shared:
            warnings.warn(
                "problem='unpaired' with no modality shared by all cells: heads that match "
                "distributions rarely find which cell of one modality matches which of the other "
                "(MOp RNA/ATAC halves: FOSCTTM 0.46). Add a shared gene-level modality first, e.g. "
                "remadom.pp.link_features(mdata, rna='rna', other='atac', as_modality='gene'), "
                "and register it (FOSCTTM 0.20 there; the preset then drops its MMD head).",
                UserWarning,
                stacklevel=4,  # the caller of MOSAICVI(...): past __init__ and deprecated_mdata
            )
        return module

    def _data_module_kwargs(self) -> dict:
        """Module arguments read from the registry: ``modalities`` (``self.modalities``), their
        input and output widths, likelihoods, technical covariate sizes and ``mean_depth``."""
        info = self.adata_manager.registry["setup_args"]
        lik = dict(info["_likelihoods"])
        n_outputs = {m: self.adata_manager.get_from_registry(m).shape[1] for m in self.modalities}
        n_inputs = {m: (2 if lik[m] == "betabinomial" else 1) * n_outputs[m] for m in self.modalities}
        n_cats = [len(self.adata_manager.get_state_registry(key).categorical_mapping)
                  for key in MOSAICVI_REGISTRY_KEYS.covariate_keys if key in self.adata_manager.data_registry]
        return dict(modalities=self.modalities, n_inputs=n_inputs, n_outputs=n_outputs, likelihoods=lik,
                    n_cats_tech=n_cats, mean_depth=info["_mean_depth"])

    def _validate_heads(self, heads: list[AlignmentHead]) -> None:
        reg = self.adata_manager.data_registry
        for h in heads:
            if h.needs_groups:
                self._validate_groups(h)
            for need in h.requires:
                key = {"time": MOSAICVI_REGISTRY_KEYS.TIME_KEY, "link": MOSAICVI_REGISTRY_KEYS.LINK_KEY}.get(need)
                if key is not None and key not in reg:
                    raise ValueError(f"head '{h.name}' needs '{need}', which was not registered: pass "
                                     f"{need}_key= to {self._setup_call()}.")
            if "graph" in h.requires:
                field = ObspField(MOSAICVI_REGISTRY_KEYS.GRAPH_KEY, h.graph_key)
                field.validate_field(self.adata)  # present, square, n_obs x n_obs, finite
                h.set_graph(field.get_graph(self.adata))
            for m in (getattr(h, "source", None), getattr(h, "target", None)):
                if m is not None and m not in self.modalities:
                    raise ValueError(f"head '{h.name}': modality '{m}' is not registered; registered: "
                                     f"{self.modalities}.")

    def _group_codes(self, group_by: str) -> np.ndarray:
        if group_by == "modality_set":
            mask = self.adata_manager.get_from_registry(MOSAICVI_REGISTRY_KEYS.MASK_KEY)
            return (np.asarray(mask) * (2 ** np.arange(len(self.modalities)))).sum(1).astype(int)
        return np.asarray(self.adata_manager.get_from_registry(group_by)).ravel()

    def _validate_groups(self, h: AlignmentHead) -> None:
        if h.group_by == "modality_set":
            if len(self.modalities) < 2:
                raise ValueError(
                    f"head '{h.name}' groups by modality_set, but only {self.modalities} is "
                    "registered; register two or more modalities or use group_by='batch'."
                )
        elif h.group_by not in self.adata_manager.data_registry:
            raise ValueError(
                f"head '{h.name}' groups by '{h.group_by}', but no {h.group_by}_key was "
                f"registered; pass {h.group_by}_key= to {self._setup_call()}."
            )
        _, counts = np.unique(self._group_codes(h.group_by), return_counts=True)
        if len(counts) < 2:
            raise ValueError(f"head '{h.name}' groups by '{h.group_by}' but all cells are in one group; "
                             "drop the head or group by another key.")
        if counts.min() < 2:
            raise ValueError(f"head '{h.name}': a '{h.group_by}' group has fewer than two cells; "
                             "merge or drop it.")

    # ------------------------------------------------------------------ setup
    @classmethod
    @keep_unchanged_on_error
    def setup_anndata(
        cls,
        adata: AnnData,
        layer: str | tuple[str, str] | None = None,
        likelihood: str | None = None,
        modality: str = "rna",
        batch_key: str | None = None,
        study_key: str | None = None,
        time_key: str | None = None,
        labels_key: str | None = None,
        link_key: str | None = None,
        _likelihoods: dict[str, str] | None = None,
        _mean_depth: dict[str, float] | None = None,
        _library_median: dict[str, float] | None = None,
        **kwargs,
    ) -> None:
        """Register a single-modality AnnData (one modality, named ``modality``), as scVI.

        As :meth:`setup_mudata` with ``modalities=[modality]`` on a MuData holding only
        ``adata``, registered on the AnnData itself: the data in ``.X``, ``layers[layer]`` or
        ``obsm[layer]``, the covariates in ``adata.obs``, ``link_key`` in ``adata.obsm``. Every
        cell has the modality. The AnnData gains only scvi-tools' ``obs["_scvi_*"]`` codes of
        the covariates and ``uns["_scvi_uuid"]``/``uns["_scvi_manager_uuid"]``; latents have one
        row per observation, and any AnnData with the same features can be passed to the
        model's methods (it is set up like the training data).

        Parameters
        ----------
        adata
            Cells x features.
        layer
            A layer or ``obsm`` key (default ``.X``); for ``betabinomial`` a pair
            ``(methylated_layer, total_layer)``.
        likelihood
            One of the likelihoods of :meth:`setup_mudata` (default from ``modality`` and the
            data: ``"rna"`` counts get ``nb``).
        modality
            Name of the modality in the model (``modality=`` of :meth:`impute`,
            :meth:`get_normalized_expression`, ...; it also chooses the default likelihood).
        batch_key, study_key, time_key, labels_key
            ``adata.obs`` columns, as in :meth:`setup_mudata`.
        link_key
            ``adata.obsm`` key of shared features, as in :meth:`setup_mudata`.
        **kwargs
            Passed to :meth:`scvi.data.AnnDataManager.register_fields`.

        Raises
        ------
        ValueError
            Not an AnnData (a MuData goes to :meth:`setup_mudata`); every error of
            :meth:`setup_mudata`. The AnnData is unchanged then.

        Examples
        --------
        >>> MOSAICVI.setup_anndata(adata, layer="counts", batch_key="batch")
        >>> model = MOSAICVI(adata)
        >>> model.train()
        >>> adata.obsm["X_mosaicvi"] = model.get_latent_representation()
        """
        setup_method_args = cls._get_setup_method_args(**locals())
        cls._check_anndata(adata, modality)
        cls._register_mosaic(adata, setup_method_args, [modality], _as_dict(modality, layer),
                             _as_dict(modality, likelihood), batch_key, study_key, time_key,
                             labels_key, link_key, _likelihoods, _mean_depth, _library_median,
                             **kwargs)

    @classmethod
    def _check_mudata(cls, mdata) -> None:
        """Point an AnnData passed to ``setup_mudata`` to ``setup_anndata``.

        Raises
        ------
        ValueError
            ``mdata`` is an AnnData.
        """
        if isinstance(mdata, AnnData):
            raise ValueError(
                f"{cls.__name__}.setup_mudata needs a MuData, got an AnnData; for one modality in "
                f"an AnnData use {cls.__name__}.setup_anndata(adata, layer=..., modality='rna')."
            )

    @classmethod
    def _check_anndata(cls, adata, modality) -> None:
        """Check ``setup_anndata``'s data object and modality name.

        Raises
        ------
        ValueError
            ``adata`` is not an AnnData (a MuData: use ``setup_mudata``); ``modality`` is not a
            non-empty string.
        """
        if not isinstance(adata, AnnData):
            raise ValueError(
                f"{cls.__name__}.setup_anndata needs an AnnData, got {type(adata).__name__}; use "
                f"{cls.__name__}.setup_mudata for a MuData."
            )
        if not isinstance(modality, str) or not modality:
            raise ValueError(f"{cls.__name__}.setup_anndata: modality must be a non-empty string "
                             f"(the modality's name in the model, e.g. 'rna'), got {modality!r}.")

    @classmethod
    @keep_unchanged_on_error
    def setup_mudata(
        cls,
        mdata: MuData,
        modalities: list[str] | None = None,
        layers: dict[str, str | tuple[str, str]] | None = None,
        likelihoods: dict[str, str] | None = None,
        batch_key: str | None = None,
        study_key: str | None = None,
        time_key: str | None = None,
        labels_key: str | None = None,
        link_key: str | None = None,
        _likelihoods: dict[str, str] | None = None,
        _mean_depth: dict[str, float] | None = None,
        _library_median: dict[str, float] | None = None,
        **kwargs,
    ) -> None:
        """Register a (natural mosaic) MuData for MOSAICVI.

        Modalities may cover different, overlapping cells; no zero-padded rows are needed. After
        every check passes, the model holds each modality's data placed at MuData rows (sparse,
        empty where the cell lacks it) and the ``(n_obs, n_modalities)`` presence mask
        (:class:`~remadom.model.base.DerivedField`); the MuData itself gains only what scvi-tools'
        own fields write: ``obs["_scvi_*"]`` codes of the covariates and
        ``uns["_scvi_uuid"]``/``uns["_scvi_manager_uuid"]``. On any error nothing is written.

        Parameters
        ----------
        mdata
            MuData (``mdata.update()`` after editing modalities).
        modalities
            List of modality names; ``None`` means all.
        layers
            Per modality a layer or ``obsm`` key (default ``.X``); for ``betabinomial`` a pair
            ``(methylated_layer, total_layer)``.
        likelihoods
            Per modality one of ``nb``, ``zinb``, ``poisson``, ``bernoulli``, ``nbmixture``
            (totalVI protein mixture), ``gaussian``, ``betabinomial``. Defaults by modality name
            and data: RNA ``nb``; ATAC ``bernoulli`` on 0/1 data, ``poisson`` on counts; ADT
            ``nb`` on counts (the totalVI mixture ``nbmixture`` is an option; on the MIDAS PBMC
            mosaic plain NB imputed proteins better, see ``benchmarks/README.md``), ``gaussian``
            otherwise; other counts ``nb``, other data ``gaussian``.
        batch_key, study_key
            ``mdata.obs`` columns of technical covariates (``z_tech`` is built from them).
        time_key
            Numeric ``mdata.obs`` column (for temporal heads).
        labels_key
            ``mdata.obs`` column of cell labels (for heads that group by labels).
        link_key
            ``mdata.obsm`` key of shared features for every cell (for
            :class:`~remadom.heads.CrossGraphHead` with ``space="link"``), e.g. from
            :func:`remadom.pp.link_features`.
        **kwargs
            Passed to :meth:`scvi.data.AnnDataManager.register_fields`.

        Raises
        ------
        ValueError
            Unknown or empty modality, a cell in no modality, modality obs names the MuData lacks,
            NaN/inf values, negative or non-integer values under a count likelihood, values other
            than 0/1 under ``bernoulli``, cells with zero counts under a count likelihood or
            ``bernoulli``, duplicated obs or var names, fewer than two cells, unknown likelihood,
            a missing or NaN covariate column; on ``load`` or new data, other features than at
            training. On any error the MuData is unchanged.

        Warns
        -----
        UserWarning
            When a modality named as counts (``rna``, ``adt``, ``atac``, ...) gets ``gaussian``
            because its data are not counts; when boolean or float16 data are read as float32.
        """
        setup_method_args = cls._get_setup_method_args(**locals())
        cls._check_mudata(mdata)
        cls._register_mosaic(mdata, setup_method_args, modalities, layers, likelihoods, batch_key,
                             study_key, time_key, labels_key, link_key, _likelihoods, _mean_depth,
                             _library_median, **kwargs)

    @classmethod
    def _register_mosaic(cls, mdata, setup_method_args, modalities, layers, likelihoods, batch_key,
                         study_key, time_key, labels_key, link_key, _likelihoods, _mean_depth,
                         _library_median, obsm_modalities: dict[str, str] | None = None, **kwargs):
        """Validate, write and register a mosaic MuData (shared by MOSAICVI and PRIORVI).

        An AnnData (``setup_anndata``) is registered as the one modality ``modalities[0]``
        that every cell has, with AnnData-level fields. ``obsm_modalities`` maps extra modality
        names to MuData-level ``obsm`` keys: blocks every cell has (e.g. PRIORVI's standardised
        coordinates), Gaussian by default.
        """
        single = isinstance(mdata, AnnData)  # setup_anndata: one modality, the AnnData itself
        owner = "adata" if single else "mdata"

        def hint(arg: str, m: str, value: str) -> str:  # in the spelling of the setup in use
            return setup_arg(single, arg, m, value)

        zero_fix = "`sc.pp.filter_cells(adata, min_counts=1)`" if single else None
        if not single:
            modalities = check_modalities(mdata, modalities)
        check_unique_names(mdata, None if single else modalities)
        check_n_obs(mdata.n_obs, 2, "the AnnData" if single else "the MuData",
                    "training normalises over minibatches of cells")
        obsm_modalities = dict(obsm_modalities or {})
        layers = dict(layers or {})
        # on load / new data the resolved likelihoods of training are reused
        likelihoods = dict(_likelihoods or likelihoods or {})
        for name, d in (("layers", layers), ("likelihoods", likelihoods)):
            unknown = set(d) - set(modalities) - set(obsm_modalities)
            if unknown:
                raise ValueError(f"`{name}` names modalities not in `modalities`: {sorted(unknown)}.")
        mask = pd.DataFrame(True, index=mdata.obs_names, columns=modalities) if single else \
            presence_mask(mdata, modalities)
        for extra in obsm_modalities:
            mask[extra] = True
        for key, what in ((batch_key, "batch_key"), (study_key, "study_key"), (time_key, "time_key"),
                          (labels_key, "labels_key")):
            if key is None:
                continue
            if key not in mdata.obs:
                raise ValueError(f"{what}='{key}' is not a column of {owner}.obs; columns: {list(mdata.obs)}.")
            if mdata.obs[key].isna().any():
                raise ValueError(
                    f"{what}='{key}' has {int(mdata.obs[key].isna().sum())} NaN values in {owner}.obs; "
                    "fill them (e.g. with 'unknown') or drop those cells."
                )
        if link_key is not None:
            if link_key not in mdata.obsm:
                raise ValueError(f"link_key='{link_key}' is not in {owner}.obsm; build it with "
                                 "remadom.pp.link_features(mdata, ...).")
            link = mdata.obsm[link_key]
            if link.shape[0] != mdata.n_obs:
                raise ValueError(f"{owner}.obsm['{link_key}'] has {link.shape[0]} rows, not n_obs={mdata.n_obs}.")
            check_finite(link, "(AnnData)" if single else "(MuData)", f"obsm['{link_key}']")
        if time_key is not None and not pd.api.types.is_numeric_dtype(mdata.obs[time_key]):
            raise ValueError(f"time_key='{time_key}' must be numeric; convert it with pd.to_numeric.")

        resolved, data, mean_depth, lib_median, signature = {}, {}, {}, {}, {}
        for m in [*modalities, *obsm_modalities]:
            a = cls._modality_data(mdata, m) if m in modalities else None
            key = layers.get(m)
            total = None
            if a is None and isinstance(obsm_modalities[m], str):
                x, where = np.asarray(mdata.obsm[obsm_modalities[m]], dtype=np.float32), f"obsm['{obsm_modalities[m]}']"
            elif a is None:  # (array, description) derived by the caller, e.g. PRIORVI's coordinates
                x, where = np.asarray(obsm_modalities[m][0], dtype=np.float32), obsm_modalities[m][1]
            elif isinstance(key, (tuple, list)):
                if len(key) != 2:
                    raise ValueError(f"modality '{m}': the layer pair must be (methylated, total), got {key}; "
                                     f"pass {hint('layers', m, repr(('methylated', 'total')))}.")
                x, where = _matrix(a, key[0], m)
                total, where_t = _matrix(a, key[1], m)
            else:
                x, where = _matrix(a, key, m)
            x = as_float32(x, m, where)
            if total is not None:
                total = as_float32(total, m, where_t)
            if a is not None:
                signature[m] = (where, x.shape[1], None if where.startswith("obsm") else a.var_names)
            if x.shape[1] == 0:
                raise ValueError(f"modality '{m}': {where} has no features.")
            lik = likelihoods.get(m) or ("betabinomial" if total is not None else _default_likelihood(m, x))
            named = _NAME_DEFAULTS.get(m.lower())
            if not likelihoods.get(m) and lik == "gaussian" and named is not None and a is not None \
                    and not where.startswith("obsm"):
                warn_not_counts(x, m, where, "likelihood 'gaussian'", f"likelihood '{named}'")
            if lik not in LIKELIHOODS:
                raise ValueError(f"modality '{m}': unknown likelihood '{lik}'; choose one of {LIKELIHOODS}.")
            if lik == "betabinomial":
                if total is None:
                    raise ValueError(f"modality '{m}': likelihood 'betabinomial' needs "
                                     f"{hint('layers', m, repr(('methylated', 'total')))}.")
                pair = f"Pass raw counts: {hint('layers', m, repr(('methylated', 'total')))}."
                check_counts(x, m, where, fix=pair)
                check_counts(total, m, where_t, fix=pair)
                diff = (sp.csr_matrix(total) - sp.csr_matrix(x)) if sp.issparse(total) or sp.issparse(x) else total - x
                if _values(diff).size and _values(diff).min() < 0:
                    raise ValueError(f"modality '{m}': methylated counts exceed total counts somewhere; "
                                     "check the order of the (methylated, total) layers.")
            elif lik in _COUNT_LIKELIHOODS:
                check_counts(x, m, where, fix=(
                    f"Pass raw counts (e.g. `{hint('layers', m, repr('counts'))}`) or use "
                    f"`{hint('likelihoods', m, repr('gaussian'))}` on a normalised representation."))
                check_zero_cells(x, m, where, fix=zero_fix)
            elif lik == "bernoulli":
                check_finite(x, m, where)
                v = _values(x)
                if v.size and not np.isin(np.unique(v[:2_000_000]), (0.0, 1.0)).all():
                    raise ValueError(
                        f"modality '{m}': likelihood 'bernoulli' needs 0/1 data but {where} has other "
                        f"values (max {v.max():g}). Binarise first (x = (x > 0)) into a layer and pass "
                        f"{hint('layers', m, '...')}, or use {hint('likelihoods', m, repr('poisson'))}."
                    )
                check_zero_cells(x, m, where, fix=zero_fix)
            else:
                check_finite(x, m, where)
            if lik != "betabinomial" and total is not None:
                raise ValueError(f"modality '{m}': a (methylated, total) layer pair needs likelihood 'betabinomial'.")
            resolved[m] = lik
            data[m] = (x, total)
            if lik == "bernoulli":
                mean_depth[m] = float(np.asarray(x.sum(1)).mean()) or 1.0
            lib_median[m] = float(np.median(np.asarray(x.sum(1)).ravel())) if lik in LIBRARY_SIZE_LIKELIHOODS else 1.0

        if not single:  # setup_anndata records its one modality as modality=
            setup_method_args["setup_args"]["modalities"] = modalities
        setup_method_args["setup_args"]["_likelihoods"] = resolved
        setup_method_args["setup_args"]["_mean_depth"] = dict(_mean_depth or mean_depth)
        setup_method_args["setup_args"]["_library_median"] = dict(_library_median or lib_median)

        # --- write (everything validated)
        n_obs = mdata.n_obs
        pos = pd.Series(np.arange(n_obs), index=mdata.obs_names)
        # first, so that load onto other features fails with its message; inductive: other cells are fine
        fields = [DataSignatureField(signature, check_obs=False, model_name=cls.__name__)]
        for m in [*modalities, *obsm_modalities]:
            rows = np.arange(n_obs) if single or m not in modalities else \
                pos.loc[mdata[m].obs_names].to_numpy()
            x, total = data[m]
            # held by the model (DerivedField), not written to the MuData
            fields.append(DerivedField(m, pad_rows(x, rows, n_obs)))
            if total is not None:
                fields.append(DerivedField(MOSAICVI_REGISTRY_KEYS.total_key(m), pad_rows(total, rows, n_obs)))
        fields.append(DerivedField(MOSAICVI_REGISTRY_KEYS.MASK_KEY, mask.to_numpy().astype(np.float32)))
        # row index of each cell (heads that read a graph or the latent bank need it)
        fields.append(DerivedField(MOSAICVI_REGISTRY_KEYS.INDEX_KEY,
                                   np.arange(n_obs, dtype=np.float32)[:, None]))
        categorical, numerical, obsm = _FIELDS[AnnData if single else MuData]
        if link_key is not None:
            fields.append(obsm(MOSAICVI_REGISTRY_KEYS.LINK_KEY, link_key))
        if batch_key is not None:
            fields.append(categorical(MOSAICVI_REGISTRY_KEYS.BATCH_KEY, batch_key))
        if study_key is not None:
            fields.append(categorical(MOSAICVI_REGISTRY_KEYS.STUDY_KEY, study_key))
        if labels_key is not None:
            fields.append(categorical(MOSAICVI_REGISTRY_KEYS.LABELS_KEY, labels_key))
        if time_key is not None:
            fields.append(numerical(MOSAICVI_REGISTRY_KEYS.TIME_KEY, time_key))
        # every field reads MuData-level obs/obsm, so modalities may cover different cells
        cls._register(mdata, fields, setup_method_args,
                      AnnDataManagerValidationCheck(check_fully_paired_mudata=False), **kwargs)

    # what earlier releases wrote to obsm (deleted by the deprecated remove_inputs); an object not
    # set up for the model is set up with the training setup by RemadomModelMixin._validate_anndata
    _INPUT_PREFIXES = (_PREFIX,)

    # ------------------------------------------------------------------ training
    def train(
        self,
        max_epochs: int | None = None,
        batch_size: int = 256,
        train_size: float = 1.0,
        validation_size: float | None = None,
        early_stopping: bool = False,
        plan_kwargs: dict | None = None,
        balance_by: str | None = None,
        checkpoint_dir: str | None = None,
        resume: bool = False,
        num_workers: int | None = None,
        **kwargs,
    ):
        """Train with scvi-tools' :class:`~scvi.train.TrainRunner` (Lightning).

        Parameters
        ----------
        max_epochs
            Default ``clip(10^6 / n_obs, 30, 400)``: about 4000 steps of 256 cells.
        balance_by
            ``"modality_set"``, ``"batch"``, ``"study"`` or ``"labels"``: every minibatch holds
            about equal numbers of cells of each group (:class:`remadom.train.GroupBalancedBatchSampler`);
            default: the ``group_by`` of the first alignment head, else random minibatches.
        batch_size, train_size, validation_size, early_stopping
            As in scvi-tools (``train_size=1.0``: the latent is transductive).
        plan_kwargs
            For :class:`~remadom.train.CheckedTrainingPlan`; defaults ``lr=1e-3``,
            ``n_epochs_kl_warmup=max_epochs // 4``.
        checkpoint_dir
            Write the full training state to ``checkpoint_dir/last.ckpt`` after every epoch
            (:class:`~remadom.train.ResumeCheckpoint`; a failed run keeps the last good file).
        resume
            Continue from ``checkpoint_dir/last.ckpt`` after a crash (same data, setup, model and
            ``train()`` arguments); ``model.history`` then holds the resumed epochs only.
        num_workers
            Processes that load minibatches (``None``: scvi-tools' ``scvi.settings.dl_num_workers``,
            0 unless changed; 0: in the training process). Multi-device and multi-node training
            (``strategy="ddp"``, ``devices``, ``num_nodes``): :func:`remadom.train.prepare_parallel`
            and ``docs/scale.md``.
        **kwargs
            Passed on to Lightning (``accelerator``, ``devices``, ``precision``, ``ckpt_path``, ...).

        Raises
        ------
        remadom.train.NonFiniteLossError
            If a loss becomes NaN or inf.
        FileNotFoundError, FileExistsError
            ``resume`` without a checkpoint; a checkpoint in ``checkpoint_dir`` without ``resume``.
        ValueError
            ``strategy`` ``"ddp_spawn"``, ``"ddp_fork"`` or ``"ddp_notebook"`` (refused before
            training; use ``"ddp"``), or ``num_workers`` negative.
        """
        if max_epochs is None:
            max_epochs = int(np.clip(np.ceil(1e6 / self.adata.n_obs), 30, 400))
        plan_kwargs = {"lr": 1e-3, "weight_decay": 1e-6,
                       "n_epochs_kl_warmup": max(1, max_epochs // 4), **(plan_kwargs or {})}
        grouped = [h for h in self.module.heads if h.needs_groups]
        if balance_by is None and grouped:
            balance_by = grouped[0].group_by
        if balance_by is not None:
            if balance_by != "modality_set" and balance_by not in self.adata_manager.data_registry:
                raise ValueError(f"balance_by='{balance_by}' is not registered; use 'modality_set' or a "
                                 "registered batch/study/labels key.")
            splitter = dict(kwargs.pop("datasplitter_kwargs", None) or {})
            splitter["balance_groups"] = self._group_codes(balance_by)
            kwargs["datasplitter_kwargs"] = splitter
        if self.module.bank.shape[0]:
            kwargs["callbacks"] = [*(kwargs.get("callbacks") or []),
                                   LatentBank(lambda: self.get_latent_representation())]
        from remadom.train import prepare_trainer

        prepare_trainer(type(self).__name__, kwargs, num_workers, checkpoint_dir, resume,
                        validate=early_stopping)
        return super().train(max_epochs=max_epochs, batch_size=batch_size, train_size=train_size,
                             validation_size=validation_size, early_stopping=early_stopping,
                             plan_kwargs=plan_kwargs, **kwargs)

    # ------------------------------------------------------------------ outputs
    def _modalities_arg(self, modality, what: str) -> list[str]:
        if modality is None:
            return list(self.modalities)
        mods = [modality] if isinstance(modality, str) else list(modality)
        bad = [m for m in mods if m not in self.modalities]
        if bad or not mods:
            raise ValueError(f"{what}: modalities {bad or mods} are not registered; registered: "
                             f"{self.modalities}.")
        return mods

    def _encode_mask(self, mask: torch.Tensor, use: list[str]) -> torch.Tensor:
        sel = torch.tensor([m in use for m in self.modalities], dtype=mask.dtype, device=mask.device)
        return mask * sel

    @deprecated_mdata
    def get_latent_representation(
        self,
        adata: MuData | None = None,
        indices: Sequence[int] | None = None,
        give_mean: bool = True,
        batch_size: int | None = None,
        representation: str = "z_bio",
        modality: str | list[str] | None = None,
    ) -> np.ndarray:
        """Posterior mean (or a sample) of ``z_bio`` or ``z_tech``.

        Parameters
        ----------
        adata
            MuData set up like the training data (default: the training data).
        indices
            Cells to return (default all).
        give_mean
            The posterior mean (default) or one sample.
        batch_size
            Cells per inference minibatch (default 1024).
        representation
            ``"z_bio"`` (biology, PoE over the cell's modalities) or ``"z_tech"`` (covariates).
        modality
            Restrict the PoE to these modalities (a cell lacking all of them gets the prior mean).

        Returns
        -------
        ``(n_obs, n_latent)`` (or ``(n_obs, n_latent_tech)``) float32 array in obs order.

        Raises
        ------
        ValueError
            Unknown representation or modality, or ``z_tech`` without covariates.
        """
        if representation not in ("z_bio", "z_tech"):
            raise ValueError(f"representation must be 'z_bio' or 'z_tech', got '{representation}'.")
        if representation == "z_tech" and not self.module.n_latent_tech:
            raise ValueError(f"no z_tech: register batch_key= or study_key= in {self._setup_call()}.")
        batch_size = self._batch_size_arg(batch_size)
        use = self._modalities_arg(modality, "get_latent_representation")
        out = []
        for _, inp in self._inference_batches(adata, indices, batch_size):
            inp["encode_mask"] = self._encode_mask(inp["mask"], use)
            inf = self.module.inference(**inp)
            q = inf["qz"] if representation == "z_bio" else inf["qz_tech"]
            out.append((q.loc if give_mean else q.sample()).cpu())
        return torch.cat(out).numpy().astype(np.float32)

    @deprecated_mdata
    def impute(
        self,
        target: str,
        source: str | list[str] | None = None,
        adata: MuData | None = None,
        indices: Sequence[int] | None = None,
        n_samples: int = 25,
        batch_size: int = 512,
        library_size: float | None = None,
        transform_batch: str | None = None,
    ) -> AnnData:
        """Predict modality ``target`` for every cell from the ``source`` modalities only.

        For each cell, ``z_bio`` is drawn ``n_samples`` times from the PoE of its ``source``
        experts (and the prior), decoded with ``target``'s likelihood, and the means of that
        likelihood are averaged.

        Parameters
        ----------
        target
            Registered modality to predict.
        source
            Modalities to predict from (default: every registered modality except ``target``).
        adata
            MuData set up like the training data (default: the training data).
        n_samples
            Posterior samples per cell.
        library_size
            Library size of the prediction for ``nb``/``zinb``/``poisson`` (default: the median
            library of the cells that have ``target``); ``bernoulli`` predictions are at mean
            depth, ``betabinomial`` ones are methylation fractions.
        transform_batch
            Decode every cell as if from this ``batch_key`` category (default: the cell's own).

        Returns
        -------
        AnnData ``(n_obs, n_vars of target)`` in MuData obs order: ``.X`` the posterior mean,
        ``layers["std"]`` the standard deviation across samples, ``obs["n_source_modalities"]``
        (cells with 0 are predicted from the prior alone; a warning says how many).

        Raises
        ------
        ValueError
            If ``target`` or a source modality is not registered, or ``transform_batch`` is not a
            batch category.
        """
        if target not in self.modalities:
            how = (f"a model set up with {self._setup_call()} has one modality; register several "
                   f"with {type(self).__name__}.setup_mudata(mdata, modalities=[...])"
                   if self._set_up_with_anndata() else
                   f"register it in {self._setup_call()}(..., modalities=[...])")
            raise ValueError(f"impute: target '{target}' is not a registered modality; registered: "
                             f"{self.modalities}; {how}.")
        if source is None:  # every other modality; a one-modality model reconstructs itself
            source = [m for m in self.modalities if m != target] or [target]
        use = self._modalities_arg(source, "impute source")
        adata = self._validate_anndata(adata)
        batch_code = self._batch_code(transform_batch)
        info = self.adata_manager.registry["setup_args"]
        lik = self.module.likelihoods[target]
        lib_value = library_size if library_size is not None else info["_library_median"].get(target, 1.0)
        means, stds, n_src = [], [], []
        for px, lib, inp in self._decode(target, use, adata, indices, n_samples, batch_size,
                                         float(lib_value), batch_code):
            mean = px.mean
            if lik == "betabinomial":
                mean = mean / lib  # methylation fraction
            mean = mean.reshape(n_samples, -1, mean.shape[-1])
            means.append(mean.mean(0).cpu())
            stds.append(mean.std(0).cpu() if n_samples > 1 else torch.zeros_like(mean[0]).cpu())
            n_src.append(inp["encode_mask"].sum(1).cpu())
        obs_names = adata.obs_names if indices is None else adata.obs_names[np.asarray(indices)]
        out = AnnData(
            X=torch.cat(means).numpy(),
            obs=pd.DataFrame({"n_source_modalities": torch.cat(n_src).numpy().astype(int)}, index=obs_names),
            var=pd.DataFrame(index=self._modality_data(adata, target).var_names.copy()),
        )
        out.layers["std"] = torch.cat(stds).numpy()
        out.uns["impute"] = {"target": target, "source": use, "n_samples": n_samples,
                             "likelihood": lik, "library_size": float(lib_value)}
        n_prior = int((out.obs["n_source_modalities"] == 0).sum())
        if n_prior:
            warnings.warn(f"impute: {n_prior} cells have none of the source modalities {use}; "
                          "their prediction comes from the prior alone.", stacklevel=3)  # past deprecated_mdata
        return out

    def _batch_code(self, transform_batch: str | None) -> int | None:
        """Code of the ``batch_key`` category ``transform_batch`` (None: each cell's own batch).

        Raises
        ------
        ValueError
            No batch registered, or ``transform_batch`` is not one of its categories.
        """
        if transform_batch is None:
            return None
        if MOSAICVI_REGISTRY_KEYS.BATCH_KEY not in self.adata_manager.data_registry:
            raise ValueError(f"transform_batch needs batch_key= in {self._setup_call()}.")
        mapping = list(self.adata_manager.get_state_registry(MOSAICVI_REGISTRY_KEYS.BATCH_KEY).categorical_mapping)
        if transform_batch not in mapping:
            raise ValueError(f"transform_batch '{transform_batch}' is not a batch; batches: {mapping}.")
        return mapping.index(transform_batch)

    def _decode(self, target: str, use: list[str], adata, indices, n_samples: int, batch_size: int,
                library: float | None, batch_code: int | None = None):
        """Per minibatch: ``target``'s likelihood given ``z_bio`` drawn from the PoE of ``use``.

        Yields ``(px, lib, inputs)``: ``px`` a distribution of batch shape
        ``(n_samples * n_cells, n_vars)``, sample-major (row ``s * n_cells + i`` is draw ``s`` of
        cell ``i``); ``lib`` its library argument; ``inputs`` the module's inference inputs
        (with ``encode_mask``). ``library=None`` uses each cell's observed library (the median
        library of the cells that have ``target`` for those that lack it), a number uses that
        library for every cell (:meth:`_reference_library`).
        """
        j = self.modalities.index(target)
        median = float(self.adata_manager.registry["setup_args"]["_library_median"].get(target, 1.0))
        for _, inp in self._inference_batches(adata, indices, batch_size):
            if batch_code is not None:
                inp["cats"][0] = torch.full_like(inp["cats"][0], batch_code)
            inp["encode_mask"] = self._encode_mask(inp["mask"], use)
            inf = self.module.inference(**inp, n_samples=n_samples)
            n = inp["mask"].shape[0]
            flat = (lambda t: t.reshape(-1, t.shape[-1])) if n_samples > 1 else (lambda t: t)
            z = flat(inf["z"])
            zt = None if inf["z_tech"] is None else flat(inf["z_tech"])
            if library is None:
                observed = inf["library"][target]
                present = inp["mask"][:, j : j + 1].bool()
                lib = torch.where(present, observed, torch.full_like(observed, median))
                lib = lib.repeat(n_samples, 1)
            else:
                lib = self._reference_library(target, n * n_samples, library, z.device)
            yield self.module.generative(z, zt, {target: lib}, modalities=[target])["px"][target], lib, inp

    def _reference_library(self, target: str, n: int, value: float, device) -> torch.Tensor | None:
        """Library argument for predicting ``target`` where it was not observed."""
        lik = self.module.likelihoods[target]
        if lik in LIBRARY_SIZE_LIKELIHOODS:
            return torch.full((n, 1), value, device=device)
        if lik == "bernoulli":  # at the mean depth (cell factor 1)
            return torch.ones(n, 1, device=device)
        if lik == "betabinomial":
            return torch.ones(n, self.module.decoders[target].out.out_features, device=device)
        return None

    @deprecated_mdata
    def get_normalized_expression(
        self,
        adata: MuData | None = None,
        indices: Sequence[int] | None = None,
        transform_batch: str | None = None,
        gene_list: Sequence[str] | None = None,
        library_size: float = 1.0,
        n_samples: int = 1,
        n_samples_overall: int | None = None,
        batch_size: int | None = None,
        return_mean: bool = True,
        return_numpy: bool | None = None,
        modality: str | None = None,
    ) -> pd.DataFrame | np.ndarray:
        """Denoised, library-normalised values of ``modality`` from each cell's full PoE.

        scvi-tools' signature (:meth:`scvi.model.SCVI.get_normalized_expression`) plus
        ``modality``. For each cell, ``z_bio`` is drawn ``n_samples`` times from the PoE of all
        the modalities it has; for ``nb``/``zinb``/``poisson`` the decoded expected frequencies
        times ``library_size`` are returned (default 1: rows sum to about 1, scVI's
        ``scale``); other likelihoods as in :meth:`impute`. A cell that lacks ``modality`` gets
        the values predicted from its other modalities.

        Parameters
        ----------
        adata
            MuData set up like the training data (default: the training data).
        indices
            Cells (MuData rows) to use (default all).
        transform_batch
            Decode every cell as if from this ``batch_key`` category (default: the cell's own).
        gene_list
            Features of ``modality`` to return (default all), in the modality's order.
        library_size
            Common library size of the returned values.
        n_samples
            Posterior draws per cell.
        n_samples_overall
            Instead of per-cell values: this many draws in total, each from a cell drawn
            uniformly (with replacement) from ``indices``; returns ``(n_samples_overall, n_vars)``.
            This is what scvi-tools' differential-expression sampler asks for.
        batch_size
            Cells per inference minibatch (default 1024).
        return_mean
            Average the ``n_samples`` draws (default); False returns them all.
        return_numpy
            Return an array instead of a DataFrame (default: a DataFrame unless ``n_samples > 1``
            and ``return_mean`` is False, or ``n_samples_overall`` is given).
        modality
            Registered modality (default: the model's expression modality, the only one with an
            ``nb``/``zinb``/``poisson`` likelihood, or the one named ``rna``). The old first
            positional argument, the modality name, still works for one release (warns).

        Returns
        -------
        DataFrame ``(n_cells, n_vars)`` (obs names x feature names); with ``return_mean=False``
        and ``n_samples > 1`` a float32 array ``(n_samples, n_cells, n_vars)``; with
        ``n_samples_overall`` an array ``(n_samples_overall, n_vars)``.

        Raises
        ------
        ValueError
            Unregistered modality, ``transform_batch`` that is not a batch, a ``gene_list`` with
            no feature of the modality, ``n_samples_overall`` with ``n_samples > 1``.
        """
        if isinstance(adata, str):  # the pre-0.2 call get_normalized_expression("rna", ...)
            if modality is not None and modality != adata:
                raise TypeError("get_normalized_expression: modality given twice (positionally and "
                                "as modality=).")
            warnings.warn("get_normalized_expression(modality, ...) is deprecated; pass "
                          "modality= (the first argument is adata=, as in scvi-tools).",
                          DeprecationWarning, stacklevel=3)  # the caller, past deprecated_mdata
            adata, modality = None, adata
        adata = self._validate_anndata(adata)
        m = self._expression_modality(modality, "get_normalized_expression", likelihoods=None)
        batch_size = self._batch_size_arg(batch_size)
        batch_code = self._batch_code(transform_batch)
        genes = self._gene_mask(adata, m, gene_list)
        idx = np.arange(adata.n_obs) if indices is None else np.asarray(indices)
        if n_samples_overall is not None:
            if n_samples != 1:
                raise ValueError("pass n_samples or n_samples_overall, not both.")
            idx = np.random.choice(idx, int(n_samples_overall))
        values = []
        for px, lib, _ in self._decode(m, list(self.modalities), adata, idx, n_samples, batch_size,
                                       float(library_size), batch_code):
            v = px.mean / lib if self.module.likelihoods[m] == "betabinomial" else px.mean
            values.append(v.reshape(n_samples, -1, v.shape[-1])[..., genes].cpu())
        out = torch.cat(values, 1).numpy().astype(np.float32)  # (n_samples, n_cells, n_vars)
        if n_samples_overall is not None:
            return out[0]
        if n_samples > 1 and not return_mean:
            if return_numpy is False:
                warnings.warn("return_numpy=False with n_samples > 1 and return_mean=False: returning "
                              "an array (n_samples, n_cells, n_vars).", UserWarning, stacklevel=3)
            return out
        out = out.mean(0)
        if return_numpy:
            return out
        return pd.DataFrame(out, index=adata.obs_names[idx], columns=self._modality_data(adata, m).var_names[genes])

    def _posterior_predictive_batches(self, adata, indices, n_samples: int, batch_size: int, modality: str):
        """Per minibatch, ``modality``'s likelihood with ``z_bio`` from the cell's full PoE and
        the observed library (:meth:`_decode`; see
        :meth:`~remadom.model.base.PosteriorPredictiveMixin.posterior_predictive_sample`)."""
        for px, _, _ in self._decode(modality, list(self.modalities), adata, indices, n_samples,
                                     batch_size, None):
            yield px
