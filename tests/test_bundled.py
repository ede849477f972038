"""Bundled model families: a family name loads its faster variant on the CPU at hand."""

import pytest

from emolens.errors import ModelError
from emolens.hardware import parse_cpuinfo
from emolens.models import bundled
from emolens.models.bundled import DEFAULT_MODEL, available_models, preferred_variant, resolve_model

AMD = parse_cpuinfo("model name\t: AMD EPYC 7B13\nflags\t\t: sse2 avx avx2 fma\n", "x86_64")
XEON = parse_cpuinfo("model name\t: Intel Xeon\nflags\t\t: avx2 avx512f avx512_vnni amx_tile amx_int8\n", "x86_64")


def test_families_and_their_variants_are_listed() -> None:
    names = available_models()
    assert {DEFAULT_MODEL, f"{DEFAULT_MODEL}-int8", f"{DEFAULT_MODEL}-fp32"} <= set(names)
    assert resolve_model(f"{DEFAULT_MODEL}-fp32").name == f"{DEFAULT_MODEL}-fp32.onnx"
    assert resolve_model(f"{DEFAULT_MODEL}-int8").name == f"{DEFAULT_MODEL}-int8.onnx"


def test_int8_is_chosen_where_it_was_measured_faster() -> None:
    for cpu in (AMD, XEON):
        assert preferred_variant(cpu) == "int8"
        assert resolve_model(None, cpu).name == f"{DEFAULT_MODEL}-int8.onnx"


def test_a_cpu_class_listed_as_fp32_faster_loads_float32(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(bundled, "FP32_FASTER_FLAGS", (frozenset({"avx2"}),))
    assert resolve_model(DEFAULT_MODEL, AMD).name == f"{DEFAULT_MODEL}-fp32.onnx"
    assert resolve_model(DEFAULT_MODEL, XEON).name == f"{DEFAULT_MODEL}-int8.onnx"  # VNNI keeps int8
    assert bundled.int8_choice(AMD) is None


def test_unknown_names_list_the_bundled_ones() -> None:
    with pytest.raises(ModelError, match=f"bundled models: .*{DEFAULT_MODEL}-int8"):
        resolve_model("emolens-nope")


def test_short_names_by_purpose_load_their_family() -> None:
    names = available_models()
    assert "default" in names and resolve_model("default", AMD) == resolve_model(DEFAULT_MODEL, AMD)
    for name, alias in bundled.ALIASES.items():
        # offered only when its family is installed, and then it loads that family
        assert (name in names) == (alias.family in names)
        if alias.family in names:
            assert resolve_model(name, AMD) == resolve_model(alias.family, AMD)


def test_short_names_may_choose_the_test_time_augmentation() -> None:
    from emolens.runtime.recognizer import Recognizer

    assert {"fast", "accurate"} <= set(available_models())
    assert bundled.alias_tta("accurate") == "shift" and bundled.alias_tta("fast") == "cascade"
    assert bundled.alias_tta(DEFAULT_MODEL) is None and bundled.alias_tta(None) is None
    assert Recognizer("accurate").tta == "shift"
    assert Recognizer("accurate", tta="hflip").tta == "hflip"  # an explicit mode still wins
    rec = Recognizer("accurate")
    assert (
        rec.path == Recognizer("emolens-vgg4-fer2013").path != Recognizer().path
    )  # the four networks, not the default
    assert rec.temperature == rec.meta.temperature_for("shift")
    assert Recognizer(resolve_model("accurate")).tta == rec.meta.tta  # the file itself keeps its own mode
