"""STEREOMM module: cross-modal attention per spot + variational graph autoencoder."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from scvi.module.base import BaseModuleClass, LossOutput, auto_move_data
from torch import nn

from remadom.nn import CrossModalAttention, GNNStack, gnn_layer

from ._constants import STEREOMM_REGISTRY_KEYS


class _VariationalGraphEncoder(nn.Module):
    """Graph layers to ``hidden_dims[-1]``, then one graph layer each for ``mu`` and ``log sigma``."""

    def __init__(self, kind: str, n_in: int, hidden_dims: list[int], n_latent: int, dropout: float):
        super().__init__()
        self.body = GNNStack(kind, n_in, hidden_dims, activation_last=True, dropout=dropout)
        self.mu = gnn_layer(kind, hidden_dims[-1], n_latent)
        self.logstd = gnn_layer(kind, hidden_dims[-1], n_latent)

    def forward(self, x, edge_index):
        h = self.body(x, edge_index)
        return self.mu(h, edge_index), self.logstd(h, edge_index).clamp(-10.0, 10.0)


class STEREOMMModule(BaseModuleClass):
    r"""Variational module of :class:`~remadom.model.STEREOMM`.

    After StereoMM (Luo et al. 2024, a graph fusion model of spatial transcriptomics and
    pathology images):

    1. every modality ``m`` (preprocessed input ``(n_obs, d_m)``) becomes a token of the common
       width ``s`` (identity when ``d_m = s``, else a linear map);
    2. :class:`~remadom.nn.CrossModalAttention` lets the tokens of each spot attend to each other
       (``X_ta``, ``X_ma``); the attended tokens are concatenated, ``(n_obs, M s)``;
    3. a variational graph autoencoder (Kipf & Welling 2016, :class:`torch_geometric.nn.VGAE`):
       GCN or GAT layers ``hidden_dims`` on the spatial graph, then graph layers for
       ``mu`` and ``log sigma`` of ``q(z | X, A)`` ``(n_obs, n_latent)``;
    4. decoders: the inner product ``sigmoid(z_i . z_j)`` for the edges (positives: the graph's
       edges; negatives: :func:`torch_geometric.utils.negative_sampling`) and, with
       ``decoder=True``, a GCN or GAT feature decoder (``hidden_dims`` reversed) that
       reconstructs every modality's preprocessed input.

    Loss (per batch, taken on the batch's own spots):
    ``feature_weight * sum_m MSE_m + edge_weight * BCE_edges + kl_weight * KL / n_obs``,
    where ``MSE_m`` is the mean squared error over spots and features of modality ``m``,
    ``BCE_edges`` the mean binary cross-entropy over positive and negative edges and ``KL`` the
    mean over spots of ``KL(q(z_i) || N(0, I))`` -- divided by the total number of spots as in
    the reference VGAE implementation.

    Parameters
    ----------
    modalities
        Modality names, in order.
    n_inputs
        Per modality, the preprocessed input width ``d_m``.
    width
        Common token width ``s``.
    num_heads, brief_att
        Attention heads and the lighter single-head variant.
    hidden_dims
        Widths of the graph encoder layers.
    n_latent
        Latent width.
    gnn_type, decoder_type
        ``"GCN"`` or ``"GAT"`` for the encoder and the feature decoder.
    decoder
        Reconstruct the features (else edges + KL only).
    n_obs_total
        Number of spots of the whole graph (the KL normaliser).
    feature_weight, edge_weight, kl_weight, dropout
        Loss weights and dropout between graph layers.
    """

    def __init__(
        self,
        modalities: list[str],
        n_inputs: dict[str, int],
        width: int,
        n_obs_total: int,
        num_heads: int = 4,
        brief_att: bool = False,
        hidden_dims: tuple[int, ...] = (2048, 256),
        n_latent: int = 100,
        gnn_type: str = "GCN",
        decoder: bool = True,
        decoder_type: str = "GCN",
        feature_weight: float = 1.0,
        edge_weight: float = 1.0,
        kl_weight: float = 1.0,
        dropout: float = 0.0,
    ):
        super().__init__()
        self.modalities = list(modalities)
        self.n_inputs = dict(n_inputs)
        self.n_obs_total = int(n_obs_total)
        self.feature_weight, self.edge_weight, self.kl_weight = feature_weight, edge_weight, kl_weight
        self.project = nn.ModuleDict({
            m: nn.Identity() if self.n_inputs[m] == width else nn.Linear(self.n_inputs[m], width)
            for m in self.modalities
        })
        self.attention = (CrossModalAttention(width, num_heads, brief=brief_att)
                          if len(self.modalities) > 1 else None)
        hidden = [int(h) for h in hidden_dims]
        from torch_geometric.nn import VGAE, InnerProductDecoder

        self.vgae = VGAE(
            _VariationalGraphEncoder(gnn_type, width * len(self.modalities), hidden, n_latent, dropout),
            InnerProductDecoder(),
        )
        self.feature_decoder = (
            GNNStack(decoder_type, n_latent, [*hidden[::-1], sum(self.n_inputs.values())],
                     activation_last=False, dropout=dropout)
            if decoder else None
        )

    # ------------------------------------------------------------------ scvi-tools interface
    def _get_inference_input(self, tensors):
        return {"inputs": {m: tensors[STEREOMM_REGISTRY_KEYS.input_key(m)] for m in self.modalities},
                "edge_index": tensors["edge_index"]}

    def _get_generative_input(self, tensors, inference_outputs):
        return {"z": inference_outputs["z"], "edge_index": tensors["edge_index"]}

    @auto_move_data
    def inference(self, inputs: dict[str, torch.Tensor], edge_index: torch.Tensor):
        """Attend, fuse and encode.

        Returns a dict with ``z`` (sample while training, else the mean), ``mu`` and ``logstd``
        ``(n_nodes, n_latent)`` and ``attention`` ``(n_nodes, M, M)`` (``None`` for one modality).
        """
        tokens = torch.stack([self.project[m](inputs[m]) for m in self.modalities], dim=1)
        attention = None
        if self.attention is not None:
            tokens, attention = self.attention(tokens)
        fused = tokens.flatten(1)
        mu, logstd = self.vgae.encoder(fused, edge_index)  # logstd clamped to [-10, 10]
        z = self.vgae.reparametrize(mu, logstd)  # a sample in training mode, the mean in eval mode
        return {"z": z, "mu": mu, "logstd": logstd, "attention": attention}

    @auto_move_data
    def generative(self, z: torch.Tensor, edge_index: torch.Tensor):
        """Feature reconstruction ``(n_nodes, sum_m d_m)`` (``None`` without a decoder)."""
        if self.feature_decoder is None:
            return {"features": None}
        return {"features": self.feature_decoder(z, edge_index)}

    def loss(self, tensors, inference_outputs, generative_outputs, kl_weight: float = 1.0):
        """Feature MSE + edge BCE + KL on the batch's own spots (``tensors["seed"]``)."""
        seed = tensors["seed"]
        edge_index = tensors["edge_index"]
        z, mu, logstd = inference_outputs["z"], inference_outputs["mu"], inference_outputs["logstd"]
        is_seed = torch.zeros(z.shape[0], dtype=torch.bool, device=z.device)
        is_seed[seed] = True
        pos = edge_index[:, is_seed[edge_index[0]]]
        edge = self.vgae.recon_loss(z, pos) if pos.shape[1] else z.new_zeros(())
        kl_i = -0.5 * torch.sum(1 + 2 * logstd[seed] - mu[seed] ** 2 - logstd[seed].exp() ** 2, dim=1)
        recon_i = z.new_zeros(len(seed))
        feats = generative_outputs["features"]
        if feats is not None:
            parts = torch.split(feats[seed], [self.n_inputs[m] for m in self.modalities], dim=-1)
            for m, xhat in zip(self.modalities, parts, strict=True):
                x = tensors[STEREOMM_REGISTRY_KEYS.input_key(m)][seed]
                recon_i = recon_i + F.mse_loss(xhat, x, reduction="none").mean(-1)
        loss = (self.feature_weight * recon_i.mean() + self.edge_weight * edge
                + self.kl_weight * kl_weight * kl_i.mean() / self.n_obs_total)
        return LossOutput(
            loss=loss,
            reconstruction_loss={"recon_features": recon_i},
            kl_local={"kl_z": kl_i / self.n_obs_total},
            extra_metrics={"edge_bce": edge.detach()},
        )

    def sample(self, *args, **kwargs):  # pragma: no cover - not a generative sampler
        raise NotImplementedError("STEREOMM does not sample; use get_latent_representation().")
