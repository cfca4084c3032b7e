"""Mutual nearest neighbours across groups, pulled together (CrossGraph)."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ._base import AlignmentHead, group_pairs, median_sq_dist


def mnn_pairs(a: torch.Tensor, b: torch.Tensor, k: int) -> torch.Tensor:
    """Mutual k-nearest-neighbour pairs between rows of ``a`` and ``b`` by cosine similarity.

    Returns
    -------
    ``(n_pairs, 2)`` long tensor of (row of ``a``, row of ``b``) (Haghverdi et al., 2018).
    """
    sim = F.normalize(a, dim=1) @ F.normalize(b, dim=1).T
    ka, kb = min(k, sim.shape[1]), min(k, sim.shape[0])
    a_nn = torch.zeros_like(sim, dtype=torch.bool).scatter_(1, sim.topk(ka, dim=1).indices, True)
    b_nn = torch.zeros_like(sim, dtype=torch.bool).scatter_(0, sim.topk(kb, dim=0).indices, True)
    return torch.nonzero(a_nn & b_nn)


class CrossGraphHead(AlignmentHead):
    """Pulls together mutual nearest neighbours found across groups.

    In each minibatch, for each group against the rest, MNN pairs (cosine, ``k`` neighbours) are
    found in ``space``: ``"latent"`` (the current ``z_bio``, detached -- pairs follow the model as
    it trains) or ``"link"`` (shared features registered with ``link_key`` in ``setup_mudata``,
    e.g. RNA for RNA cells and gene activity from the gene-region matrix for ATAC cells, built by
    :func:`remadom.pp.link_features`; a prior feature association as in GLUE's guidance graph,
    Cao & Gao 2022). The loss is the mean squared distance of the pairs over the median squared
    distance. Pairs are recomputed every step (the freshest possible refresh); ``O(batch^2)``.

    Parameters
    ----------
    k
        Neighbours per cell for the MNN search.
    space
        ``"latent"`` or ``"link"``.
    **kwargs
        ``weight``, ``warmup_epochs``, ``group_by``.
    """

    name = "crossgraph"

    def __init__(self, k: int = 5, space: str = "link", **kwargs):
        super().__init__(**kwargs)
        if k < 1:
            raise ValueError(f"head 'crossgraph': k must be >= 1, got {k}.")
        if space not in ("latent", "link"):
            raise ValueError(f"head 'crossgraph': space must be 'latent' or 'link', got '{space}'.")
        self.k, self.space = int(k), space

    @property
    def requires(self) -> tuple[str, ...]:  # type: ignore[override]
        return ("link",) if self.space == "link" else ()

    def loss(self, z: torch.Tensor, groups: torch.Tensor, link: torch.Tensor | None = None,
             **context) -> torch.Tensor:
        feats = z.detach() if self.space == "latent" else link
        scale = median_sq_dist(z)
        terms = []
        for sel, rest in group_pairs(groups):
            ia, ib = torch.nonzero(sel).view(-1), torch.nonzero(rest).view(-1)
            pairs = mnn_pairs(feats[ia], feats[ib], self.k)
            if len(pairs):
                d2 = (z[ia[pairs[:, 0]]] - z[ib[pairs[:, 1]]]).pow(2).sum(1)
                terms.append(d2.mean() / scale)
        return torch.stack(terms).mean() if terms else z.new_zeros(())
