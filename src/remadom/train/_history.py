"""Keep scvi-tools' training history when the user passes their own Lightning logger."""

from __future__ import annotations

from typing import Any

import pandas as pd
import torch
from lightning.pytorch.loggers import Logger
from lightning.pytorch.utilities import rank_zero_only


class HistoryLogger(Logger):
    """A Lightning logger that keeps every metric in memory, as scvi-tools' default logger.

    ``history`` maps each metric name to a one-column :class:`~pandas.DataFrame` indexed by
    ``"epoch"`` (or ``"step"``), the layout scvi-tools' :class:`~scvi.train.TrainRunner` copies
    into ``model.history`` from ``trainer.logger.history``. Used where scvi-tools does not make its
    own: next to the user's loggers (:func:`keep_history`) and by MORPHOVI, whose trainer is
    Lightning's. Written on rank 0 only.

    Examples
    --------
    >>> model.train(max_epochs=2, logger=[HistoryLogger(), CSVLogger("logs")])
    >>> model.history["train_loss"]
    """

    def __init__(self):
        super().__init__()
        self._history: dict[str, pd.DataFrame] = {}

    @property
    def name(self) -> str:
        """Logger name (nothing is written to disk)."""
        return "history"

    @property
    def version(self) -> int:
        """Always 0 (one history per trainer)."""
        return 0

    @property
    def history(self) -> dict[str, pd.DataFrame]:
        """``{metric: DataFrame (n_logged, 1)}``, indexed by epoch or step."""
        return self._history

    @rank_zero_only
    def log_hyperparams(self, params: Any, *args, **kwargs) -> None:
        """Hyperparameters are not kept."""

    @rank_zero_only
    def log_metrics(self, metrics: dict[str, float], step: int | None = None) -> None:
        """Append ``metrics`` at their ``"epoch"`` (or ``"step"``) entry, else at ``step``."""
        metrics = dict(metrics)  # Lightning passes the same dict to every logger
        index = next((k for k in ("step", "epoch") if k in metrics), None)
        time_point = metrics.pop(index) if index else step
        for metric, value in metrics.items():
            if metric not in self._history:
                self._history[metric] = pd.DataFrame(columns=[metric])
                self._history[metric].index.name = index or "step"
            self._history[metric].loc[time_point, metric] = value.item() if isinstance(value, torch.Tensor) else value


def _keeps_history(logger) -> bool:
    """Whether ``logger`` has an in-memory ``history`` that scvi-tools reads (duck-typed, as
    scvi-tools' TrainRunner does): a :class:`HistoryLogger` or scvi-tools' own logger."""
    return isinstance(getattr(logger, "history", None), dict)


def keep_history(trainer_kwargs: dict) -> None:
    """Put a history logger first among the user's loggers (in place).

    scvi-tools fills ``model.history`` from ``trainer.logger``, its dictionary logger, only when
    no logger is given: ``train(logger=TensorBoardLogger(...))`` alone trains with TensorBoard and
    leaves ``model.history`` empty. Given a logger (or a list), this makes the list
    ``[HistoryLogger(), *user's loggers]`` so that both are written: Lightning logs every metric
    to each logger, and ``trainer.logger`` (the first) is the one whose history scvi-tools reads.
    A logger of the list that already keeps a history (:class:`HistoryLogger`, scvi-tools' own)
    is moved first instead.

    Parameters
    ----------
    trainer_kwargs
        The Lightning Trainer keyword arguments of a model's ``train()``; ``"logger"`` is changed
        in place when it is a :class:`lightning.pytorch.loggers.Logger` or a list of them.
        ``None``, ``True`` and ``False`` are left as they are (scvi-tools' default logger,
        Lightning's default logger, no logging).
    """
    given = trainer_kwargs.get("logger")
    if given is None or isinstance(given, bool):
        return
    loggers = list(given) if isinstance(given, list | tuple) else [given]
    first = next((lg for lg in loggers if _keeps_history(lg)), None) or HistoryLogger()
    trainer_kwargs["logger"] = [first] + [lg for lg in loggers if lg is not first]
