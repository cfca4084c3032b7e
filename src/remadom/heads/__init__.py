"""Alignment heads: extra losses on ``z_bio``, one small class each, behind one interface.

Heads are listed by name (YAML ``heads: [{name: mmd, weight: 1.0, warmup_epochs: 10}]``) and
built with :func:`make_head`: ``mmd`` (:class:`MMDHead`), ``sinkhorn`` (:class:`SinkhornHead`),
``gw`` (:class:`GWHead`), ``crossgraph`` (:class:`CrossGraphHead`), ``graph``
(:class:`GraphRegularizer`), ``temporal`` (:class:`TemporalHead`), ``bridge``
(:class:`BridgeDictionary`).
"""

from __future__ import annotations

from typing import Any

from ._base import GROUP_KEYS, AlignmentHead, median_sq_dist
from ._bridge import BridgeDictionary
from ._crossgraph import CrossGraphHead, mnn_pairs
from ._gw import GWHead
from ._laplacian import GraphRegularizer
from ._mmd import MMDHead, mmd2
from ._sinkhorn import SinkhornHead
from ._temporal import TemporalHead

#: head name -> class
HEADS: dict[str, type[AlignmentHead]] = {
    h.name: h for h in (MMDHead, SinkhornHead, GWHead, CrossGraphHead, GraphRegularizer, TemporalHead,
                        BridgeDictionary)
}


def make_head(spec: AlignmentHead | dict[str, Any]) -> AlignmentHead:
    """Build a head from ``{"name": ..., **params}`` (or return a head unchanged).

    Raises
    ------
    ValueError
        Unknown head name or parameter, or an invalid value (negative weight, ...).
    """
    if isinstance(spec, AlignmentHead):
        return spec
    if not isinstance(spec, dict) or "name" not in spec:
        raise ValueError(f"a head is a dict with a 'name' key, e.g. {{'name': 'mmd'}}; got {spec!r}.")
    params = dict(spec)
    name = params.pop("name")
    if name not in HEADS:
        raise ValueError(f"unknown head '{name}'; available heads: {sorted(HEADS)}.")
    try:
        return HEADS[name](**params)
    except TypeError as e:
        import inspect

        valid = [p for p in inspect.signature(HEADS[name].__init__).parameters
                 if p not in ("self", "kwargs", "n_latent")]
        valid += ["weight", "warmup_epochs", "group_by"]
        raise ValueError(f"head '{name}': {e}; valid parameters: {sorted(set(valid))}.") from None


__all__ = [
    "GROUP_KEYS",
    "HEADS",
    "AlignmentHead",
    "BridgeDictionary",
    "CrossGraphHead",
    "GWHead",
    "GraphRegularizer",
    "MMDHead",
    "SinkhornHead",
    "TemporalHead",
    "make_head",
    "median_sq_dist",
    "mmd2",
    "mnn_pairs",
]
