"""Models registered in BasicSR's MODEL_REGISTRY on import."""

from . import clearer_one_shot_model, clearer_search_model, restoration_model  # noqa: F401
