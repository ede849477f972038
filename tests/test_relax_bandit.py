"""Scenario choice per child: Thompson sampling learns the better scenario; pins and exclusions hold."""

from __future__ import annotations

import random
from collections import Counter

import pytest

from emolens.errors import EmolensError
from emolens.relax.bandit import Arm, Preferences, Prior, choose, posterior, session_reward, update


def simulated_child(
    prefs: Preferences, true_means: dict[str, float], sessions: int, seed: int
) -> tuple[Preferences, list[str]]:
    """Play ``sessions`` sessions: choose, observe a noisy reward around the scenario's true mean, learn."""
    rng, child = random.Random(seed), random.Random(seed + 1)
    picks = []
    for _ in range(sessions):
        pick = choose(prefs, true_means, rng).scenario
        picks.append(pick)
        prefs = update(prefs, pick, child.gauss(true_means[pick], Prior().noise_sd))
    return prefs, picks


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_converges_to_the_better_scenario(seed: int) -> None:
    true_means = {"calm-evening": 0.05, "ocean-breathing": 0.35, "forest-rest": -0.1, "quiet-light": 0.1}
    best = max(true_means, key=lambda k: true_means[k])
    prefs, picks = simulated_child(Preferences("child-test"), true_means, 150, seed)
    late = Counter(picks[-50:])
    assert late[best] >= 0.8 * 50, late
    assert max(prefs.arms, key=lambda k: prefs.arms[k].n) == best
    # every scenario was tried at least once early on
    assert set(picks) == set(true_means)
    mean, sd = posterior(prefs.arm(best))
    assert abs(mean - true_means[best]) < 3 * sd + 0.05


def test_choose_is_deterministic_with_the_same_rng() -> None:
    prefs = update(update(Preferences("c"), "a", 0.2), "b", -0.1)
    one = [choose(prefs, ["a", "b", "c"], random.Random(7)).scenario for _ in range(5)]
    two = [choose(prefs, ["a", "b", "c"], random.Random(7)).scenario for _ in range(5)]
    assert one == two


def test_pin_is_always_chosen() -> None:
    prefs = update(Preferences("c"), "a", 1.0).pin("b")
    rng = random.Random(0)
    assert {choose(prefs, ["a", "b", "c"], rng).scenario for _ in range(100)} == {"b"}
    assert choose(prefs, ["a", "b"], rng).reason == "pinned"
    with pytest.raises(EmolensError, match="pinned scenario 'b' is not available"):
        choose(prefs, ["a", "c"], rng)
    assert prefs.pin(None).pinned is None


def test_excluded_is_never_chosen() -> None:
    prefs = update(Preferences("c"), "a", 1.0).exclude("a")  # even the best so far
    rng = random.Random(0)
    picks = {choose(prefs, ["a", "b", "c"], rng).scenario for _ in range(200)}
    assert picks == {"b", "c"}
    assert choose(prefs.exclude("b"), ["a", "b", "c"], rng).reason == "only"
    with pytest.raises(EmolensError, match="every scenario is excluded"):
        choose(prefs.exclude("b").exclude("c"), ["a", "b", "c"], rng)
    assert prefs.exclude("a", excluded=False).excluded == frozenset()
    with pytest.raises(EmolensError, match="cannot pin 'a'"):
        prefs.pin("a")
    with pytest.raises(EmolensError, match="cannot exclude 'b'"):
        prefs.pin("b").exclude("b")


def test_update_is_pure_and_the_posterior_narrows() -> None:
    prefs = Preferences("c")
    after = update(prefs, "a", 0.4)
    assert prefs.arms == {} and after.arm("a") == Arm(1, 0.4, 0.4**2)
    prior = Prior()
    mean0, sd0 = posterior(Arm(), prior)
    assert (mean0, sd0) == (prior.mean, prior.sd)
    arm = Arm()
    sds = []
    for _ in range(5):
        arm = update(Preferences("c", {"a": arm}), "a", 0.4).arm("a")
        mean, sd = posterior(arm, prior)
        assert prior.mean < mean < 0.4
        sds.append(sd)
    assert sds == sorted(sds, reverse=True)
    with pytest.raises(EmolensError):
        update(prefs, "a", float("nan"))


def test_session_reward_is_the_change_of_valence() -> None:
    rising = [(float(t), -0.5 + t / 100) for t in range(101)]
    reward = session_reward(rising, window_s=10)
    first = sum(v for t, v in rising if t <= 10) / 11
    last = sum(v for t, v in rising if t >= 90) / 11
    assert reward == pytest.approx(last - first)
    assert session_reward([(float(t), 0.3) for t in range(50)]) == 0.0
    stress_up = [(float(t), t / 100) for t in range(101)]
    with_stress = session_reward(rising, stress_up, window_s=10, stress_weight=0.5)
    assert with_stress is not None and reward is not None and with_stress < reward
    assert session_reward([]) is None
