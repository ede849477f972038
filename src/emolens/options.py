"""Command-line options built from a frozen dataclass's fields, so the CLI and the API cannot drift.

Each field becomes ``--field-name`` with the field's type and default; its help text is the
field's ``metadata["help"]``, and ``metadata["choices"]``/``metadata["metavar"]`` pass through.
A ``bool`` field that defaults to False becomes a switch (``--resume``); one that defaults to
True becomes ``--no-<name>`` (``--no-augment``). :func:`options_from_args` makes the dataclass
back from the parsed arguments, so its own checks (``__post_init__``) run on what the user typed.
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import types
import typing
from collections.abc import Collection
from typing import Any, TypeVar

T = TypeVar("T")

__all__ = ["add_options", "options_from_args", "positive_int", "positive_number"]


def _base_type(hint: Any) -> tuple[type, bool]:
    """The scalar type of a field's annotation and whether None is allowed."""
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(hint) if a is not type(None)]
        if len(args) == 1:
            return args[0], True
    return hint, False


def add_options(
    parser: argparse.ArgumentParser | argparse._ArgumentGroup,
    cls: type[Any],
    *,
    skip: Collection[str] = (),
    required: Collection[str] = (),
    defaults: dict[str, Any] | None = None,
    prefix: str = "",
) -> None:
    """Add one option per field of dataclass ``cls`` (except ``skip`` and non-scalar fields).

    ``required``: fields the user must give. ``defaults``: shown and used instead of the field's
    own default (e.g. taken from the environment). ``prefix``: for a dataclass nested in another,
    e.g. ``"smoothing"`` gives ``--smoothing-half-life-s`` (read back with the same prefix).
    """
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        if f.name in skip or not f.init:
            continue
        kind, optional = _base_type(hints[f.name])
        if kind not in (int, float, str, bool):
            continue
        name = f"{prefix}_{f.name}" if prefix else f.name
        flag = "--" + name.replace("_", "-")
        meta = f.metadata
        if defaults is not None and f.name in defaults:
            default = defaults[f.name]
        elif f.default is not dataclasses.MISSING:
            default = f.default
        else:
            default = None
        text = meta.get("help", "")
        if kind is bool:
            if default:
                parser.add_argument(
                    "--no-" + name.replace("_", "-"), dest=name, action="store_false", help=text or None
                )
            else:
                parser.add_argument(flag, dest=name, action="store_true", help=text or None)
            continue
        kwargs: dict[str, Any] = {"dest": name, "type": finite_number if kind is float else kind, "help": text or None}
        if f.name in required:
            kwargs["required"] = True
        else:
            kwargs["default"] = default
            if default is not None and "default" not in text:
                kwargs["help"] = f"{text} (default: {default})" if text else f"default: {default}"
        if "choices" in meta:
            kwargs["choices"] = list(meta["choices"])
        if "metavar" in meta:
            kwargs["metavar"] = meta["metavar"]
        del optional  # None stays the default; the type converts what the user gives
        parser.add_argument(flag, **kwargs)


def options_from_args(cls: type[T], args: argparse.Namespace, *, prefix: str = "", **extra: Any) -> T:
    """An instance of dataclass ``cls`` from the parsed ``args`` (fields absent from ``args`` keep
    their defaults); ``prefix`` as given to :func:`add_options`; ``extra`` sets fields that have no option."""
    given = {}
    for f in dataclasses.fields(cls):  # type: ignore[arg-type]
        name = f"{prefix}_{f.name}" if prefix else f.name
        if f.init and hasattr(args, name):
            given[f.name] = getattr(args, name)
    return cls(**{**given, **extra})


def _whole_number(text: str, minimum: int) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value < minimum:
        raise argparse.ArgumentTypeError(f"must be at least {minimum}, not {text}")
    return value


def positive_int(text: str) -> int:
    """An argparse ``type``: a whole number of at least 1 (``--test-faces 600``)."""
    return _whole_number(text, 1)


def non_negative_int(text: str) -> int:
    """An argparse ``type``: a whole number of 0 or more (``--analysis-pixels 0``: no limit)."""
    return _whole_number(text, 0)


def finite_number(text: str) -> float:
    """An argparse ``type``: any finite number (``nan`` and ``inf`` are refused here, so that range
    checks downstream, which NaN slips through, never see them)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"must be a finite number, not {text}")
    return value


def positive_number(text: str) -> float:
    """An argparse ``type``: a finite number above 0 (``--window 2``, ``--chunk 1``)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not 0 < value < math.inf:
        raise argparse.ArgumentTypeError(f"must be a positive number, not {text}")
    return value
