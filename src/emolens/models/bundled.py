"""The ONNX models shipped inside the package, found by name."""

from __future__ import annotations

from pathlib import Path

from emolens.errors import ModelError

WEIGHTS_DIR = Path(__file__).parent / "weights"
DEFAULT_MODEL = "emolens-vgg-fer2013"


def available_models() -> list[str]:
    """Names of the bundled models (``Recognizer(model=NAME)``)."""
    return sorted(p.stem for p in WEIGHTS_DIR.glob("*.onnx"))


def resolve_model(model: str | Path | None) -> Path:
    """A model file from a bundled name, a path, or None for the default model."""
    if model is None:
        model = DEFAULT_MODEL
    path = Path(model)
    if path.suffix == ".onnx" or path.exists():
        if not path.is_file():
            raise ModelError(f"model file not found: {path}")
        return path
    bundled = WEIGHTS_DIR / f"{model}.onnx"
    if bundled.is_file():
        return bundled
    names = ", ".join(available_models()) or "none are installed"
    raise ModelError(f"unknown model {str(model)!r}; bundled models: {names}; or give the path of an .onnx file")
