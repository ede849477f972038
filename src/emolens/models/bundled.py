"""The ONNX models shipped inside the package, found by name.

A shipped model comes as a *family* of two files, ``NAME-int8.onnx`` and ``NAME-fp32.onnx``: the
same network quantized and in float32. Asking for ``NAME`` loads the variant that is fastest on
this CPU among those that keep its accuracy (:func:`preferred_variant`); ``NAME-int8`` and
``NAME-fp32`` load one variant whatever the CPU. A few families also answer to a short name
for what they are for (:data:`ALIASES`, e.g. ``Recognizer(model="ferplus")``); such a name may also
choose the test-time augmentation (``"accurate"`` averages ten views of each face).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from emolens.errors import ModelError
from emolens.hardware import CpuInfo, cpu_info

WEIGHTS_DIR = Path(__file__).parent / "weights"
DEFAULT_MODEL = "emolens-vgg-fer2013"
VARIANTS = ("int8", "fp32")


@dataclass(frozen=True)
class Alias:
    """A short name by purpose: the family it loads and, optionally, the test-time augmentation it
    runs that family with (None: the file's own; an explicit ``tta=`` still wins)."""

    family: str
    tta: str | None = None


ALIASES: dict[str, Alias] = {
    "default": Alias(DEFAULT_MODEL),
    # the default file with a cascade of views (selective flip, then ten views for the faces still unsure):
    # faster than fer's model and more accurate than selective flip (benchmarks/fast_vs_fer.py, cascade_tta.py)
    "fast": Alias(DEFAULT_MODEL, "cascade"),
    # the most accurate shipped FER-2013 model: four networks averaged (the default's, a second seed and two
    # by way of FER+), ten views a face each (benchmarks/face_ensemble.sh; model card emolens-vgg4-fer2013.md)
    "accurate": Alias("emolens-vgg4-fer2013", "shift"),
    # FER+'s eight emotions: two networks fine-tuned on the FER+ votes, averaged, flip (model card emolens-vgg2-ferplus.md)
    "ferplus": Alias("emolens-vgg2-ferplus"),
}
"""Short names by purpose; only those whose family is installed are offered."""

# predict_faces on 256 faces with flip TTA, portable int8 (u8s8-rr) against float32, measured by
# benchmarks/int8_schemes.py and benchmarks/default_model.sh:
#   AMD EPYC, AVX2 only (2026-11-30):        int8 522 faces/s, fp32 342
#   Intel Xeon, AVX512-VNNI and AMX (2026-11-22, u8s8): int8 1058 faces/s, fp32 386
# int8 is the faster variant on every CPU measured so far. A CPU class where float32 measures
# faster is added here, and its models then load as float32.
FP32_FASTER_FLAGS: tuple[frozenset[str], ...] = ()
"""Each entry: a set of CPU flags; a CPU with all of them (and no int8 dot product) gets float32."""


def _family_names() -> list[str]:
    return sorted(
        p.name[: -len("-int8.onnx")]
        for p in WEIGHTS_DIR.glob("*-int8.onnx")
        if (WEIGHTS_DIR / p.name.replace("-int8.onnx", "-fp32.onnx")).is_file()
    )


def available_models() -> list[str]:
    """Names of the bundled models (``Recognizer(model=NAME)``): short names, each family and its variants."""
    families = _family_names()
    aliases = {name for name, alias in ALIASES.items() if alias.family in families}
    return sorted({*aliases, *families, *(p.stem for p in WEIGHTS_DIR.glob("*.onnx"))})


def preferred_variant(cpu: CpuInfo | None = None) -> str:
    """``"int8"`` or ``"fp32"``: the faster variant of a family on this CPU (see :data:`FP32_FASTER_FLAGS`)."""
    cpu = cpu if cpu is not None else cpu_info()
    if not cpu.int8_dot and any(flags <= set(cpu.flags) for flags in FP32_FASTER_FLAGS):
        return "fp32"
    return "int8"


def resolve_model(model: str | Path | None, cpu: CpuInfo | None = None) -> Path:
    """A model file from a bundled name, a path, or None for the default model.

    A family name resolves to its :func:`preferred_variant` on ``cpu`` (default: this CPU).
    """
    if model is None:
        model = DEFAULT_MODEL
    if not isinstance(model, (str, Path)):
        raise ModelError(f"a model is a name (see emolens.available_models()) or an .onnx path, not {model!r}")
    if isinstance(model, str) and model in ALIASES:
        model = ALIASES[model].family
    path = Path(model)
    if path.suffix == ".onnx" or path.exists():
        if not path.is_file():
            raise ModelError(f"model file not found: {path}")
        return path
    bundled = WEIGHTS_DIR / f"{model}.onnx"
    if bundled.is_file():
        return bundled
    if str(model) in _family_names():
        return WEIGHTS_DIR / f"{model}-{preferred_variant(cpu)}.onnx"
    names = ", ".join(available_models()) or "none are installed"
    raise ModelError(f"unknown model {str(model)!r}; bundled models: {names}; or give the path of an .onnx file")


def alias_tta(model: str | Path | None) -> str | None:
    """The test-time augmentation that a short name (:data:`ALIASES`) asks for; None for any other
    model, which runs with its file's own."""
    alias = ALIASES.get(model) if isinstance(model, str) else None
    return alias.tta if alias is not None else None


def int8_choice(cpu: CpuInfo | None = None) -> str | None:
    """The int8 scheme of the default model's int8 variant (``emolens.precision`` of the file), or
    None when the default model loads as float32 on this CPU."""
    if preferred_variant(cpu) != "int8":
        return None
    from emolens.runtime.metadata import read_precision

    return read_precision(resolve_model(f"{DEFAULT_MODEL}-int8")).removeprefix("int8-")
