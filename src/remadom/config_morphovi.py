"""YAML schema of a MORPHOVI run: every key of the seed's (morpho_integration) config.

Top-level keys are the seed's: ``max_iter``, ``batch_size``, ``lr``, ``beta1``, ``beta2``,
``weight_decay``, ``init``, ``lr_policy``, ``step_size``, ``gamma``, ``input_dim_a``,
``input_dim_b``, ``gen.dim``, ``gen.latent``, ``dis.gan_type``, ``dis.dim``, ``dis.norm``,
``loss_schedule``, ``phase_durations``, ``recon_x_w``, ``kl_w``, ``gan_w``, ``gw_w``,
``lambda_p``, ``prior_temperature``, ``prior_loss_warmup`` and ``visualization.*``, plus
``model: morphovi``, ``seed`` and a ``data`` section (an ``.h5mu`` file, or the CSV layout: one
cells x features table per modality whose first column is the cell id).
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class MorphoData(_Strict):
    path: str | None = Field(None, description=".h5mu with the two modalities")
    csv_a: str | None = Field(None, description="CSV: cells x features of modality A (first column: cell id)")
    csv_b: str | None = Field(None, description="CSV: cells x features of modality B")
    labels_csv_a: str | None = Field(None, description="CSV: cell id, label (modality A)")
    labels_csv_b: str | None = Field(None, description="CSV: cell id, label (modality B)")
    modality_a: str = "morph"
    modality_b: str = "rna"
    labels_key: str | None = None
    cluster_key_a: str | None = None
    cluster_key_b: str | None = None
    prior_key: str | None = Field(None, description="mdata.uns key of the prior matrix")
    prior_csv: str | None = Field(None, description="CSV prior matrix: A clusters x B clusters")
    nan_policy: Literal["mask", "median"] | None = None

    @model_validator(mode="after")
    def _one_source(self):
        if (self.path is None) == (self.csv_a is None or self.csv_b is None):
            raise ValueError("give either data.path (.h5mu) or both data.csv_a and data.csv_b")
        return self


class Gen(_Strict):
    dim: int = Field(128, gt=0)
    latent: int = Field(16, gt=0)


class Dis(_Strict):
    gan_type: Literal["lsgan", "nsgan", "wgan-gp"] = "lsgan"
    dim: int = Field(64, gt=0)
    norm: Literal["none", "batch", "layer"] = "none"


class Visualization(_Strict):
    method: Literal["umap", "pca"] = "umap"
    umap_n_neighbors: int = Field(15, gt=1)
    umap_min_dist: float = Field(0.1, ge=0)
    umap_metric: str = "euclidean"


class MorphoConfig(_Strict):
    """One MORPHOVI run (validated before anything trains)."""

    model: Literal["morphovi"]
    seed: int = 0
    data: MorphoData
    max_iter: int = Field(3000, gt=0)
    batch_size: int = Field(256, gt=1)
    lr: float = Field(1e-4, gt=0)
    beta1: float = Field(0.5, ge=0, lt=1)
    beta2: float = Field(0.999, ge=0, lt=1)
    weight_decay: float = Field(1e-4, ge=0)
    init: Literal["gaussian", "xavier", "kaiming", "default"] = "gaussian"
    lr_policy: Literal["constant", "step"] = "constant"
    step_size: int = Field(1000, gt=0)
    gamma: float = Field(0.5, gt=0)
    input_dim_a: int | None = Field(None, gt=0, description="checked against the data when given")
    input_dim_b: int | None = Field(None, gt=0)
    gen: Gen = Field(default_factory=Gen)
    dis: Dis = Field(default_factory=Dis)
    loss_schedule: dict[Literal["recon", "kl", "gan", "gw", "prior"], int] = Field(default_factory=dict)
    phase_durations: dict[int, int] = Field(default_factory=dict)
    recon_x_w: float = Field(1.0, ge=0)
    kl_w: float = Field(0.01, ge=0)
    gan_w: float = Field(1.0, ge=0)
    gw_w: float = Field(0.0, ge=0)
    lambda_p: float = Field(0.0, ge=0)
    prior_temperature: float = Field(0.1, gt=0)
    prior_loss_warmup: int = Field(0, ge=0)
    visualization: Visualization = Field(default_factory=Visualization)

    def input_files(self) -> dict[str, str]:
        """Input files the run reads, by configuration key."""
        keys = ("path", "csv_a", "csv_b", "labels_csv_a", "labels_csv_b", "prior_csv")
        return {f"data.{k}": getattr(self.data, k) for k in keys if getattr(self.data, k) is not None}

    @model_validator(mode="after")
    def _phases(self):
        missing = sorted({p for p in self.loss_schedule.values() if p not in self.phase_durations and p != 1})
        if missing:
            raise ValueError(f"loss_schedule names phase(s) {missing} that phase_durations lacks; "
                             f"add them, e.g. phase_durations: {{{', '.join(f'{p}: 1000' for p in missing)}}}")
        if self.lambda_p > 0 and not ((self.data.prior_key or self.data.prior_csv)
                                      and self.data.cluster_key_a and self.data.cluster_key_b):
            raise ValueError("lambda_p > 0 needs data.prior_key (or prior_csv), data.cluster_key_a and cluster_key_b")
        return self
