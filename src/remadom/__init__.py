"""remadom: multimodal single-cell and spatial omics integration for the scverse ecosystem."""

from . import data, datasets, metrics, model, nn, pl, tl, train

__version__ = "0.1.0"

__all__ = ["data", "datasets", "metrics", "model", "nn", "pl", "tl", "train", "__version__"]
