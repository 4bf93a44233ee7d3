"""Losses registered in BasicSR's LOSS_REGISTRY on import."""

from . import arch_loss  # noqa: F401
