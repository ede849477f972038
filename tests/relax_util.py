"""Shared pieces of the relaxation tests: a small scenario with round numbers, readings, CSV timelines."""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import tomllib

from emolens.labels import EMOTIONS
from emolens.relax.scenarios import Scenario, scenario_from_dict
from emolens.relax.types import Reading

SCENARIO_TOML = """
name = "test-chair"
description = "two short steps for the tests"

[limits.light]
max = 0.8
ramp_up_per_s = 0.1
ramp_down_per_s = 0.4
safe = 0.1

[limits.sound]
max = 0.6
ramp_up_per_s = 0.1
ramp_down_per_s = 0.4
safe = 0.0

[limits.vibration]
max = 0.5
ramp_up_per_s = 0.05
ramp_down_per_s = 0.4
safe = 0.0

[rules]
decide_every_s = 2.0
positive_valence = 0.2
negative_valence = -0.2
raise_step = 0.1
lower_step = 0.2
min_level = 0.3
max_level = 1.5
halt_negative_prob = 0.85
sustained_negative_s = 10.0

[safety]
stale_after_s = 2.0
hold_s = 4.0

[[steps]]
name = "first"
duration_s = 30
light = { color = "#2040c0", brightness = 0.5, pattern = "breathe" }
sound = { track = "rain", volume = 0.4 }
vibration = { intensity = 0.2, pattern = "wave" }
advance = { min_valence = 0.0, max_extend_s = 20, on_timeout = "next" }

[[steps]]
name = "second"
duration_s = 30
light = { color = "#ffd9a0", brightness = 0.3, pattern = "steady" }
sound = { track = "rain", volume = 0.2 }
vibration = { intensity = 0.0, pattern = "none" }
advance = { min_valence = -1.0, max_extend_s = 0, on_timeout = "finish" }
"""


def _merge(base: dict[str, Any], changes: Mapping[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(base)
    for key, value in changes.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out


def scenario_dict(**changes: Any) -> dict[str, Any]:
    return _merge(tomllib.loads(SCENARIO_TOML), changes)


def make_scenario(**changes: Any) -> Scenario:
    """The test scenario, with top-level tables changed (merged) by ``changes``."""
    return scenario_from_dict(scenario_dict(**changes), "test-chair.toml")


def probs_for(label: str, confidence: float = 0.8) -> dict[str, float]:
    """``confidence`` on ``label``, the rest on neutral."""
    probs = dict.fromkeys(EMOTIONS, 0.0)
    probs["neutral"] = 1.0 - confidence
    probs[label] += confidence
    return probs


def face(
    t: float, label: str = "neutral", confidence: float = 0.8, *, age: float = 0.0, arousal: float | None = None
) -> Reading:
    from emolens.relax.controller import valence_from_probs

    probs = probs_for(label, confidence)
    return Reading(time=t, probs=probs, valence=valence_from_probs(probs), arousal=arousal, age_s=age)


def write_label_csv(path: Path, rows: Iterable[tuple[float, str] | tuple[float, str, str]]) -> Path:
    """A ``time,label,event`` timeline."""
    lines = ["time,label,event"]
    for row in rows:
        t, label, *event = row
        lines.append(f"{t:g},{label},{event[0] if event else ''}")
    path.write_text("\n".join(lines) + "\n")
    return path


def write_prob_csv(path: Path, rows: Iterable[tuple[float, Mapping[str, float]]]) -> Path:
    """A ``time`` plus the seven probabilities timeline."""
    lines = ["time," + ",".join(EMOTIONS)]
    for t, probs in rows:
        lines.append(f"{t:g}," + ",".join(f"{probs.get(e, 0.0):.4f}" for e in EMOTIONS))
    path.write_text("\n".join(lines) + "\n")
    return path
