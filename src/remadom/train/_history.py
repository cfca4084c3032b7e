"""Keep scvi-tools' training history when the user passes their own Lightning logger."""

from __future__ import annotations


def keep_history(trainer_kwargs: dict) -> None:
    """Put scvi-tools' history logger first among the user's loggers (in place).

    scvi-tools fills ``model.history`` from ``trainer.logger``, its dictionary logger, only when
    no logger is given: ``train(logger=TensorBoardLogger(...))`` alone trains with TensorBoard and
    leaves ``model.history`` empty. Given a logger (or a list), this makes the list
    ``[scvi-tools' logger, *user's loggers]`` so that both are written: Lightning logs every metric
    to each logger, and ``trainer.logger`` (the first) is the one whose history scvi-tools reads.

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
    from scvi.train._logger import SimpleLogger  # scvi-tools' history logger (no public name)

    loggers = list(given) if isinstance(given, list | tuple) else [given]
    history = [lg for lg in loggers if isinstance(lg, SimpleLogger)] or [SimpleLogger()]
    trainer_kwargs["logger"] = history[:1] + [lg for lg in loggers if lg is not history[0]]
