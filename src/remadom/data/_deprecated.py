"""Old homes of the preprocessing functions, kept for one release (now in :mod:`remadom.pp`)."""

from __future__ import annotations

import functools
import warnings

from remadom import pp


def _moved(name: str):
    new = getattr(pp, name)

    @functools.wraps(new)
    def alias(*args, **kwargs):
        warnings.warn(
            f"remadom.data.{name} moved to remadom.pp.{name} (same arguments); the old name "
            "will be removed in the next release.",
            DeprecationWarning,
            stacklevel=2,
        )
        return new(*args, **kwargs)

    alias.__doc__ = f"Deprecated alias of :func:`remadom.pp.{name}` (removed in the next release)."
    alias.__wrapped__ = new
    return alias


clr = _moved("clr")
image_features = _moved("image_features")
image_modality = _moved("image_modality")
link_features = _moved("link_features")
lsi_atac = _moved("lsi_atac")
pca_protein = _moved("pca_protein")
pca_rna = _moved("pca_rna")
