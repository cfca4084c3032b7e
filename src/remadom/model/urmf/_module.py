"""URMF module: uncertainty-rebalanced multimodal fusion over spatial and feature graphs."""

from __future__ import annotations

import torch
from scvi.module.base import BaseModuleClass, LossOutput
from torch import nn
from torch.distributions import Normal

from remadom.nn import (
    DECODERS,
    Adapter,
    AttentionPool,
    ChannelGate,
    GroupedFCLayers,
    euro_coefficients,
    kl_standard_normal,
    scale_grad,
    uncertainty_logits,
)

from ._constants import URMF_REGISTRY_KEYS

_LOGVAR_MIN, _LOGVAR_MAX = -8.0, 6.0


class URMFModule(BaseModuleClass):
    r"""Variational module of :class:`~remadom.model.URMF`.

    For each modality ``m`` and each graph ``g`` (spatial graph, and the modality's feature kNN
    graph) the input is the precomputed propagation ``[Â_g^k X_m]_k`` (linear GCN layers, see
    :func:`remadom.data.propagate`); an MLP encodes each (one batched
    :class:`~remadom.nn.GroupedFCLayers` per modality), additive attention pools the graphs
    (as in SpatialGlue, Long et al. 2024), and linear heads give the modality posterior
    ``q(z | x_m) = N(mu_m, diag(sigma_m^2))``. Its mean predicted variance
    ``u_m = mean_j sigma_mj^2`` is the modality's epistemic uncertainty per spot.

    Fusion (each part can be switched on or off for ablation; all but EURO are on by default):

    * **ChannelGate** (squeeze-excitation, Hu et al. 2018): ``mu_m <- g * mu_m`` with a channel gate
      ``g`` computed from the modality-averaged latent.
    * **Uncertainty gating**: fusion weights ``w = softmax_m(a_m - log u_m / T)``, where ``a_m`` is the
      cross-modality attention score; without gating ``w = softmax(a)``. Fused posterior
      ``N(sum_m w_m mu_m, sum_m w_m^2 sigma_m^2)``.
    * **EURO** (epistemic-uncertainty-rebalanced optimisation, after OGM-GE, Peng et al. 2022):
      a modality whose batch-mean weight exceeds ``1/M`` gets its encoder gradients scaled by
      ``1 - tanh(alpha (M mean_i w_im - 1))`` (:func:`remadom.nn.euro_coefficients`).
      **Off by default** (``use_euro=True`` turns it on). In the real-data ablation
      (``benchmarks/README.md``, 3 seeds) it cost MOp RNA + ATAC 0.035 Leiden ARI (0.356 vs
      0.391). There it slowed the RNA encoder, which the gate rightly weighs at ~0.75, because
      ATAC carries almost no subclass signal. On her2st C2 RNA + H&E it changed nothing beyond
      the seed spread (0.126 vs 0.119).
    * **UDR** (uncertainty-driven regularisation): each modality also decodes its own data from
      its own posterior (a unimodal ELBO, as in MVAE sub-sampling, Wu & Goodman 2018); the
      per-spot unimodal error ``e_m`` (per feature) calibrates the uncertainty through the
      heteroscedastic loss ``e_m / u_m + log u_m`` (Kendall & Gal 2017), and
      ``M * sum_m (mean_i w_im - 1/M)^2`` keeps one modality from taking all the weight.
    * **TSA** (task-specific adaptation): a residual bottleneck adapter on the fused latent
      (Houlsby et al. 2019), identity at initialisation; its output is the returned latent.

    Loss per spot: ``sum_m -log p(x_m | z) + kl_weight * KL(q(z|x) || N(0, I)) + udr_weight * UDR``.

    Parameters
    ----------
    modalities
        Modality names, in order.
    n_inputs
        Per modality, the list of input widths (one per graph).
    n_outputs
        Per modality, the reconstructed width.
    likelihoods
        Per modality, ``"gaussian"`` or ``"nb"``.
    n_latent, n_hidden
        Latent and hidden widths.
    use_gating, use_channel_gate, use_udr, use_euro, use_tsa
        Switches for the ablation.
    kl_weight, udr_weight, euro_alpha, gate_temperature, dropout_rate
        Loss weights and fusion constants.
    """

    def __init__(
        self,
        modalities: list[str],
        n_inputs: dict[str, list[int]],
        n_outputs: dict[str, int],
        likelihoods: dict[str, str],
        n_latent: int = 20,
        n_hidden: int = 128,
        use_gating: bool = True,
        use_channel_gate: bool = True,
        use_udr: bool = True,
        use_euro: bool = False,
        use_tsa: bool = True,
        kl_weight: float = 1.0,
        udr_weight: float = 1.0,
        euro_alpha: float = 1.0,
        gate_temperature: float = 1.0,
        dropout_rate: float = 0.1,
    ):
        super().__init__()
        self.modalities = list(modalities)
        self.n_inputs = {m: list(n_inputs[m]) for m in self.modalities}
        self.n_latent = n_latent
        self.likelihoods = dict(likelihoods)
        self.use_gating, self.use_channel_gate = use_gating, use_channel_gate
        self.use_udr, self.use_euro, self.use_tsa = use_udr, use_euro, use_tsa
        self.kl_weight, self.udr_weight = kl_weight, udr_weight
        self.euro_alpha, self.gate_temperature = euro_alpha, gate_temperature

        self.encoders = nn.ModuleDict()
        self.graph_attention = nn.ModuleDict()
        self.mean_heads = nn.ModuleDict()
        self.var_heads = nn.ModuleDict()
        self.decoders = nn.ModuleDict()
        for m in self.modalities:
            if len(set(n_inputs[m])) != 1:
                raise ValueError(f"modality '{m}': every graph input must have the same width; got {n_inputs[m]}.")
            self.encoders[m] = GroupedFCLayers(len(n_inputs[m]), n_inputs[m][0], n_hidden, n_layers=2,
                                               dropout_rate=dropout_rate)
            self.graph_attention[m] = AttentionPool(n_hidden)
            self.mean_heads[m] = nn.Linear(n_hidden, n_latent)
            self.var_heads[m] = nn.Linear(n_hidden, n_latent)
            self.decoders[m] = DECODERS[likelihoods[m]](n_latent, n_outputs[m], n_hidden=n_hidden)
        self.modality_attention = AttentionPool(n_latent)
        self.channel_gate = ChannelGate(n_latent) if use_channel_gate else None
        self.adapter = Adapter(n_latent) if use_tsa else None

    # ------------------------------------------------------------------ scvi-tools interface
    def _get_inference_input(self, tensors):
        return {"inputs": {m: tensors[URMF_REGISTRY_KEYS.input_key(m)] for m in self.modalities}}

    def _get_generative_input(self, tensors, inference_outputs):
        return {"z": inference_outputs["z"], "library": self._library(tensors),
                "z_unimodal": inference_outputs.get("z_unimodal")}

    def _library(self, tensors):
        return {
            m: tensors[URMF_REGISTRY_KEYS.target_key(m)].sum(-1, keepdim=True)
            for m in self.modalities
            if self.likelihoods[m] == "nb"
        }

    def inference(self, inputs: dict[str, torch.Tensor], n_samples: int = 1):
        """Encode every modality and fuse (inputs on the module's device; ``forward`` moves them).

        Returns a dict with ``z`` (sample), ``qz`` (fused posterior), ``mu``/``logvar`` per modality
        ``(batch, M, n_latent)``, ``weights`` ``(batch, M)``, ``uncertainty`` ``(batch, M)`` and
        ``graph_weights`` per modality.
        """
        mus, logvars, graph_w = [], [], {}
        for m in self.modalities:
            x = inputs[m]
            x = x.view(x.shape[0], len(self.n_inputs[m]), -1).transpose(0, 1)  # (graphs, batch, width)
            h, graph_w[m] = self.graph_attention[m](self.encoders[m](x).transpose(0, 1))
            mus.append(self.mean_heads[m](h))
            logvars.append(torch.clamp(self.var_heads[m](h), _LOGVAR_MIN, _LOGVAR_MAX))
        mu = torch.stack(mus, dim=1)
        logvar = torch.stack(logvars, dim=1)
        uncertainty = logvar.exp().mean(-1)

        if self.channel_gate is not None:
            gate = self.channel_gate(mu).unsqueeze(1)
            mu_g, var_g = mu * gate, logvar.exp() * gate**2
        else:
            mu_g, var_g = mu, logvar.exp()
        logits = self.modality_attention.scores(mu_g)
        if self.use_gating:
            logits = logits + uncertainty_logits(logvar, self.gate_temperature)
        weights = torch.softmax(logits, dim=-1)

        if self.use_euro and self.training and len(self.modalities) > 1:
            coef = euro_coefficients(weights, self.euro_alpha)
            mu_g = scale_grad(mu_g, coef.view(1, -1, 1))
            var_g = scale_grad(var_g, coef.view(1, -1, 1))

        w = weights.unsqueeze(-1)
        q_mu = (w * mu_g).sum(1)
        q_var = (w**2 * var_g).sum(1).clamp_min(1e-6)
        qz = Normal(q_mu, q_var.sqrt(), validate_args=False)
        z = qz.rsample() if n_samples == 1 else qz.rsample((n_samples,))
        out = {}
        if self.use_udr and self.training and n_samples == 1:  # UDR: one sample of each modality's own posterior
            out["z_unimodal"] = mu + torch.randn_like(mu) * (0.5 * logvar).exp()
        return out | {
            "z": z,
            "qz": qz,
            "mu": mu,
            "logvar": logvar,
            "weights": weights,
            "uncertainty": uncertainty,
            "graph_weights": graph_w,
        }

    def adapt(self, z: torch.Tensor) -> torch.Tensor:
        """Apply the TSA adapter (identity when TSA is off)."""
        return self.adapter(z) if self.adapter is not None else z

    def generative(self, z: torch.Tensor, library: dict[str, torch.Tensor],
                   z_unimodal: torch.Tensor | None = None):
        """Decode every modality from the (adapted) fused latent; returns ``{"mean": {m: ...}}``.

        With ``z_unimodal`` ``(batch, M, n_latent)`` (UDR's sample of each modality's own
        posterior), modality ``m`` is also decoded from ``z_unimodal[:, m]`` in the same decoder
        call (rows stacked), returned as ``"mean_unimodal"``.
        """
        if z_unimodal is None:
            za = self.adapt(z)
            return {"mean": {m: self.decoders[m](za, library.get(m)) for m in self.modalities}}
        n = z.shape[0]
        za = self.adapt(torch.cat([z.unsqueeze(1), z_unimodal], dim=1))  # (batch, 1 + M, n_latent)
        mean, mean_uni = {}, {}
        for i, m in enumerate(self.modalities):
            lib = library.get(m)
            out = self.decoders[m](torch.cat([za[:, 0], za[:, 1 + i]]),
                                   None if lib is None else torch.cat([lib, lib]))
            mean[m], mean_uni[m] = out[:n], out[n:]
        return {"mean": mean, "mean_unimodal": mean_uni}

    def loss(self, tensors, inference_outputs, generative_outputs, kl_weight: float = 1.0):
        """Negative ELBO plus the UDR terms, averaged over the minibatch."""
        library = self._library(tensors)
        recon = 0.0
        recon_m = {}
        for m in self.modalities:
            x = tensors[URMF_REGISTRY_KEYS.target_key(m)]
            recon_m[m] = self.decoders[m].nll(x, generative_outputs["mean"][m])
            recon = recon + recon_m[m]
        qz = inference_outputs["qz"]
        kl = kl_standard_normal(qz)
        loss = recon + self.kl_weight * kl_weight * kl
        extra = {}
        if self.use_udr:
            udr = self._udr(tensors, inference_outputs, generative_outputs, library)
            loss = loss + self.udr_weight * udr
            extra["udr"] = udr.mean()
        return LossOutput(
            loss=loss.mean(),
            reconstruction_loss={f"recon_{m}": v for m, v in recon_m.items()},
            kl_local={"kl_z": kl},
            extra_metrics=extra,
        )

    def _udr(self, tensors, inference_outputs, generative_outputs, library) -> torch.Tensor:
        mu, logvar = inference_outputs["mu"], inference_outputs["logvar"]
        u = inference_outputs["uncertainty"]
        kl = kl_standard_normal(Normal(mu, (0.5 * logvar).exp(), validate_args=False))  # (batch, M)
        mean_uni = generative_outputs.get("mean_unimodal")
        if mean_uni is None:  # no stacked decoding (eval mode, e.g. a validation loss)
            z_uni = mu + torch.randn_like(mu) * (0.5 * logvar).exp()
            mean_uni = {m: self.decoders[m](self.adapt(z_uni[:, i]), library.get(m))
                        for i, m in enumerate(self.modalities)}
        total = 0.0
        for i, m in enumerate(self.modalities):
            x = tensors[URMF_REGISTRY_KEYS.target_key(m)]
            nll = self.decoders[m].nll(x, mean_uni[m])
            err = (nll / x.shape[-1]).detach()
            calib = err / u[:, i] + torch.log(u[:, i])
            total = total + nll + kl[:, i] + calib
        n_mod = len(self.modalities)
        if n_mod > 1:
            wbar = inference_outputs["weights"].mean(0)
            total = total + n_mod * ((wbar - 1.0 / n_mod) ** 2).sum()
        return total / n_mod

    def sample(self, *args, **kwargs):  # pragma: no cover - not a generative sampler
        raise NotImplementedError("URMF does not sample from the prior; use get_reconstruction().")
