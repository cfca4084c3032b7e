"""Metrics: ARI, NMI, Moran's I of domains."""

from ._metrics import ari, morans_i_labels, nmi

__all__ = ["ari", "morans_i_labels", "nmi"]
