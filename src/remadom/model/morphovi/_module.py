"""MORPHOVI module: two VAEs, a latent critic, Gromov-Wasserstein and cluster-prior losses."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from scvi.module.base import BaseModuleClass, LossOutput, auto_move_data
from scvi.nn import Encoder, FCLayers
from torch import nn
from torch.distributions import Normal

from remadom.heads import GWHead
from remadom.nn import Discriminator, discriminator_loss, generator_loss, kl_standard_normal

from ._constants import MORPHOVI_REGISTRY_KEYS

LOSSES = ("recon", "kl", "gan", "gw", "prior")


def adaptive_depth(n_input: int) -> int:
    """Hidden layers of a VAE by input width: 1 up to 32 features, 2 up to 256, else 3."""
    return 1 if n_input <= 32 else 2 if n_input <= 256 else 3


class _VAE(nn.Module):
    def __init__(self, n_input: int, n_latent: int, n_hidden: int):
        super().__init__()
        depth = adaptive_depth(n_input)
        self.encoder = Encoder(n_input, n_latent, n_layers=depth, n_hidden=n_hidden, dropout_rate=0.0,
                               use_batch_norm=False, use_layer_norm=True, var_eps=1e-4)
        self.decoder = nn.Sequential(
            FCLayers(n_latent, n_hidden, n_layers=depth, n_hidden=n_hidden, dropout_rate=0.0,
                     use_batch_norm=False, use_layer_norm=True),
            nn.Linear(n_hidden, n_input),
        )


def cluster_prior_loss(z_a, z_b, c_a, c_b, prior: torch.Tensor, temperature: float) -> torch.Tensor:
    """Pull cross-modal cluster similarities towards a given correlation matrix.

    For the clusters of each modality present in the batch, ``S_ij`` is the cosine similarity of
    the mean latent of A-cluster ``i`` and B-cluster ``j``; the loss is the mean over A-clusters
    of ``KL(softmax_j(P_ij / T) || softmax_j(S_ij / T))`` with ``P`` the prior (e.g. a
    morphology-type x transcriptomic-type correlation matrix) and ``T`` ``prior_temperature``.
    """
    ia, ib = torch.unique(c_a[c_a >= 0]), torch.unique(c_b[c_b >= 0])
    if len(ia) == 0 or len(ib) < 2:
        return z_a.new_zeros(())
    ca = torch.stack([z_a[c_a == i].mean(0) for i in ia])
    cb = torch.stack([z_b[c_b == j].mean(0) for j in ib])
    s = F.normalize(ca, dim=-1) @ F.normalize(cb, dim=-1).T
    p = prior[ia][:, ib]
    return F.kl_div(F.log_softmax(s / temperature, -1), F.log_softmax(p / temperature, -1),
                    log_target=True, reduction="batchmean")


class MORPHOVIModule(BaseModuleClass):
    r"""Module of :class:`~remadom.model.MORPHOVI` (seed: morpho_integration).

    Two VAEs (scvi-tools ``Encoder`` + an MLP decoder, depth by input width
    (:func:`adaptive_depth`), Gaussian reconstruction by mean squared error on standardised
    features, masked where a feature is undefined) map modality A (e.g. morphology) and B (e.g.
    gene expression) of *different* cells into one latent space. Losses (raw; the training plan
    weights and schedules them):

    * ``recon``: masked MSE of each modality, summed over the two;
    * ``kl``: ``KL(q(z|x) || N(0, I))`` per cell, averaged, summed over the two;
    * ``gan``: the encoders fool a latent critic (:class:`remadom.nn.Discriminator`) trained to
      tell A latents from B latents (``lsgan``, ``nsgan`` or ``wgan-gp``);
    * ``gw``: entropic Gromov–Wasserstein between the two latent batches via
      :class:`remadom.heads.GWHead` (aligns geometry, needs no shared features);
    * ``prior``: :func:`cluster_prior_loss` against a cluster correlation matrix.

    Parameters
    ----------
    n_input_a, n_input_b
        Feature counts.
    n_latent
        Latent width (seed ``gen.latent``).
    n_hidden
        Hidden width (``gen.dim``).
    gan_type, dis_dim, dis_norm
        Critic (``dis.gan_type``, ``dis.dim``, ``dis.norm``).
    prior_matrix
        ``(n_clusters_a, n_clusters_b)`` matrix or ``None``.
    prior_temperature
        Softmax temperature of the prior loss.
    gw_epsilon
        Entropic regularisation of GW.
    """

    def __init__(self, n_input_a: int, n_input_b: int, n_latent: int = 16, n_hidden: int = 128,
                 gan_type: str = "lsgan", dis_dim: int = 64, dis_norm: str = "none",
                 prior_matrix=None, prior_temperature: float = 0.1, gw_epsilon: float = 5e-3):
        super().__init__()
        self.vae_a = _VAE(n_input_a, n_latent, n_hidden)
        self.vae_b = _VAE(n_input_b, n_latent, n_hidden)
        self.discriminator = Discriminator(n_latent, dis_dim, dis_norm)
        self.gan_type = gan_type
        self.gw = GWHead(weight=1.0, epsilon=gw_epsilon)
        self.prior_temperature = prior_temperature
        p = torch.zeros(0, 0) if prior_matrix is None else torch.as_tensor(prior_matrix, dtype=torch.float32)
        self.register_buffer("prior_matrix", p)
        discriminator_loss(gan_type, self.discriminator, torch.zeros(2, n_latent), torch.zeros(2, n_latent))

    def generator_parameters(self):
        return [*self.vae_a.parameters(), *self.vae_b.parameters()]

    def discriminator_parameters(self):
        return list(self.discriminator.parameters())

    # ------------------------------------------------------------------ scvi-tools interface
    def _get_inference_input(self, tensors):
        return {"x_a": tensors[MORPHOVI_REGISTRY_KEYS.x_key("a")], "x_b": tensors[MORPHOVI_REGISTRY_KEYS.x_key("b")], "mask": tensors[MORPHOVI_REGISTRY_KEYS.MASK_KEY]}

    def _get_generative_input(self, tensors, inference_outputs):
        return {"z_a": inference_outputs["z_a"], "z_b": inference_outputs["z_b"]}

    @auto_move_data
    def inference(self, x_a, x_b, mask):
        """Encode the batch's A cells with VAE A and B cells with VAE B.

        Returns ``q_a``/``q_b`` (Normal), ``z_a``/``z_b`` samples (means in eval mode), and the
        boolean rows ``rows_a``/``rows_b`` of the batch they belong to.
        """
        out = {}
        for key, x, vae, col in (("a", x_a, self.vae_a, 0), ("b", x_b, self.vae_b, 1)):
            rows = mask[:, col].bool()
            mean, var, z = vae.encoder(x[rows])
            q = Normal(mean, var.sqrt(), validate_args=False)
            out[f"q_{key}"], out[f"rows_{key}"] = q, rows
            out[f"z_{key}"] = z if self.training else mean
        return out

    @auto_move_data
    def generative(self, z_a, z_b):
        """Reconstructions of each modality from its own latent."""
        return {"xhat_a": self.vae_a.decoder(z_a), "xhat_b": self.vae_b.decoder(z_b)}

    def raw_losses(self, tensors, inf, gen, active=None) -> dict[str, torch.Tensor]:
        """Unweighted ``recon``, ``kl``, ``gan``, ``gw`` and (with a prior matrix) ``prior``;
        with ``active`` given, only those of the adversarial/alignment losses are computed."""
        def on(k):
            return active is None or k in active

        losses = {"recon": 0.0, "kl": 0.0}
        for key in ("a", "b"):
            rows = inf[f"rows_{key}"]
            if rows.sum() == 0:
                continue
            x, obs = tensors[MORPHOVI_REGISTRY_KEYS.x_key(key)][rows], tensors[MORPHOVI_REGISTRY_KEYS.observed_key(key)][rows]
            se = (gen[f"xhat_{key}"] - x) ** 2 * obs
            losses["recon"] = losses["recon"] + (se.sum(-1) / obs.sum(-1).clamp_min(1)).mean()
            losses["kl"] = losses["kl"] + kl_standard_normal(inf[f"q_{key}"]).mean()
        z_a, z_b = inf["z_a"], inf["z_b"]
        if len(z_a) > 1 and len(z_b) > 1:
            if on("gan"):
                losses["gan"] = generator_loss(self.gan_type, self.discriminator, z_a, z_b)
            if on("gw"):
                z = torch.cat([z_a, z_b])
                groups = torch.cat([torch.zeros(len(z_a)), torch.ones(len(z_b))]).long().to(z.device)
                losses["gw"] = self.gw.loss(z, groups)
            if self.prior_matrix.numel() and on("prior"):
                c_a = tensors[MORPHOVI_REGISTRY_KEYS.cluster_key("a")][inf["rows_a"]].view(-1).long()
                c_b = tensors[MORPHOVI_REGISTRY_KEYS.cluster_key("b")][inf["rows_b"]].view(-1).long()
                losses["prior"] = cluster_prior_loss(z_a, z_b, c_a, c_b, self.prior_matrix,
                                                     self.prior_temperature)
        return {k: (v if torch.is_tensor(v) else z_a.new_zeros(())) for k, v in losses.items()}

    def training_forward(self, tensors):
        """For :class:`remadom.train.AdversarialTrainingPlan`: encode and decode a batch.

        Returns the forward state and the latents for the critic (``None`` when the batch lacks
        one of the modalities).
        """
        inf = self.inference(**self._get_inference_input(tensors))
        gen = self.generative(inf["z_a"], inf["z_b"])
        ok = len(inf["z_a"]) > 1 and len(inf["z_b"]) > 1
        return (inf, gen), ({"z_a": inf["z_a"], "z_b": inf["z_b"]} if ok else None)

    def training_losses(self, tensors, state, active=None) -> dict[str, torch.Tensor]:
        """Raw losses from :meth:`training_forward`'s state (called after the critic step, so the
        generator's adversarial term sees the updated critic)."""
        inf, gen = state
        return self.raw_losses(tensors, inf, gen, active)

    def critic_loss(self, latents) -> torch.Tensor:
        """Critic loss on detached latents."""
        return discriminator_loss(self.gan_type, self.discriminator, latents["z_a"], latents["z_b"])

    def loss(self, tensors, inference_outputs, generative_outputs):
        """Unweighted sum of recon and KL (the ELBO part), for scvi-tools' generic evaluation."""
        raw = self.raw_losses(tensors, inference_outputs, generative_outputs)
        return LossOutput(loss=raw["recon"] + raw["kl"], extra_metrics=raw)

    def sample(self, *args, **kwargs):  # pragma: no cover - not a generative sampler
        raise NotImplementedError("MORPHOVI has no sampler.")
