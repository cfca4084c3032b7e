"""The likelihood registry: every observation model's name and what it needs, listed once.

Pure Python (no PyTorch), so that configuration schemas and the command line can validate a
``likelihoods:`` entry without loading the models. The decoders themselves live in
:mod:`remadom.nn._decoders` (one per name) and :mod:`remadom.nn._likelihood` (URMF's
mean + negative log-likelihood decoders, for the names with ``mean_decoder=True``).
"""

from __future__ import annotations

from dataclasses import dataclass
from types import MappingProxyType
from typing import Literal


@dataclass(frozen=True)
class Likelihood:
    """One observation model of a modality's features.

    Attributes
    ----------
    name
        Registry key, as users write it (``likelihoods={"rna": "nb"}``, YAML ``setup.likelihoods``).
    data
        What the data must be: ``"counts"`` (non-negative integers), ``"binary"`` (0/1) or
        ``"real"`` (finite real numbers).
    library
        The decoder's library argument: ``"total"`` (the cell's observed total counts
        ``(n_obs, 1)``, as scVI's library size), ``"depth"`` (the cell's number of non-zero
        features relative to the mean, PeakVI's cell factor), ``"total_matrix"`` (a second
        ``(n_obs, n_vars)`` matrix of trials, e.g. covered CpGs) or ``None``.
    mean_decoder
        Whether a mean + negative log-likelihood decoder exists for it
        (:data:`remadom.nn.DECODERS`, used by :class:`~remadom.model.URMF`); every name has a
        distribution decoder (:data:`remadom.nn.LIKELIHOOD_DECODERS`, MOSAICVI and PRIORVI).
    description
        One line for documentation and error messages, with the method it follows.
    """

    name: str
    data: Literal["counts", "binary", "real"]
    library: Literal["total", "depth", "total_matrix"] | None
    mean_decoder: bool
    description: str

    @property
    def counts(self) -> bool:
        """Whether the data must be non-negative integers."""
        return self.data == "counts"

    @property
    def needs_library_size(self) -> bool:
        """Whether the decoder scales its mean by the cell's observed total counts."""
        return self.library == "total"


_ALL = (
    Likelihood(
        "nb",
        "counts",
        "total",
        True,
        "negative binomial, mean = library size x softmax (scVI, Lopez et al. 2018)",
    ),
    Likelihood(
        "zinb",
        "counts",
        "total",
        False,
        "zero-inflated negative binomial (scVI, Lopez et al. 2018)",
    ),
    Likelihood(
        "poisson",
        "counts",
        "total",
        False,
        "Poisson, e.g. ATAC fragment counts (PoissonVI, Martens et al. 2024)",
    ),
    Likelihood(
        "bernoulli",
        "binary",
        "depth",
        False,
        "Bernoulli on binarised accessibility, region and cell factors (PeakVI, Ashuach et al. 2022)",
    ),
    Likelihood(
        "nbmixture",
        "counts",
        None,
        False,
        "two-component NB background/foreground mixture for proteins (totalVI, Gayoso et al. 2021)",
    ),
    Likelihood(
        "gaussian",
        "real",
        None,
        True,
        "Gaussian on a representation or continuous features (PCA, LSI, CLR, image features)",
    ),
    Likelihood(
        "betabinomial",
        "counts",
        "total_matrix",
        False,
        "beta-binomial on (methylated, total) counts (methylVI, Weinberger & Lee 2023)",
    ),
)

LIKELIHOODS: MappingProxyType[str, Likelihood] = MappingProxyType({lik.name: lik for lik in _ALL})
"""Every likelihood by name (read-only mapping ``name -> Likelihood``), in documentation order."""

COUNT_LIKELIHOODS: tuple[str, ...] = tuple(n for n, lik in LIKELIHOODS.items() if lik.counts)
"""Names whose data must be non-negative integers (checked at setup)."""

LIBRARY_SIZE_LIKELIHOODS: tuple[str, ...] = tuple(
    n for n, lik in LIKELIHOODS.items() if lik.needs_library_size
)
"""Names whose decoder mean is the observed library size times a softmax (``nb``, ``zinb``, ``poisson``)."""

MEAN_DECODER_LIKELIHOODS: tuple[str, ...] = tuple(
    n for n, lik in LIKELIHOODS.items() if lik.mean_decoder
)
"""Names with a mean + NLL decoder (:data:`remadom.nn.DECODERS`): what URMF accepts."""


def check_likelihood(
    name: str, modality: str | None = None, allowed: tuple[str, ...] | None = None
) -> Likelihood:
    """The registry entry of ``name``, or a ``ValueError`` that lists the valid names.

    Parameters
    ----------
    name
        A likelihood name.
    modality
        Named in the error message when given.
    allowed
        The names a model accepts (default: every registered name).

    Raises
    ------
    ValueError
        If ``name`` is not in ``allowed``.
    """
    allowed = tuple(LIKELIHOODS) if allowed is None else tuple(allowed)
    if name not in allowed:
        where = f"modality '{modality}': " if modality is not None else ""
        raise ValueError(f"{where}unknown likelihood '{name}'; choose one of {allowed}.")
    return LIKELIHOODS[name]
