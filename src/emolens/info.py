"""``emolens info``: the facts about this machine and installation that decide speed and results.

:func:`system_info` gives exactly the keys that ``emolens info --json`` prints; every benchmark
script records it beside its figures.
"""

from __future__ import annotations

import importlib.metadata
import platform
import sys
from typing import Any

from emolens import __version__
from emolens.hardware import cpu_info, train_precision


def _version(dist: str) -> str | None:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return None


def _opencv_version() -> str | None:
    try:
        import cv2
    except ImportError:
        return None
    return str(cv2.__version__)


def _torch_version() -> str | None:
    """torch's version if it is installed, found without importing it (importing torch takes seconds)."""
    return _version("torch")


def system_info() -> dict[str, Any]:
    """``version``, ``cpu`` (``model``, ``flags``), ``onnxruntime``, ``opencv``, ``torch`` (None when
    absent), ``int8`` (the int8 scheme the recognizer uses on this CPU), ``train_precision`` and
    ``train_device`` (what ``emolens train --precision auto --device auto`` choose; the device is None
    without torch)."""
    from emolens.models.bundled import int8_choice

    cpu = cpu_info()
    torch = _torch_version()
    precision, device = train_precision(cpu), None
    if torch:
        from emolens.train.device import resolve_compute

        compute = resolve_compute("auto", "auto")
        precision, device = compute.precision, compute.name
    return {
        "version": __version__,
        "cpu": cpu.as_dict(),
        "onnxruntime": _version("onnxruntime"),
        "opencv": _opencv_version(),
        "torch": torch,
        "int8": int8_choice(cpu),
        "train_precision": precision,
        "train_device": device,
    }


def platform_info() -> dict[str, Any]:
    """Further facts for people: Python, the operating system and ONNX Runtime's providers."""
    providers: list[str] = []
    try:
        import onnxruntime

        providers = list(onnxruntime.get_available_providers())
    except ImportError:
        pass
    return {
        "python": platform.python_version(),
        "implementation": sys.implementation.name,
        "os": f"{platform.system()} {platform.release()}",
        "machine": cpu_info().machine,
        "onnxruntime_providers": providers,
    }


def system_line(info: dict[str, Any] | None = None) -> str:
    """:func:`system_info` in one line, for the output of benchmark scripts."""
    info = info if info is not None else system_info()
    flags = " ".join(info["cpu"]["flags"]) or "none"
    return (
        f"CPU {info['cpu']['model']} (flags: {flags}); onnxruntime {info['onnxruntime']}, opencv {info['opencv']}, "
        f"torch {info['torch'] or 'absent'}; int8 {info['int8'] or 'not used'}, train precision {info['train_precision']}"
        + (f" on {info['train_device']}" if info.get("train_device") not in (None, "cpu") else "")
    )
