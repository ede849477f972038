"""CLI options are built from the dataclasses' fields, so the CLI and the API take the same names."""

from __future__ import annotations

import argparse
import dataclasses
import subprocess
import sys

import pytest

from emolens.cli import build_parser
from emolens.errors import EmolensError
from emolens.options import options_from_args, positive_int, positive_number
from emolens.train.config import TrainConfig
from emolens.web.settings import ServeOptions


def _flags(command: str) -> set[str]:
    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    return {s for a in sub.choices[command]._actions for s in a.option_strings}  # type: ignore[attr-defined]


@pytest.mark.parametrize(("command", "cls"), [("train", TrainConfig), ("serve", ServeOptions)])
def test_every_scalar_field_has_its_option(command: str, cls: type) -> None:
    flags = _flags(command)
    for f in dataclasses.fields(cls):
        if f.name == "aug":  # nested augmentation strengths: API only
            continue
        if dataclasses.is_dataclass(f.default):  # a nested dataclass: an option for each of its fields
            for inner in dataclasses.fields(f.default):
                assert f"--{inner.name.replace('_', '-')}" in flags, f"emolens {command} lacks --{inner.name}"
            continue
        name = f.name.replace("_", "-")
        assert f"--{name}" in flags or f"--no-{name}" in flags, f"emolens {command} lacks an option for {f.name}"


def test_parsed_options_make_the_same_config_as_the_api() -> None:
    args = build_parser().parse_args(
        [
            "train",
            "--data",
            "d",
            "--epochs",
            "3",
            "--ema",
            "0.99",
            "--no-augment",
            "--resume",
            "--label-set",
            "ferplus",
            "--ferplus",
            "v.csv",
        ]
    )
    cfg = options_from_args(TrainConfig, args)
    assert cfg == TrainConfig(
        data="d", epochs=3, ema=0.99, augment=False, resume=True, label_set="ferplus", ferplus="v.csv"
    )
    defaults = options_from_args(ServeOptions, build_parser().parse_args(["serve"]), token=None)
    assert defaults == ServeOptions()


def test_the_dataclass_checks_what_the_user_typed() -> None:
    args = build_parser().parse_args(["train", "--data", "d", "--ema", "1.5"])
    with pytest.raises(EmolensError, match="--ema"):
        options_from_args(TrainConfig, args)


def test_version_and_help_import_nothing_heavy() -> None:
    code = (
        "import sys\n"
        "from emolens.cli import main\n"
        "for argv in (['--version'], ['--help'], ['train', '--help'], ['serve', '--help'], ['video', '--help']):\n"
        "    try:\n"
        "        main(argv)\n"
        "    except SystemExit:\n"
        "        pass\n"
        "heavy = sorted(m for m in ('numpy', 'cv2', 'onnxruntime', 'torch', 'fastapi') if m in sys.modules)\n"
        "print('HEAVY', heavy, file=sys.stderr)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "HEAVY []" in out.stderr


def test_video_options_cover_the_stream_options_and_build_them() -> None:
    from emolens.cli import _stream_options
    from emolens.types import FollowOptions, SmoothingOptions, StreamOptions, TrackerOptions

    flags = _flags("video")
    for prefix, cls in (
        ("", StreamOptions),
        ("follow-", FollowOptions),
        ("smoothing-", SmoothingOptions),
        ("tracking-", TrackerOptions),
    ):
        for f in dataclasses.fields(cls):
            if f.name in ("follow", "smoothing", "tracking"):
                continue
            assert f"--{prefix}{f.name.replace('_', '-')}" in flags or f"--{f.name}" in flags, (cls, f.name)
    args = build_parser().parse_args(["video", "x.mp4"])
    assert _stream_options(args) == StreamOptions()
    args = build_parser().parse_args(
        [
            "video",
            "x.mp4",
            "--detect-every",
            "3",
            "--no-follow",
            "--smoothing-confirm-s",
            "0.5",
            "--tracking-min-hits",
            "1",
        ]
    )
    assert _stream_options(args) == StreamOptions(
        detect_every=3, follow=None, smoothing=SmoothingOptions(confirm_s=0.5), tracking=TrackerOptions(min_hits=1)
    )
    assert _stream_options(build_parser().parse_args(["video", "x.mp4", "--no-smoothing"])).smoothing is None


def test_positive_int_takes_whole_numbers_from_one() -> None:
    assert positive_int("1") == 1
    assert positive_int("600") == 600
    for text, reason in [("0", "at least 1"), ("-3", "at least 1"), ("2.5", "whole number"), ("x", "whole number")]:
        with pytest.raises(argparse.ArgumentTypeError, match=reason):
            positive_int(text)


def test_positive_number_takes_finite_numbers_above_zero() -> None:
    assert positive_number("0.5") == 0.5
    assert positive_number("2") == 2.0
    for text, reason in [
        ("0", "positive"),
        ("-1", "positive"),
        ("inf", "positive"),
        ("nan", "positive"),
        ("s", "not a number"),
    ]:
        with pytest.raises(argparse.ArgumentTypeError, match=reason):
            positive_number(text)


@pytest.mark.parametrize(
    "argv",
    [
        ["bench", "models", "--test-faces", "0"],
        ["audio", "clip.wav", "--window", "-2"],
        ["physio", "folder", "--hop", "0"],
    ],
)
def test_commands_refuse_non_positive_values_in_one_line(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as stop:
        build_parser().parse_args(argv)
    assert stop.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert "positive" in err or "at least 1" in err
