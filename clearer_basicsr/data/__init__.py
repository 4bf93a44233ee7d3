"""Datasets registered in BasicSR's DATASET_REGISTRY on import."""

from . import gaussian_noise_dataset  # noqa: F401
