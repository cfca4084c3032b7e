"""Plotting."""

from ._priors import prior_posterior
from ._spatial import domains, loss_curves

__all__ = ["domains", "loss_curves", "prior_posterior"]
