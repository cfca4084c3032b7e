"""Training plans and helpers shared by the models."""

from ._plan import CheckedTrainingPlan, NonFiniteLossError

__all__ = ["CheckedTrainingPlan", "NonFiniteLossError"]
