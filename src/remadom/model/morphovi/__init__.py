from ._model import MORPHOVI
from ._module import MORPHOVIModule, adaptive_depth, cluster_prior_loss

__all__ = ["MORPHOVI", "MORPHOVIModule", "adaptive_depth", "cluster_prior_loss"]
