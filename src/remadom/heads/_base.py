"""The alignment-head interface: an extra loss on ``z_bio`` computed per minibatch."""

from __future__ import annotations

from typing import ClassVar

import torch
from torch import nn

#: what a head may group cells by; ``modality_set`` is the set of modalities a cell has
GROUP_KEYS = ("modality_set", "batch", "study", "labels")


class AlignmentHead(nn.Module):
    """Base class of every alignment head (one small class each, see :data:`HEADS`).

    A head receives the minibatch's ``z_bio`` ``(batch, n_latent)``, integer group labels
    ``(batch,)`` and, if it declares them in :attr:`requires`, context tensors (a graph, time
    values, known pairs); it returns a scalar loss. The model adds
    ``weight * warmup(epoch) * loss`` to the ELBO, where ``warmup`` rises linearly from ``1 /
    warmup_epochs`` to 1 over the first ``warmup_epochs`` epochs. Memory is at most
    ``O(batch^2)``; nothing is ever ``O(n_obs^2)``.

    Parameters
    ----------
    weight
        Non-negative multiplier of the loss.
    warmup_epochs
        Epochs of linear warm-up (0: full weight from the start).
    group_by
        What the groups are: one of :data:`GROUP_KEYS` (``"modality_set"`` aligns cells measured
        by different modality sets -- the unpaired/bridge case; ``"batch"``/``"study"`` mixes
        batches).

    Raises
    ------
    ValueError
        On a negative weight or warm-up, or an unknown ``group_by``.
    """

    #: registry name used in YAML (``heads: [{name: mmd, ...}]``)
    name: ClassVar[str] = "base"
    #: context the head needs, among ``("graph", "time", "link", "bank", "experts")``: a graph
    #: set with :meth:`set_graph`, the cells' time values, shared link features
    #: (``link_key``), the latent memory bank of all cells, the per-modality expert means
    requires: ClassVar[tuple[str, ...]] = ()
    #: whether the loss compares groups (else ``group_by`` is unused and one group is fine)
    needs_groups: ClassVar[bool] = True

    def __init__(self, weight: float = 1.0, warmup_epochs: int = 0, group_by: str = "modality_set"):
        super().__init__()
        if weight < 0:
            raise ValueError(f"head '{self.name}': weight must be >= 0, got {weight}.")
        if warmup_epochs < 0:
            raise ValueError(f"head '{self.name}': warmup_epochs must be >= 0, got {warmup_epochs}.")
        if group_by not in GROUP_KEYS:
            raise ValueError(
                f"head '{self.name}': unknown group_by '{group_by}'; choose one of {GROUP_KEYS}."
            )
        self.weight = float(weight)
        self.warmup_epochs = int(warmup_epochs)
        self.group_by = group_by

    def schedule(self, epoch: int | None) -> float:
        """Weight at ``epoch`` (0-based) after warm-up."""
        if epoch is None or self.warmup_epochs == 0:
            return self.weight
        return self.weight * min(1.0, (epoch + 1) / self.warmup_epochs)

    def loss(self, z: torch.Tensor, groups: torch.Tensor, **context) -> torch.Tensor:
        """Unweighted loss, a scalar tensor. Subclasses implement this."""
        raise NotImplementedError

    def forward(self, z: torch.Tensor, groups: torch.Tensor, epoch: int | None = None,
                **context) -> torch.Tensor:
        """Weighted, scheduled loss; zero when the batch has fewer than two groups."""
        w = self.schedule(epoch)
        if w == 0 or (self.needs_groups and torch.unique(groups).numel() < 2):
            return z.new_zeros(())
        return w * self.loss(z, groups, **context)

    def extra_repr(self) -> str:
        return f"weight={self.weight}, warmup_epochs={self.warmup_epochs}, group_by='{self.group_by}'"


def median_sq_dist(x: torch.Tensor, y: torch.Tensor | None = None, max_points: int = 1024) -> torch.Tensor:
    """Median squared Euclidean distance, the scale used by every distance-based head.

    It keeps its gradient on purpose. A head loss divided by it (or a kernel bandwidth set by it)
    is invariant to a global rescaling of ``z``, so its gradient has no component that shrinks
    the latent. With a detached scale, a head could lower its loss by pulling every cell towards
    the prior mean, which the KL term favours as well; on the MOp unpaired halves this collapsed
    the latent (Sinkhorn, cell-type ARI 0.01) or sent it to NaN (GW) at the preset weight of 100.

    At most ``max_points`` evenly spaced rows of each input are used, so the cost stays bounded
    for large minibatches (deterministic: no random draw).
    """

    def thin(t: torch.Tensor) -> torch.Tensor:
        if len(t) <= max_points:
            return t
        return t[torch.linspace(0, len(t) - 1, max_points, device=t.device).long()]

    a = thin(x)
    d2 = torch.cdist(a, a if y is None else thin(y)).pow(2)
    pos = d2[d2 > 0]
    return pos.median() if pos.numel() else d2.new_ones(())


def group_pairs(groups: torch.Tensor, min_size: int = 2):
    """Yield ``(mask_g, mask_rest)`` for each group with ``min_size`` members and a rest as large."""
    for g in torch.unique(groups):
        sel = groups == g
        if sel.sum() >= min_size and (~sel).sum() >= min_size:
            yield sel, ~sel
