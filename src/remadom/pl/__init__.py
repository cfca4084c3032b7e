"""Plotting."""

from ._spatial import domains, loss_curves

__all__ = ["domains", "loss_curves"]
