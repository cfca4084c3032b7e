"""PRIORVI module: per-modality latents with learned priors, concatenation or attention fusion."""

from __future__ import annotations

import torch
from scvi.module.base import LossOutput, auto_move_data
from torch import nn
from torch.distributions import Normal

from remadom.model.mosaicvi import MOSAICVIModule
from remadom.nn import AttentionPool, kl_monte_carlo, kl_standard_normal, make_decoder, make_prior

from ._constants import PRIORVI_REGISTRY_KEYS

FUSIONS = ("concat", "attention")


class PRIORVIModule(MOSAICVIModule):
    r"""Variational module of :class:`~remadom.model.PRIORVI`.

    Seed: "multi-modal VAE with modality-specific priors". For each modality ``m``:
    ``q(z_m | x_m)`` Gaussian (its own encoder) and a learned prior ``p_m(z_m)``
    (:func:`remadom.nn.make_prior`: ``"mog"`` mixture of Gaussians, ``"vamp"`` VampPrior, or
    ``"normal"``). Fusion:

    * ``"concat"``: ``z = [z_1, ..., z_M]`` (width ``M * n_latent``);
    * ``"attention"``: ``z = sum_m w_m z_m`` with ``w = softmax_m(v^T tanh(W z_m))`` over the
      modalities the cell has (additive attention, Bahdanau et al. 2015; width ``n_latent``).

    A modality a cell lacks gets its block from that modality's prior (a draw in training, the
    prior mean otherwise) and contributes neither reconstruction nor KL. Every modality is
    decoded from the fused ``z`` (and ``z_tech`` when a batch is registered) with the likelihoods
    shared with MOSAICVI. Loss per cell:
    ``sum_{m present} [-log p(x_m | z) + KL(q(z_m | x_m) || p_m)] + KL(q(z_tech) || N(0, I))``,
    the KL in closed form for ``"normal"`` and by one-sample Monte Carlo otherwise
    (:func:`remadom.nn.kl_monte_carlo`).

    Encoders, likelihood decoders, masking of absent rows, library sizes and ``z_tech`` are
    MOSAICVI's (this class subclasses :class:`~remadom.model.MOSAICVIModule`).

    Parameters
    ----------
    prior
        ``"mog"``, ``"vamp"`` or ``"normal"``.
    n_components
        Mixture components / pseudo-inputs per modality.
    fusion
        ``"concat"`` or ``"attention"``.
    pseudo_inputs
        For ``"vamp"``: per modality, initial ``(n_components, n_input)`` encoder inputs.
    modalities, n_inputs, n_outputs, likelihoods, n_cats_tech, n_latent_tech, n_hidden, n_layers, dropout_rate, mean_depth
        As :class:`~remadom.model.MOSAICVIModule`.
    n_latent
        Width of each modality's latent block.

    Raises
    ------
    ValueError
        Unknown prior or fusion, ``n_components < 1``.
    """

    def __init__(
        self,
        modalities: list[str],
        n_inputs: dict[str, int],
        n_outputs: dict[str, int],
        likelihoods: dict[str, str],
        n_cats_tech: list[int] | None = None,
        n_latent: int = 10,
        n_latent_tech: int = 4,
        n_hidden: int = 256,
        n_layers: int = 2,
        dropout_rate: float = 0.1,
        mean_depth: dict[str, float] | None = None,
        prior: str = "mog",
        n_components: int = 10,
        fusion: str = "concat",
        pseudo_inputs: dict[str, torch.Tensor] | None = None,
    ):
        if fusion not in FUSIONS:
            raise ValueError(f"unknown fusion '{fusion}'; choose one of {FUSIONS}.")
        super().__init__(modalities, n_inputs, n_outputs, likelihoods, n_cats_tech=n_cats_tech,
                         n_latent=n_latent, n_latent_tech=n_latent_tech, n_hidden=n_hidden,
                         n_layers=n_layers, dropout_rate=dropout_rate, subset_prob=0.0, heads=None,
                         mean_depth=mean_depth)
        self.prior_name, self.fusion = prior, fusion
        d = self.n_latent
        self.n_fused = d * len(self.modalities) if fusion == "concat" else d
        self.decoders = nn.ModuleDict({
            m: make_decoder(self.likelihoods[m], self.n_fused + self.n_latent_tech, n_outputs[m],
                            n_hidden=n_hidden, n_layers=n_layers - 1 if n_layers > 1 else 1)
            for m in self.modalities
        })
        pseudo = pseudo_inputs or {}
        self.priors = nn.ModuleDict({
            m: make_prior(prior, d, n_components, encode=self._encoder_fn(m), pseudo_inputs=pseudo.get(m))
            for m in self.modalities
        })
        self.attention = AttentionPool(d) if fusion == "attention" else None

    def _encoder_fn(self, m: str):
        def encode(u):
            mean, var, _ = self.encoders[m](u)
            return mean, var

        return encode

    @auto_move_data
    def inference(self, x, total, mask, cats, encode_mask: torch.Tensor | None = None,
                  n_samples: int = 1):
        """Per-modality posteriors, prior blocks for absent modalities, fused ``z``.

        Returns
        -------
        dict with ``qz`` (Normal over the fused latent; absent blocks at the prior's mean and s.d.),
        ``z``, ``blocks`` (per modality: ``q``, ``z``), ``weights`` ``(batch, M)`` (attention
        fusion; else ``None``), ``qz_tech``, ``z_tech``, ``library``, ``encode_mask``.
        """
        if encode_mask is None:
            encode_mask = mask
        means, variances = self.experts(x, total)
        sample = self.training or n_samples > 1
        shape = () if n_samples == 1 else (n_samples,)
        blocks, locs, scales, zs = {}, [], [], []
        for j, m in enumerate(self.modalities):
            q = Normal(means[j], variances[j].sqrt(), validate_args=False)
            z_m = q.rsample(shape)
            p = self.priors[m].distribution()
            p_mean = p.mean.expand_as(means[j])
            p_sd = p.stddev.expand_as(means[j])
            fill = p.sample((*shape, means[j].shape[0])) if sample else p_mean.expand_as(z_m)
            present = encode_mask[:, j : j + 1].bool()
            zs.append(torch.where(present, z_m, fill))
            locs.append(torch.where(present, means[j], p_mean))
            scales.append(torch.where(present, variances[j].sqrt(), p_sd))
            blocks[m] = {"q": q, "z": z_m}
        weights = None
        if self.fusion == "concat":
            z, loc, scale = torch.cat(zs, -1), torch.cat(locs, -1), torch.cat(scales, -1)
        else:
            stack_loc = torch.stack(locs, 1)
            have = encode_mask.bool()
            have = have | ~have.any(1, keepdim=True)  # a cell with no source: uniform weights
            score = self.attention.scores(stack_loc).masked_fill(~have, float("-inf"))
            weights = torch.softmax(score, -1)
            w = weights.unsqueeze(-1)
            loc = (w * stack_loc).sum(1)
            scale = ((w**2) * torch.stack(scales, 1) ** 2).sum(1).clamp_min(1e-8).sqrt()
            z = (w * torch.stack(zs, -2)).sum(-2)
        qz = Normal(loc, scale, validate_args=False)
        qz_tech, z_tech = self.tech_posterior(cats, n_samples)
        library = {m: self.library(m, x[m], total.get(m)) for m in self.modalities}
        return {"qz": qz, "z": z, "blocks": blocks, "weights": weights, "qz_tech": qz_tech,
                "z_tech": z_tech, "library": library, "encode_mask": encode_mask,
                "expert_means": means, "x": x}

    def loss(self, tensors, inference_outputs, generative_outputs, kl_weight: float = 1.0):
        """Masked reconstruction + per-modality KL to the learned priors (+ ``z_tech`` KL)."""
        mask = tensors[PRIORVI_REGISTRY_KEYS.MASK_KEY].bool()
        rec = self.reconstruction(tensors, generative_outputs["px"], inference_outputs["x"])
        kl = {}
        for j, m in enumerate(self.modalities):
            b = inference_outputs["blocks"][m]
            if self.prior_name == "normal":
                k = kl_standard_normal(b["q"])
            else:
                k = kl_monte_carlo(b["q"], b["z"], self.priors[m])
            kl[f"kl_{m}"] = torch.where(mask[:, j], k, torch.zeros_like(k))
        if inference_outputs["qz_tech"] is not None:
            kl["kl_tech"] = kl_standard_normal(inference_outputs["qz_tech"])
        total = torch.stack(list(rec.values())).sum(0) + kl_weight * torch.stack(list(kl.values())).sum(0)
        return LossOutput(loss=total.mean(), reconstruction_loss=rec, kl_local=kl)
