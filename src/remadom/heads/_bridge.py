"""An explicit dictionary between two modalities' latents, learned on bridge cells."""

from __future__ import annotations

import torch
from torch import nn

from ._base import AlignmentHead, median_sq_dist


class BridgeDictionary(AlignmentHead):
    """Learns a map ``W`` from modality ``source``'s expert latent to ``target``'s on bridge cells.

    Bridge cells (measured in both modalities) fit an affine map ``f(mu_s) = W mu_s + b`` of the
    source expert's mean onto the target expert's mean: ``fit = mean ||f(mu_s) - mu_t||^2``. Cells
    with the source only are mapped by ``f`` and their misfit to the target cells of the
    minibatch is penalised (mean squared distance to the nearest target cell, a one-sided Chamfer
    distance); gradients reach both encoders and ``f``, so the unpaired cells of each modality are
    drawn onto one another through the dictionary learned on the bridge (after the bridge
    integration of Hao et al., Nat Biotechnol 2024, with a learned rather than a fixed dictionary).
    Distances are divided by the median squared distance. ``O(batch^2)``.

    Parameters
    ----------
    source, target
        Modality names (registered).
    n_latent
        Width of ``z_bio`` (set by the model).
    **kwargs
        ``weight``, ``warmup_epochs`` (``group_by`` is unused).
    """

    name = "bridge"
    requires = ("experts",)
    needs_groups = False

    def __init__(self, source: str = "rna", target: str = "atac", n_latent: int | None = None, **kwargs):
        super().__init__(**kwargs)
        if source == target:
            raise ValueError(f"head 'bridge': source and target must differ, both are '{source}'.")
        self.source, self.target = source, target
        self.map = None
        if n_latent:
            self.set_latent_width(n_latent)

    def set_latent_width(self, n_latent: int) -> None:
        """Create the affine map, initialised to the identity (done by the model)."""
        if self.map is None or self.map.in_features != n_latent:
            self.map = nn.Linear(n_latent, n_latent)
            nn.init.eye_(self.map.weight)
            nn.init.zeros_(self.map.bias)

    def loss(self, z: torch.Tensor, groups: torch.Tensor, experts: torch.Tensor | None = None,
             mask: torch.Tensor | None = None, modalities: list[str] | None = None, **context) -> torch.Tensor:
        if experts is None or mask is None or modalities is None:
            raise RuntimeError("BridgeDictionary needs the per-modality expert means and the mask.")
        s, t = modalities.index(self.source), modalities.index(self.target)
        has_s, has_t = mask[:, s].bool(), mask[:, t].bool()
        mu_s, mu_t = experts[s], experts[t]
        scale = median_sq_dist(z)
        total = z.new_zeros(())
        bridge = has_s & has_t
        if bridge.any():
            total = total + (self.map(mu_s[bridge]) - mu_t[bridge]).pow(2).sum(1).mean() / scale
        rest = has_s & ~has_t
        if rest.any() and has_t.any():
            d2 = torch.cdist(self.map(mu_s[rest]), mu_t[has_t]).pow(2)
            total = total + d2.min(1).values.mean() / scale
        return total
