"""MORPHOVI model class: unpaired morphology <-> expression integration, adversarial training."""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
import scipy.sparse as sp
import torch
from mudata import MuData
from scvi.data import AnnDataManagerValidationCheck
from scvi.model.base import BaseModelClass
from scvi.train import TrainRunner
from sklearn.preprocessing import StandardScaler

from remadom.data import (
    DataSignatureField,
    as_float32,
    check_modalities,
    check_n_obs,
    check_not_backed,
    check_unique_names,
    check_zero_cells,
    get_matrix,
    is_counts,
    keep_unchanged_on_error,
    pad_rows,
    presence_mask,
    reduce_to_width,
    select_genes,
)
from remadom.nn import GAN_TYPES
from remadom.train import AdversarialTrainingPlan, BalancedDataSplitter, PhaseSchedule, init_weights

from ..base import DerivedField, RemadomModelMixin, deprecated_mdata
from ._constants import MORPHOVI_REGISTRY_KEYS
from ._module import LOSSES, MORPHOVIModule

logger = logging.getLogger(__name__)

_PREFIX = "_morphovi_"
NAN_POLICIES = ("mask", "median")
#: genes kept (most variable) when a count modality is wider than this
MAX_GENES = 2000


def _prepare(x, name: str, where: str, nan_policy: str | None) -> tuple[np.ndarray, np.ndarray, dict]:
    """Standardise one modality (scikit-learn StandardScaler); NaN handled by ``nan_policy``."""
    if sp.issparse(x):
        x = x.toarray()
    x = np.asarray(x, dtype=np.float64)
    if np.isinf(x).any():
        raise ValueError(f"modality '{name}' {where}: inf values; replace them (np.nan marks undefined features).")
    nan = np.isnan(x)
    info = {"n_nan": int(nan.sum())}
    if nan.any():
        all_nan = nan.all(0)
        if all_nan.any():
            raise ValueError(
                f"modality '{name}' {where}: {int(all_nan.sum())} feature(s) are NaN in every cell "
                f"(first column {int(np.argmax(all_nan))}); drop them before setup."
            )
        if nan_policy is None:
            raise ValueError(
                f"modality '{name}' {where}: {int(nan.sum())} NaN values (undefined features). Choose "
                f"how to treat them: nan_policy='mask' (left out of the reconstruction loss) or "
                "nan_policy='median' (imputed with each feature's median, recorded in uns)."
            )
        if nan_policy not in NAN_POLICIES:
            raise ValueError(f"nan_policy '{nan_policy}' is unknown; choose one of {NAN_POLICIES}.")
        if nan_policy == "median":
            med = np.nanmedian(x, 0)
            x = np.where(nan, med[None, :], x)
            info["median"] = med.tolist()
            nan = np.zeros_like(nan)
    z = StandardScaler().fit_transform(x)  # NaN-aware: ignored in fit, kept in transform
    observed = (~nan).astype(np.float32)
    return np.nan_to_num(z, nan=0.0).astype(np.float32), observed, info


class MORPHOVI(RemadomModelMixin, BaseModelClass):
    """Unpaired morphology <-> gene-expression integration (seed: morpho_integration).

    Two VAEs map modality A and modality B of *different* cells into one latent space; a latent
    critic (LSGAN / non-saturating GAN / WGAN-GP), optionally Gromov–Wasserstein
    (:class:`remadom.heads.GWHead`) and a cluster-correlation prior align them. Training is
    adversarial with manual optimisation and a phased loss schedule
    (:class:`remadom.train.AdversarialTrainingPlan`). Module:
    :class:`~remadom.model.morphovi.MORPHOVIModule`.

    Parameters
    ----------
    adata
        MuData registered with :meth:`setup_mudata`.
    n_latent, n_hidden
        Seed ``gen.latent`` and ``gen.dim``.
    gan_type
        ``"lsgan"``, ``"nsgan"`` or ``"wgan-gp"`` (``dis.gan_type``).
    dis_dim, dis_norm
        Critic width and normalisation (``dis.dim``, ``dis.norm``).
    prior_temperature
        Temperature of the prior loss.
    init
        Weight initialisation ``gaussian``, ``xavier``, ``kaiming`` or ``default``.
    gw_epsilon
        Entropic regularisation of the GW loss.

    Raises
    ------
    ValueError
        Unknown ``gan_type``, ``dis_norm`` or ``init``.

    Examples
    --------
    >>> MORPHOVI.setup_mudata(mdata, modality_a="morph", modality_b="rna", nan_policy="mask")
    >>> model = MORPHOVI(mdata, gan_type="lsgan")
    >>> model.train(max_iter=3000, loss_schedule={"recon": 1, "gan": 2}, phase_durations={1: 500, 2: 2500})
    >>> mdata.obsm["X_morphovi"] = model.get_latent_representation()
    """

    _module_cls = MORPHOVIModule

    @deprecated_mdata
    def __init__(self, adata: MuData, n_latent: int = 16, n_hidden: int = 128, gan_type: str = "lsgan",
                 dis_dim: int = 64, dis_norm: str = "none", prior_temperature: float = 0.1,
                 init: str = "gaussian", gw_epsilon: float = 5e-3):
        if gan_type not in GAN_TYPES:
            raise ValueError(f"gan_type '{gan_type}' is unknown; choose one of {GAN_TYPES}.")
        super().__init__(adata)
        am = self.adata_manager
        info = am.registry["setup_args"]
        self.modalities = [info["modality_a"], info["modality_b"]]
        prior = info.get("_prior_matrix")
        self.module = self._module_cls(
            am.get_from_registry(MORPHOVI_REGISTRY_KEYS.x_key("a")).shape[1], am.get_from_registry(MORPHOVI_REGISTRY_KEYS.x_key("b")).shape[1],
            n_latent=n_latent, n_hidden=n_hidden, gan_type=gan_type, dis_dim=dis_dim, dis_norm=dis_norm,
            prior_matrix=None if prior is None else np.asarray(prior), prior_temperature=prior_temperature,
            gw_epsilon=gw_epsilon,
        )
        init_weights(self.module, init)
        self._model_summary_string = (
            f"MORPHOVI: {self.modalities[0]} ({am.get_from_registry('x_a').shape[1]} features) <-> "
            f"{self.modalities[1]} ({am.get_from_registry('x_b').shape[1]}), n_latent={n_latent}, "
            f"gan={gan_type}, prior={'yes' if prior is not None else 'no'}"
        )
        self.init_params_ = self._get_init_params(locals())

    # ------------------------------------------------------------------ setup
    @classmethod
    def setup_anndata(cls, adata, *args, **kwargs):
        """Not supported: put the two modalities in a MuData and call :meth:`setup_mudata`.

        Raises
        ------
        ValueError
            Always, with the fix.
        """
        raise ValueError("MORPHOVI is registered on MuData with two modalities: "
                         "`mdata = mudata.MuData({'morph': morph, 'rna': rna})`, then "
                         "MORPHOVI.setup_mudata(mdata, modality_a='morph', modality_b='rna').")

    @classmethod
    @keep_unchanged_on_error
    def setup_mudata(
        cls,
        mdata: MuData,
        modality_a: str = "morph",
        modality_b: str = "rna",
        layers: dict[str, str] | None = None,
        labels_key: str | None = None,
        cluster_key_a: str | None = None,
        cluster_key_b: str | None = None,
        prior_key: str | None = None,
        nan_policy: str | None = None,
        _prior_matrix: list | None = None,
        _genes: dict[str, list[str]] | None = None,
        **kwargs,
    ) -> None:
        """Register a MuData whose two modalities cover different cells.

        Each modality is standardised per feature inside (scikit-learn ``StandardScaler``, the
        seed's choice) into inputs ``"x_a"`` / ``"x_b"`` at MuData rows (zeros where a cell lacks
        the modality), held by the model (:class:`~remadom.model.base.DerivedField`, read with
        ``model.adata_manager.get_from_registry("x_a")``) with the masks; count modalities are
        first library-normalised and log1p'd (and cut to the 2000 most variable genes when wider).
        The user's matrices are not touched; the MuData gains only ``uns["morphovi_nan"]`` (the
        NaN policy and medians) and scvi-tools' ``uns`` uuid keys.

        Parameters
        ----------
        modality_a, modality_b
            Modality names (e.g. ``"morph"`` and ``"rna"``).
        layers
            Per modality a layer or ``obsm`` key (default ``.X``).
        labels_key
            Column of the modalities' (or the MuData's) ``obs`` with cell labels, for scoring.
        cluster_key_a, cluster_key_b
            Columns with each modality's cluster labels (for the prior loss).
        prior_key
            ``mdata.uns`` key of the ``(n_clusters_a, n_clusters_b)`` prior correlation matrix (a
            DataFrame indexed by the cluster names, or an array in sorted-category order).
        nan_policy
            How NaN (undefined) features are treated: ``"mask"`` (left out of the reconstruction
            loss) or ``"median"`` (imputed; medians recorded in ``uns["morphovi_nan"]``). Required
            when there are NaN values -- never applied silently.
        _prior_matrix
            Recorded by setup for ``load`` (the matrix is read again from ``uns[prior_key]``).
        _genes
            Recorded by setup for ``load`` and new data: per count modality the genes chosen at
            training, so that other cells are read through the same genes.

        Raises
        ------
        ValueError
            Unknown or empty modality, the same modality twice, duplicated obs or var names, a
            modality with fewer than two cells, NaN without ``nan_policy``, an all-NaN feature,
            inf values, cells with zero counts in a count modality, a missing cluster column, a
            prior without both cluster keys or of the wrong shape; on ``load`` or new data, other
            features than at training. The MuData is unchanged then. Boolean and float16 data
            are read as float32 with a warning.
        """
        setup_method_args = cls._get_setup_method_args(**locals())
        if modality_a == modality_b:
            raise ValueError(f"modality_a and modality_b are both '{modality_a}'; name two different modalities.")
        mods = check_modalities(mdata, [modality_a, modality_b])
        check_not_backed(mdata, "MORPHOVI")
        check_unique_names(mdata, mods)
        layers = dict(layers or {})
        mask = presence_mask(mdata, mods)
        prepared, nan_info, signature, genes = {}, {}, {}, {}
        for key, m in (("a", modality_a), ("b", modality_b)):
            check_n_obs(mdata[m].n_obs, 2, f"modality '{m}'", "features are standardised over its cells")
            x, kind, where = get_matrix(mdata[m], layers.get(m))
            x = as_float32(x, m, where)
            signature[m] = (where, x.shape[1], None if kind == "obsm" else mdata[m].var_names)
            if x.shape[1] == 0:
                raise ValueError(f"modality '{m}' {where} has no features.")
            if is_counts(x) and not np.isnan(x.data if sp.issparse(x) else x).any():
                check_zero_cells(x, m, where)
                if _genes and m in _genes:  # load / new data: the genes chosen at training
                    idx = mdata[m].var_names.get_indexer(_genes[m])
                    if (idx < 0).any():
                        raise ValueError(
                            f"modality '{m}' {where}: {int((idx < 0).sum())} of the {len(idx)} genes "
                            f"the model was trained on are missing (e.g. "
                            f"'{_genes[m][int(np.argmax(idx < 0))]}'); the data need the same genes."
                        )
                else:
                    idx = select_genes(x, MAX_GENES)
                genes[m] = mdata[m].var_names[idx].tolist()
                x = reduce_to_width(x, True, len(idx), "high_var", "none", genes=idx)
            prepared[key] = _prepare(x, m, where, nan_policy)
            nan_info[m] = prepared[key][2]
        clusters = {}
        for key, m, col in (("a", modality_a, cluster_key_a), ("b", modality_b, cluster_key_b)):
            if col is None:
                continue
            obs = mdata[m].obs if col in mdata[m].obs else mdata.obs.loc[mdata[m].obs_names]
            if col not in obs:
                raise ValueError(f"cluster_key_{key}='{col}' is not a column of mdata['{m}'].obs or mdata.obs.")
            if obs[col].isna().any():
                raise ValueError(f"cluster_key_{key}='{col}' has NaN values in modality '{m}'; fill or drop them.")
            clusters[key] = pd.Categorical(obs[col].astype(str))
        prior = None
        if prior_key is not None:
            if prior_key not in mdata.uns:
                raise ValueError(f"prior_key='{prior_key}' is not in mdata.uns.")
            if len(clusters) != 2:
                raise ValueError("a prior matrix needs both cluster_key_a and cluster_key_b.")
            p = mdata.uns[prior_key]
            ka, kb = list(clusters["a"].categories), list(clusters["b"].categories)
            if isinstance(p, pd.DataFrame):
                missing = sorted(set(ka) - set(map(str, p.index))) + sorted(set(kb) - set(map(str, p.columns)))
                if missing:
                    raise ValueError(f"prior matrix uns['{prior_key}'] lacks clusters {missing[:5]}.")
                p = p.rename(index=str, columns=str).loc[ka, kb].to_numpy()
            p = np.asarray(p, dtype=np.float32)
            if p.shape != (len(ka), len(kb)):
                raise ValueError(
                    f"prior matrix uns['{prior_key}'] has shape {p.shape}, but there are {len(ka)} "
                    f"clusters in '{cluster_key_a}' and {len(kb)} in '{cluster_key_b}'; it must be "
                    f"({len(ka)}, {len(kb)})."
                )
            if not np.isfinite(p).all():
                raise ValueError(f"prior matrix uns['{prior_key}'] has NaN/inf values.")
            prior = p.tolist()
        if labels_key is not None and not any(labels_key in mdata[m].obs for m in mods) and labels_key not in mdata.obs:
            raise ValueError(f"labels_key='{labels_key}' is not a column of the modalities' or the MuData's obs.")
        setup_method_args["setup_args"]["_prior_matrix"] = prior
        setup_method_args["setup_args"]["_genes"] = genes

        # --- write (everything validated)
        n_obs = mdata.n_obs
        pos = pd.Series(np.arange(n_obs), index=mdata.obs_names)
        # first, so that load onto other features fails with its message; other cells are fine
        fields = [DataSignatureField(signature, check_obs=False, model_name="MORPHOVI")]
        for key, m in (("a", modality_a), ("b", modality_b)):
            rows = pos.loc[mdata[m].obs_names].to_numpy()
            x, observed, _ = prepared[key]
            for name, arr in ((MORPHOVI_REGISTRY_KEYS.x_key(key), x), (MORPHOVI_REGISTRY_KEYS.observed_key(key), observed)):
                fields.append(DerivedField(name, pad_rows(arr, rows, n_obs)))  # held by the model
            codes = np.full((n_obs, 1), -1.0, dtype=np.float32)
            if key in clusters:
                codes[rows, 0] = clusters[key].codes
            fields.append(DerivedField(MORPHOVI_REGISTRY_KEYS.cluster_key(key), codes))
        fields.append(DerivedField(MORPHOVI_REGISTRY_KEYS.MASK_KEY, mask.to_numpy().astype(np.float32)))
        mdata.uns["morphovi_nan"] = {"policy": nan_policy, **nan_info}
        cls._register(mdata, fields, setup_method_args,
                      AnnDataManagerValidationCheck(check_fully_paired_mudata=False), **kwargs)

    # what earlier releases wrote to obsm (deleted by the deprecated remove_inputs)
    _INPUT_PREFIXES = (_PREFIX,)
    _LATENT_PER_MODALITY = True  # each modality through its own VAE

    # ------------------------------------------------------------------ training
    def train(
        self,
        max_epochs: int | None = None,
        *,
        max_iter: int = 3000,
        batch_size: int = 256,
        lr: float = 1e-4,
        beta1: float = 0.5,
        beta2: float = 0.999,
        weight_decay: float = 1e-4,
        lr_policy: str = "constant",
        step_size: int = 1000,
        gamma: float = 0.5,
        recon_x_w: float = 1.0,
        kl_w: float = 0.01,
        gan_w: float = 1.0,
        gw_w: float = 0.0,
        lambda_p: float = 0.0,
        prior_loss_warmup: int = 0,
        loss_schedule: dict[str, int] | None = None,
        phase_durations: dict[int, int] | None = None,
        accelerator: str = "auto",
        devices: int | str = "auto",
        ckpt_path: str | None = None,
        checkpoint_dir: str | None = None,
        resume: bool = False,
        max_steps: int | None = None,
        num_workers: int | None = None,
        plan_kwargs: dict | None = None,
        datasplitter_kwargs: dict | None = None,
        **trainer_kwargs,
    ):
        """Adversarial training (seed option names).

        MORPHOVI counts training in iterations (``max_iter``, the seed's name); ``max_epochs``
        and ``max_steps`` (scvi-tools' names) are accepted instead of it. As in scvi-tools, the
        one positional argument is ``max_epochs`` (``train(10)``: 10 epochs); the others are
        keyword-only.

        Parameters
        ----------
        max_epochs
            Train this many epochs, i.e. ``max_epochs * ceil(n_obs / batch_size)`` iterations
            (instead of ``max_iter``).
        max_iter
            Iterations (generator steps); rounded up to whole epochs over both modalities'
            group-balanced minibatches (``ceil(n_obs / batch_size)`` iterations per epoch).
            Ignored when ``max_epochs`` or ``max_steps`` is given.
        batch_size
            Cells per minibatch (about half of each modality).
        lr, beta1, beta2, weight_decay
            Adam settings of both the encoders/decoders and the critic.
        lr_policy, step_size, gamma
            ``"constant"``, or ``"step"``: learning rates times ``gamma`` every ``step_size`` iterations.
        recon_x_w, kl_w, gan_w, gw_w, lambda_p
            Weights of the ``recon``, ``kl``, ``gan``, ``gw`` and ``prior`` losses.
        prior_loss_warmup
            Iterations over which the prior loss weight rises linearly to ``lambda_p``.
        loss_schedule, phase_durations
            Loss -> first phase, and phase -> iterations (:class:`remadom.train.PhaseSchedule`).
        ckpt_path
            Resume from this Lightning checkpoint (``remadom fit --resume`` finds the last one).
        checkpoint_dir, resume
            As in the other models: write ``checkpoint_dir/last.ckpt`` after every epoch
            (:class:`~remadom.train.ResumeCheckpoint`, a failed run keeps the last good file);
            ``resume`` continues from it (instead of ``ckpt_path``).
        max_steps
            Alias of ``max_iter`` (iterations, rounded up to whole epochs).
        num_workers
            Processes that load minibatches (``None``: scvi-tools' ``scvi.settings.dl_num_workers``,
            0 unless changed; 0: in the training process). Multi-device and multi-node training
            (``strategy="ddp"``, ``devices``, ``num_nodes``): :func:`remadom.train.prepare_parallel`
            and ``docs/scale.md``.
            Under DDP the adversarial plan's two optimisers each step part of the network, so
            ``strategy="ddp"`` runs with ``find_unused_parameters=True``; each process takes every
            ``world_size``-th group-balanced batch.
        plan_kwargs
            :class:`~remadom.train.AdversarialTrainingPlan` arguments, scvi-tools' name; they
            override the ones above (``lr``, ``beta1``, ``beta2``, ``weight_decay``,
            ``lr_policy``, ``step_size``, ``gamma``).
        datasplitter_kwargs
            More :class:`~remadom.train.BalancedDataSplitter` (scvi-tools ``DataSplitter``)
            arguments, e.g. ``pin_memory``; scvi-tools' name.
        **trainer_kwargs
            Passed to Lightning (``logger``, ``callbacks``, ``enable_progress_bar``, ...).

        Raises
        ------
        ValueError
            A loss in ``loss_schedule`` that does not exist, a phase missing from
            ``phase_durations``, a negative weight, an unknown ``lr_policy``; both
            ``max_epochs`` and ``max_steps``, or either below 1; ``strategy`` ``"ddp_spawn"``,
            ``"ddp_fork"`` or ``"ddp_notebook"`` (refused before training; use ``"ddp"``);
            ``num_workers`` negative.
        """
        if max_epochs is not None and max_steps is not None:
            raise ValueError("pass max_epochs or max_steps, not both (MORPHOVI counts iterations: max_iter).")
        for name, value in (("max_epochs", max_epochs), ("max_steps", max_steps)):
            if value is not None and int(value) < 1:
                raise ValueError(f"{name} must be >= 1, got {value} (MORPHOVI counts iterations: max_iter).")
        if max_steps is not None:
            max_iter = int(max_steps)
        unknown = set(loss_schedule or {}) - set(LOSSES)
        if unknown:
            raise ValueError(f"loss_schedule names unknown losses {sorted(unknown)}; losses: {LOSSES}.")
        weights = {"recon": recon_x_w, "kl": kl_w, "gan": gan_w, "gw": gw_w, "prior": lambda_p}
        bad = {k: v for k, v in weights.items() if v < 0}
        if bad:
            raise ValueError(f"loss weights must be >= 0, got {bad}.")
        if lambda_p > 0 and not self.module.prior_matrix.numel():
            raise ValueError("lambda_p > 0 needs a prior matrix: setup_mudata(..., cluster_key_a=, cluster_key_b=, prior_key=).")
        schedule = _WarmupSchedule(PhaseSchedule(loss_schedule, phase_durations), {"prior": prior_loss_warmup})
        mask = np.asarray(self.adata_manager.get_from_registry(MORPHOVI_REGISTRY_KEYS.MASK_KEY))
        groups = (mask * np.array([1, 2])).sum(1).astype(int)
        from remadom.train import HistoryLogger, prepare_trainer

        trainer_kwargs["devices"], trainer_kwargs["ckpt_path"] = devices, ckpt_path
        loader = prepare_trainer("MORPHOVI", trainer_kwargs, num_workers, checkpoint_dir, resume,
                                 datasplitter_kwargs=False, find_unused_parameters=True)
        devices, ckpt_path = trainer_kwargs.pop("devices"), trainer_kwargs.pop("ckpt_path")
        splitter = BalancedDataSplitter(self.adata_manager, batch_size=batch_size, balance_groups=groups,
                                        **{"train_size": 1.0, **loader, **(datasplitter_kwargs or {})})
        steps = int(np.ceil(self.adata.n_obs / batch_size))
        max_epochs = max(1, int(np.ceil(max_iter / steps))) if max_epochs is None else int(max_epochs)
        plan = AdversarialTrainingPlan(self.module, weights, schedule, **{
            "lr": lr, "beta1": beta1, "beta2": beta2, "weight_decay": weight_decay,
            "lr_policy": lr_policy, "step_size": step_size, "gamma": gamma, **(plan_kwargs or {})})
        from lightning.pytorch.callbacks import ModelCheckpoint

        callbacks = list(trainer_kwargs.get("callbacks") or [])
        trainer_kwargs.setdefault("enable_checkpointing", any(isinstance(c, ModelCheckpoint) for c in callbacks))
        trainer_kwargs.setdefault("logger", HistoryLogger())  # Lightning's trainer makes none
        trainer_kwargs.setdefault("num_sanity_val_steps", 0)
        trainer_kwargs.setdefault("enable_model_summary", False)
        runner = _LightningRunner(self, training_plan=plan, data_splitter=splitter, max_epochs=max_epochs,
                             accelerator=accelerator, devices=devices, ckpt_path=ckpt_path,
                             **trainer_kwargs)
        return runner()

    # ------------------------------------------------------------------ outputs
    @deprecated_mdata
    def get_latent_representation(self, adata: MuData | None = None, indices=None,
                                  give_mean: bool = True, batch_size: int | None = None,
                                  modality: str | None = None) -> np.ndarray:
        """Latent means ``(n_obs, n_latent)``: each cell through the VAE of the modality it has.

        Parameters
        ----------
        adata
            MuData set up like the training data (default: the training data).
        indices
            Cells to return (default all).
        give_mean
            The posterior mean (default) or one sample of the cell's modality's posterior.
        batch_size
            Cells per inference minibatch (default 1024).
        modality
            Only this modality's cells (others are NaN); default: every cell (cells with both
            modalities through modality A).

        Returns
        -------
        ``(n_obs, n_latent)`` (or ``(len(indices), n_latent)``) float32 array in obs order.

        Raises
        ------
        ValueError
            Unknown modality.
        """
        batch_size = self._batch_size_arg(batch_size)
        if modality is not None and modality not in self.modalities:
            raise ValueError(f"modality '{modality}' is not registered; registered: {self.modalities}.")
        out = []
        for tensors, inputs in self._inference_batches(adata, indices, batch_size):
            inf = self.module.inference(**inputs)
            z = torch.full((len(tensors[MORPHOVI_REGISTRY_KEYS.MASK_KEY]), inf["q_a"].loc.shape[1]), float("nan"))
            order = (("b", inf["rows_b"]), ("a", inf["rows_a"]))  # A written last: A wins for paired cells
            for key, rows in order:
                if modality is not None and self.modalities["ab".index(key)] != modality:
                    continue
                q = inf[f"q_{key}"]
                z[rows.cpu()] = (q.loc if give_mean else q.sample()).cpu()
            out.append(z)
        return torch.cat(out).numpy().astype(np.float32)


class _LightningRunner(TrainRunner):
    """scvi-tools' TrainRunner on a plain Lightning Trainer: the user's ``ModelCheckpoint`` keeps
    full Lightning checkpoints (optimisers, schedulers, iteration, RNG) for ``--resume``."""

    from lightning.pytorch import Trainer as _trainer_cls  # noqa: N813


class _WarmupSchedule(PhaseSchedule):
    """A :class:`PhaseSchedule` whose listed losses also ramp up linearly over some iterations."""

    def __init__(self, base: PhaseSchedule, warmups: dict[str, int]):
        self.__dict__.update(base.__dict__)
        self.warmups = {k: int(v) for k, v in warmups.items() if v and v > 0}

    def weights(self, step: int, base: dict[str, float]) -> dict[str, float]:
        w = super().weights(step, base)
        for k, n in self.warmups.items():
            if k in w:
                w[k] = w[k] * min(1.0, (step + 1) / n)
        return w
