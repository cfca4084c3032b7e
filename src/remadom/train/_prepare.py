"""One call that readies a model's Lightning Trainer arguments (parallelism, history, checkpoints)."""

from __future__ import annotations

import os

from ._checkpoint import add_checkpointing
from ._distributed import prepare_parallel
from ._history import keep_history


def prepare_trainer(
    model: str,
    trainer_kwargs: dict,
    num_workers: int | None = None,
    checkpoint_dir: str | os.PathLike | None = None,
    resume: bool = False,
    *,
    validate: bool = False,
    datasplitter_kwargs: bool = True,
    find_unused_parameters: bool = False,
) -> dict:
    """Ready the Lightning Trainer keyword arguments of a model's ``train()``, in place.

    The three steps every remadom ``train()`` takes before it builds the trainer, in this order:
    :func:`prepare_parallel` (strategy check, ``ddp`` for several devices, loader workers),
    :func:`keep_history` (a history logger first among the user's loggers) and
    :func:`add_checkpointing` (``checkpoint_dir/last.ckpt`` after every epoch, ``resume``).

    Parameters
    ----------
    model
        Model name for the error messages.
    trainer_kwargs
        The Trainer keyword arguments of ``train()`` (``devices``, ``strategy``, ``logger``,
        ``callbacks``, ``ckpt_path``, ...); changed in place.
    num_workers
        Data-loader processes (:func:`loader_kwargs`; ``None``: scvi-tools' setting).
    checkpoint_dir, resume
        As in :func:`add_checkpointing`.
    validate
        Whether the run validates every epoch (early stopping); without it, checkpointing
        keeps validation off.
    datasplitter_kwargs, find_unused_parameters
        As in :func:`prepare_parallel`: put the loader arguments into
        ``trainer_kwargs["datasplitter_kwargs"]`` (models trained through scvi-tools'
        ``UnsupervisedTrainingMixin.train``); the training step leaves parameters without
        gradient (adversarial plans).

    Returns
    -------
    The loader arguments (:func:`loader_kwargs`), as :func:`prepare_parallel` returns them.

    Raises
    ------
    ValueError
        An unsupported strategy, a bad ``num_workers`` (:func:`prepare_parallel`); ``resume``
        without ``checkpoint_dir`` or together with ``ckpt_path`` (:func:`add_checkpointing`).
    FileNotFoundError
        ``resume`` but no ``last.ckpt`` in ``checkpoint_dir``.
    FileExistsError
        ``checkpoint_dir`` already holds a ``last.ckpt`` and ``resume`` is off.

    Examples
    --------
    >>> kw = {"devices": 2}
    >>> loader = prepare_trainer("URMF", kw, num_workers=2, checkpoint_dir="run/")
    >>> kw["strategy"], loader
    ('ddp', {'num_workers': 2, 'persistent_workers': True})
    """
    loader = prepare_parallel(
        model,
        trainer_kwargs,
        num_workers,
        datasplitter_kwargs=datasplitter_kwargs,
        find_unused_parameters=find_unused_parameters,
    )
    keep_history(trainer_kwargs)
    add_checkpointing(trainer_kwargs, checkpoint_dir, resume, validate=validate)
    return loader
