"""Scenario files: the shipped ones load, and every mistake is named with its file, step and field."""

from __future__ import annotations

from pathlib import Path

import pytest
import tomllib

from emolens.cli import main
from emolens.errors import EmolensError
from emolens.relax.scenarios import (
    ScenarioError,
    available_scenarios,
    load_scenario,
    parse_scenario,
    scenario_from_dict,
)
from emolens.relax.types import MODALITIES
from relax_util import SCENARIO_TOML, make_scenario, scenario_dict

ROOT = Path(__file__).resolve().parents[1]


def test_shipped_scenarios_load_by_name_and_are_sensible() -> None:
    names = available_scenarios()
    assert len(names) >= 3
    for name in names:
        sc = load_scenario(name)
        assert sc.name == name  # the file's name is the scenario's name
        assert sc.description
        assert sc.steps
        for m in MODALITIES:
            lim = sc.limits(m)  # type: ignore[arg-type]
            assert 0 <= lim.safe <= lim.max <= 1
            assert lim.ramp_down_per_s >= lim.ramp_up_per_s > 0
            for s in sc.steps:
                assert s.intensity(m) <= lim.max  # type: ignore[arg-type]
        assert sc.rules.negative_valence < 0 < sc.rules.positive_valence
        # the session ends on its own: the last step finishes
        assert sc.steps[-1].advance.on_timeout == "finish" or sc.steps[-1].advance.min_valence <= -1


def test_shipped_scenarios_are_package_data() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    patterns = config["tool"]["setuptools"]["package-data"]["emolens"]
    assert "relax/scenarios/*.toml" in patterns
    assert sorted(p.stem for p in (ROOT / "src/emolens/relax/scenarios").glob("*.toml")) == available_scenarios()


def test_a_scenario_loads_from_a_file(tmp_path: Path) -> None:
    path = tmp_path / "mine.toml"
    path.write_text(SCENARIO_TOML)
    sc = load_scenario(path)
    assert sc.name == "test-chair"
    assert [s.name for s in sc.steps] == ["first", "second"]
    assert sc.steps[0].params("light") == {"color": "#2040c0", "pattern": "breathe"}
    assert sc.steps[0].intensity("sound") == tomllib.loads(SCENARIO_TOML)["steps"][0]["sound"]["volume"]


def test_unknown_name_and_missing_file() -> None:
    with pytest.raises(EmolensError, match="unknown scenario 'nope'; shipped: ") as e:
        load_scenario("nope")
    assert all(n in str(e.value) for n in available_scenarios())
    with pytest.raises(EmolensError, match="scenario file not found"):
        load_scenario("/no/such/file.toml")


def test_every_mistake_is_reported_once_with_file_step_and_field() -> None:
    data = scenario_dict(rules={"raise_step": -1, "colour": 2})
    data["limits"]["light"]["safe"] = 0.9  # above max
    del data["limits"]["sound"]
    data["steps"][1]["light"]["brightness"] = "high"
    data["steps"][1]["light"]["color"] = "#12345"
    data["steps"][0]["vibration"]["intensity"] = 0.9  # above limits.vibration.max
    data["steps"][0]["duration_s"] = 0
    data["steps"][1]["advance"]["on_timeout"] = "loop"
    with pytest.raises(ScenarioError) as e:
        scenario_from_dict(data, "bad.toml")
    problems = e.value.problems
    expected = [
        ("rules.raise_step", "must be above 0"),
        ("rules.colour", "unknown key"),
        ("limits.light.safe", "must not be above max"),
        ("limits.sound", "missing"),
        ('steps[2] "second".light.brightness', "must be a number"),
        ('steps[2] "second".light.color', "#rrggbb"),
        ('steps[1] "first".vibration.intensity', "must not be above limits.vibration.max"),
        ('steps[1] "first".duration_s', "must be above 0"),
        ('steps[2] "second".advance.on_timeout', "must be one of next, finish"),
    ]
    for where, what in expected:
        hits = [p for p in problems if p.startswith(where + ":") and what in p]
        assert len(hits) == 1, (where, problems)
    assert len(problems) == len(expected), problems
    text = str(e.value)
    assert text.startswith(f"scenario bad.toml: {len(expected)} mistakes: ")
    assert "\n" not in text  # one line for the CLI


def test_bad_toml_and_missing_steps() -> None:
    with pytest.raises(ScenarioError, match="not valid TOML"):
        parse_scenario("name = ", "broken.toml")
    data = scenario_dict()
    del data["steps"]
    with pytest.raises(ScenarioError, match="steps: missing"):
        scenario_from_dict(data)


def test_rule_thresholds_must_be_consistent() -> None:
    with pytest.raises(ScenarioError, match="rules.negative_valence: must be below positive_valence"):
        make_scenario(rules={"negative_valence": 0.0, "positive_valence": 0.0})
    with pytest.raises(ScenarioError, match="limits.light.ramp_down_per_s: must be at least ramp_up_per_s"):
        make_scenario(limits={"light": {"ramp_up_per_s": 0.5, "ramp_down_per_s": 0.2}})


def test_a_volume_needs_a_track_and_a_vibration_a_pattern() -> None:
    data = scenario_dict()
    data["steps"][0]["sound"] = {"volume": 0.3}
    data["steps"][0]["vibration"] = {"intensity": 0.2}
    with pytest.raises(ScenarioError) as e:
        scenario_from_dict(data, "x.toml")
    assert len(e.value.problems) == 2
    assert any("sound.track: missing" in p for p in e.value.problems)
    assert any("vibration.pattern" in p for p in e.value.problems)


def test_cli_lists_and_checks_scenarios(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["relax", "scenarios"]) == 0
    out = capsys.readouterr().out
    for name in available_scenarios():
        assert name in out
    bad = tmp_path / "bad.toml"
    bad.write_text(SCENARIO_TOML.replace("brightness = 0.5", "brightness = 5"))
    assert main(["relax", "scenarios", str(bad)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("emolens: error: scenario bad.toml:")
    assert 'steps[1] "first".light.brightness: must be in [0, 1], got 5' in err[0]


def test_the_readme_example_scenario_is_valid() -> None:
    readme = (ROOT / "README.md").read_text()
    section = readme[readme.index("## Relaxation system") :]
    block = section[section.index("```toml\n") + len("```toml\n") :]
    sc = parse_scenario(block[: block.index("```")], "README")
    assert sc.name == "my-scenario" and len(sc.steps) == 1


def test_the_stress_warning_sits_below_the_halt() -> None:
    assert make_scenario(rules={"halt_arousal": 0.9, "warn_arousal": 0.6}).rules.warn_arousal == 0.6
    with pytest.raises(ScenarioError, match="warn_arousal: must be below halt_arousal"):
        make_scenario(rules={"halt_arousal": 0.6, "warn_arousal": 0.7})
