"""``benchmarks/pool_select.py``: greedy forward selection of an ensemble under a budget of parameters."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import numpy as np

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "pool_select.py"


def load_pool_select() -> ModuleType:
    spec = importlib.util.spec_from_file_location("pool_select", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["pool_select"] = module
    spec.loader.exec_module(module)
    return module


def one_hot(labels: list[int], n: int = 3) -> np.ndarray:
    p = np.full((len(labels), n), 0.1)
    p[np.arange(len(labels)), labels] = 0.8
    return p


LABELS = np.array([0, 1, 2, 0, 1, 2])


def test_greedy_adds_the_best_unit_first_and_stops_when_nothing_raises_the_accuracy() -> None:
    greedy = load_pool_select().greedy
    probs = {
        "good": one_hot([0, 1, 2, 0, 1, 0]),  # 5 of 6
        "fair": one_hot([0, 1, 0, 0, 0, 2]),  # 4 of 6
        "bad": one_hot([1, 2, 0, 1, 2, 0]),  # 0 of 6
    }
    path = greedy(probs, dict.fromkeys(probs, 1), dict.fromkeys(probs, 1), LABELS, 10)
    assert [u for u, _ in path][0] == "good"
    assert path[0][1] == 5 / 6
    assert "bad" not in [u for u, _ in path]
    accs = [a for _, a in path]
    assert accs == sorted(accs) and len(set(accs)) == len(accs)  # each step raised it


def test_greedy_keeps_within_the_budget_and_a_tie_goes_to_fewer_parameters() -> None:
    greedy = load_pool_select().greedy
    same = one_hot([0, 1, 2, 0, 1, 0])
    probs = {"big": same, "small": same.copy(), "huge": one_hot(list(LABELS))}
    params = {"big": 5, "small": 2, "huge": 100}
    path = greedy(probs, dict.fromkeys(probs, 1), params, LABELS, 10)
    assert path[0][0] == "small"  # same accuracy as "big", fewer parameters; "huge" is over the budget
    assert all(u != "huge" for u, _ in path)


def test_a_unit_of_several_networks_weighs_as_many() -> None:
    greedy = load_pool_select().greedy
    # "a" is sure and right on faces 0-3, barely wrong on 4-5; "b" is sure of the opposite
    a = np.array(
        [
            [0.9, 0.05, 0.05],
            [0.05, 0.9, 0.05],
            [0.05, 0.05, 0.9],
            [0.9, 0.05, 0.05],
            [0.5, 0.45, 0.05],
            [0.5, 0.05, 0.45],
        ]
    )
    b = np.array([[0.0, 1.0, 0.0], [1.0, 0.0, 0.0], [1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]])
    probs, params = {"a": a, "b": b}, {"a": 3, "b": 1}
    assert greedy(probs, {"a": 3, "b": 1}, params, LABELS, 10) == [("a", 4 / 6), ("b", 1.0)]
    assert greedy(probs, {"a": 1, "b": 1}, params, LABELS, 10) == [("a", 4 / 6)]  # b alone outvotes a: 2 of 6
