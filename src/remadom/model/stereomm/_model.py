"""STEREOMM model class: setup (AnnData or MuData), training on spatial tiles, outputs."""

from __future__ import annotations

import logging
from collections.abc import Sequence

import numpy as np
import pandas as pd
import scipy.sparse as sp
import torch
from anndata import AnnData
from mudata import MuData
from scvi.data.fields import MuDataWrapper, ObsmField
from scvi.model.base import BaseModelClass
from scvi.train import TrainRunner
from sklearn.neighbors import NearestNeighbors

from remadom.data import (
    REDUCTIONS,
    SCALES,
    DataSignatureField,
    ObspField,
    as_float32,
    check_coordinates,
    check_counts,
    check_finite,
    check_modalities,
    check_n_obs,
    check_not_backed,
    check_same_obs,
    check_unique_names,
    check_zero_cells,
    get_matrix,
    is_counts,
    keep_unchanged_on_error,
    reduce_to_width,
    spatial_graph,
    warn_not_counts,
)
from remadom.nn import GNN_TYPES
from remadom.train import CheckedTrainingPlan, SubgraphDataSplitter

from ..base import DerivedField, RemadomModelMixin
from ._constants import STEREOMM_REGISTRY_KEYS
from ._module import STEREOMMModule

logger = logging.getLogger(__name__)

_PREFIX = "_stereomm_"
_GRAPH_KEY = "stereomm_radius"
_OPTIMIZERS = {"adam": "Adam", "adamw": "AdamW", "sgd": "SGD"}
#: MuData modality names read as expression counts (a warning when they are not counts)
_RNA_NAMES = ("rna", "gex", "expression", "mrna")
MuDataObsmField = MuDataWrapper(ObsmField)


def _check_dims(hidden_dims) -> list[int]:
    if isinstance(hidden_dims, int | str) or not isinstance(hidden_dims, Sequence) or not hidden_dims:
        raise ValueError(f"hidden_dims must be a non-empty list of positive ints, e.g. [2048, 256]; got {hidden_dims!r}.")
    if not all(isinstance(h, int | np.integer) and not isinstance(h, bool) and h > 0 for h in hidden_dims):
        raise ValueError(f"hidden_dims must be a list of positive ints, e.g. [2048, 256]; got {list(hidden_dims)!r}.")
    return [int(h) for h in hidden_dims]


def default_radius(coords: np.ndarray) -> float:
    """1.5 x the median distance from each spot to its nearest neighbour (coordinate units).

    On a square or hexagonal lattice this connects each spot to its ring of immediate
    neighbours, whatever the units (pixels, micrometres, array indices).
    """
    nn = NearestNeighbors(n_neighbors=2).fit(coords)
    d = nn.kneighbors(coords, return_distance=True)[0][:, 1]
    return float(1.5 * np.median(d[d > 0])) if (d > 0).any() else 1.0


class STEREOMM(RemadomModelMixin, BaseModelClass):
    """Transcriptome + H&E image fusion: cross-modal attention and a variational graph autoencoder.

    After StereoMM (Luo et al. 2024): each modality is reduced to a common width, the two tokens
    of every spot attend to each other, and a VGAE on a radius spatial graph gives the latent
    (see :class:`~remadom.model.stereomm.STEREOMMModule`). Without an image it runs RNA-only.
    Training is full-graph (one step per epoch, as the reference) up to ``batch_size`` spots and
    otherwise on spatial tiles with their halo (:class:`~remadom.train.SubgraphDataSplitter`).
    The model is transductive: latents are for the registered spots.

    Parameters
    ----------
    adata
        AnnData registered with :meth:`setup_anndata` or MuData with :meth:`setup_mudata`.
    n_latent
        Latent width (reference ``--latent_dim``, default 100).
    hidden_dims
        Graph encoder widths (``--hidden_dims``, default ``[2048, 256]``).
    num_heads
        Attention heads (``--num_heads``); must divide the reduced width ``n_dims``.
    brief_att
        Lighter single-head attention (``--brief_att``).
    gnn_type
        Encoder layers ``"GCN"`` or ``"GAT"`` (``--gnn_type``).
    decoder
        Reconstruct the features with a graph decoder (``--decoder``); else edges + KL only.
    decoder_type
        ``"GCN"`` or ``"GAT"`` (``--docoder_type`` in the reference).
    **module_kwargs
        ``feature_weight``, ``edge_weight``, ``kl_weight``, ``dropout`` of the module.

    Raises
    ------
    ValueError
        ``hidden_dims`` not a list of positive ints, ``num_heads`` not dividing the width, an
        unknown layer type.

    Examples
    --------
    >>> remadom.pp.image_features(adata, img_key="hires")           # obsm["X_image"]
    >>> remadom.model.STEREOMM.setup_anndata(adata, image_key="X_image")
    >>> model = remadom.model.STEREOMM(adata)
    >>> model.train(max_epochs=100)
    >>> adata.obsm["X_stereomm"] = model.get_latent_representation()
    """

    _module_cls = STEREOMMModule
    _training_plan_cls = CheckedTrainingPlan

    def __init__(
        self,
        adata: AnnData | MuData,
        n_latent: int = 100,
        hidden_dims: Sequence[int] = (2048, 256),
        num_heads: int = 4,
        brief_att: bool = False,
        gnn_type: str = "GCN",
        decoder: bool = True,
        decoder_type: str = "GCN",
        **module_kwargs,
    ):
        hidden = _check_dims(hidden_dims)
        for name, kind in (("gnn_type", gnn_type), ("decoder_type", decoder_type)):
            if str(kind).upper() not in GNN_TYPES:
                raise ValueError(f"{name}='{kind}' is unknown; choose one of {GNN_TYPES}.")
        if n_latent < 1:
            raise ValueError(f"n_latent must be >= 1, got {n_latent}.")
        super().__init__(adata)
        info = self.adata_manager.registry["setup_args"]
        # each modality's input field records its modality in its state registry (setup order)
        self.modalities = [self.adata_manager.get_state_registry(f.registry_key)["modality"]
                           for f in self.adata_manager.fields if isinstance(f, DerivedField)]
        width = int(info["n_dims"])
        n_inputs = {m: self.adata_manager.get_from_registry(STEREOMM_REGISTRY_KEYS.input_key(m)).shape[1] for m in self.modalities}
        self.module = self._module_cls(
            modalities=self.modalities, n_inputs=n_inputs, width=width,
            n_obs_total=self.adata.n_obs, num_heads=num_heads, brief_att=brief_att,
            hidden_dims=hidden, n_latent=n_latent, gnn_type=gnn_type.upper(), decoder=decoder,
            decoder_type=decoder_type.upper(), **module_kwargs,
        )
        self._n_hops = (len(hidden) + 1) + ((len(hidden) + 1) if decoder else 0)
        self._model_summary_string = (
            f"STEREOMM: modalities={self.modalities}, width={width}, hidden_dims={hidden}, "
            f"n_latent={n_latent}, gnn={gnn_type}, decoder={decoder_type if decoder else None}, "
            f"attention={'brief' if brief_att else f'{num_heads} heads'}"
        )
        self.init_params_ = self._get_init_params(locals())

    # ------------------------------------------------------------------ setup
    @classmethod
    @keep_unchanged_on_error
    def setup_anndata(
        cls,
        adata: AnnData,
        layer: str | None = None,
        image_key: str | None = None,
        spatial_key: str = "spatial",
        spatial_graph_key: str | None = None,
        radius_cutoff: float | None = None,
        n_dims: int = 200,
        dim_reduction_method: str = "high_var",
        scale: str = "zscore",
        **kwargs,
    ) -> None:
        """Register an AnnData: RNA counts in ``.X``/``layer``, image features in ``obsm[image_key]``.

        Validates everything, then computes the reduced inputs ``(n_obs, <= n_dims)`` of
        ``"rna"`` (and ``"image"``), which the model holds
        (:class:`~remadom.model.base.DerivedField`), and, unless ``spatial_graph_key`` is given,
        writes the radius graph ``obsp["stereomm_radius_connectivities"]`` (and ``_distances``,
        via :func:`remadom.data.spatial_graph`, with squidpy's ``uns["stereomm_radius_neighbors"]``
        record of its parameters). Apart from that graph and scvi-tools'
        ``uns["_scvi_uuid"]``/``uns["_scvi_manager_uuid"]`` the AnnData is unchanged.

        Parameters
        ----------
        adata
            Spots x genes, counts in ``.X`` or ``layers[layer]``, coordinates in
            ``obsm[spatial_key]``.
        layer
            Layer with the counts (``None``: ``.X``).
        image_key
            ``obsm`` key of per-spot image features ``(n_obs, n_features)``, e.g. from
            :func:`remadom.pp.image_features`; ``None`` = RNA only.
        spatial_key
            ``obsm`` key of the coordinates.
        spatial_graph_key
            Use this existing ``obsp`` graph instead of building the radius graph.
        radius_cutoff
            Radius of the graph in coordinate units (reference ``--radiu_cutoff``); default
            1.5 x the median nearest-neighbour distance (:func:`default_radius`).
        n_dims
            Common width ``s`` each modality is reduced to.
        dim_reduction_method
            RNA reduction: ``"high_var"`` (``n_dims`` most variable genes) or ``"pca"``.
        scale
            ``"zscore"`` (reference ``--scale zscore``) or ``"none"``.

        Raises
        ------
        ValueError
            Missing coordinates or image features, coordinates that are not finite
            ``(n_obs, 2)`` or all identical, fewer than two spots, duplicated obs or var names,
            NaN/inf values, non-count RNA (negative or non-integer values), spots with zero
            counts, an unknown reduction or scale, a graph of the wrong size; on ``load``, other
            spots or genes than at training. The AnnData is unchanged then. Boolean and float16
            data are read as float32 with a warning.
        """
        setup_method_args = cls._get_setup_method_args(**locals())
        if not isinstance(adata, AnnData):
            raise ValueError(f"setup_anndata needs an AnnData, got {type(adata).__name__}; use setup_mudata for MuData.")
        check_not_backed(adata, "STEREOMM")
        check_unique_names(adata)
        check_n_obs(adata.n_obs, 2, "the AnnData", "the radius graph and the reduction need two or more spots")
        x, _, where = get_matrix(adata, layer)
        x = as_float32(x, "rna", where)
        check_counts(x, "rna", where, fix=(
            "STEREOMM's setup_anndata reads raw RNA counts (it normalises and log-transforms them "
            "itself): pass them (`layer='counts'`), or register a normalised matrix as a MuData "
            "modality with setup_mudata, where non-count data are standardised and PCA-reduced."))
        check_zero_cells(x, "rna", where, fix="`sc.pp.filter_cells(adata, min_counts=1)`")
        mats = {"rna": (x, where)}
        signature = {"rna": (where, x.shape[1], adata.var_names)}
        if image_key is not None:
            if image_key not in adata.obsm:
                raise ValueError(
                    f"obsm['{image_key}'] not found: compute image features first with "
                    "remadom.pp.image_features(adata, ...) or pass image_key=None for RNA only."
                )
            img = as_float32(np.asarray(adata.obsm[image_key]), "image", f"obsm['{image_key}']")
            mats["image"] = (img, f"obsm['{image_key}']")
            signature["image"] = (f"obsm['{image_key}']", img.shape[1], None)
        cls._setup(adata, mats, setup_method_args, ObsmField, spatial_key, spatial_graph_key,
                   radius_cutoff, n_dims, dim_reduction_method, scale, kwargs, signature)

    @classmethod
    @keep_unchanged_on_error
    def setup_mudata(
        cls,
        mdata: MuData,
        modalities: list[str] | None = None,
        layers: dict[str, str] | None = None,
        spatial_key: str = "spatial",
        spatial_graph_key: str | None = None,
        radius_cutoff: float | None = None,
        n_dims: int = 200,
        dim_reduction_method: str = "high_var",
        scale: str = "zscore",
        **kwargs,
    ) -> None:
        """Register a MuData, e.g. ``modalities=["rna", "image"]`` (``["rna"]`` runs RNA-only).

        Count modalities are reduced with ``dim_reduction_method``; continuous ones (image
        features in the modality's ``.X``, or any ``obsm`` representation named in ``layers``)
        are standardised and PCA-reduced when wider than ``n_dims``; the model holds the reduced
        inputs. Writes, unless ``spatial_graph_key`` is given, only the radius graph
        ``mdata.obsp["stereomm_radius_connectivities"]`` (and ``_distances``, also in each
        modality that covers every spot, as :func:`remadom.data.spatial_graph` does;
        ``mdata.uns["stereomm_radius_neighbors"]``), and scvi-tools'
        ``uns["_scvi_uuid"]``/``uns["_scvi_manager_uuid"]``. Other arguments as in
        :meth:`setup_anndata`.

        Raises
        ------
        ValueError
            Unknown or empty modality, modalities on other spots, duplicated obs or var names,
            missing or malformed coordinates (as :meth:`setup_anndata`), fewer than two spots,
            NaN/inf, spots with zero counts in a count modality, unknown reduction or scale; on
            ``load``, other spots or features than at training. The MuData is unchanged then.

        Warns
        -----
        UserWarning
            When a modality named like expression (``rna``, ``gex``, ...) is not counts and is
            therefore standardised as continuous features; when boolean or float16 data are
            read as float32.
        """
        setup_method_args = cls._get_setup_method_args(**locals())
        modalities = check_modalities(mdata, modalities)
        check_not_backed(mdata, "STEREOMM")
        check_unique_names(mdata, modalities)
        check_n_obs(mdata.n_obs, 2, "the MuData", "the radius graph and the reduction need two or more spots")
        layers = dict(layers or {})
        unknown = set(layers) - set(modalities)
        if unknown:
            raise ValueError(f"`layers` names modalities not in `modalities`: {sorted(unknown)}.")
        mats, signature = {}, {}
        for m in modalities:
            check_same_obs(mdata, m)
            x, kind, where = get_matrix(mdata[m], layers.get(m))
            x = as_float32(x, m, where)
            if kind != "obsm" and is_counts(x):
                check_zero_cells(x, m, where)
            elif kind != "obsm" and m.lower() in _RNA_NAMES:
                warn_not_counts(x, m, where, "the continuous treatment (standardise, PCA)",
                                "the count treatment (normalise, log1p, gene selection)")
            mats[m] = (x, f"modality '{m}' {where}")
            signature[m] = (where, x.shape[1], None if kind == "obsm" else mdata[m].var_names)
        cls._setup(mdata, mats, setup_method_args, MuDataObsmField, spatial_key, spatial_graph_key,
                   radius_cutoff, n_dims, dim_reduction_method, scale, kwargs, signature)

    @classmethod
    def _setup(cls, data, mats, setup_method_args, obsm_field, spatial_key, spatial_graph_key,
               radius_cutoff, n_dims, method, scale, kwargs, signature=None):
        # --- validate everything before writing anything
        if method not in REDUCTIONS:
            raise ValueError(f"dim_reduction_method '{method}' is unknown; choose one of {REDUCTIONS}.")
        if scale not in SCALES:
            raise ValueError(f"scale '{scale}' is unknown; choose one of {SCALES}.")
        if not isinstance(n_dims, int | np.integer) or n_dims < 1:
            raise ValueError(f"n_dims must be a positive int, got {n_dims!r}.")
        if spatial_key not in data.obsm:
            raise ValueError(
                f"obsm['{spatial_key}'] not found: STEREOMM needs the (n_obs, 2) spot coordinates "
                f"there (data.obsm['{spatial_key}'] = coords; for a MuData, "
                "remadom.data.spatial_graph(mdata) copies them up from the modalities' obsm) or "
                "spatial_key= naming them."
            )
        coords = check_coordinates(data.obsm[spatial_key], data.n_obs, f"obsm['{spatial_key}']")
        if radius_cutoff is not None and radius_cutoff <= 0:
            raise ValueError(f"radius_cutoff must be > 0 (coordinate units), got {radius_cutoff}.")
        for m, (x, where) in mats.items():
            if x.shape[1] == 0:
                raise ValueError(f"{where} is empty (no features).")
            check_finite(x, m, where)
        if spatial_graph_key is not None:
            ObspField(STEREOMM_REGISTRY_KEYS.SPATIAL_GRAPH_KEY, spatial_graph_key).validate_field(data)
        counts = {m: is_counts(x) for m, (x, _) in mats.items()}

        # --- compute and write
        inputs = {m: reduce_to_width(x, counts[m], n_dims, method, scale) for m, (x, _) in mats.items()}
        if spatial_graph_key is None:
            radius = float(radius_cutoff) if radius_cutoff is not None else default_radius(coords)
            spatial_graph(data, radius=radius, spatial_key=spatial_key, key_added=_GRAPH_KEY)
            spatial_graph_key = f"{_GRAPH_KEY}_connectivities"
            logger.info("STEREOMM radius graph: cutoff %.4g coordinate units", radius)
        fields = [ObspField(STEREOMM_REGISTRY_KEYS.SPATIAL_GRAPH_KEY, spatial_graph_key), obsm_field(STEREOMM_REGISTRY_KEYS.COORDS_KEY, spatial_key)]
        if signature is not None:  # first, so that load onto other data fails with its message
            fields.insert(0, DataSignatureField(signature, check_obs=True, model_name="STEREOMM"))
        for m, v in inputs.items():  # held by the model, not written to the data
            fields.append(DerivedField(STEREOMM_REGISTRY_KEYS.input_key(m), v, state={"modality": m}))
        cls._register(data, fields, setup_method_args, **kwargs)

    # what earlier releases wrote to obsm (deleted by the deprecated remove_inputs)
    _INPUT_PREFIXES = (_PREFIX,)

    # ------------------------------------------------------------------ training
    def _splitter(self, batch_size: int | None, shuffle: bool, num_workers: int = 0,
                  **kwargs) -> SubgraphDataSplitter:
        am = self.adata_manager
        tensors = {STEREOMM_REGISTRY_KEYS.input_key(m): np.asarray(am.get_from_registry(STEREOMM_REGISTRY_KEYS.input_key(m)), dtype=np.float32)
                   for m in self.modalities}
        graph = sp.csr_matrix(self.adata.obsp[am.registry["setup_args"]["spatial_graph_key"]
                                              or f"{_GRAPH_KEY}_connectivities"])
        coords = np.asarray(am.get_from_registry(STEREOMM_REGISTRY_KEYS.COORDS_KEY), dtype=np.float64)
        return SubgraphDataSplitter(tensors, graph, coords, batch_size, self._n_hops, shuffle=shuffle,
                                    num_workers=num_workers, **kwargs)

    def train(
        self,
        max_epochs: int = 100,
        lr: float = 1e-4,
        batch_size: int | None = 20_000,
        opt: str = "adam",
        weight_decay: float = 0.0,
        accelerator: str = "auto",
        devices: int | str = "auto",
        plan_kwargs: dict | None = None,
        checkpoint_dir: str | None = None,
        resume: bool = False,
        num_workers: int = 0,
        datasplitter_kwargs: dict | None = None,
        **trainer_kwargs,
    ):
        """Train with scvi-tools' :class:`~scvi.train.TrainRunner` (Lightning).

        Parameters
        ----------
        max_epochs
            Epochs (reference ``--epochs``, default 100). One epoch visits every tile once.
        lr
            Learning rate (``--lr``, default 1e-4).
        batch_size
            Spots per spatial tile; up to this many spots train full-graph (one step per epoch).
        opt
            ``"adam"`` (``--opt adam``), ``"adamw"`` or ``"sgd"``.
        weight_decay
            L2 penalty of the optimiser.
        plan_kwargs
            More :class:`~remadom.train.CheckedTrainingPlan` arguments.
        checkpoint_dir
            Write the full training state to ``checkpoint_dir/last.ckpt`` after every epoch
            (:class:`~remadom.train.ResumeCheckpoint`; a failed run keeps the last good file).
        resume
            Continue from ``checkpoint_dir/last.ckpt`` after a crash (same data, setup, model and
            ``train()`` arguments); ``model.history`` then holds the resumed epochs only.
        num_workers
            Processes that load the tiles (default 0: in the training process; the tiles are
            built in memory once, so workers only copy them). Under DDP
            (``strategy="ddp"``, ``devices``, ``num_nodes``; ``docs/scale.md``) the tiles are
            dealt out to the processes, so ``batch_size`` must give at least one tile per process
            (with one tile every process trains the same full graph; a warning says so).
        datasplitter_kwargs
            More :class:`~remadom.train.SubgraphDataSplitter` arguments (``shuffle``, default
            True; ``seed`` of the tiling, default 0); scvi-tools' name.
        **trainer_kwargs
            Passed to Lightning's Trainer (``precision``, ``gradient_clip_val``, ``logger``,
            ``enable_progress_bar``, ``callbacks``, ``ckpt_path``, ...).

        Raises
        ------
        ValueError
            Unknown ``opt``; ``strategy`` ``"ddp_spawn"``, ``"ddp_fork"`` or ``"ddp_notebook"``
            (refused before training; use ``"ddp"``); ``num_workers`` negative.
        remadom.train.NonFiniteLossError
            If a loss becomes NaN or inf.
        FileNotFoundError, FileExistsError
            ``resume`` without a checkpoint; a checkpoint in ``checkpoint_dir`` without ``resume``.
        """
        if opt.lower() not in _OPTIMIZERS:
            raise ValueError(f"opt='{opt}' is unknown; choose one of {list(_OPTIMIZERS)}.")
        if batch_size is not None and batch_size < 1:
            raise ValueError(f"batch_size must be a positive int or None, got {batch_size}.")
        plan_kwargs = {"lr": lr, "weight_decay": weight_decay, "n_epochs_kl_warmup": None,
                       **self._optimizer_kwargs(opt.lower(), lr, weight_decay), **(plan_kwargs or {})}
        from remadom.train import prepare_trainer
        from remadom.train._distributed import warn_unsharded

        trainer_kwargs["devices"] = devices
        loader = prepare_trainer("STEREOMM", trainer_kwargs, num_workers, checkpoint_dir, resume,
                                 datasplitter_kwargs=False)
        devices = trainer_kwargs.pop("devices")
        splitter = self._splitter(batch_size, **{"shuffle": True, "num_workers": loader.get("num_workers", 0),
                                                 **(datasplitter_kwargs or {})})
        warn_unsharded("STEREOMM", len(splitter.batches), trainer_kwargs, "tiles (batch_size)")
        plan = self._training_plan_cls(self.module, **plan_kwargs)
        trainer_kwargs.setdefault("check_val_every_n_epoch", None)
        runner = TrainRunner(self, training_plan=plan, data_splitter=splitter, max_epochs=max_epochs,
                             accelerator=accelerator, devices=devices, **trainer_kwargs)
        self._batch_size = batch_size
        return runner()

    @staticmethod
    def _optimizer_kwargs(opt: str, lr: float, weight_decay: float) -> dict:
        if opt != "sgd":
            return {"optimizer": _OPTIMIZERS[opt]}

        def creator(params):
            return torch.optim.SGD(params, lr=lr, momentum=0.9, weight_decay=weight_decay)

        return {"optimizer": "Custom", "optimizer_creator": creator}

    # ------------------------------------------------------------------ outputs
    @torch.inference_mode()
    def _collect(self, batch_size: int | None) -> dict[str, np.ndarray]:
        """Latent means and attention of every registered spot.

        Not :meth:`~remadom.model.base.RemadomModelMixin._inference_batches`: STEREOMM's graph
        encoder needs each spot's neighbours up to ``_n_hops`` away, so inference runs on the
        full graph or on spatial tiles with their halo (the training tiles, built once per
        ``batch_size``), and only each tile's seed spots are kept; a row-wise minibatch of spots
        has no graph to encode.
        """
        if batch_size is None:
            batch_size = getattr(self, "_batch_size", 20_000)
        self.module.eval()
        n = self.adata.n_obs
        mu = np.zeros((n, self.module.vgae.encoder.mu.out_channels), dtype=np.float32)
        m = len(self.modalities)
        att = np.full((n, m, m), np.nan, dtype=np.float32)
        cache = getattr(self, "_predict_tiles", None)
        if cache is None or cache[0] != batch_size:  # tiles + halos are built once per batch size
            cache = (batch_size, self._splitter(batch_size, shuffle=False))
            self._predict_tiles = cache
        for batch in cache[1].predict_dataloader():
            inf = self.module.inference(**self.module._get_inference_input(batch))
            seed, idx = batch["seed"], batch["index"][batch["seed"]].numpy()
            mu[idx] = inf["mu"][seed].cpu().numpy()
            if inf["attention"] is not None:
                att[idx] = inf["attention"][seed].cpu().numpy()
        return {"latent": mu, "attention": att}

    def _check_data(self, adata):
        if adata is not None and adata is not self.adata:
            raise ValueError(
                "STEREOMM is transductive: outputs are for the registered spots. Pass adata=None, "
                "or set up and train a model on the new data."
            )

    def get_latent_representation(self, adata=None, indices: Sequence[int] | None = None,
                                  give_mean: bool = True, batch_size: int | None = None) -> np.ndarray:
        """Posterior mean of the latent.

        Parameters
        ----------
        adata
            The registered object (STEREOMM is transductive) or None.
        indices
            Spots to return (default all); inference still runs on whole tiles with their halos.
        give_mean
            Must be True: STEREOMM returns the VGAE's posterior mean only.
        batch_size
            Spots per tile (default: the training batch size).

        Returns
        -------
        ``(n_obs, n_latent)`` (or ``(len(indices), n_latent)``) float32 array in obs order,
        ready for ``obsm``.

        Raises
        ------
        ValueError
            If ``adata`` is not the registered object.
        NotImplementedError
            ``give_mean=False``.
        """
        self._check_data(adata)
        self._mean_only(give_mean)
        return self._take_rows(self._collect(batch_size)["latent"], indices)

    def get_attention_weights(self, adata=None, batch_size: int | None = None) -> pd.DataFrame:
        """Per-spot cross-modal attention, averaged over heads.

        Returns
        -------
        DataFrame ``(n_obs, M * M)``; column ``"a->b"`` is the weight modality ``a`` puts on
        modality ``b`` (each ``a``'s row sums to 1).

        Raises
        ------
        ValueError
            With one modality (no attention) or if ``adata`` is not the registered object.
        """
        self._check_data(adata)
        if len(self.modalities) < 2:
            raise ValueError("attention weights exist only with two or more modalities (e.g. rna + image).")
        att = self._collect(batch_size)["attention"]
        cols = [f"{a}->{b}" for a in self.modalities for b in self.modalities]
        return pd.DataFrame(att.reshape(len(att), -1), index=self.adata.obs_names, columns=cols)
