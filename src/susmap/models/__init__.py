"""Models by name: the registry and the model families."""

from susmap.models.registry import (
    ModelSpec,
    available_models,
    get_model,
    make_estimator,
    make_pipeline,
    register_model,
)

__all__ = ["ModelSpec", "available_models", "get_model", "make_estimator", "make_pipeline", "register_model"]
