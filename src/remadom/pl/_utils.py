"""Shared plumbing of the plot functions: scanpy's ``ax=`` / ``show=`` / ``save=`` / ``return_fig=``."""

from __future__ import annotations

from collections.abc import Sequence
from os import PathLike

import matplotlib.pyplot as plt
from matplotlib.axes import Axes
from matplotlib.figure import Figure


def figure_of(ax: Axes | Sequence[Axes]) -> Figure:
    """The figure an axes (or the first of several) belongs to."""
    first = ax if isinstance(ax, Axes) else next(iter(ax))
    try:
        return first.get_figure(root=True)  # the top figure, also for axes in a subfigure
    except TypeError:  # matplotlib < 3.10
        return first.figure


def finish(
    fig: Figure,
    *,
    ax_given: bool,
    show: bool | None,
    save: str | PathLike | None,
    return_fig: bool,
    dpi: int = 150,
) -> Figure | None:
    """Save, show and return a finished figure the way scanpy's plot functions do.

    ``show=None`` shows the figure unless it is saved or drawn in the caller's axes. A figure
    this package created is closed after saving unless it is returned, so loops of saved plots
    do not pile up open figures. The backend is never changed: :func:`matplotlib.pyplot.show`
    does what the current backend does.

    Returns
    -------
    The figure when ``return_fig`` is true, else ``None``.
    """
    if save is not None:
        fig.savefig(save, dpi=dpi, bbox_inches="tight")
    if show is None:
        show = save is None and not ax_given
    if show:
        plt.show()
    if return_fig:
        return fig
    if save is not None and not ax_given:
        plt.close(fig)
    return None
