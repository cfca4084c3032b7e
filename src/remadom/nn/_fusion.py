"""Fusion layers: attention pooling, ChannelGate, uncertainty gate, gradient rescaling, adapter."""

from __future__ import annotations

import torch
from torch import nn


class AttentionPool(nn.Module):
    """Additive attention over a stack of embeddings (Bahdanau et al., 2015).

    ``score_s = v^T tanh(W h_s + b)`` and ``alpha = softmax_s(score_s)``; SpatialGlue (Long et al.,
    Nat Methods 2024) uses this form within a modality (over graphs) and across modalities.

    Parameters
    ----------
    n_input
        Width ``d`` of each embedding.
    n_hidden
        Width of the scoring layer.
    """

    def __init__(self, n_input: int, n_hidden: int = 32):
        super().__init__()
        self.proj = nn.Linear(n_input, n_hidden)
        self.v = nn.Linear(n_hidden, 1, bias=False)

    def scores(self, h: torch.Tensor) -> torch.Tensor:
        """Unnormalised scores ``(batch, n_stack)`` for ``h`` of shape ``(batch, n_stack, d)``."""
        return self.v(torch.tanh(self.proj(h))).squeeze(-1)

    def forward(self, h: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Return the pooled ``(batch, d)`` embedding and weights ``(batch, n_stack)``."""
        alpha = torch.softmax(self.scores(h), dim=-1)
        return (alpha.unsqueeze(-1) * h).sum(1), alpha


class ChannelGate(nn.Module):
    """Channel attention over stacked modality latents (squeeze-and-excitation, Hu et al., CVPR 2018).

    For ``z`` of shape ``(batch, n_modalities, d)``: ``s = mean_m z_m`` (squeeze),
    ``g = sigmoid(W_2 relu(W_1 s))`` (excitation, reduction ``r``), and every modality's latent is
    rescaled channel-wise, ``z_m <- 2 g * z_m`` (the factor 2 makes the gate the identity at
    initialisation, where ``g = 0.5``).

    Parameters
    ----------
    n_channels
        Latent width ``d``.
    reduction
        Bottleneck reduction ``r``.
    """

    def __init__(self, n_channels: int, reduction: int = 4):
        super().__init__()
        hidden = max(1, n_channels // reduction)
        self.fc1 = nn.Linear(n_channels, hidden)
        self.fc2 = nn.Linear(hidden, n_channels)
        nn.init.zeros_(self.fc2.weight)
        nn.init.zeros_(self.fc2.bias)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        """Return the gate ``(batch, d)`` in ``(0, 2)``."""
        return 2 * torch.sigmoid(self.fc2(torch.relu(self.fc1(z.mean(1)))))


def uncertainty_logits(logvar: torch.Tensor, temperature: float = 1.0) -> torch.Tensor:
    """Uncertainty-gating logits: ``-log(mean_j exp(logvar_mj)) / T`` per modality.

    With these logits alone the softmax weights are inverse mean predicted variances
    (precision weighting, as in a product of Gaussian experts): the less uncertain modality
    weighs more.

    Parameters
    ----------
    logvar
        ``(batch, n_modalities, d)`` posterior log-variances.
    temperature
        Softmax temperature ``T``.

    Returns
    -------
    ``(batch, n_modalities)`` logits.
    """
    return -torch.logsumexp(logvar, dim=-1) / temperature


class _ScaleGrad(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, scale):
        ctx.save_for_backward(scale)
        return x.view_as(x)

    @staticmethod
    def backward(ctx, grad):
        (scale,) = ctx.saved_tensors
        return grad * scale, None


def scale_grad(x: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    """Identity in the forward pass; multiplies the incoming gradient by ``scale`` (a tensor)."""
    return _ScaleGrad.apply(x, scale)


def euro_coefficients(weights: torch.Tensor, alpha: float = 1.0) -> torch.Tensor:
    """EURO gradient coefficients from the fusion weights (after OGM-GE, Peng et al., CVPR 2022).

    The dominance ratio of modality ``m`` is ``rho_m = M * mean_i w_im`` (1 when all modalities
    weigh the same). A dominant modality (``rho_m > 1``) has its encoder gradients scaled by
    ``k_m = 1 - tanh(alpha * (rho_m - 1))``; the others keep ``k_m = 1``.

    Parameters
    ----------
    weights
        ``(batch, n_modalities)`` fusion weights (detached inside).
    alpha
        Strength of the modulation.

    Returns
    -------
    ``(n_modalities,)`` coefficients in ``(0, 1]``.
    """
    rho = weights.detach().mean(0) * weights.shape[1]
    return 1 - torch.tanh(alpha * torch.clamp(rho - 1, min=0))


class Adapter(nn.Module):
    """Residual bottleneck adapter ``z + W_2 relu(W_1 z)`` (Houlsby et al., ICML 2019).

    The output layer starts at zero, so the adapter is the identity at initialisation.
    """

    def __init__(self, n_input: int, n_bottleneck: int = 8):
        super().__init__()
        self.down = nn.Linear(n_input, n_bottleneck)
        self.up = nn.Linear(n_bottleneck, n_input)
        nn.init.zeros_(self.up.weight)
        nn.init.zeros_(self.up.bias)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return z + self.up(torch.relu(self.down(z)))
