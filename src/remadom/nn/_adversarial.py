"""Latent discriminator and GAN losses (LSGAN, non-saturating GAN, WGAN-GP)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

GAN_TYPES = ("lsgan", "nsgan", "wgan-gp")
NORMS = ("none", "batch", "layer")


class Discriminator(nn.Module):
    """MLP critic on latent codes: ``n_latent -> dim -> dim -> 1`` (LeakyReLU 0.2).

    Parameters
    ----------
    n_latent
        Input width.
    dim
        Hidden width (seed ``dis.dim``).
    norm
        ``"none"``, ``"batch"`` or ``"layer"`` normalisation of the hidden layers (``dis.norm``);
        WGAN-GP should use ``"none"`` or ``"layer"`` (batch norm breaks the per-sample penalty).
    n_layers
        Hidden layers.

    Raises
    ------
    ValueError
        Unknown ``norm``.
    """

    def __init__(self, n_latent: int, dim: int = 64, norm: str = "none", n_layers: int = 2):
        super().__init__()
        if norm not in NORMS:
            raise ValueError(f"dis.norm '{norm}' is unknown; choose one of {NORMS}.")
        layers, width = [], n_latent
        for _ in range(n_layers):
            layers.append(nn.Linear(width, dim))
            if norm == "batch":
                layers.append(nn.BatchNorm1d(dim))
            elif norm == "layer":
                layers.append(nn.LayerNorm(dim))
            layers.append(nn.LeakyReLU(0.2))
            width = dim
        layers.append(nn.Linear(width, 1))
        self.net = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        """``(batch, n_latent)`` -> scores ``(batch,)``."""
        return self.net(z).squeeze(-1)


def discriminator_loss(gan_type: str, d: Discriminator, z_a: torch.Tensor, z_b: torch.Tensor,
                       gp_weight: float = 10.0) -> torch.Tensor:
    """Critic loss: tell modality-A latents (label 1) from modality-B latents (label 0).

    ``lsgan``: least squares (Mao et al. 2017); ``nsgan``: binary cross-entropy (Goodfellow et al.
    2014); ``wgan-gp``: Wasserstein critic with gradient penalty on interpolates (Gulrajani et al.
    2017). Inputs should be detached from the encoders.

    Raises
    ------
    ValueError
        Unknown ``gan_type``.
    """
    sa, sb = d(z_a), d(z_b)
    if gan_type == "lsgan":
        return 0.5 * ((sa - 1) ** 2).mean() + 0.5 * (sb**2).mean()
    if gan_type == "nsgan":
        return (F.binary_cross_entropy_with_logits(sa, torch.ones_like(sa))
                + F.binary_cross_entropy_with_logits(sb, torch.zeros_like(sb)))
    if gan_type == "wgan-gp":
        n = min(len(z_a), len(z_b))
        eps = torch.rand(n, 1, device=z_a.device)
        mix = (eps * z_a[:n] + (1 - eps) * z_b[:n]).requires_grad_(True)
        grad = torch.autograd.grad(d(mix).sum(), mix, create_graph=True)[0]
        gp = ((grad.norm(2, dim=1) - 1) ** 2).mean()
        return sb.mean() - sa.mean() + gp_weight * gp
    raise ValueError(f"dis.gan_type '{gan_type}' is unknown; choose one of {GAN_TYPES}.")


def generator_loss(gan_type: str, d: Discriminator, z_a: torch.Tensor, z_b: torch.Tensor) -> torch.Tensor:
    """Encoder (generator) loss: both encoders try to make the critic swap its labels."""
    sa, sb = d(z_a), d(z_b)
    if gan_type == "lsgan":
        return 0.5 * (sa**2).mean() + 0.5 * ((sb - 1) ** 2).mean()
    if gan_type == "nsgan":
        return (F.binary_cross_entropy_with_logits(sa, torch.zeros_like(sa))
                + F.binary_cross_entropy_with_logits(sb, torch.ones_like(sb)))
    if gan_type == "wgan-gp":
        return sa.mean() - sb.mean()
    raise ValueError(f"dis.gan_type '{gan_type}' is unknown; choose one of {GAN_TYPES}.")
