"""Plotting, with scanpy's conventions.

Every function takes ``ax=`` (draw into existing axes), ``show=`` (default: show unless the
figure is saved or drawn into ``ax``), ``save=`` (a path) and ``return_fig=`` (return the
:class:`~matplotlib.figure.Figure`; otherwise the function returns ``None``). None of them
changes the matplotlib backend.
"""

from ._embedding import latent_umap
from ._history import loss_curves
from ._priors import prior_posterior
from ._spatial import NA_COLOUR, domains, palette

__all__ = ["NA_COLOUR", "domains", "latent_umap", "loss_curves", "palette", "prior_posterior"]
