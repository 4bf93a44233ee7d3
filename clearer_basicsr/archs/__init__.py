"""Networks registered in BasicSR's ARCH_REGISTRY, and column candidates in the candidate table, on import."""

from . import clearer_arch, dncnn_arch, open_candidates, ridnet_arch  # noqa: F401
