"""Registry keys of MORPHOVI: the names of its data fields, as scvi-tools' ``REGISTRY_KEYS``;
a minibatch ``tensors`` dict carries the same keys. The two unpaired modalities are the sides
``"a"`` (``modality_a``, e.g. morphology) and ``"b"`` (``modality_b``, e.g. expression)."""

from typing import NamedTuple


class _MORPHOVI_REGISTRY_KEYS_NT(NamedTuple):
    #: ``(n_obs, 2)`` which side(s) each row belongs to
    MASK_KEY: str = "mask"
    #: the two sides, in order
    SIDES: tuple[str, str] = ("a", "b")

    def x_key(self, side: str) -> str:
        """A side's features ``(n_obs, n_features)`` (NaN-free; 0 where not observed)."""
        return f"x_{side}"

    def observed_key(self, side: str) -> str:
        """A side's 0/1 per-feature observation mask (``nan_policy="mask"``)."""
        return f"observed_{side}"

    def cluster_key(self, side: str) -> str:
        """A side's integer cluster codes ``(n_obs, 1)`` for the prior loss."""
        return f"cluster_{side}"


MORPHOVI_REGISTRY_KEYS = _MORPHOVI_REGISTRY_KEYS_NT()
