"""MOSAICVI module: masked ELBO over any subset of modalities, PoE fusion, z_bio / z_tech."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from scvi.module.base import BaseModuleClass, LossOutput, auto_move_data
from scvi.nn import Encoder
from torch import nn
from torch.distributions import Normal

from remadom.heads import AlignmentHead
from remadom.nn import (
    LIBRARY_SIZE_LIKELIHOODS,
    kl_standard_normal,
    make_decoder,
    product_of_experts,
)

from ._constants import MOSAICVI_REGISTRY_KEYS

_COUNT_TRANSFORM = LIBRARY_SIZE_LIKELIHOODS  # library-normalised log1p input, library-size decoder


def encoder_transform(likelihood: str, x: torch.Tensor, total: torch.Tensor | None = None) -> torch.Tensor:
    """What an encoder sees for data under ``likelihood``: log1p of library-normalised counts
    (to 1e4) for nb/zinb/poisson, log1p for nbmixture, (methylated fraction, covered) for
    betabinomial, the data as they are otherwise."""
    if likelihood in _COUNT_TRANSFORM:
        lib = x.sum(-1, keepdim=True).clamp_min(1.0)
        return torch.log1p(x / lib * 1e4)
    if likelihood == "nbmixture":
        return torch.log1p(x)
    if likelihood == "betabinomial":
        covered = (total > 0).to(x.dtype)
        return torch.cat([x / total.clamp_min(1.0), covered], -1)
    return x


class MOSAICVIModule(BaseModuleClass):
    r"""Variational module of :class:`~remadom.model.MOSAICVI`.

    Generative model, for a cell with covariates ``c`` (batch, study)::

        z_bio ~ N(0, I),  z_tech | c ~ N(mu(c), sigma(c)^2),
        x_m | z_bio, z_tech ~ p_m(x_m | f_m(z_bio, z_tech), library)   for each modality m.

    Inference: one encoder per modality gives a Gaussian expert ``q_m(z_bio | x_m)``; the
    posterior is the product of the experts the cell has and the prior expert (MVAE, Wu &
    Goodman 2018; MIDAS, He et al. 2024). ``z_tech`` is a small Gaussian latent computed from
    the registered covariates only, so it can carry batch/technology/study effects into the
    decoders but no biology.

    Masked ELBO per cell: ``sum_{m present} log p_m(x_m | z) - KL(q(z_bio) || p) -
    KL(q(z_tech) || N(0, I))``; an absent modality's padded values reach neither the posterior
    (``torch.where`` in the PoE) nor the loss. With ``subset_prob > 0`` a cell that has several
    modalities is encoded, with that probability, from a uniformly drawn non-empty strict subset
    of them while still reconstructing all (the stochastic mixture-of-PoE objective, Sutter et al.,
    ICLR 2021); this trains every single-modality posterior to predict the other modalities,
    which is what :meth:`~remadom.model.MOSAICVI.impute` and the unpaired/bridge cases need.
    Alignment heads (:mod:`remadom.heads`) add ``weight * loss(z_bio mean, groups)``.

    Parameters
    ----------
    modalities
        Modality names, in registry order.
    n_inputs
        Encoder input width per modality.
    n_outputs
        Number of features per modality.
    likelihoods
        Per modality, a name of the likelihood registry :data:`remadom.nn.LIKELIHOODS`.
    n_cats_tech
        Number of categories of each technical covariate (batch, study); empty for none.
    n_latent, n_latent_tech
        Widths of ``z_bio`` and ``z_tech`` (``z_tech`` is dropped when there are no covariates).
    n_hidden, n_layers, dropout_rate
        Encoder/decoder MLPs (scvi-tools ``FCLayers`` with layer norm; no batch norm, which would
        mix padded rows into present ones).
    subset_prob
        Probability of the subset (mixture-of-PoE) draw for multi-modality cells in training.
    heads
        Alignment heads on ``z_bio`` (each reads its own ``group_by``).
    mean_depth
        Per Bernoulli modality, the mean number of open regions per cell (cell factor scale).
    n_obs_bank
        Rows of the latent memory bank (``n_obs`` when a head needs it, else 0).
    """

    def __init__(
        self,
        modalities: list[str],
        n_inputs: dict[str, int],
        n_outputs: dict[str, int],
        likelihoods: dict[str, str],
        n_cats_tech: list[int] | None = None,
        n_latent: int = 20,
        n_latent_tech: int = 4,
        n_hidden: int = 256,
        n_layers: int = 2,
        dropout_rate: float = 0.1,
        subset_prob: float = 0.5,
        heads: list[AlignmentHead] | None = None,
        mean_depth: dict[str, float] | None = None,
        n_obs_bank: int = 0,
    ):
        super().__init__()
        self.modalities = list(modalities)
        self.likelihoods = dict(likelihoods)
        self.n_latent = n_latent
        self.n_cats_tech = list(n_cats_tech or [])
        self.n_latent_tech = n_latent_tech if self.n_cats_tech else 0
        if not 0.0 <= subset_prob <= 1.0:
            raise ValueError(f"subset_prob must be in [0, 1], got {subset_prob}.")
        self.subset_prob = subset_prob
        self.encoders = nn.ModuleDict({
            m: Encoder(n_inputs[m], n_latent, n_layers=n_layers, n_hidden=n_hidden,
                       dropout_rate=dropout_rate, use_batch_norm=False, use_layer_norm=True,
                       var_eps=1e-4)
            for m in self.modalities
        })
        if self.n_latent_tech:
            self.tech = nn.Linear(sum(self.n_cats_tech), 2 * self.n_latent_tech)
        self.decoders = nn.ModuleDict({
            m: make_decoder(self.likelihoods[m], n_latent + self.n_latent_tech, n_outputs[m],
                            n_hidden=n_hidden, n_layers=n_layers - 1 if n_layers > 1 else 1)
            for m in self.modalities
        })
        self.heads = nn.ModuleList(heads or [])
        for head in self.heads:
            if hasattr(head, "set_latent_width"):
                head.set_latent_width(n_latent)
        # latent memory bank for heads that look outside the minibatch (not saved: data-sized)
        self.register_buffer("bank", torch.zeros(n_obs_bank, n_latent), persistent=False)
        depth = mean_depth or {}
        for m in self.modalities:
            self.register_buffer(f"_depth_{m}", torch.tensor(float(depth.get(m, 1.0))))

    # ------------------------------------------------------------------ inputs
    def _clean(self, tensors, key: str, j: int) -> torch.Tensor:
        """A modality's minibatch with absent cells' rows set to 0, so padded values (even
        NaN/inf) reach nothing: not the encoders, the library sizes, the loss nor the gradients."""
        present = tensors[MOSAICVI_REGISTRY_KEYS.MASK_KEY][:, j : j + 1].bool()
        return torch.where(present, tensors[key], 0.0)  # a scalar: no zeros tensor per step

    def _get_inference_input(self, tensors):
        return {
            "x": {m: self._clean(tensors, m, j) for j, m in enumerate(self.modalities)},
            "total": {m: self._clean(tensors, MOSAICVI_REGISTRY_KEYS.total_key(m), j) for j, m in enumerate(self.modalities)
                      if MOSAICVI_REGISTRY_KEYS.total_key(m) in tensors},
            "mask": tensors[MOSAICVI_REGISTRY_KEYS.MASK_KEY],
            "cats": [tensors[k] for k in MOSAICVI_REGISTRY_KEYS.covariate_keys if k in tensors],
        }

    def _get_generative_input(self, tensors, inference_outputs):
        return {
            "z": inference_outputs["z"],
            "z_tech": inference_outputs["z_tech"],
            "library": inference_outputs["library"],
        }

    def encoder_input(self, m: str, x: torch.Tensor, total: torch.Tensor | None) -> torch.Tensor:
        """Per-likelihood transform fed to modality ``m``'s encoder (:func:`encoder_transform`)."""
        return encoder_transform(self.likelihoods[m], x, total)

    def library(self, m: str, x: torch.Tensor, total: torch.Tensor | None) -> torch.Tensor | None:
        """Per-likelihood library argument of the decoder (see :mod:`remadom.nn._decoders`)."""
        lik = self.likelihoods[m]
        if lik in _COUNT_TRANSFORM:
            return x.sum(-1, keepdim=True)
        if lik == "bernoulli":
            return x.sum(-1, keepdim=True) / getattr(self, f"_depth_{m}")
        if lik == "betabinomial":
            return total
        return None

    def one_hot_cats(self, cats: list[torch.Tensor]) -> torch.Tensor:
        return torch.cat([
            F.one_hot(c.long().view(-1), n).float() for c, n in zip(cats, self.n_cats_tech, strict=True)
        ], -1)

    # ------------------------------------------------------------------ inference
    def experts(self, x, total) -> tuple[torch.Tensor, torch.Tensor]:
        """Per-modality expert means and variances, each ``(n_modalities, batch, n_latent)``."""
        means, variances = [], []
        for m in self.modalities:
            q_m, q_v, _ = self.encoders[m](self.encoder_input(m, x[m], total.get(m)))
            means.append(q_m)
            variances.append(q_v)
        return torch.stack(means), torch.stack(variances)

    def _subset_mask(self, mask: torch.Tensor) -> torch.Tensor:
        """Replace, with probability ``subset_prob``, a multi-modality cell's mask by a random
        non-empty strict subset of it (uniform over such subsets; vectorised over cells)."""
        n_mod = mask.shape[1]
        bits = 2 ** torch.arange(n_mod, device=mask.device)
        present = (mask.bool().long() * bits).sum(1)  # (batch,) code of the present set
        codes = torch.arange(1, 2**n_mod, device=mask.device)  # every non-empty subset
        valid = ((codes[None, :] & ~present[:, None]) == 0) & (codes[None, :] != present[:, None])
        eligible = valid.any(1) & (torch.rand(mask.shape[0], device=mask.device) < self.subset_prob)
        if not eligible.any():
            return mask
        score = torch.rand(valid.shape, device=mask.device).masked_fill(~valid, -1.0)
        drawn = codes[score.argmax(1)]
        chosen = torch.where(eligible, drawn, present)
        return ((chosen[:, None] & bits[None, :]) > 0).to(mask.dtype)

    @auto_move_data
    def inference(self, x, total, mask, cats, encode_mask: torch.Tensor | None = None,
                  n_samples: int = 1):
        """Posterior of ``z_bio`` (PoE over ``encode_mask``, default the presence mask) and ``z_tech``.

        Returns
        -------
        dict with ``qz`` (Normal), ``z`` (sample), ``z_tech``, ``qz_tech``, ``library`` (per
        modality), ``encode_mask``.
        """
        if encode_mask is None:
            encode_mask = self._subset_mask(mask) if (self.training and self.subset_prob > 0) else mask
        means, variances = self.experts(x, total)
        mu, var = product_of_experts(means, variances, encode_mask)
        qz = Normal(mu, var.sqrt(), validate_args=False)
        z = qz.rsample() if n_samples == 1 else qz.rsample((n_samples,))
        qz_tech, z_tech = self.tech_posterior(cats, n_samples)
        library = {m: self.library(m, x[m], total.get(m)) for m in self.modalities}
        return {"qz": qz, "z": z, "qz_tech": qz_tech, "z_tech": z_tech, "library": library,
                "encode_mask": encode_mask, "expert_means": means, "x": x}

    def tech_posterior(self, cats, n_samples: int = 1):
        """``q(z_tech | c)`` and a sample (``(None, None)`` without covariates)."""
        if not self.n_latent_tech:
            return None, None
        loc, log_var = self.tech(self.one_hot_cats(cats)).chunk(2, -1)
        qz_tech = Normal(loc, torch.exp(0.5 * log_var.clamp(-8, 4)), validate_args=False)
        return qz_tech, (qz_tech.rsample() if n_samples == 1 else qz_tech.rsample((n_samples,)))

    @auto_move_data
    def generative(self, z, z_tech, library, modalities: list[str] | None = None):
        """Likelihood of each modality given the latents: ``{"px": {m: Distribution}}``."""
        h = z if z_tech is None else torch.cat([z, z_tech], -1)
        px = {m: self.decoders[m](h, library[m]) for m in (modalities or self.modalities)}
        return {"px": px}

    # ------------------------------------------------------------------ loss
    def group_labels(self, tensors, mask: torch.Tensor, group_by: str) -> torch.Tensor:
        """Integer group per cell for a head's ``group_by``."""
        if group_by == "modality_set":
            weights = 2 ** torch.arange(mask.shape[1], device=mask.device)
            return (mask.long() * weights).sum(1)
        if group_by not in tensors:
            raise ValueError(
                f"a head groups by '{group_by}' but no {group_by}_key was registered in setup_mudata."
            )
        return tensors[group_by].long().view(-1)

    def reconstruction(self, tensors, px, x: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Masked negative log-likelihood per modality ``(batch,)``: 0 where a cell lacks it.

        ``x``: the minibatch per modality as the inference cleaned it (``inference_outputs["x"]``),
        so that the loss does not clean it a second time.
        """
        mask = tensors[MOSAICVI_REGISTRY_KEYS.MASK_KEY].bool()
        rec = {}
        for j, m in enumerate(self.modalities):
            ll = px[m].log_prob(x[m]).sum(-1)
            rec[m] = torch.where(mask[:, j], -ll, torch.zeros_like(ll))
        return rec

    def loss(self, tensors, inference_outputs, generative_outputs, kl_weight: float = 1.0,
             epoch: int | None = None):
        mask = tensors[MOSAICVI_REGISTRY_KEYS.MASK_KEY].bool()
        rec = self.reconstruction(tensors, generative_outputs["px"], inference_outputs["x"])
        qz = inference_outputs["qz"]
        kl_bio = kl_standard_normal(qz)
        kl = {"kl_bio": kl_bio}
        if inference_outputs["qz_tech"] is not None:
            qt = inference_outputs["qz_tech"]
            kl["kl_tech"] = kl_standard_normal(qt)
        rec_total = torch.stack(list(rec.values())).sum(0)
        kl_total = torch.stack(list(kl.values())).sum(0)
        loss = (rec_total + kl_weight * kl_total).mean()
        extra = {}
        context = self._head_context(tensors, inference_outputs) if len(self.heads) else {}
        for head in self.heads:
            groups = self.group_labels(tensors, mask, head.group_by) if head.needs_groups else mask[:, 0].long()
            h_loss = head(qz.loc, groups, epoch=epoch, **context)
            extra[f"head_{head.name}_{head.group_by}" if head.needs_groups else f"head_{head.name}"] = h_loss.detach()
            loss = loss + h_loss
        return LossOutput(loss=loss, reconstruction_loss=rec, kl_local=kl, extra_metrics=extra)

    def _head_context(self, tensors, inference_outputs) -> dict:
        """What heads may read besides ``z`` and groups (see :class:`remadom.heads.AlignmentHead`)."""
        ctx = {"mask": tensors[MOSAICVI_REGISTRY_KEYS.MASK_KEY], "experts": inference_outputs["expert_means"],
               "modalities": self.modalities}
        if MOSAICVI_REGISTRY_KEYS.INDEX_KEY in tensors:
            ctx["indices"] = tensors[MOSAICVI_REGISTRY_KEYS.INDEX_KEY].long().view(-1)
        if self.bank.shape[0]:
            ctx["bank"] = self.bank
        if MOSAICVI_REGISTRY_KEYS.TIME_KEY in tensors:
            ctx["time"] = tensors[MOSAICVI_REGISTRY_KEYS.TIME_KEY].view(-1)
        if MOSAICVI_REGISTRY_KEYS.LINK_KEY in tensors:
            ctx["link"] = tensors[MOSAICVI_REGISTRY_KEYS.LINK_KEY]
        return ctx

    def sample(self, *args, **kwargs):  # pragma: no cover - not a generative sampler
        raise NotImplementedError("MOSAICVI has no sampler; use MOSAICVI.impute().")
