"""REMADOM's six integration problems as settings of one MOSAICVI model."""

from __future__ import annotations

import copy
from typing import Any

#: Head weight used by the presets. The masked ELBO is a per-cell sum over features (hundreds
#: to thousands of nats), so an MMD^2 (at most ~2 per kernel scale) needs a weight of this order
#: to matter; warm-up lets the encoders find structure first.
_MMD = {"name": "mmd", "weight": 100.0, "warmup_epochs": 10}

PRESETS: dict[str, dict[str, Any]] = {
    # every cell has every modality: PoE + subset draws so each modality alone predicts the rest
    "paired": {"subset_prob": 0.5, "heads": []},
    # disjoint modality sets: nothing ties them but the prior and a cross-modal head
    "unpaired": {"subset_prob": 0.0, "heads": [{**_MMD, "group_by": "modality_set"}]},
    # a few paired cells (the bridge) + unpaired rest: subset draws on the bridge teach the
    # single-modality encoders to agree, the head aligns the rest
    "bridge": {"subset_prob": 0.5, "heads": [{**_MMD, "group_by": "modality_set"}]},
    # arbitrary masks (e.g. RNA-only, ADT-only and paired batches): z_tech takes the batch
    "mosaic": {"subset_prob": 0.5, "heads": []},
    # train paired, impute an absent modality: stronger subset training of single encoders
    "prediction": {"subset_prob": 0.75, "heads": []},
    # many studies: z_tech conditioned on batch and study, MMD mixes studies in z_bio
    "hierarchical": {"subset_prob": 0.5, "heads": [{**_MMD, "weight": 20.0, "group_by": "study"}]},
}


def preset(problem: str, **overrides) -> dict[str, Any]:
    """The settings of an integration problem, with ``overrides`` applied.

    Parameters
    ----------
    problem
        One of ``paired``, ``unpaired``, ``bridge``, ``mosaic``, ``prediction``,
        ``hierarchical``.
    **overrides
        Any preset key (``subset_prob``, ``heads``); ``None`` values are ignored.

    Returns
    -------
    A new dict (safe to modify); print it to see what a problem sets.

    Raises
    ------
    ValueError
        If ``problem`` or an override key is unknown.
    """
    if problem not in PRESETS:
        raise ValueError(f"unknown problem '{problem}'; choose one of {sorted(PRESETS)}.")
    settings = copy.deepcopy(PRESETS[problem])
    for k, v in overrides.items():
        if k not in settings:
            raise ValueError(f"unknown preset setting '{k}'; settings are {sorted(settings)}.")
        if v is not None:
            settings[k] = copy.deepcopy(v)
    return settings
