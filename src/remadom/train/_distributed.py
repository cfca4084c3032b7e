"""Multi-process data loading and Lightning DDP, shared by the models' ``train()``.

Every model trains through scvi-tools' :class:`~scvi.train.TrainRunner`, so distributed training
follows Lightning's conventions (``strategy="ddp"``, ``devices``, ``num_nodes``; on a cluster one
process per device started by ``srun`` or ``torchrun``). :func:`prepare_parallel` checks the
strategy before any training starts and turns ``num_workers`` into data-loader arguments.
"""

from __future__ import annotations

import logging
import os

logger = logging.getLogger(__name__)

#: environment variables in which launchers give a process its place in a distributed run:
#: torchrun (``RANK``, ``GROUP_RANK``, ``LOCAL_RANK``), Lightning's ``strategy="ddp"`` launcher
#: for the processes it starts (``LOCAL_RANK``, ``NODE_RANK``), SLURM's ``srun``
#: (``SLURM_PROCID``)
RANK_VARIABLES = ("RANK", "LOCAL_RANK", "NODE_RANK", "GROUP_RANK", "SLURM_PROCID")

# start methods that pickle (spawn, forkserver) or fork an already initialised process
_UNSUPPORTED_START = ("spawn", "fork", "notebook")


def loader_kwargs(num_workers: int | None) -> dict:
    """:class:`~torch.utils.data.DataLoader` arguments for ``train(num_workers=)``.

    Parameters
    ----------
    num_workers
        Worker processes that load minibatches (``0``: in the training process); ``None``
        leaves scvi-tools' ``scvi.settings.dl_num_workers`` in charge (0 unless changed).
        With workers, ``persistent_workers=True`` keeps them alive between epochs (otherwise
        they would be started again every epoch).

    Returns
    -------
    ``{}``, or ``{"num_workers": n, "persistent_workers": n > 0}``.

    Raises
    ------
    ValueError
        ``num_workers`` negative or not an integer.
    """
    if num_workers is None:
        return {}
    if isinstance(num_workers, bool) or int(num_workers) != num_workers or num_workers < 0:
        raise ValueError(
            f"num_workers must be an integer >= 0 (0: load in the training process), "
            f"got {num_workers!r}."
        )
    n = int(num_workers)
    return {"num_workers": n, "persistent_workers": n > 0}


def is_main_process() -> bool:
    """Whether this process is rank 0 of a distributed run (or the only process), before training.

    Every process of a DDP run runs the same script or command. Lightning's ``strategy="ddp"``
    starts the extra processes of a node by running the launching command again, with
    ``LOCAL_RANK`` set; ``torchrun`` and ``srun`` start all of them with ``RANK`` or
    ``SLURM_PROCID`` set. Only rank 0 should write a run's outputs, and this tells it apart
    before the process group exists. After training, ``model.trainer.is_global_zero`` says the
    same.

    Returns
    -------
    False if any of :data:`RANK_VARIABLES` is set to a number other than 0.
    """
    for key in RANK_VARIABLES:
        value = os.environ.get(key, "").strip()
        if value.lstrip("-").isdigit() and int(value) != 0:
            return False
    return True


def _n_devices(devices) -> int | None:
    """Processes per node asked for by ``devices`` (None: unknown, e.g. ``"auto"``/``-1``)."""
    if isinstance(devices, list | tuple):
        return len(devices)
    if isinstance(devices, str):
        devices = devices.strip()
        if "," in devices:
            return len([d for d in devices.split(",") if d.strip()])
        if not devices.lstrip("-").isdigit():
            return None
        devices = int(devices)
    if isinstance(devices, int):
        return None if devices == -1 else devices
    return None


def is_distributed(trainer_kwargs: dict) -> bool:
    """Whether the Trainer arguments ask for DDP (a ``"ddp*"`` strategy or a DDPStrategy).

    The test scvi-tools applies before it shards the observations over processes (a strategy
    name containing ``"ddp"``, or a :class:`lightning.pytorch.strategies.DDPStrategy`), written
    with Lightning's public names.
    """
    strategy = trainer_kwargs.get("strategy")
    if strategy is None:
        return False
    if isinstance(strategy, str):
        return "ddp" in strategy
    from lightning.pytorch.strategies import DDPStrategy

    return isinstance(strategy, DDPStrategy)


def prepare_parallel(
    model: str,
    trainer_kwargs: dict,
    num_workers: int | None = None,
    *,
    datasplitter_kwargs: bool = True,
    find_unused_parameters: bool = False,
) -> dict:
    """Check the distributed strategy and set the data-loader workers, before training.

    * ``devices > 1`` or ``num_nodes > 1`` without a strategy (or ``"auto"``) becomes
      ``strategy="ddp"``, so that scvi-tools gives each process its own shard of the
      observations (its :class:`~scvi.dataloaders.BatchDistributedSampler`; group-balanced and
      tile loaders are sharded by Lightning's ``DistributedSamplerWrapper`` /
      ``DistributedSampler``).
    * Strategies that start processes by spawning (``"ddp_spawn"``), forking (``"ddp_fork"``) or
      from a notebook (``"ddp_notebook"``) are refused: spawning must pickle the model's
      :class:`~scvi.data.AnnDataManager`, whose MuData fields hold local functions and cannot be
      pickled (the run fails after setup), and forking the initialised process was seen to hang
      on CPU. ``"ddp"`` works: Lightning starts one copy of the running script per extra device;
      on a cluster, ``srun`` (SLURM) or ``torchrun`` starts one process per device.
    * ``find_unused_parameters`` (models with several optimisers stepping parts of the network,
      MORPHOVI's adversarial plan): ``"ddp"`` becomes ``"ddp_find_unused_parameters_true"``.

    Parameters
    ----------
    model
        Model name for the error messages.
    trainer_kwargs
        The Lightning Trainer keyword arguments of ``train()``; changed in place.
    num_workers
        See :func:`loader_kwargs`.
    datasplitter_kwargs
        Put the loader arguments into ``trainer_kwargs["datasplitter_kwargs"]`` (models trained
        through scvi-tools' ``UnsupervisedTrainingMixin.train``); False: only return them.
    find_unused_parameters
        The model's training step leaves some parameters without gradient.

    Returns
    -------
    The loader arguments (:func:`loader_kwargs`).

    Raises
    ------
    ValueError
        An unsupported strategy (named, with what to use instead), a DDPStrategy object without
        ``find_unused_parameters=True`` where the model needs it, or a bad ``num_workers``.
    """
    loader = loader_kwargs(num_workers)
    strategy = trainer_kwargs.get("strategy")
    n_dev = _n_devices(trainer_kwargs.get("devices"))
    n_nodes = int(trainer_kwargs.get("num_nodes", 1) or 1)
    if (strategy is None or strategy == "auto") and ((n_dev or 1) > 1 or n_nodes > 1):
        strategy = "ddp"
        logger.info(
            "%s: devices=%s, num_nodes=%s: training with strategy='ddp'.",
            model,
            trainer_kwargs.get("devices"),
            n_nodes,
        )
    if isinstance(strategy, str):
        low = strategy.lower()
        bad = [s for s in _UNSUPPORTED_START if s in low]
        if bad:
            raise ValueError(
                f"{model}.train(strategy='{strategy}') is not supported: {_why(bad[0])} Use "
                "strategy='ddp' from a Python script (Lightning starts one copy of the script per "
                "extra device), or one process per device with srun (SLURM) or torchrun; see "
                "docs/scale.md."
            )
        if find_unused_parameters and low == "ddp":
            strategy = "ddp_find_unused_parameters_true"
    elif strategy is not None:
        start = str(getattr(strategy, "_start_method", "popen"))
        bad = [s for s in _UNSUPPORTED_START if s in start]
        if bad:
            raise ValueError(
                f"{model}.train(strategy={type(strategy).__name__}(start_method='{start}')) is not "
                f"supported: {_why(bad[0])} Use start_method='popen' (the default) or "
                "strategy='ddp'; see docs/scale.md."
            )
        ddp_kwargs = getattr(strategy, "_ddp_kwargs", None)
        if (
            find_unused_parameters
            and ddp_kwargs is not None
            and not ddp_kwargs.get("find_unused_parameters")
        ):
            raise ValueError(
                f"{model} steps several optimisers on parts of the network, so DDP must look for "
                "parameters without gradient: pass DDPStrategy(find_unused_parameters=True) or "
                "strategy='ddp' (remadom then sets it)."
            )
    if strategy is not None:
        trainer_kwargs["strategy"] = strategy
    if datasplitter_kwargs and loader:
        trainer_kwargs["datasplitter_kwargs"] = {
            **(trainer_kwargs.get("datasplitter_kwargs") or {}),
            **loader,
        }
    return loader


def _why(kind: str) -> str:
    if kind == "spawn":
        return (
            "spawned processes receive a pickled copy of the model, and scvi-tools' MuData "
            "fields of its AnnDataManager cannot be pickled."
        )
    return (
        "it forks the already initialised training process, which was seen to hang on CPU "
        "(no progress after setup)."
    )


def warn_unsharded(model: str, n_batches: int, trainer_kwargs: dict, what: str = "batches") -> None:
    """Warn when a DDP run has fewer batches per epoch than processes per node.

    Lightning's sampler pads the epoch's batches to a multiple of the world size, so with fewer
    batches than processes some processes repeat a batch (with one batch, every process trains
    on the same data: no speed-up).
    """
    import warnings

    n_dev = _n_devices(trainer_kwargs.get("devices"))
    if is_distributed(trainer_kwargs) and n_dev is not None and n_batches < n_dev:
        warnings.warn(
            f"{model}: {n_batches} {what} per epoch for {n_dev} processes per node: some processes "
            "train on the same batch (no speed-up); lower batch_size to get at least one per "
            "process.",
            UserWarning,
            stacklevel=3,
        )
