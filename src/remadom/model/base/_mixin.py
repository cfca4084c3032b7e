"""Shared helpers of the remadom model classes (argument normalisation, setup clean-up)."""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import numpy as np


class RemadomModelMixin:
    """Behaviour the five model classes share, so that they take the same arguments.

    Every model's ``get_latent_representation`` accepts scvi-tools' names
    ``adata=None, indices=None, give_mean=True, batch_size=None`` (followed by its own extra
    keyword arguments); ``mdata=`` is a deprecated alias of ``adata=`` for one release. Every
    model has :meth:`remove_inputs`, which deletes the private ``obsm`` arrays its setup wrote.

    A model class lists the ``obsm`` key prefixes its setup writes in ``_INPUT_PREFIXES``.
    """

    _INPUT_PREFIXES: tuple[str, ...] = ()
    _DEFAULT_BATCH_SIZE: int = 1024

    @classmethod
    def remove_inputs(cls, data) -> None:
        """Delete the private ``obsm`` arrays that setup wrote (keys starting with the model's prefixes).

        Call before writing the object to disk (``mdata.write_h5mu``); setup, which ``load``
        also runs, rebuilds them.

        Parameters
        ----------
        data
            The :class:`~mudata.MuData` (or, for models set up on one, the
            :class:`~anndata.AnnData`) that was set up.
        """
        prefixes = tuple(cls._INPUT_PREFIXES)
        if not prefixes:
            return
        for k in [k for k in data.obsm if k.startswith(prefixes)]:
            del data.obsm[k]

    def _data_arg(self, adata, mdata, method: str = "get_latent_representation"):
        """``adata``, or the deprecated ``mdata`` alias (with a :class:`DeprecationWarning`).

        Raises
        ------
        TypeError
            Both given.
        """
        if mdata is None:
            return adata
        if adata is not None:
            raise TypeError(f"{type(self).__name__}.{method}: pass adata= only (mdata= is its deprecated alias).")
        warnings.warn(
            f"{type(self).__name__}.{method}(mdata=...) is deprecated and will be removed in the next "
            "release; pass adata= (scvi-tools' name; a MuData is accepted).",
            DeprecationWarning,
            stacklevel=3,
        )
        return mdata

    def _batch_size_arg(self, batch_size: int | None) -> int:
        """``batch_size``, or the model's inference default when None."""
        return self._DEFAULT_BATCH_SIZE if batch_size is None else int(batch_size)

    def _mean_only(self, give_mean: bool, method: str = "get_latent_representation") -> None:
        """Raise a clear error when a model that returns posterior means only is asked for samples.

        Raises
        ------
        NotImplementedError
            ``give_mean`` is False.
        """
        if not give_mean:
            raise NotImplementedError(
                f"{type(self).__name__}.{method} returns the posterior mean only; give_mean=False "
                "(a posterior sample) is not supported by this model."
            )

    @staticmethod
    def _take_rows(x: np.ndarray, indices: Sequence[int] | None) -> np.ndarray:
        """Rows ``indices`` of ``x`` (all when None)."""
        return x if indices is None else x[np.asarray(indices)]
