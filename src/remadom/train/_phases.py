"""Phased loss schedules (which losses are on at which training iteration)."""

from __future__ import annotations

import numpy as np


class PhaseSchedule:
    """The seed's ``loss_schedule`` (loss -> first phase it is active in) and ``phase_durations``.

    Phases are numbered from 1 and run one after the other for their durations (iterations); a
    loss whose first phase is ``p`` is active from the first iteration of phase ``p`` on. After the
    last phase every loss stays as in the last phase. Losses not listed are always active.

    Parameters
    ----------
    loss_schedule
        ``{"recon": 1, "gan": 2, "gw": 3, ...}``.
    phase_durations
        ``{1: 500, 2: 500, 3: 1000}`` (iterations per phase).

    Raises
    ------
    ValueError
        A phase named in ``loss_schedule`` but missing from ``phase_durations``, or a negative
        duration.

    Examples
    --------
    >>> s = PhaseSchedule({"recon": 1, "gan": 2}, {1: 100, 2: 100})
    >>> s.phase(150), s.active("gan", 50), s.active("gan", 150)
    (2, False, True)
    """

    def __init__(self, loss_schedule: dict[str, int] | None = None,
                 phase_durations: dict[int, int] | None = None):
        self.loss_schedule = {str(k): int(v) for k, v in (loss_schedule or {}).items()}
        self.durations = {int(k): int(v) for k, v in (phase_durations or {}).items()}
        missing = sorted({p for p in self.loss_schedule.values() if p not in self.durations and p != 1})
        if missing:
            raise ValueError(
                f"loss_schedule names phase(s) {missing} that phase_durations lacks "
                f"(phase_durations has {sorted(self.durations)}); add their durations, e.g. "
                f"phase_durations: {{{', '.join(f'{p}: 1000' for p in missing)}}}."
            )
        if any(v < 0 for v in self.durations.values()):
            raise ValueError(f"phase_durations must be non-negative, got {self.durations}.")
        phases = sorted(self.durations)
        starts = np.cumsum([0] + [self.durations[p] for p in phases])[:-1]
        self._starts = {p: int(s) for p, s in zip(phases, starts, strict=True)}

    def phase(self, step: int) -> int:
        """Phase (1-based) at iteration ``step`` (0-based)."""
        current = 1
        for p, start in self._starts.items():
            if step >= start:
                current = p
        return current

    def active(self, loss: str, step: int) -> bool:
        """Whether ``loss`` is on at iteration ``step``."""
        first = self.loss_schedule.get(loss, 1)
        return self.phase(step) >= first

    def weights(self, step: int, base: dict[str, float]) -> dict[str, float]:
        """``base`` weights with inactive losses set to 0."""
        return {k: (w if self.active(k, step) else 0.0) for k, w in base.items()}
