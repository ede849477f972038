"""The int8 schemes of ``emolens quantize``: how activations and weights are stored as 8-bit integers.

Light on purpose (no ONNX, no torch): the command line lists these choices without loading them.
"""

from __future__ import annotations

from dataclasses import dataclass

from emolens.errors import ModelError


@dataclass(frozen=True)
class Int8Scheme:
    """How activations and weights are stored as 8-bit integers."""

    name: str
    activation: str  # "uint8" | "int8"
    weight: str  # "uint8" | "int8"
    reduce_range: bool
    portable: bool
    description: str


SCHEMES: dict[str, Int8Scheme] = {
    s.name: s
    for s in (
        Int8Scheme(
            "u8u8",
            "uint8",
            "uint8",
            False,
            True,
            "uint8 activations and weights; accurate everywhere, slower than float32 on AVX2",
        ),
        Int8Scheme(
            "u8s8-rr",
            "uint8",
            "int8",
            True,
            True,
            "uint8 activations, 7-bit int8 weights (reduce_range): accurate and fast everywhere",
        ),
        Int8Scheme(
            "u8s8", "uint8", "int8", False, False, "uint8 activations, int8 weights; saturates on x86 CPUs without VNNI"
        ),
        Int8Scheme(
            "s8s8", "int8", "int8", False, False, "int8 activations and weights; run as u8s8 on x86, with the same loss"
        ),
    )
}
DEFAULT_SCHEME = "u8s8-rr"
"""Chosen by ``benchmarks/int8_schemes.py`` (README, "The same results on every CPU"): on an AVX2-only
AMD EPYC it kept the float32 accuracy (71.02% against 71.05% PrivateTest) at the speed of u8s8 (522
against 586 faces/s; float32 342, u8u8 324), where u8s8 and s8s8 lost 2.2 points."""


def scheme(name: str) -> Int8Scheme:
    try:
        return SCHEMES[name]
    except KeyError:
        raise ModelError(f"unknown int8 scheme {name!r}; choose one of: {', '.join(SCHEMES)}") from None
