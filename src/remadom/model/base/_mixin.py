"""Shared helpers of the remadom model classes (argument normalisation, setup replay, inference)."""

from __future__ import annotations

import functools
import inspect
import warnings
from collections.abc import Callable, Iterator, Sequence
from uuid import uuid4

import numpy as np
import torch
from anndata import AnnData

from ._manager import RemadomDataManager

# scvi-tools' registry and uns key names (values of scvi.data._constants)
_SCVI_UUID_KEY = "_scvi_uuid"
_SETUP_ARGS_KEY = "setup_args"
_SETUP_METHOD_NAME = "setup_method_name"


#: ``setup_mudata``'s per-modality arguments and their names in ``setup_anndata`` (one modality)
SETUP_ANNDATA_ARGS = {"layers": "layer", "likelihoods": "likelihood"}


def setup_arg(single: bool, arg: str, modality: str, value: str) -> str:
    """A per-modality setup argument as the user writes it, for error hints.

    Parameters
    ----------
    single
        The data were (or are being) registered with ``setup_anndata`` (one modality).
    arg
        ``setup_mudata``'s name: ``"layers"`` or ``"likelihoods"``.
    modality
        The modality the value is for.
    value
        The value as source text, e.g. ``"'counts'"``.

    Returns
    -------
    ``"layers={'rna': 'counts'}"`` (``setup_mudata``) or ``"layer='counts'"`` (``setup_anndata``).
    """
    return f"{SETUP_ANNDATA_ARGS[arg]}={value}" if single else f"{arg}={{'{modality}': {value}}}"


def deprecated_mdata(method: Callable) -> Callable:
    """Accept ``mdata=`` as a deprecated alias of ``adata=`` for one release.

    Decorates a model method (or ``__init__``) whose data parameter has scvi-tools' name
    ``adata``, where an earlier remadom called it ``mdata``. A call with ``mdata=...`` passes the
    value on as ``adata`` and warns; positional calls are unchanged. ``inspect.signature`` of the
    decorated method is the method's own (``functools.wraps``).

    Parameters
    ----------
    method
        Function whose parameters after ``self`` include ``adata``.

    Returns
    -------
    The wrapped method.

    Raises
    ------
    TypeError
        At call time, when both ``adata`` (as keyword or positionally) and ``mdata`` are given.
    """
    position = list(inspect.signature(method).parameters).index("adata") - 1  # after self

    @functools.wraps(method)
    def wrapper(self, *args, **kwargs):
        if "mdata" in kwargs:
            call = type(self).__name__ + ("" if method.__name__ == "__init__" else f".{method.__name__}")
            if "adata" in kwargs or len(args) > position:
                raise TypeError(f"{call}: pass adata= only (mdata= is its deprecated alias).")
            warnings.warn(
                f"{call}(mdata=...) is deprecated and will be removed in the next release; pass "
                "adata= (scvi-tools' name; a MuData is accepted).",
                DeprecationWarning,
                stacklevel=2,
            )
            kwargs["adata"] = kwargs.pop("mdata")
        return method(self, *args, **kwargs)

    return wrapper


def modality_data(data, modality: str) -> AnnData:
    """Modality ``modality`` of a MuData; an AnnData (a model set up with ``setup_anndata`` has
    one modality) is that modality itself."""
    return data if isinstance(data, AnnData) else data[modality]


class RemadomModelMixin:
    """Behaviour the five model classes share, so that they take the same arguments.

    Every model's ``get_latent_representation`` accepts scvi-tools' names
    ``adata=None, indices=None, give_mean=True, batch_size=None`` (followed by its own extra
    keyword arguments). The data parameter of every public method and of ``__init__`` is
    scvi-tools' ``adata`` (a MuData is accepted); where an earlier release called it ``mdata``,
    :func:`deprecated_mdata` keeps ``mdata=`` working for one release, with a
    :class:`DeprecationWarning`.

    Setup registers its fields with :meth:`_register`: inputs derived from the user's data are
    :class:`~remadom.model.base.DerivedField` entries held by the model, so the user's object
    gains no private arrays (only what each setup documents: graphs in ``obsp`` and scvi-tools'
    ``uns`` uuid keys). An object passed to a method that was not set up for the model is set up
    with the training setup first (:meth:`_validate_anndata`).

    Every output computed over minibatches of cells goes through one loop,
    :meth:`_inference_batches`; a model supplies only what it does with each minibatch.

    ``_INPUT_PREFIXES`` lists the ``obsm`` prefixes an earlier release wrote (for the deprecated
    :meth:`remove_inputs`). ``_LATENT_PER_MODALITY`` is True for a model that embeds each
    modality's cells through its own encoder (unpaired translation, MORPHOVI): the workflow then
    scores cross-modal matching (FOSCTTM, kNN label transfer) and colours plots by modality.
    """

    _INPUT_PREFIXES: tuple[str, ...] = ()
    _LATENT_PER_MODALITY: bool = False
    _DEFAULT_BATCH_SIZE: int = 1024

    @classmethod
    def remove_inputs(cls, data) -> None:
        """Deprecated: setup no longer writes private arrays into the data object.

        Setup keeps the inputs it derives (standardised or propagated representations, padded
        modalities, masks) with the model (:class:`~remadom.model.base.DerivedField`), so there
        is nothing to remove before ``mdata.write_h5mu``. For one release this still deletes
        ``obsm`` arrays with the model's old prefixes (``"_urmf_"``, ...) left by an earlier
        remadom, and warns; it will then be removed.

        Parameters
        ----------
        data
            A :class:`~mudata.MuData` or :class:`~anndata.AnnData` that was set up.
        """
        warnings.warn(
            f"{cls.__name__}.remove_inputs is deprecated and does nothing for objects set up by "
            "this release (setup no longer writes private obsm arrays); it will be removed in the "
            "next release.",
            DeprecationWarning,
            stacklevel=2,
        )
        prefixes = tuple(cls._INPUT_PREFIXES)
        if not prefixes:
            return
        for k in [k for k in data.obsm if k.startswith(prefixes)]:
            del data.obsm[k]

    @classmethod
    def _register(cls, data, fields: list, setup_method_args: dict, validation_checks=None,
                  **kwargs) -> None:
        """Register ``fields`` on ``data`` with a :class:`RemadomDataManager` (setup's last step).

        ``fields`` may mix scvi-tools fields, which point into ``data``, and
        :class:`~remadom.model.base.DerivedField` inputs, which the manager holds; ``kwargs``
        (``source_registry`` on ``load``) go to :meth:`~scvi.data.AnnDataManager.register_fields`;
        ``validation_checks`` to the manager (e.g. mosaic MuData that is not fully paired).
        ``data`` gains only scvi-tools' ``uns`` keys ``"_scvi_uuid"`` and ``"_scvi_manager_uuid"``.
        """
        manager = RemadomDataManager(fields=fields, setup_method_args=setup_method_args,
                                     validation_checks=validation_checks)
        manager.register_fields(data, **kwargs)
        cls.register_manager(manager)

    def _validate_anndata(self, adata=None, copy_if_view: bool = True):
        """As scvi-tools, but an object not set up for this model is set up first.

        The model's setup runs on ``adata`` with the training setup arguments and the training
        registry as ``source_registry`` (so that the fields check features, graphs and
        standardisation against training), instead of scvi-tools' field transfer, which cannot
        rebuild inputs derived at setup.
        """
        if adata is not None and adata is not self.adata and not self._set_up_here(adata):
            self._replay_setup(adata)
        return super()._validate_anndata(adata, copy_if_view=copy_if_view)

    def _set_up_here(self, adata) -> bool:
        uid = adata.uns.get(_SCVI_UUID_KEY)
        manager = self._per_instance_manager_store.get(self.id, {}).get(uid)
        return manager is not None and manager.adata is adata

    def _replay_setup(self, adata) -> None:
        """Run the model's setup on ``adata`` with the training setup; register it for this model."""
        cls = type(self)
        registry = self.registry_  # the training registry (also on a model loaded without data)
        uid = adata.uns.get(_SCVI_UUID_KEY)
        known = cls._setup_adata_manager_store.get(uid)
        if known is not None and known.adata is not adata:  # a copy of a set-up object
            adata.uns[_SCVI_UUID_KEY] = str(uuid4())
        setup = getattr(cls, registry.get(_SETUP_METHOD_NAME) or "setup_anndata")
        setup(adata, source_registry=registry, **registry[_SETUP_ARGS_KEY])
        manager = cls._get_most_recent_anndata_manager(adata, required=True)
        self._register_manager_for_instance(manager)

    def _inference_batches(
        self,
        adata=None,
        indices: Sequence[int] | None = None,
        batch_size: int | None = None,
        **loader_kwargs,
    ) -> Iterator[tuple[dict[str, torch.Tensor], dict]]:
        """The one inference loop: minibatches of ``adata`` in obs order, ready for the module.

        Validates ``adata`` (:meth:`_validate_anndata`: an object not set up for the model is
        set up with the training setup), builds scvi-tools' data loader over ``indices``, puts
        the module in eval mode and yields, per minibatch, the registry tensors on the module's
        device and the module's inference inputs (``module._get_inference_input(tensors)``,
        a fresh dict the caller may change, e.g. an ``encode_mask``, before
        ``module.inference(**inputs)``). Iteration runs under :func:`torch.inference_mode`,
        which also covers the caller's loop body; it is left when the loop ends, breaks or
        raises.

        Models whose inference is not row-wise (STEREOMM's full graph or spatial tiles with
        their halo) keep their own loader.

        Parameters
        ----------
        adata
            AnnData or MuData set up like the training data (default: the training data).
        indices
            Rows to visit (default all), in this order.
        batch_size
            Cells per minibatch (default: the model's ``_DEFAULT_BATCH_SIZE``, 1024).
        **loader_kwargs
            Passed to :meth:`scvi.model.base.BaseModelClass._make_data_loader`.

        Yields
        ------
        tensors
            ``{registry key: (n_batch, ...) tensor}`` on ``self.module.device``.
        inputs
            The module's inference keyword arguments for these tensors.

        Raises
        ------
        ValueError
            As :meth:`_validate_anndata` (data that cannot be set up like the training data).
        """
        adata = self._validate_anndata(adata)
        loader = self._make_data_loader(adata=adata, indices=indices,
                                        batch_size=self._batch_size_arg(batch_size), **loader_kwargs)
        self.module.eval()
        device = self.module.device
        with torch.inference_mode():
            for tensors in loader:
                tensors = {k: v.to(device) for k, v in tensors.items()}
                yield tensors, self.module._get_inference_input(tensors)

    def _setup_modalities(self) -> list[str]:
        """Names of the registered modalities: ``setup_mudata``'s ``modalities``, or the one
        ``modality`` of ``setup_anndata``."""
        info = self.adata_manager.registry[_SETUP_ARGS_KEY]
        return list(info["modalities"]) if info.get("modalities") else [str(info["modality"])]

    def _set_up_with_anndata(self) -> bool:
        """Whether the training data were registered with ``setup_anndata`` (one modality)."""
        return self.registry_.get(_SETUP_METHOD_NAME) == "setup_anndata"

    def _setup_call(self) -> str:
        """The setup method that registered the training data, e.g. ``"MOSAICVI.setup_anndata"``
        (what error hints tell the user to call again)."""
        return f"{type(self).__name__}.{self.registry_.get(_SETUP_METHOD_NAME) or 'setup_mudata'}"

    def _setup_arg(self, arg: str, modality: str, value: str) -> str:
        """:func:`setup_arg` in the spelling of the setup method that was used."""
        return setup_arg(self._set_up_with_anndata(), arg, modality, value)

    #: modality ``m`` of a MuData, or the AnnData itself (:func:`modality_data`)
    _modality_data = staticmethod(modality_data)

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
