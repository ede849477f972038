"""Relaxation scenarios: TOML files written by people, read into frozen records, checked field by field.

A scenario is a list of steps (light colour, brightness and pattern; sound track and volume;
vibration intensity and pattern; a duration and the condition to leave it) plus the limits of
every actuator (maximum intensity, ramp up and down per second, safe level), the thresholds of the
controller's rules and the safety timings. Every mistake in a file is reported, each on its own
with the file, the step and the field (``calm.toml: steps[2] "settle": light.brightness: ...``),
all in one :class:`ScenarioError`. Shipped scenarios live in ``emolens/relax/scenarios/*.toml``
and load by name (:func:`load_scenario`); :func:`available_scenarios` lists them.

The file format (every key is described in the README)::

    name = "calm-evening"
    description = "..."

    [limits.light]            # and [limits.sound], [limits.vibration]
    max = 0.8                 # highest intensity ever sent, 0..1
    ramp_up_per_s = 0.08      # fastest rise, intensity per second
    ramp_down_per_s = 0.3     # fastest fall
    safe = 0.1                # the low level faults fade to (never above max)

    [rules]                   # thresholds on calibrated probabilities and valence (-1..1)
    [safety]                  # stale_after_s, hold_s

    [[steps]]
    name = "settle"
    duration_s = 90
    light = { color = "#2040c0", brightness = 0.4, pattern = "breathe" }
    sound = { track = "rain", volume = 0.3 }
    vibration = { intensity = 0.0, pattern = "none" }
    advance = { min_valence = -0.15, max_extend_s = 60, on_timeout = "next" }
"""

from __future__ import annotations

import math
import re
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any, Literal

from emolens.errors import EmolensError
from emolens.relax.types import MODALITIES, Modality

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

__all__ = [
    "LIGHT_PATTERNS",
    "VIBRATION_PATTERNS",
    "Advance",
    "Light",
    "Limits",
    "Rules",
    "Safety",
    "Scenario",
    "ScenarioError",
    "Sound",
    "Step",
    "Vibration",
    "available_scenarios",
    "load_scenario",
    "parse_scenario",
    "scenario_from_dict",
]

LIGHT_PATTERNS = ("steady", "breathe", "pulse", "wave")
VIBRATION_PATTERNS = ("none", "steady", "pulse", "wave", "heartbeat")
ON_TIMEOUT = ("next", "finish")
_COLOR = re.compile(r"^#[0-9a-fA-F]{6}$")
_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")


class ScenarioError(EmolensError):
    """A scenario file cannot be used; ``problems`` lists every mistake, one per line."""

    def __init__(self, source: str, problems: list[str]) -> None:
        self.source = source
        self.problems = list(problems)
        many = f"{len(problems)} mistakes: " if len(problems) > 1 else ""
        super().__init__(f"scenario {source}: {many}" + "; ".join(problems))


@dataclass(frozen=True)
class Limits:
    """One actuator's bounds: highest intensity, fastest rise and fall per second, and the safe level."""

    max: float
    ramp_up_per_s: float
    ramp_down_per_s: float
    safe: float


@dataclass(frozen=True)
class Rules:
    """The thresholds of the controller's rules.

    Every ``decide_every_s`` seconds the latest fresh reading decides: valence at or above
    ``positive_valence`` raises the level by ``raise_step``, at or below ``negative_valence``
    lowers it by ``lower_step``, otherwise it holds; the level stays in [``min_level``,
    ``max_level``] (1 = the step's own intensities). The stimulus halts at once, with a
    high-priority alert, when the negative emotions' probability reaches ``halt_negative_prob``,
    when the valence stays negative for ``sustained_negative_s`` seconds, or when a fresh arousal
    (stress) reading from a wristband reaches ``halt_arousal`` (if set; with or without a face).

    ``warn_arousal`` (if set, below ``halt_arousal``) is the early warning of a calm face with
    rising stress: a fresh stress reading at or above it while the face is not negative lowers the
    level by one step and raises a medium-priority alert, once per episode (the episode ends when
    stress falls ``warn_hysteresis`` below the threshold); while stress stays that high the level
    never rises.
    """

    decide_every_s: float = 3.0
    positive_valence: float = 0.2
    negative_valence: float = -0.2
    raise_step: float = 0.1
    lower_step: float = 0.15
    min_level: float = 0.3
    max_level: float = 1.5
    halt_negative_prob: float = 0.85
    sustained_negative_s: float = 15.0
    halt_arousal: float | None = None
    warn_arousal: float | None = None
    warn_hysteresis: float = 0.1


@dataclass(frozen=True)
class Safety:
    """Data older than ``stale_after_s`` is never used; without fresh data for that long the controller
    holds the stimulus for ``hold_s`` more seconds, then fades to the safe levels."""

    stale_after_s: float = 2.0
    hold_s: float = 5.0


@dataclass(frozen=True)
class Light:
    color: str = "#ffffff"
    brightness: float = 0.0
    pattern: str = "steady"


@dataclass(frozen=True)
class Sound:
    track: str = "none"
    volume: float = 0.0


@dataclass(frozen=True)
class Vibration:
    intensity: float = 0.0
    pattern: str = "none"


@dataclass(frozen=True)
class Advance:
    """When a step's time is up the child's reaction decides: the step ends once the valence is at
    least ``min_valence``; otherwise it goes on for up to ``max_extend_s`` seconds more, then
    ``on_timeout`` says whether to go to the next step or finish the session gently."""

    min_valence: float = -0.2
    max_extend_s: float = 60.0
    on_timeout: Literal["next", "finish"] = "next"


@dataclass(frozen=True)
class Step:
    name: str
    duration_s: float
    light: Light = Light()
    sound: Sound = Sound()
    vibration: Vibration = Vibration()
    advance: Advance = Advance()

    def intensity(self, modality: Modality) -> float:
        """The step's own intensity of an actuator (brightness, volume or vibration intensity)."""
        if modality == "light":
            return self.light.brightness
        if modality == "sound":
            return self.sound.volume
        return self.vibration.intensity

    def params(self, modality: Modality) -> dict[str, Any]:
        """The settings sent with an actuator's intensity."""
        if modality == "light":
            return {"color": self.light.color, "pattern": self.light.pattern}
        if modality == "sound":
            return {"track": self.sound.track}
        return {"pattern": self.vibration.pattern}


@dataclass(frozen=True)
class Scenario:
    name: str
    steps: tuple[Step, ...]
    light: Limits
    sound: Limits
    vibration: Limits
    rules: Rules = Rules()
    safety: Safety = Safety()
    description: str = ""

    def limits(self, modality: Modality) -> Limits:
        if modality == "light":
            return self.light
        if modality == "sound":
            return self.sound
        return self.vibration


# ------------------------------------------------------------------------------------ checking


class _Checker:
    """Collects one message per mistake while reading a parsed TOML table."""

    def __init__(self) -> None:
        self.problems: list[str] = []

    def fail(self, where: str, message: str) -> None:
        self.problems.append(f"{where}: {message}" if where else message)

    def table(self, data: Mapping[str, Any], key: str, where: str) -> Mapping[str, Any]:
        value = data.get(key, {})
        if not isinstance(value, Mapping):
            self.fail(where, f"must be a table, got {_show(value)}")
            return {}
        return value

    def unknown(self, data: Mapping[str, Any], known: tuple[str, ...], where: str) -> None:
        for key in data:
            if key not in known:
                self.fail(_join(where, key), f"unknown key (known: {', '.join(known)})")

    def number(
        self,
        data: Mapping[str, Any],
        key: str,
        where: str,
        default: float | None,
        *,
        lo: float | None = None,
        hi: float | None = None,
        positive: bool = False,
    ) -> float:
        """A finite number in [lo, hi] (``positive``: above 0); ``default`` None makes it required."""
        here = _join(where, key)
        if key not in data:
            if default is None:
                self.fail(here, "missing")
                return lo if lo is not None else 0.0
            return default
        value = data[key]
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
            self.fail(here, f"must be a number, got {_show(value)}")
            return default if default is not None else (lo if lo is not None else 0.0)
        value = float(value)
        if positive and value <= 0:
            self.fail(here, f"must be above 0, got {value:g}")
        elif (lo is not None and value < lo) or (hi is not None and value > hi):
            span = f"[{_g(lo)}, {_g(hi)}]"
            self.fail(here, f"must be in {span}, got {value:g}")
        return value

    def text(
        self,
        data: Mapping[str, Any],
        key: str,
        where: str,
        default: str | None,
        *,
        choices: tuple[str, ...] = (),
        check: Callable[[str], bool] | None = None,
        expect: str = "",
    ) -> str:
        here = _join(where, key)
        if key not in data:
            if default is None:
                self.fail(here, "missing")
                return ""
            return default
        value = data[key]
        if not isinstance(value, str):
            self.fail(here, f"must be a string, got {_show(value)}")
            return default or ""
        if choices and value not in choices:
            self.fail(here, f"must be one of {', '.join(choices)}, got {value!r}")
        elif check is not None and not check(value):
            self.fail(here, f"must be {expect}, got {value!r}")
        return value


def _join(where: str, key: str) -> str:
    return f"{where}.{key}" if where else key


def _g(x: float | None) -> str:
    return "-inf" if x is None else f"{x:g}"


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _limits(ck: _Checker, data: Mapping[str, Any], modality: str) -> Limits:
    where = f"limits.{modality}"
    if modality not in data:
        ck.fail(where, "missing (every actuator needs max, ramp_up_per_s, ramp_down_per_s)")
        return Limits(1.0, 1.0, 1.0, 0.0)
    table = ck.table(data, modality, where)
    ck.unknown(table, ("max", "ramp_up_per_s", "ramp_down_per_s", "safe"), where)
    top = ck.number(table, "max", where, None, lo=0.0, hi=1.0)
    up = ck.number(table, "ramp_up_per_s", where, None, lo=0.0, hi=1.0, positive=True)
    down = ck.number(table, "ramp_down_per_s", where, None, lo=0.0, hi=10.0, positive=True)
    safe = ck.number(table, "safe", where, 0.0, lo=0.0, hi=1.0)
    if safe > top:
        ck.fail(f"{where}.safe", f"must not be above max ({top:g}), got {safe:g}")
    if down < up:
        ck.fail(
            f"{where}.ramp_down_per_s",
            f"must be at least ramp_up_per_s ({up:g}): a stimulus falls faster than it rises",
        )
    return Limits(top, up, max(down, 1e-9), safe)


def _rules(ck: _Checker, data: Mapping[str, Any]) -> Rules:
    where = "rules"
    d = Rules()
    table = ck.table(data, "rules", where)
    ck.unknown(table, tuple(Rules.__dataclass_fields__), where)
    arousal = None
    if "halt_arousal" in table:
        arousal = ck.number(table, "halt_arousal", where, None, lo=0.0, hi=1.0)
    warn = None
    if "warn_arousal" in table:
        warn = ck.number(table, "warn_arousal", where, None, lo=0.0, hi=1.0)
        if warn is not None and arousal is not None and warn >= arousal:
            ck.fail(f"{where}.warn_arousal", f"must be below halt_arousal ({arousal:g}), got {warn:g}")
    r = Rules(
        decide_every_s=ck.number(table, "decide_every_s", where, d.decide_every_s, lo=0.0, hi=600.0, positive=True),
        positive_valence=ck.number(table, "positive_valence", where, d.positive_valence, lo=0.0, hi=1.0),
        negative_valence=ck.number(table, "negative_valence", where, d.negative_valence, lo=-1.0, hi=0.0),
        raise_step=ck.number(table, "raise_step", where, d.raise_step, lo=0.0, hi=0.5, positive=True),
        lower_step=ck.number(table, "lower_step", where, d.lower_step, lo=0.0, hi=1.0, positive=True),
        min_level=ck.number(table, "min_level", where, d.min_level, lo=0.0, hi=1.0),
        max_level=ck.number(table, "max_level", where, d.max_level, lo=1.0, hi=3.0),
        halt_negative_prob=ck.number(
            table, "halt_negative_prob", where, d.halt_negative_prob, lo=0.0, hi=1.0, positive=True
        ),
        sustained_negative_s=ck.number(
            table, "sustained_negative_s", where, d.sustained_negative_s, lo=0.0, hi=3600.0, positive=True
        ),
        halt_arousal=arousal,
        warn_arousal=warn,
        warn_hysteresis=ck.number(table, "warn_hysteresis", where, d.warn_hysteresis, lo=0.0, hi=0.5),
    )
    return r


def _safety(ck: _Checker, data: Mapping[str, Any]) -> Safety:
    where = "safety"
    d = Safety()
    table = ck.table(data, "safety", where)
    ck.unknown(table, tuple(Safety.__dataclass_fields__), where)
    return Safety(
        stale_after_s=ck.number(table, "stale_after_s", where, d.stale_after_s, lo=0.0, hi=60.0, positive=True),
        hold_s=ck.number(table, "hold_s", where, d.hold_s, lo=0.0, hi=600.0),
    )


def _step(ck: _Checker, raw: Any, i: int, limits: dict[str, Limits]) -> Step:
    where = f"steps[{i + 1}]"
    if not isinstance(raw, Mapping):
        ck.fail(where, f"must be a table, got {_show(raw)}")
        return Step(f"step-{i + 1}", 1.0)
    name = raw.get("name")
    if isinstance(name, str) and name:
        where = f'steps[{i + 1}] "{name}"'
    else:
        ck.fail(where + ".name", "missing" if name is None else f"must be a non-empty string, got {_show(name)}")
        name = f"step-{i + 1}"
    ck.unknown(raw, ("name", "duration_s", "light", "sound", "vibration", "advance"), where)
    duration = ck.number(raw, "duration_s", where, None, lo=0.0, hi=24 * 3600.0, positive=True)

    lt = ck.table(raw, "light", f"{where}.light")
    ck.unknown(lt, ("color", "brightness", "pattern"), f"{where}.light")
    light = Light(
        color=ck.text(
            lt, "color", f"{where}.light", "#ffffff", check=lambda s: bool(_COLOR.match(s)), expect="#rrggbb"
        ),
        brightness=ck.number(lt, "brightness", f"{where}.light", 0.0, lo=0.0, hi=1.0),
        pattern=ck.text(lt, "pattern", f"{where}.light", "steady", choices=LIGHT_PATTERNS),
    )
    so = ck.table(raw, "sound", f"{where}.sound")
    ck.unknown(so, ("track", "volume"), f"{where}.sound")
    sound = Sound(
        track=ck.text(
            so,
            "track",
            f"{where}.sound",
            "none",
            check=lambda s: bool(_NAME.match(s)),
            expect="a track name (a-z, 0-9, - or _)",
        ),
        volume=ck.number(so, "volume", f"{where}.sound", 0.0, lo=0.0, hi=1.0),
    )
    vi = ck.table(raw, "vibration", f"{where}.vibration")
    ck.unknown(vi, ("intensity", "pattern"), f"{where}.vibration")
    vibration = Vibration(
        intensity=ck.number(vi, "intensity", f"{where}.vibration", 0.0, lo=0.0, hi=1.0),
        pattern=ck.text(vi, "pattern", f"{where}.vibration", "none", choices=VIBRATION_PATTERNS),
    )
    for modality, value, field in (
        ("light", light.brightness, "light.brightness"),
        ("sound", sound.volume, "sound.volume"),
        ("vibration", vibration.intensity, "vibration.intensity"),
    ):
        top = limits[modality].max
        if value > top:
            ck.fail(f"{where}.{field}", f"must not be above limits.{modality}.max ({top:g}), got {value:g}")
    if sound.volume > 0 and sound.track == "none":
        ck.fail(f"{where}.sound.track", "missing: a step with a volume needs a track")
    if vibration.intensity > 0 and vibration.pattern == "none":
        ck.fail(f"{where}.vibration.pattern", 'must not be "none" when the intensity is above 0')

    ad = ck.table(raw, "advance", f"{where}.advance")
    ck.unknown(ad, tuple(Advance.__dataclass_fields__), f"{where}.advance")
    d = Advance()
    on_timeout = ck.text(ad, "on_timeout", f"{where}.advance", d.on_timeout, choices=ON_TIMEOUT)
    advance = Advance(
        min_valence=ck.number(ad, "min_valence", f"{where}.advance", d.min_valence, lo=-1.0, hi=1.0),
        max_extend_s=ck.number(ad, "max_extend_s", f"{where}.advance", d.max_extend_s, lo=0.0, hi=3600.0),
        on_timeout="finish" if on_timeout == "finish" else "next",
    )
    return Step(name, duration, light, sound, vibration, advance)


def scenario_from_dict(data: Mapping[str, Any], source: str = "<scenario>") -> Scenario:
    """A :class:`Scenario` from a parsed TOML document; every mistake is listed in one :class:`ScenarioError`."""
    ck = _Checker()
    ck.unknown(data, ("name", "description", "limits", "rules", "safety", "steps"), "")
    name = ck.text(data, "name", "", None, check=lambda s: bool(_NAME.match(s)), expect="a name (a-z, 0-9, - or _)")
    description = ck.text(data, "description", "", "")
    lim = ck.table(data, "limits", "limits")
    if "limits" not in data:
        ck.fail("limits", "missing ([limits.light], [limits.sound] and [limits.vibration])")
    ck.unknown(lim, MODALITIES, "limits")
    limits: dict[str, Limits] = (
        {m: _limits(ck, lim, m) for m in MODALITIES}
        if "limits" in data
        else {m: Limits(1.0, 1.0, 1.0, 0.0) for m in MODALITIES}
    )
    rules = _rules(ck, data)
    if rules.negative_valence >= rules.positive_valence:
        ck.fail("rules.negative_valence", "must be below positive_valence")
    safety = _safety(ck, data)
    raw_steps = data.get("steps")
    steps: list[Step] = []
    if raw_steps is None:
        ck.fail("steps", "missing: at least one [[steps]]")
    elif not isinstance(raw_steps, list) or not raw_steps:
        ck.fail("steps", "must be a non-empty list of [[steps]] tables")
    else:
        steps = [_step(ck, raw, i, limits) for i, raw in enumerate(raw_steps)]
    if ck.problems:
        raise ScenarioError(source, ck.problems)
    return Scenario(
        name=name,
        steps=tuple(steps),
        light=limits["light"],
        sound=limits["sound"],
        vibration=limits["vibration"],
        rules=rules,
        safety=safety,
        description=description,
    )


def parse_scenario(text: str, source: str = "<scenario>") -> Scenario:
    """A :class:`Scenario` from TOML text (``source`` names it in error messages)."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise ScenarioError(source, [f"not valid TOML: {e}"]) from None
    return scenario_from_dict(data, source)


def _shipped() -> Any:
    return resources.files("emolens.relax") / "scenarios"


def available_scenarios() -> list[str]:
    """The names of the shipped scenarios, sorted."""
    return sorted(p.name[: -len(".toml")] for p in _shipped().iterdir() if p.name.endswith(".toml"))


def scenario_text(name_or_path: str | Path) -> tuple[str, str]:
    """The TOML text of a shipped scenario (by name) or of a file, and the name to show in errors."""
    path = Path(name_or_path)
    if path.suffix == ".toml" or path.exists() or "/" in str(name_or_path):
        try:
            return path.read_text(encoding="utf-8"), path.name
        except FileNotFoundError:
            raise EmolensError(f"scenario file not found: {path}") from None
        except (OSError, UnicodeDecodeError) as e:
            raise EmolensError(f"cannot read scenario file {path}: {e}") from None
    name = str(name_or_path)
    if name not in available_scenarios():
        raise EmolensError(
            f"unknown scenario {name!r}; shipped: {', '.join(available_scenarios())} (or give a .toml file)"
        )
    return (_shipped() / f"{name}.toml").read_text(encoding="utf-8"), f"{name}.toml"


def load_scenario(name_or_path: str | Path) -> Scenario:
    """A shipped scenario by name (``calm-evening``) or a scenario file (``my.toml``), checked."""
    text, source = scenario_text(name_or_path)
    return parse_scenario(text, source)
