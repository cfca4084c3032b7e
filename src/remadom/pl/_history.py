"""Training curves from a model's ``history``."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from os import PathLike

import matplotlib.pyplot as plt
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from ._utils import figure_of, finish


def _default_keys(history: Mapping[str, pd.DataFrame]) -> list[str]:
    main = [k for k in ("train_loss", "train_loss_epoch", "validation_loss") if k in history]
    return main or [k for k in history if "loss" in k] or list(history)


def loss_curves(
    model_or_history,
    keys: str | Sequence[str] | None = None,
    *,
    logy: bool = False,
    ax: Axes | None = None,
    show: bool | None = None,
    save: str | PathLike | None = None,
    return_fig: bool = False,
) -> Figure | None:
    """Training curves, one line per logged quantity, against the epoch.

    Parameters
    ----------
    model_or_history
        A trained model of any of the five kinds, or its ``model.history`` (the scvi-tools
        mapping of a name to a one-column DataFrame indexed by epoch).
    keys
        Quantities to draw; default ``train_loss`` and ``validation_loss`` where logged, else
        every key with ``loss`` in its name.
    logy
        Logarithmic y axis.
    ax
        Axes to draw in.
    show
        Show the figure; default: when it is neither saved nor drawn in ``ax``.
    save
        Write the figure to this path.
    return_fig
        Return the figure.

    Returns
    -------
    The figure with ``return_fig=True``, otherwise ``None``.

    Raises
    ------
    ValueError
        The history is empty (e.g. only a non-CSV logger was passed to ``train``).
    KeyError
        A key that was not logged; the message lists the logged ones.
    """
    history = getattr(model_or_history, "history", model_or_history)
    if history is None and hasattr(model_or_history, "history_"):  # scvi-tools' raw attribute
        history = model_or_history.history_
    if not history:
        raise ValueError("the training history is empty: train the model first (with scvi-tools' "
                         "own logger, which fills model.history).")
    keys = _default_keys(history) if keys is None else [keys] if isinstance(keys, str) else list(keys)
    missing = [k for k in keys if k not in history]
    if missing:
        raise KeyError(f"{missing} not in the history; logged: {sorted(history)}.")
    if ax is None:
        _, ax_ = plt.subplots(figsize=(5, 3.5))
    else:
        ax_ = ax
    for k in keys:
        s = pd.DataFrame(history[k]).iloc[:, 0].dropna()
        ax_.plot(s.index, s.to_numpy(dtype=float), label=k, marker="." if len(s) < 20 else None)
    ax_.set_xlabel("epoch")
    ax_.set_ylabel("loss" if all("loss" in k for k in keys) else "value")
    if logy:
        ax_.set_yscale("log")
    ax_.legend(fontsize=7, frameon=False)
    fig = figure_of(ax_)
    if ax is None:
        fig.tight_layout()
    return finish(fig, ax_given=ax is not None, show=show, save=save, return_fig=return_fig)
