"""Networks registered in BasicSR's ARCH_REGISTRY on import."""

from . import clearer_arch, dncnn_arch, ridnet_arch  # noqa: F401
