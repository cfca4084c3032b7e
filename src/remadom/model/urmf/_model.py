"""URMF model class: the user API (setup, train, latents, uncertainty, reconstructions)."""

from __future__ import annotations

import logging
import warnings

import numpy as np
import pandas as pd
import scipy.sparse as sp
import torch
from anndata import AnnData
from mudata import MuData
from scvi.data.fields import LayerField, MuDataWrapper
from scvi.model.base import BaseModelClass, UnsupervisedTrainingMixin

from remadom.data import (
    BackedRows,
    DataSignatureField,
    MuDataObspField,
    ObspField,
    as_float32,
    check_coordinates,
    check_counts,
    check_finite,
    check_modalities,
    check_n_obs,
    check_same_obs,
    check_unique_names,
    check_zero_cells,
    close_store,
    feature_graph,
    get_matrix,
    is_counts,
    keep_unchanged_on_error,
    knn_transformer,
    neighbor_mean,
    new_store,
    normalized_adjacency,
    ppr_propagate,
    propagate,
    warn_not_counts,
    write_store,
)
from remadom.nn import MEAN_DECODER_LIKELIHOODS
from remadom.train import CheckedTrainingPlan

from ..base import DerivedField, PosteriorPredictiveMixin, RemadomModelMixin, deprecated_mdata
from ..base._mixin import setup_arg
from ._constants import URMF_REGISTRY_KEYS
from ._module import URMFModule

_WARN_INPUT_GB = 2.0  # warn when a modality's dense encoder inputs would exceed this
_BLOCK_BYTES = 2**28  # backed setup: views of one block of features at a time, about this size

logger = logging.getLogger(__name__)

MuDataLayerField = MuDataWrapper(LayerField)

_LIKELIHOODS = MEAN_DECODER_LIKELIHOODS  # the names of remadom.nn.DECODERS, in the likelihood registry


def default_batch_size(n_obs: int) -> int:
    """URMF's default minibatch size for ``n_obs`` spots: 256, or 512 from 6,400 spots up.

    From 6,400 spots the default length is the floor of 50 epochs, and 50 passes of 256 spots
    take ``50 n_obs / 256 > 1250`` steps. 512-spot minibatches keep the passes and halve the
    steps: on MOp (10,309 nuclei, 5 seeds) Leiden / k-means ARI 0.393 / 0.388 against
    0.398 / 0.370 at 256, and 19 s instead of 26 s of training at 10,000 spots.
    """
    return 512 if n_obs >= 6_400 else 256


def _dense(x) -> np.ndarray:
    # a backed modality (remadom.data.BackedRows) is read block by block: the input is dense anyway
    dense = sp.issparse(x) or isinstance(x, BackedRows)
    return np.asarray(x.toarray() if dense else x, dtype=np.float32)


class URMF(RemadomModelMixin, PosteriorPredictiveMixin, UnsupervisedTrainingMixin, BaseModelClass):
    """Uncertainty-rebalanced multimodal fusion for spatial multi-omics.

    Per-modality variational encoders over the spatial graph and each modality's feature kNN
    graph (SpatialGlue's dual-graph design, Long et al., Nat Methods 2024), fused with
    uncertainty gating, ChannelGate, EURO gradient rebalancing, UDR and a TSA adapter; see
    :class:`~remadom.model.urmf.URMFModule` for the exact definition of each part. Graph layers
    are precomputed sparse propagations, so training is minibatched over spots and memory grows
    with the number of edges, never with ``n_obs^2``.

    Parameters
    ----------
    adata
        MuData registered with :meth:`setup_mudata`, or AnnData registered with
        :meth:`setup_anndata`.
    n_latent
        Latent width.
    n_hidden
        Hidden width of encoders and decoders.
    readout_hops
        Spatial readout of :meth:`get_latent_representation`: the posterior mean is averaged
        over each spot and its spatial neighbours this many times (default 1; 0 = none). On
        the labelled sections of ``benchmarks/README.md`` (her2st A1-D1, lymph node; 3 seeds)
        one hop raised the mean Leiden ARI from 0.160 to 0.183 and the domains' Moran's I from
        0.38 to 0.67 at a tied k-means ARI (0.302 vs 0.299); see ``docs/urmf.md``.
    **module_kwargs
        Passed to :class:`~remadom.model.urmf.URMFModule` (switches ``use_gating``,
        ``use_channel_gate``, ``use_udr``, ``use_tsa``, on by default, and ``use_euro``, off by
        default; weights ``kl_weight``,
        ``udr_weight``, ``euro_alpha``, ``gate_temperature``; ``dropout_rate``).

    Examples
    --------
    >>> remadom.data.spatial_graph(mdata, n_neighs=6)
    >>> remadom.model.URMF.setup_mudata(mdata, modalities=["rna", "prot"],
    ...                                 layers={"rna": "X_pca", "prot": "X_pca"})
    >>> model = remadom.model.URMF(mdata)
    >>> model.train()
    >>> mdata.obsm["X_urmf"] = model.get_latent_representation()

    With an ``nb`` count modality, :meth:`posterior_predictive_sample` draws counts for
    :class:`scvi.criticism.PosteriorPredictiveCheck`:

    >>> URMF.setup_mudata(mdata, modalities=["prot"], likelihoods={"prot": "nb"})
    >>> counts = model.posterior_predictive_sample(modality="prot", n_samples=5)
    """

    _module_cls = URMFModule
    _training_plan_cls = CheckedTrainingPlan

    @deprecated_mdata
    def __init__(self, adata: MuData | AnnData, n_latent: int = 20, n_hidden: int = 128,
                 readout_hops: int = 1, **module_kwargs):
        _check_hops(readout_hops)
        super().__init__(adata)
        self.readout_hops = int(readout_hops)
        info = self.adata_manager.registry["setup_args"]
        self.modalities = self._setup_modalities()
        likelihoods = self._likelihoods_from_registry()
        n_graphs = 2 if info["use_feature_graph"] else 1
        n_inputs, n_outputs = {}, {}
        for m in self.modalities:
            width = self.adata_manager.get_from_registry(URMF_REGISTRY_KEYS.input_key(m)).shape[1]
            n_inputs[m] = [width // n_graphs] * n_graphs
            n_outputs[m] = self.adata_manager.get_from_registry(URMF_REGISTRY_KEYS.target_key(m)).shape[1]
        self.module = self._module_cls(
            modalities=self.modalities,
            n_inputs=n_inputs,
            n_outputs=n_outputs,
            likelihoods=likelihoods,
            n_latent=n_latent,
            n_hidden=n_hidden,
            **module_kwargs,
        )
        self._model_summary_string = (
            f"URMF: modalities={self.modalities}, likelihoods={likelihoods}, n_latent={n_latent}, "
            f"graphs per modality={n_graphs}"
        )
        self.init_params_ = self._get_init_params(locals())

    def _likelihoods_from_registry(self) -> dict[str, str]:
        return dict(self.adata_manager.registry["setup_args"]["_resolved_likelihoods"])

    # ------------------------------------------------------------------ setup
    @classmethod
    @keep_unchanged_on_error
    def setup_anndata(
        cls,
        adata: AnnData,
        layer: str | None = None,
        likelihood: str | None = None,
        modality: str = "rna",
        spatial_key: str | None = "spatial",
        spatial_graph_key: str | None = None,
        use_feature_graph: bool = True,
        feature_graph_key: str = "feature",
        n_feature_neighbors: int = 10,
        hops: tuple[int, ...] = (1, 2),
        ppr_alpha: float | None = None,
        target_hops: int = 0,
        _resolved_likelihoods: dict[str, str] | None = None,
        **kwargs,
    ) -> None:
        """Register a single-modality AnnData for URMF (one modality, named ``modality``).

        As :meth:`setup_mudata` with ``modalities=[modality]``, on the AnnData itself: the data
        in ``.X``, ``layers[layer]`` or ``obsm[layer]`` (e.g. ``"X_pca"``), the coordinates in
        ``adata.obsm[spatial_key]`` and the spatial graph in ``adata.obsp`` (default
        ``f"{spatial_key}_connectivities"``, e.g. from :func:`remadom.data.spatial_graph`); the
        feature graph goes to ``adata.obsp[f"{feature_graph_key}_connectivities"]`` when
        missing. Latents then have one row per ``adata`` observation.

        Parameters
        ----------
        adata
            Spots x features.
        layer
            The data to use: a layer name or an ``obsm`` key of a representation; default ``.X``.
        likelihood
            ``"gaussian"`` or ``"nb"`` (default as in :meth:`setup_mudata`).
        modality
            Name of the modality in the model (outputs such as
            :meth:`get_modality_weights` use it).
        **kwargs
            Other arguments as in :meth:`setup_mudata`.

        Raises
        ------
        ValueError
            Not an AnnData; every error of :meth:`setup_mudata`. The AnnData is unchanged then.
        """
        setup_method_args = cls._get_setup_method_args(**locals())
        if not isinstance(adata, AnnData):
            raise ValueError(
                f"URMF.setup_anndata needs an AnnData, got {type(adata).__name__}; use "
                "URMF.setup_mudata for a MuData."
            )
        cls._setup(adata, setup_method_args, [str(modality)],
                   {modality: layer} if layer is not None else {},
                   {modality: likelihood} if likelihood is not None else {},
                   spatial_key, spatial_graph_key, use_feature_graph, feature_graph_key,
                   n_feature_neighbors, hops, ppr_alpha, target_hops, kwargs)

    @classmethod
    @keep_unchanged_on_error
    def setup_mudata(
        cls,
        mdata: MuData,
        modalities: list[str],
        layers: dict[str, str] | None = None,
        likelihoods: dict[str, str] | None = None,
        spatial_key: str | None = "spatial",
        spatial_graph_key: str | None = None,
        use_feature_graph: bool = True,
        feature_graph_key: str = "feature",
        n_feature_neighbors: int = 10,
        hops: tuple[int, ...] = (1, 2),
        ppr_alpha: float | None = None,
        target_hops: int = 0,
        _resolved_likelihoods: dict[str, str] | None = None,
        **kwargs,
    ) -> None:
        """Register a MuData for URMF.

        Validates everything first; then computes each modality's encoder input, the graph
        propagations ``(n_obs, n_graphs * len(hops) * d_m)`` of its standardised data, and its
        standardised target, which the model holds (:class:`~remadom.model.base.DerivedField`;
        the standardisation constants are kept in the registry and reused on new data and on
        ``load``). The MuData gains only each modality's feature graph
        ``mdata[m].obsp[f"{feature_graph_key}_connectivities"]`` when missing (its kNN
        distances are not kept: URMF propagates over the connectivities only), and scvi-tools' ``uns["_scvi_uuid"]``/``uns["_scvi_manager_uuid"]``; on any
        error nothing changes at all (a feature graph written on the way is removed again). Boolean and float16 data are read as
        float32 (with a warning); when no likelihood is given and ``.X``/the layer is not counts,
        ``"gaussian"`` is chosen with a warning.

        Parameters
        ----------
        mdata
            MuData whose modalities all cover the same spots, in the same order.
        modalities
            List of modality names (one or more).
        layers
            Per modality, the data to use: a layer name or an ``obsm`` key of a representation
            (e.g. ``"X_pca"`` from :func:`remadom.pp.pca_rna`); default ``.X``.
        likelihoods
            Per modality ``"gaussian"`` (unit-variance Gaussian on the standardised input; default
            for ``obsm`` representations and non-count data) or ``"nb"`` (negative binomial on
            counts; default for count layers / ``.X``).
        spatial_key
            ``obsm`` key of the MuData's coordinates; used for the default graph key and checks.
        spatial_graph_key
            ``obsp`` key (MuData level) of the graph; default ``f"{spatial_key}_connectivities"``
            (made by :func:`remadom.data.spatial_graph`). Any ``n_obs x n_obs`` graph works, e.g. a
            feature kNN graph for non-spatial data (then ``spatial_key=None``).
        use_feature_graph
            Also propagate over each modality's feature kNN graph (SpatialGlue's second graph).
        feature_graph_key
            Key of each modality's feature graph in ``mdata[m].obsp``; built with
            :func:`remadom.data.feature_graph` on the chosen representation when missing
            (Gaussian-kernel weights below 50,000 spots, UMAP weights above).
        n_feature_neighbors
            ``k`` of the feature graph when it is built here.
        **kwargs
            Passed to :meth:`scvi.data.AnnDataManager.register_fields` (used by ``load``).
        hops
            Powers of the normalised adjacency fed to the encoders (0 = the data itself). The
            default (1, 2) mirrors SpatialGlue's one-layer GCN encoder and GCN decoder: the
            encoders only see graph-smoothed features.
        ppr_alpha
            Also feed each graph's personalised-PageRank propagation (APPNP,
            :func:`remadom.data.ppr_propagate`, this teleport probability) to the encoders. Off
            by default: in the ablation of ``benchmarks/README.md`` it did not raise the ARI.
        target_hops
            Reconstruct ``Â^k`` of the standardised representation (neighbour-aggregated
            targets, Gaussian modalities) instead of the data itself; 0 (default) = the data.

        Raises
        ------
        ValueError
            Unknown or empty modality, modality covering other spots, duplicated obs or var
            names, missing ``obsm[spatial_key]`` or graph, coordinates that are not finite
            ``(n_obs, 2)`` or all identical, graph of the wrong size, fewer spots than
            ``n_feature_neighbors + 1`` (2 without the feature graph), NaN/inf values, negative or
            non-integer values or all-zero spots under ``"nb"``, unknown likelihood; on ``load``,
            other spots, features or graph than at training.
        """
        setup_method_args = cls._get_setup_method_args(**locals())
        if not isinstance(mdata, MuData):
            raise ValueError(
                f"URMF.setup_mudata needs a MuData, got {type(mdata).__name__}; for one modality "
                "in an AnnData use URMF.setup_anndata(adata, modality='rna')."
            )
        modalities = check_modalities(mdata, modalities)
        cls._setup(mdata, setup_method_args, modalities, layers, likelihoods, spatial_key,
                   spatial_graph_key, use_feature_graph, feature_graph_key, n_feature_neighbors,
                   hops, ppr_alpha, target_hops, kwargs)

    @classmethod
    def _setup(cls, mdata, setup_method_args, modalities, layers, likelihoods, spatial_key,
               spatial_graph_key, use_feature_graph, feature_graph_key, n_feature_neighbors, hops,
               ppr_alpha, target_hops, kwargs) -> None:
        """Validate and register a MuData (``modalities``) or an AnnData (one modality)."""
        single = isinstance(mdata, AnnData)
        what = "the AnnData" if single else "the MuData"
        owner = "adata" if single else "mdata"

        def part(m):
            return mdata if single else mdata[m]

        def hint(arg: str, m: str, value: str) -> str:  # in the spelling of the setup in use
            return setup_arg(single, arg, m, value)

        def feature_field(m, key):
            return ObspField(URMF_REGISTRY_KEYS.feature_graph_key(m), key) if single else \
                MuDataObspField(URMF_REGISTRY_KEYS.feature_graph_key(m), key, mod_key=m)

        source = (kwargs.get("source_registry") or {}).get("field_registries", {})
        check_unique_names(mdata, None if single else modalities)
        check_n_obs(mdata.n_obs, n_feature_neighbors + 1 if use_feature_graph else 2, what,
                    f"the feature kNN graph has k={n_feature_neighbors}" if use_feature_graph
                    else "inputs are standardised over spots")
        if spatial_key is not None and spatial_key in mdata.obsm:
            check_coordinates(mdata.obsm[spatial_key], mdata.n_obs, f"{owner}.obsm['{spatial_key}']")
        layers = dict(layers or {})
        likelihoods = dict(likelihoods or {})
        for name, d in (("layers", layers), ("likelihoods", likelihoods)):
            unknown = set(d) - set(modalities)
            if unknown:
                raise ValueError(f"`{name}` names modalities not in `modalities`: {sorted(unknown)}.")
        if not hops or min(hops) < 0:
            raise ValueError(f"`hops` must be non-negative integers, got {hops}.")
        if spatial_graph_key is None:
            if spatial_key is None:
                raise ValueError("Give `spatial_graph_key` when `spatial_key` is None.")
            if spatial_key not in mdata.obsm and single:
                raise ValueError(
                    f"the AnnData has no obsm['{spatial_key}']: put the (n_obs, 2) spot coordinates "
                    f"there (adata.obsm['{spatial_key}'] = coords), then call "
                    "remadom.data.spatial_graph(adata); for non-spatial cells pass "
                    "spatial_key=None and spatial_graph_key= naming an obsp graph."
                )
            if spatial_key not in mdata.obsm:
                raise ValueError(
                    f"{what} has no obsm['{spatial_key}']: call remadom.data.spatial_graph(mdata) "
                    f"first (it copies the modalities' obsm['{spatial_key}'] up when they hold the "
                    f"coordinates), or put the (n_obs, 2) spot coordinates in "
                    f"mdata.obsm['{spatial_key}'] and then call it."
                )
            spatial_graph_key = f"{spatial_key}_connectivities"
        graph_field = ObspField(URMF_REGISTRY_KEYS.SPATIAL_GRAPH_KEY, spatial_graph_key)
        graph_field.validate_field(mdata)

        # --- validate every modality before writing anything
        resolved, mats, signature = {}, {}, {}
        for m in modalities:
            if not single:
                check_same_obs(mdata, m)
            x, kind, where = get_matrix(part(m), layers.get(m))
            x = as_float32(x, m, where)
            signature[m] = (where, x.shape[1], None if kind == "obsm" else part(m).var_names)
            if x.shape[1] == 0:
                fix = (f"pass {hint('layers', m, repr('X_pca'))} naming a representation in adata.obsm"
                       if single else "drop the modality or point `layers` at a representation in obsm")
                raise ValueError(f"modality '{m}': {where} is empty (no features); {fix}.")
            lik = likelihoods.get(m)
            if lik is None:
                lik = "gaussian" if kind == "obsm" or not is_counts(x, 1_000_000) else "nb"
                if kind != "obsm" and lik == "gaussian":
                    warn_not_counts(x, m, where, "likelihood 'gaussian'", "likelihood 'nb'")
            if lik not in _LIKELIHOODS:
                raise ValueError(
                    f"modality '{m}': unknown likelihood '{lik}'; choose one of {_LIKELIHOODS}."
                )
            if lik == "nb":
                if kind == "obsm":
                    raise ValueError(
                        f"modality '{m}': likelihood 'nb' needs counts, but {where} is a "
                        f"representation; use {hint('likelihoods', m, repr('gaussian'))} or a counts "
                        f"layer ({hint('layers', m, repr('counts'))})."
                    )
                check_counts(x, m, where, fix=(
                    f"Pass raw counts (e.g. `{hint('layers', m, repr('counts'))}`) or use "
                    f"`{hint('likelihoods', m, repr('gaussian'))}` on a normalised representation."))
                check_zero_cells(x, m, where,
                                 fix="`sc.pp.filter_cells(adata, min_counts=1)`" if single else None)
            else:
                check_finite(x, m, where)
            resolved[m], mats[m] = lik, (x, kind)
            if use_feature_graph and f"{feature_graph_key}_connectivities" in part(m).obsp:
                feature_field(m, f"{feature_graph_key}_connectivities").validate_field(mdata)
        setup_method_args["setup_args"]["_resolved_likelihoods"] = resolved
        setup_method_args["setup_args"]["spatial_graph_key"] = spatial_graph_key
        n_views = (2 if use_feature_graph else 1) * (len(hops) + (ppr_alpha is not None))
        for m, (x, kind) in mats.items():
            gb = 4 * mdata.n_obs * x.shape[1] * n_views / 1024**3
            if kind != "obsm" and gb > _WARN_INPUT_GB:
                warnings.warn(
                    f"modality '{m}': {x.shape[1]} features become dense encoder inputs of "
                    f"~{gb:.1f} GB ({n_views} graph views); URMF is built for reduced inputs. For "
                    f"RNA run remadom.pp.pca_rna({'adata' if single else f'mdata[{m!r}]'}) and pass "
                    f"{hint('layers', m, repr('X_pca'))}.",
                    UserWarning, stacklevel=2)

        # --- compute (held by the model: DerivedField) and register; only a missing feature
        # graph is written to the data
        def trained(m):  # the standardisation of the model this setup is for (None: fit it)
            return source.get(URMF_REGISTRY_KEYS.input_key(m), {}).get("state_registry", {}).get("standardise")

        key = f"{feature_graph_key}_connectivities"
        if use_feature_graph:
            # the missing feature kNN graphs before any propagation, the widest representation
            # first: its search (the setup's memory peak, +0.85 GB at 10^6 spots x 99 features)
            # then runs before any other modality's graph, inputs or freed heap exist
            missing = [m for m in modalities if key not in part(m).obsp]
            for m in sorted(missing, key=lambda m: -mats[m][0].shape[1]):
                rep, _ = _encoder_input(mats[m][0], resolved[m], trained(m), f"modality '{m}'")
                _build_feature_graph(part(m), rep, feature_graph_key, n_feature_neighbors)
                del rep
        spatial = graph_field.get_graph(mdata)
        fields = [DataSignatureField(signature, check_obs=True, model_name="URMF"), graph_field]
        for m in modalities:
            x, kind = mats[m]
            rep, stats = _encoder_input(x, resolved[m], trained(m), f"modality '{m}'")
            graphs = [spatial]
            if use_feature_graph:
                graph_m = feature_field(m, key)
                graphs.append(graph_m.get_graph(mdata))
                fields.append(graph_m)
            # backed data: the propagations and the targets go to on-disk stores next to the file
            # (written once per setup), which the loader reads by minibatch (remadom.data.new_store)
            target = None
            if resolved[m] == "gaussian":
                target = propagate(spatial, rep, (target_hops,)) if target_hops else rep
                target = write_store(target, mdata, f"urmf_{m}_target")
                if not target_hops:
                    rep = target  # backed: propagated from the store, by blocks of features
            inputs = _graph_inputs(graphs, rep, tuple(hops), ppr_alpha, mdata, f"urmf_{m}_input")
            fields.append(DerivedField(URMF_REGISTRY_KEYS.input_key(m), inputs, {"standardise": stats}))
            del graphs, inputs
            if target is not None:
                fields.append(DerivedField(URMF_REGISTRY_KEYS.target_key(m), target))
                del target
            else:
                layer = layers.get(m)
                layer = None if layer == "X" else layer
                fields.append(LayerField(URMF_REGISTRY_KEYS.target_key(m), layer, is_count_data=True) if single else
                              MuDataLayerField(URMF_REGISTRY_KEYS.target_key(m), layer, mod_key=m, is_count_data=True))
            del rep  # before the next modality's: one modality's arrays in memory at a time
        cls._register(mdata, fields, setup_method_args, **kwargs)

    # what earlier releases wrote to obsm (deleted by the deprecated remove_inputs)
    _INPUT_PREFIXES = ("_urmf_",)

    # ------------------------------------------------------------------ training
    def train(
        self,
        max_epochs: int | None = None,
        batch_size: int | None = None,
        train_size: float = 1.0,
        validation_size: float | None = None,
        early_stopping: bool = False,
        plan_kwargs: dict | None = None,
        checkpoint_dir: str | None = None,
        resume: bool = False,
        num_workers: int | None = None,
        **kwargs,
    ):
        """Train with scvi-tools' :class:`~scvi.train.TrainRunner` (Lightning).

        Parameters
        ----------
        max_epochs
            Default ``clip(ceil(320000 / n_obs), 50, 400)`` epochs: about 1250 gradient steps of
            256 spots, but at least 50 passes over the data (on MOp's 10,309 nuclei, 32 epochs
            scored Leiden ARI 0.02-0.04 lower than 50) and at most 400.
        batch_size
            Spots per minibatch. Default 256 below 6,400 spots and 512 from 6,400 up, the sizes at
            which the 50-epoch floor of ``max_epochs`` binds. There 50 passes of 256 spots would
            take more than the 1250 steps. On MOp (10,309 nuclei, RNA + ATAC, 5 seeds), 512
            scored Leiden / k-means ARI 0.393 / 0.388 against 0.398 / 0.370 at 256, in half the
            steps (``benchmarks/README.md``).
        train_size
            Fraction of spots used for training (default all: spatial domains are transductive).
        validation_size, early_stopping
            As in scvi-tools; early stopping needs ``train_size < 1``.
        plan_kwargs
            For :class:`~remadom.train.CheckedTrainingPlan` (e.g. ``{"lr": 1e-3}``). The KL term
            is annealed as in scvi-tools (``n_epochs_kl_warmup=400``: its weight rises linearly
            from 0 to 1 over 400 epochs), so at the default length it ends near
            ``max_epochs / 400`` (0.125 from 6,400 spots up, 0.62 on the 1,296-spot lymph node);
            every figure in ``benchmarks/README.md`` was measured this way.
            ``{"n_epochs_kl_warmup": ...}`` changes it.
        checkpoint_dir
            Write the full training state to ``checkpoint_dir/last.ckpt`` after every epoch
            (:class:`~remadom.train.ResumeCheckpoint`; a failed run keeps the last good file).
        resume
            Continue from ``checkpoint_dir/last.ckpt`` after a crash: same data, setup, model
            and ``train()`` arguments give the uninterrupted run's result. ``model.history``
            then holds the resumed epochs only.
        num_workers
            Processes that load minibatches (``None``: scvi-tools' ``scvi.settings.dl_num_workers``,
            0 unless changed; 0: in the training process). Multi-device and multi-node training
            (``strategy="ddp"``, ``devices``, ``num_nodes``): :func:`remadom.train.prepare_parallel`
            and ``docs/scale.md``.
        **kwargs
            Passed to :meth:`scvi.model.base.UnsupervisedTrainingMixin.train` and on to Lightning
            (``accelerator``, ``devices``, ``precision``, ``gradient_clip_val``, ``logger``,
            ``ckpt_path``, ...).

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
            max_epochs = int(np.clip(np.ceil(320_000 / self.adata.n_obs), 50, 400))
        if batch_size is None:
            batch_size = default_batch_size(self.adata.n_obs)
        plan_kwargs = {"lr": 2e-3, "weight_decay": 1e-5, **(plan_kwargs or {})}
        from remadom.train import prepare_trainer

        prepare_trainer("URMF", kwargs, num_workers, checkpoint_dir, resume, validate=early_stopping)
        return super().train(
            max_epochs=max_epochs,
            batch_size=batch_size,
            train_size=train_size,
            validation_size=validation_size,
            early_stopping=early_stopping,
            plan_kwargs=plan_kwargs,
            **kwargs,
        )

    # ------------------------------------------------------------------ outputs
    def _collect(self, adata=None, indices=None, batch_size: int | None = None,
                 decode: bool = False, give_mean: bool = True) -> dict[str, np.ndarray]:
        out = {"latent": [], "weights": [], "uncertainty": [], "mean": {m: [] for m in self.modalities}}
        for tensors, inputs in self._inference_batches(adata, indices, batch_size):
            inf = self.module.inference(**inputs)
            mu = inf["qz"].loc
            out["latent"].append(self.module.adapt(mu if give_mean else inf["qz"].sample()).cpu())
            out["weights"].append(inf["weights"].cpu())
            out["uncertainty"].append(inf["uncertainty"].cpu())
            if not decode:
                continue
            gen = self.module.generative(mu, self.module._library(tensors))
            for m in self.modalities:
                out["mean"][m].append(gen["mean"][m].cpu())
        res = {k: torch.cat(v).numpy() for k, v in out.items() if k != "mean"}
        if decode:
            res["mean"] = {m: torch.cat(v).numpy() for m, v in out["mean"].items()}
        return res

    @deprecated_mdata
    def get_latent_representation(self, adata: MuData | None = None, indices=None,
                                  give_mean: bool = True, batch_size: int | None = None,
                                  readout_hops: int | None = None) -> np.ndarray:
        """Fused latent (posterior mean after the TSA adapter), averaged over spatial neighbours.

        The spatial readout averages each spot's posterior mean with its neighbours' on the
        registered spatial graph, ``readout_hops`` times (``D^-1 (A + I)``,
        :func:`remadom.data.neighbor_mean`; the operator of the neighbour-averaged PCA baseline,
        :func:`remadom.tl.neighbor_average`). It is applied only when the model was set up on
        coordinates (``spatial_key`` not None); a feature kNN graph in the graph slot
        (non-spatial cells) is never used for it.

        Parameters
        ----------
        adata
            MuData set up like the training data (default: the training data).
        indices
            Spots to return (default all); the readout still uses every spot's neighbours.
        give_mean
            The posterior mean (default). False: one posterior sample per spot, through the same
            adapter and readout.
        batch_size
            Spots per inference minibatch (default 1024).
        readout_hops
            Override the model's ``readout_hops`` for this call (0: the posterior mean itself).
            Use 0 for cell types rather than domains. On STARmap cell-type labels (3 seeds) the
            posterior mean scored Leiden ARI 0.41, and the one-hop readout 0.17
            (``docs/urmf.md``).

        Returns
        -------
        ``(n_obs, n_latent)`` (or ``(len(indices), n_latent)``) float32 array in obs order,
        ready for ``mdata.obsm``.
        """
        batch_size = self._batch_size_arg(batch_size)
        hops = _check_hops(self.readout_hops if readout_hops is None else readout_hops)
        setup = self.adata_manager.registry["setup_args"]
        if hops == 0 or setup.get("spatial_key") is None:
            return self._collect(adata, indices, batch_size, give_mean=give_mean)["latent"].astype(np.float32)
        adata = self._validate_anndata(adata)
        graph = adata.obsp[setup["spatial_graph_key"]]
        z = self._collect(adata, None, batch_size, give_mean=give_mean)["latent"]
        for _ in range(hops):
            z = neighbor_mean(graph, z)
        return z if indices is None else z[np.asarray(indices)]

    # posterior_predictive_sample (PosteriorPredictiveMixin): "nb" modalities only
    _PREDICTIVE_LIKELIHOODS = ("nb",)

    def _posterior_predictive_batches(self, adata, indices, n_samples: int, batch_size: int, modality: str):
        """Per minibatch, the NB of ``modality`` at ``n_samples`` draws of the fused posterior
        (through the TSA adapter, no spatial readout) with each spot's observed library."""
        decoder = self.module.decoders[modality]
        for tensors, inputs in self._inference_batches(adata, indices, batch_size):
            inf = self.module.inference(**inputs, n_samples=n_samples)
            z = inf["z"].reshape(-1, inf["z"].shape[-1])
            lib = self.module._library(tensors)[modality].repeat(n_samples, 1)
            yield decoder.distribution(decoder(self.module.adapt(z), lib))  # scvi NegativeBinomial

    @deprecated_mdata
    def get_modality_weights(self, adata: MuData | None = None, indices=None,
                             batch_size: int | None = None) -> pd.DataFrame:
        """Fusion weight of each modality per spot, ``(n_obs, n_modalities)``, rows summing to 1."""
        data = self._validate_anndata(adata)
        w = self._collect(adata, indices, batch_size)["weights"]
        idx = data.obs_names if indices is None else data.obs_names[indices]
        return pd.DataFrame(w, index=idx, columns=self.modalities)

    @deprecated_mdata
    def get_uncertainty(self, adata: MuData | None = None, indices=None,
                        batch_size: int | None = None) -> pd.DataFrame:
        """Epistemic uncertainty per modality and spot: mean posterior variance of its encoder."""
        data = self._validate_anndata(adata)
        u = self._collect(adata, indices, batch_size)["uncertainty"]
        idx = data.obs_names if indices is None else data.obs_names[indices]
        return pd.DataFrame(u, index=idx, columns=self.modalities)

    @deprecated_mdata
    def get_reconstruction(self, modality: str, adata: MuData | None = None, indices=None,
                           batch_size: int | None = None) -> np.ndarray:
        """Decoded mean of ``modality`` from the fused latent.

        Returns
        -------
        ``(n_obs, n_features)`` array: for ``"gaussian"`` modalities in the standardised input
        space (the registered ``f"{modality}_target"``), for ``"nb"`` expected counts.

        Raises
        ------
        ValueError
            If ``modality`` was not registered.
        """
        if modality not in self.modalities:
            raise ValueError(f"modality '{modality}' is not registered; registered: {self.modalities}.")
        return self._collect(adata, indices, batch_size, decode=True)["mean"][modality]


def _check_hops(hops) -> int:
    if isinstance(hops, bool) or not isinstance(hops, int | np.integer) or hops < 0:
        raise ValueError(f"readout_hops must be a non-negative int (0 = no spatial readout), got {hops!r}.")
    return int(hops)


def _views(adj: torch.Tensor, x: np.ndarray, hops: tuple[int, ...],
           ppr_alpha: float | None) -> list[np.ndarray]:
    """``Â^k X`` for ``k`` in ``hops`` and, with ``ppr_alpha``, the APPNP propagation, one array each."""
    views = np.split(propagate(adj, x, hops), len(hops), axis=1)
    if ppr_alpha is not None:
        views.append(ppr_propagate(adj, x, alpha=ppr_alpha))
    return views


def _graph_inputs(graphs: list, rep, hops: tuple[int, ...], ppr_alpha: float | None,
                  data, name: str):
    """One modality's encoder input: the :func:`_views` of ``rep`` over each graph, side by side.

    Filled graph by graph and block of features by block into :func:`remadom.data.new_store`
    (backed data: an on-disk store; in memory: an array), so that besides ``rep`` only one
    graph's ``Â`` and one block's views are held. Backed, a block has as many features as keep
    its views near ``_BLOCK_BYTES``, and ``rep`` may be an on-disk store (read by blocks); in
    memory one block has all features (the propagation of the whole ``rep``, as ever).
    """
    n, d = rep.shape
    n_views = len(hops) + (ppr_alpha is not None)
    out = new_store(data, name, (n, len(graphs) * n_views * d))
    # per feature of a block: its column of rep, the views and propagate's two working columns
    width = d if isinstance(out, np.ndarray) else max(1, _BLOCK_BYTES // (4 * n * (n_views + 3)))
    for g, graph in enumerate(graphs):
        adj = normalized_adjacency(graph)
        for start in range(0, d, width):
            cols = slice(start, min(start + width, d))
            for v, view in enumerate(_views(adj, np.ascontiguousarray(rep[:, cols]), hops, ppr_alpha)):
                first = (g * n_views + v) * d
                out[:, first + cols.start : first + cols.stop] = view
            del view  # the block's views, before the next block or graph
        del adj
    return close_store(out)


def _encoder_input(x, likelihood: str, stats: dict | None = None,
                   name: str = "the modality") -> tuple[np.ndarray, dict]:
    """Gaussian: centre and scale by one global s.d.; NB: log1p of library-normalised counts.

    ``stats`` (kept in the state registry at training) replaces the constants computed from
    ``x``: the per-feature means and the global s.d. (Gaussian), the median library size (NB),
    so that new data are prepared as the training data were. Returns the input and the stats.
    """
    copied = sp.issparse(x) or isinstance(x, BackedRows)  # _dense reads them into a new array
    x = _dense(x)
    if likelihood == "nb":
        lib = x.sum(1, keepdims=True)
        lib[lib == 0] = 1
        med = np.median(lib) if stats is None else np.float32(stats["median_library"])
        return np.log1p(x / lib * med).astype(np.float32), {"median_library": float(med)}
    mean = x.mean(0, keepdims=True) if stats is None else np.asarray(stats["mean"], np.float32)[None]
    if mean.shape[1] != x.shape[1]:
        raise ValueError(f"{name} has {x.shape[1]} features, but the model was trained on "
                         f"{mean.shape[1]}: set up data with the features used at training.")
    # in place on a copy of the data (the same float32 values as ``(x - mean) / scale``)
    if copied:
        x -= mean
    else:
        x = x - mean
    scale = x.std() + 1e-8 if stats is None else np.float32(stats["scale"])
    x /= scale
    return x, {"mean": mean.ravel().tolist(), "scale": float(scale)}


def _build_feature_graph(adata: AnnData, rep: np.ndarray, key: str, k: int) -> None:
    """Write the feature kNN graph of ``rep`` to ``adata.obsp[f"{key}_connectivities"]``.

    Only the connectivities: the propagations use nothing else, and at 10^6 spots the distances
    would hold ~0.11 GB per modality through the rest of the setup.
    """
    tmp = AnnData(obs=pd.DataFrame(index=adata.obs_names))
    tmp.obsm["X_rep"] = rep
    # Below 50k spots (exact scikit-learn search): Gaussian-kernel weights, which need no numba
    # compilation (10-20 s per fresh process, more than the whole graph); above, pynndescent
    # compiles numba for the search anyway and scanpy's Gaussian weights loop in Python, so the
    # UMAP weights are used. The adjacency is renormalised for propagation either way.
    method = "gauss" if knn_transformer(tmp.n_obs) == "sklearn" else "umap"
    feature_graph(tmp, n_neighbors=k, use_rep="X_rep", key_added=key, method=method)
    adata.obsp[f"{key}_connectivities"] = sp.csr_matrix(tmp.obsp[f"{key}_connectivities"])
