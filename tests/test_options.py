"""CLI options are built from the dataclasses' fields, so the CLI and the API take the same names."""

from __future__ import annotations

import dataclasses
import subprocess
import sys

import pytest

from emolens.cli import build_parser
from emolens.errors import EmolensError
from emolens.options import options_from_args
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
