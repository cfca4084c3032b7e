"""Metrics: ARI, NMI, Moran's I of domains; FOSCTTM, label transfer, imputation r, iLISI."""

from ._integration import (
           foscttm,
           ilisi,
           imputation_correlation,
           label_transfer_accuracy,
           topk_matching,
)
from ._metrics import ari, morans_i_labels, nmi

__all__ = ["ari", "topk_matching", "foscttm", "ilisi", "imputation_correlation", "label_transfer_accuracy",
           "morans_i_labels", "nmi"]
