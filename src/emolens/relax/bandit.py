"""Which scenario suits a child: Thompson sampling over the scenarios, learned per child.

The reward of a session is the change of the child's valence over it (the mean of its last
``window_s`` seconds minus that of its first), optionally minus a weighted change of stress once
a wristband gives one. Each scenario's mean reward has a Gaussian posterior (a normal prior,
observations with a known noise): :func:`choose` draws one sample per allowed scenario and picks
the highest, so scenarios that worked are played more while uncertain ones are still tried. A
person can pin a scenario (always chosen) or exclude some (never chosen).

Everything here is pure: :class:`Preferences` is a frozen record, :func:`update` returns a new one,
and :func:`choose` takes its random generator from the caller.
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace

from emolens.errors import EmolensError

__all__ = ["Arm", "Choice", "Preferences", "Prior", "choose", "posterior", "session_reward", "update"]


@dataclass(frozen=True)
class Prior:
    """The belief before any session: mean reward ``mean`` with spread ``sd``; one session's reward
    scatters around the scenario's true mean by ``noise_sd``."""

    mean: float = 0.0
    sd: float = 0.5
    noise_sd: float = 0.3

    def __post_init__(self) -> None:
        if not (self.sd > 0 and self.noise_sd > 0):
            raise EmolensError("bandit prior: sd and noise_sd must be above 0")


@dataclass(frozen=True)
class Arm:
    """The sessions of one scenario for one child: how many, and the sum and sum of squares of their rewards."""

    n: int = 0
    total: float = 0.0
    total_sq: float = 0.0

    @property
    def mean(self) -> float | None:
        return self.total / self.n if self.n else None


@dataclass(frozen=True)
class Preferences:
    """What has been learned for one child (``child_id``, a pseudonym): one :class:`Arm` per scenario
    played, a pinned scenario (or None) and the excluded ones."""

    child_id: str
    arms: Mapping[str, Arm] = field(default_factory=dict)
    pinned: str | None = None
    excluded: frozenset[str] = frozenset()

    def arm(self, scenario: str) -> Arm:
        return self.arms.get(scenario, Arm())

    def pin(self, scenario: str | None) -> Preferences:
        """Always choose ``scenario`` (None: unpin). A pinned scenario cannot be excluded."""
        if scenario is not None and scenario in self.excluded:
            raise EmolensError(f"cannot pin {scenario!r}: it is excluded for {self.child_id}")
        return replace(self, pinned=scenario)

    def exclude(self, scenario: str, excluded: bool = True) -> Preferences:
        """Never choose ``scenario`` (``excluded=False`` allows it again)."""
        if excluded and scenario == self.pinned:
            raise EmolensError(f"cannot exclude {scenario!r}: it is pinned for {self.child_id}; unpin it first")
        return replace(self, excluded=self.excluded | {scenario} if excluded else self.excluded - {scenario})


@dataclass(frozen=True)
class Choice:
    """The scenario chosen, why (``"pinned"``, ``"sampled"`` or ``"only"``) and the draw of each candidate."""

    scenario: str
    reason: str
    samples: Mapping[str, float] = field(default_factory=dict)


def posterior(arm: Arm, prior: Prior = Prior()) -> tuple[float, float]:
    """The mean and standard deviation of a scenario's mean reward after its sessions."""
    precision = 1.0 / prior.sd**2 + arm.n / prior.noise_sd**2
    mean = (prior.mean / prior.sd**2 + arm.total / prior.noise_sd**2) / precision
    return mean, math.sqrt(1.0 / precision)


def update(prefs: Preferences, scenario: str, reward: float) -> Preferences:
    """The preferences after one session of ``scenario`` that earned ``reward``."""
    if not math.isfinite(reward):
        raise EmolensError(f"a session's reward must be a finite number, got {reward}")
    arm = prefs.arm(scenario)
    arms = dict(prefs.arms)
    arms[scenario] = Arm(arm.n + 1, arm.total + reward, arm.total_sq + reward * reward)
    return replace(prefs, arms=arms)


def choose(prefs: Preferences, candidates: Iterable[str], rng: random.Random, prior: Prior = Prior()) -> Choice:
    """The scenario for the next session among ``candidates``: the pinned one when it is a
    candidate, otherwise the highest Thompson draw among those not excluded (ties: by name)."""
    names = sorted(set(candidates))
    if prefs.pinned is not None:
        if prefs.pinned not in names:
            raise EmolensError(f"pinned scenario {prefs.pinned!r} is not available; known: {', '.join(names)}")
        return Choice(prefs.pinned, "pinned")
    allowed = [n for n in names if n not in prefs.excluded]
    if not allowed:
        raise EmolensError(f"every scenario is excluded for {prefs.child_id}; allow one again or pin one")
    samples = {}
    for name in allowed:
        mean, sd = posterior(prefs.arm(name), prior)
        samples[name] = rng.gauss(mean, sd)
    best = max(allowed, key=lambda n: (samples[n], n))
    return Choice(best, "only" if len(allowed) == 1 else "sampled", samples)


def _window_mean(points: Sequence[tuple[float, float]], lo: float, hi: float) -> float | None:
    values = [v for t, v in points if lo <= t <= hi and math.isfinite(v)]
    return sum(values) / len(values) if values else None


def session_reward(
    valence: Sequence[tuple[float, float]],
    stress: Sequence[tuple[float, float]] = (),
    *,
    window_s: float = 30.0,
    stress_weight: float = 0.5,
) -> float | None:
    """Valence change over a session: mean valence of its last ``window_s`` seconds minus that of its
    first (``(time, valence)`` points; windows shrink to a third of a short session each). With
    ``stress`` points (0..1), minus ``stress_weight`` times the stress change. None without data."""
    pts = sorted((t, v) for t, v in valence if math.isfinite(t))
    if not pts:
        return None
    start, end = pts[0][0], pts[-1][0]
    w = min(window_s, (end - start) / 3.0)
    first, last = _window_mean(pts, start, start + w), _window_mean(pts, end - w, end)
    if first is None or last is None:
        return None
    reward = last - first
    spts = sorted((t, v) for t, v in stress if math.isfinite(t))
    if spts:
        s0, s1 = spts[0][0], spts[-1][0]
        ws = min(window_s, (s1 - s0) / 3.0)
        a, b = _window_mean(spts, s0, s0 + ws), _window_mean(spts, s1 - ws, s1)
        if a is not None and b is not None:
            reward -= stress_weight * (b - a)
    return reward
