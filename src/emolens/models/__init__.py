"""Model architectures (torch, for training) and the bundled ONNX models (for inference).

Importing this package imports no torch: the architecture modules load on first use of
:func:`create_model` or :func:`list_models`.
"""

from emolens.models.registry import create_model, list_models, model_config, register_model

__all__ = ["create_model", "list_models", "model_config", "register_model"]
