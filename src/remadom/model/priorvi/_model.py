"""PRIORVI model class: learned per-modality priors on MOSAICVI's mosaic data layer."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
import torch
from anndata import AnnData
from mudata import MuData

from remadom.data import (
    check_coordinates,
    check_modalities,
    check_unique_names,
    keep_unchanged_on_error,
    presence_mask,
)
from remadom.model.base import deprecated_mdata
from remadom.model.mosaicvi import MOSAICVI
from remadom.model.mosaicvi._model import _as_dict
from remadom.nn import PRIORS

from ._constants import PRIORVI_REGISTRY_KEYS
from ._module import FUSIONS, PRIORVIModule

_SPATIAL = PRIORVI_REGISTRY_KEYS.SPATIAL_MODALITY


class PRIORVI(MOSAICVI):
    """Multimodal VAE with a learned prior per modality and concatenation (or attention) fusion.

    Seed: "Multi-Modal VAE with Modality-Specific Priors". Each modality (RNA, ATAC, protein,
    and optionally the spot coordinates as a ``"spatial"`` modality) has its own encoder, its own
    latent block and its own learned prior; blocks are concatenated (or attention-pooled) into
    the shared latent, from which every modality is decoded. A cell that lacks a modality takes
    that block from the modality's prior and is trained on what it has. Module:
    :class:`~remadom.model.priorvi.PRIORVIModule`.

    Data handling (natural mosaic MuData, masks, likelihoods, ``train``, ``impute``,
    ``get_normalized_expression``, ``posterior_predictive_sample``, ``differential_expression``,
    ``save``/``load``) is MOSAICVI's, shared by inheritance.

    Parameters
    ----------
    adata
        MuData registered with :meth:`setup_mudata`, or AnnData (one modality) registered with
        :meth:`setup_anndata`.
    prior
        ``"mog"`` (mixture of Gaussians, default), ``"vamp"`` (VampPrior) or ``"normal"``.
    n_components
        Mixture components (``mog``) or pseudo-inputs (``vamp``) per modality.
    fusion
        ``"concat"`` (default) or ``"attention"`` (per-cell modality weights,
        :meth:`get_modality_weights`).
    n_latent
        Width of each modality's block (fused width ``M * n_latent`` for concat).
    n_latent_tech, n_hidden, n_layers, dropout_rate
        As in MOSAICVI.

    Raises
    ------
    ValueError
        Unknown prior or fusion, ``n_components < 1``.

    Examples
    --------
    >>> PRIORVI.setup_mudata(mdata, modalities=["rna", "atac"], batch_key="batch")
    >>> model = PRIORVI(mdata, prior="mog")
    >>> model.train()
    >>> mdata.obsm["X_priorvi"] = model.get_latent_representation()
    """

    _module_cls = PRIORVIModule

    @deprecated_mdata
    def __init__(
        self,
        adata: MuData,
        prior: str = "mog",
        n_components: int = 10,
        fusion: str = "concat",
        n_latent: int = 10,
        n_latent_tech: int = 4,
        n_hidden: int = 256,
        n_layers: int = 2,
        dropout_rate: float = 0.1,
    ):
        if prior not in PRIORS:
            raise ValueError(f"unknown prior '{prior}'; choose one of {PRIORS}.")
        if not isinstance(n_components, int) or isinstance(n_components, bool) or n_components < 1:
            raise ValueError(f"n_components must be an int >= 1, got {n_components!r}.")
        if fusion not in FUSIONS:
            raise ValueError(f"unknown fusion '{fusion}'; choose one of {FUSIONS}.")
        # read by _build_module, which MOSAICVI.__init__ calls (PRIORVI has no problem presets)
        self.settings = {"prior": prior, "n_components": n_components, "fusion": fusion}
        super().__init__(adata, problem=None, n_latent=n_latent, n_latent_tech=n_latent_tech,
                         n_hidden=n_hidden, n_layers=n_layers, dropout_rate=dropout_rate)
        self.init_params_ = self._get_init_params(locals())

    def _build_module(self, problem, heads, subset_prob, **sizes) -> PRIORVIModule:
        """PRIORVI's module: the learned priors of ``self.settings`` instead of MOSAICVI's problem
        preset (``problem``, ``heads``, ``subset_prob`` are None); the ``"spatial"`` modality
        joins ``self.modalities`` when ``spatial_key`` was registered, and a VampPrior starts
        from pseudo-inputs drawn from the data (:meth:`_pseudo_inputs`)."""
        if self.adata_manager.registry["setup_args"].get("spatial_key"):
            self.modalities.append(_SPATIAL)
        data_kwargs = self._data_module_kwargs()
        prior, n_components, fusion = (self.settings[k] for k in ("prior", "n_components", "fusion"))
        if prior == "vamp":
            data_kwargs["pseudo_inputs"] = self._pseudo_inputs(n_components, data_kwargs["likelihoods"])
        self._model_summary_string = (
            f"PRIORVI: modalities={self.modalities}, likelihoods={data_kwargs['likelihoods']}, "
            f"prior={prior} (K={n_components}), fusion={fusion}, "
            f"n_latent per modality={sizes['n_latent']}"
        )
        return self._module_cls(**data_kwargs, **sizes, **self.settings)

    def _pseudo_inputs(self, k: int, lik: dict) -> dict[str, torch.Tensor]:
        """VampPrior initialisation: the encoder inputs of ``k`` random cells having each modality."""
        from remadom.model.mosaicvi._module import encoder_transform

        mask = np.asarray(self.adata_manager.get_from_registry(PRIORVI_REGISTRY_KEYS.MASK_KEY)).astype(bool)
        rng = np.random.default_rng(0)
        out = {}
        for j, m in enumerate(self.modalities):
            rows = rng.choice(np.flatnonzero(mask[:, j]), size=min(k, int(mask[:, j].sum())), replace=False)
            x = self.adata_manager.get_from_registry(m)[np.sort(rows)]
            x = torch.as_tensor(np.asarray(x.toarray() if hasattr(x, "toarray") else x, dtype=np.float32))
            total = None
            if lik[m] == "betabinomial":
                t = self.adata_manager.get_from_registry(PRIORVI_REGISTRY_KEYS.total_key(m))[np.sort(rows)]
                total = torch.as_tensor(np.asarray(t.toarray() if hasattr(t, "toarray") else t, dtype=np.float32))
            out[m] = encoder_transform(lik[m], x, total)
        return out

    # ------------------------------------------------------------------ setup
    @classmethod
    @keep_unchanged_on_error
    def setup_mudata(
        cls,
        mdata: MuData,
        modalities: list[str] | None = None,
        layers: dict[str, str] | None = None,
        likelihoods: dict[str, str] | None = None,
        batch_key: str | None = None,
        spatial_key: str | None = None,
        _likelihoods: dict[str, str] | None = None,
        _mean_depth: dict[str, float] | None = None,
        _library_median: dict[str, float] | None = None,
        **kwargs,
    ) -> None:
        """Register a (mosaic) MuData for PRIORVI.

        As :meth:`MOSAICVI.setup_mudata <remadom.model.MOSAICVI.setup_mudata>` (modalities may
        cover different, overlapping cells; likelihood defaults by modality), plus an optional
        ``"spatial"`` modality: ``mdata.obsm[spatial_key]`` standardised (per axis; held by the
        model, not written to the MuData), Gaussian likelihood, present for every cell.

        Parameters
        ----------
        mdata
            MuData.
        modalities
            List of modality names (``None``: all).
        layers, likelihoods
            Per modality, as MOSAICVI.
        batch_key
            ``mdata.obs`` column of batches (``z_tech``).
        spatial_key
            MuData-level ``obsm`` key of the coordinates to register as the ``"spatial"`` modality.

        Raises
        ------
        ValueError
            As MOSAICVI (unknown/empty modality, a cell in no modality, NaN/inf, non-counts under a
            count likelihood, duplicated names, ...); a spatial modality without coordinates or
            with coordinates that are not finite ``(n_obs, 2)`` or all identical; two or more
            modalities that share no cell (no paired cell to learn the joint latent from). The
            MuData is unchanged then.
        """
        setup_method_args = cls._get_setup_method_args(**locals())
        cls._check_mudata(mdata)
        modalities = check_modalities(mdata, modalities)
        check_unique_names(mdata, modalities)
        if len(modalities) > 1:
            mask = presence_mask(mdata, modalities)
            if (mask.sum(1) > 1).sum() == 0:
                raise ValueError(
                    f"modalities {modalities} share no cell (their obs names do not overlap): "
                    "PRIORVI learns the joint latent from cells that have several modalities. Check "
                    "that obs names match across modalities, or use MOSAICVI(problem='unpaired')."
                )
        cls._register_priorvi(mdata, setup_method_args, modalities, layers, likelihoods, batch_key,
                              spatial_key, _likelihoods, _mean_depth, _library_median, kwargs)

    @classmethod
    @keep_unchanged_on_error
    def setup_anndata(
        cls,
        adata: AnnData,
        layer: str | None = None,
        likelihood: str | None = None,
        modality: str = "rna",
        batch_key: str | None = None,
        spatial_key: str | None = None,
        _likelihoods: dict[str, str] | None = None,
        _mean_depth: dict[str, float] | None = None,
        _library_median: dict[str, float] | None = None,
        **kwargs,
    ) -> None:
        """Register a single-modality AnnData (one modality, named ``modality``), as scVI.

        As :meth:`setup_mudata` with ``modalities=[modality]`` on a MuData holding only
        ``adata``, registered on the AnnData itself: the data in ``.X``, ``layers[layer]`` or
        ``obsm[layer]``, the batches in ``adata.obs[batch_key]`` and, with ``spatial_key``, the
        coordinates ``adata.obsm[spatial_key]`` as the ``"spatial"`` modality. The AnnData gains
        only scvi-tools' ``obs["_scvi_*"]`` batch codes and ``uns["_scvi_uuid"]``/
        ``uns["_scvi_manager_uuid"]``.

        Parameters
        ----------
        adata
            Cells x features.
        layer
            A layer or ``obsm`` key (default ``.X``).
        likelihood
            As in :meth:`setup_mudata` (default from ``modality`` and the data: ``"rna"``
            counts get ``nb``).
        modality
            Name of the modality in the model (``modality=`` of the outputs).
        batch_key
            ``adata.obs`` column of batches (``z_tech``).
        spatial_key
            ``adata.obsm`` key of the coordinates to register as the ``"spatial"`` modality.
        **kwargs
            Passed to :meth:`scvi.data.AnnDataManager.register_fields`.

        Raises
        ------
        ValueError
            Not an AnnData (a MuData goes to :meth:`setup_mudata`); ``modality`` named
            ``"spatial"`` with ``spatial_key``; every error of :meth:`setup_mudata`. The AnnData
            is unchanged then.

        Examples
        --------
        >>> PRIORVI.setup_anndata(adata, layer="counts", batch_key="batch")
        >>> model = PRIORVI(adata, prior="mog")
        """
        setup_method_args = cls._get_setup_method_args(**locals())
        cls._check_anndata(adata, modality)
        cls._register_priorvi(adata, setup_method_args, [modality], _as_dict(modality, layer),
                              _as_dict(modality, likelihood), batch_key, spatial_key, _likelihoods,
                              _mean_depth, _library_median, kwargs)

    @classmethod
    def _register_priorvi(cls, data, setup_method_args, modalities, layers, likelihoods, batch_key,
                          spatial_key, _likelihoods, _mean_depth, _library_median, kwargs) -> None:
        """Add the optional ``"spatial"`` modality (standardised ``data.obsm[spatial_key]``, held
        by the model) and register with MOSAICVI's mosaic data layer."""
        name = "adata" if isinstance(data, AnnData) else "mdata"
        obsm_modalities = None
        if spatial_key is not None:
            if _SPATIAL in modalities:
                raise ValueError(f"a modality is already named '{_SPATIAL}'; rename it or "
                                 "drop spatial_key.")
            if spatial_key not in data.obsm:
                raise ValueError(
                    f"spatial_key='{spatial_key}' but {name}.obsm has no '{spatial_key}': the spatial "
                    f"modality needs the (n_obs, 2) coordinates there ({name}.obsm['{spatial_key}'] = "
                    "coords; for a MuData, remadom.data.spatial_graph(mdata) copies them up from the "
                    "modalities' obsm), or pass spatial_key=None."
                )
            xy = check_coordinates(data.obsm[spatial_key], data.n_obs, f"{name}.obsm['{spatial_key}']")
            sd = xy.std(0)
            sd[sd == 0] = 1.0
            staged = ((xy - xy.mean(0)) / sd).astype(np.float32)  # held by the model
            obsm_modalities = {_SPATIAL: (staged, f"{name}.obsm['{spatial_key}'] (standardised)")}
        cls._register_mosaic(data, setup_method_args, modalities, layers, likelihoods, batch_key,
                             None, None, None, None, _likelihoods, _mean_depth, _library_median,
                             obsm_modalities=obsm_modalities, **kwargs)

    # what earlier releases wrote to obsm (deleted by the deprecated remove_inputs)
    _INPUT_PREFIXES = ("_mosaicvi_", "_priorvi_")

    # ------------------------------------------------------------------ outputs
    def _run(self, adata, indices, batch_size):
        """Per minibatch (:meth:`_inference_batches`): the inference inputs and outputs."""
        for _, inp in self._inference_batches(adata, indices, batch_size):
            yield inp, self.module.inference(**inp)

    @deprecated_mdata
    def get_latent_representation(
        self,
        adata: MuData | None = None,
        indices: Sequence[int] | None = None,
        give_mean: bool = True,
        batch_size: int | None = None,
        modality: str | None = None,
    ) -> np.ndarray:
        """The fused latent, or one modality's block.

        Parameters
        ----------
        adata
            MuData set up like the training data (default: the training data).
        indices
            Cells to return (default all).
        give_mean
            Posterior mean (default) or one sample.
        batch_size
            Cells per inference minibatch (default 1024).
        modality
            ``None``: the fused latent (``(n_obs, M * n_latent)`` for concat, ``(n_obs, n_latent)``
            for attention; absent blocks at their prior's mean). A modality name: that block's
            posterior mean ``(n_obs, n_latent)`` (prior mean for cells without it).

        Raises
        ------
        ValueError
            Unknown modality.
        """
        batch_size = self._batch_size_arg(batch_size)
        if modality is not None:
            self._modalities_arg(modality, "get_latent_representation")
        out = []
        for inp, inf in self._run(adata, indices, batch_size):
            if modality is None:
                q = inf["qz"]
                out.append((q.loc if give_mean else q.sample()).cpu())
            else:
                j = self.modalities.index(modality)
                b = inf["blocks"][modality]
                present = inp["mask"][:, j : j + 1].bool()
                prior_mean = self.module.priors[modality].distribution().mean.expand_as(b["q"].loc)
                v = b["q"].loc if give_mean else b["q"].sample()
                out.append(torch.where(present, v, prior_mean).cpu())
        return torch.cat(out).numpy().astype(np.float32)

    @deprecated_mdata
    def get_modality_weights(self, adata: MuData | None = None, indices=None,
                             batch_size: int | None = None) -> pd.DataFrame:
        """Per-cell attention weight of each modality (``fusion="attention"`` only).

        Returns
        -------
        DataFrame ``(n_obs, n_modalities)``, rows sum to 1, 0 for modalities a cell lacks.

        Raises
        ------
        ValueError
            With ``fusion="concat"``.
        """
        if self.module.fusion != "attention":
            raise ValueError("modality weights exist only with fusion='attention'; this model concatenates.")
        w = torch.cat([inf["weights"].cpu() for _, inf in self._run(adata, indices, batch_size)]).numpy()
        m = self._validate_anndata(adata)
        idx = m.obs_names if indices is None else m.obs_names[np.asarray(indices)]
        return pd.DataFrame(w, index=idx, columns=self.modalities)

    @torch.inference_mode()
    def get_prior_samples(self, modality: str, n_samples: int = 1000, seed: int = 0) -> np.ndarray:
        """Draws from ``modality``'s learned prior, ``(n_samples, n_latent)``.

        Raises
        ------
        ValueError
            Unknown modality.
        """
        self._modalities_arg(modality, "get_prior_samples")
        torch.manual_seed(seed)
        return self.module.priors[modality].distribution().sample((n_samples,)).cpu().numpy()
