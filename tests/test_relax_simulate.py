"""Each rule of the controller, end to end through ``emolens relax simulate`` on generated timelines."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from emolens.cli import main
from emolens.relax.controller import FAULT_PRIORITY
from emolens.relax.scenarios import load_scenario
from emolens.relax.simulate import SimulateOptions, read_emotions, simulate
from emolens.relax.types import MODALITIES
from relax_util import SCENARIO_TOML, probs_for, write_label_csv, write_prob_csv

TICK = SimulateOptions().tick_s


@pytest.fixture
def scenario_file(tmp_path: Path) -> Path:
    path = tmp_path / "test-chair.toml"
    path.write_text(SCENARIO_TOML)
    return path


def cli_simulate(csv: Path, scenario: Path | str, *options: str) -> int:
    """`emolens relax simulate --emotions CSV --scenario SCENARIO [OPTIONS]`, in process."""
    return main(["relax", "simulate", "--emotions", str(csv), "--scenario", str(scenario), *options])


def run(csv: Path, scenario: Path | str, tmp_path: Path) -> dict[str, Any]:
    out = tmp_path / "sim.json"
    assert cli_simulate(csv, scenario, "--json", str(out)) == 0
    data: dict[str, Any] = json.loads(out.read_text())
    return data


def actions(data: dict[str, Any]) -> list[tuple[float, str]]:
    return [(t["t"], a) for t in data["ticks"] for a in t["action"].split("+")]


def first(data: dict[str, Any], action: str) -> float:
    return next(t for t, a in actions(data) if a == action)


def level(data: dict[str, Any], t: float, m: str = "light") -> float:
    return float(next(x["intensity"][m] for x in data["ticks"] if x["t"] >= t))


def seconds(a: float, b: float) -> list[float]:
    return [a + i for i in range(int(b - a))]


def test_json_is_exactly_the_contract_and_deterministic(scenario_file: Path, tmp_path: Path) -> None:
    csv = write_label_csv(
        tmp_path / "e.csv", [(t, "happy") for t in seconds(0, 20)] + [(t, "sad") for t in seconds(20, 40)]
    )
    a = run(csv, scenario_file, tmp_path)
    b = json.loads((tmp_path / "sim.json").read_text())
    assert cli_simulate(csv, scenario_file, "--json", str(tmp_path / "again.json")) == 0
    assert (tmp_path / "again.json").read_bytes() == (tmp_path / "sim.json").read_bytes()
    assert set(a) == {"ticks", "alerts"} and a == b
    for t in a["ticks"]:
        assert set(t) == {"t", "state", "intensity", "action"}
        assert set(t["intensity"]) == set(MODALITIES)
        assert all(0.0 <= v <= 1.0 for v in t["intensity"].values())
    times = [t["t"] for t in a["ticks"]]
    assert times == sorted(times) and times[1] - times[0] == pytest.approx(TICK)
    assert a["alerts"]
    for al in a["alerts"]:
        assert set(al) == {"t", "kind", "priority", "message"} and al["priority"] in ("high", "medium", "low")


def test_rule_neutral_holds(scenario_file: Path, tmp_path: Path) -> None:
    sc = load_scenario(scenario_file)
    csv = write_label_csv(tmp_path / "e.csv", [(t, "neutral") for t in seconds(0, 20)])
    data = run(csv, scenario_file, tmp_path)
    decisions = [a for _, a in actions(data) if a in ("neutral_hold", "positive_raise", "negative_lower")]
    assert decisions and set(decisions) == {"neutral_hold"}
    last_running = [t for t in data["ticks"] if t["state"] == "running"][-1]
    for m in MODALITIES:
        assert last_running["intensity"][m] == pytest.approx(sc.steps[0].intensity(m), abs=1e-6)  # type: ignore[arg-type]


def test_rule_positive_raises(scenario_file: Path, tmp_path: Path) -> None:
    sc = load_scenario(scenario_file)
    csv = write_label_csv(tmp_path / "e.csv", [(t, "happy") for t in seconds(0, 25)])
    data = run(csv, scenario_file, tmp_path)
    assert "positive_raise" in [a for _, a in actions(data)]
    for m in MODALITIES:
        top = max(t["intensity"][m] for t in data["ticks"])
        want = min(sc.limits(m).max, sc.steps[0].intensity(m) * sc.rules.max_level)  # type: ignore[arg-type]
        assert top == pytest.approx(want, abs=1e-6)
        assert top > sc.steps[0].intensity(m) or sc.steps[0].intensity(m) == 0  # type: ignore[arg-type]


def test_rule_negative_lowers_then_sustained_negative_halts(scenario_file: Path, tmp_path: Path) -> None:
    sc = load_scenario(scenario_file)
    csv = write_label_csv(
        tmp_path / "e.csv", [(t, "neutral") for t in seconds(0, 15)] + [(t, "sad") for t in seconds(15, 40)]
    )
    data = run(csv, scenario_file, tmp_path)
    lower, halt = first(data, "negative_lower"), first(data, "negative_halt")
    assert 15 < lower < halt
    assert level(data, lower + 1) < level(data, 15)
    assert halt == pytest.approx(15 + sc.rules.sustained_negative_s)
    alerts = [a for a in data["alerts"] if a["kind"] == "adverse_reaction"]
    assert [(a["t"], a["priority"]) for a in alerts] == [(halt, "high")]
    after = [t for t in data["ticks"] if t["t"] > halt]
    assert all(t["state"] in ("halted", "idle") for t in after)
    assert after[-1]["intensity"] == dict.fromkeys(MODALITIES, 0.0)


def test_rule_strong_negative_halts_at_once(scenario_file: Path, tmp_path: Path) -> None:
    sc = load_scenario(scenario_file)
    strong = probs_for("fear", sc.rules.halt_negative_prob + 0.05)
    rows = (
        [(t, probs_for("neutral", 1.0)) for t in seconds(0, 10)]
        + [(10.0, strong)]
        + [(t, probs_for("happy")) for t in seconds(11, 20)]
    )
    data = run(write_prob_csv(tmp_path / "p.csv", rows), scenario_file, tmp_path)
    assert first(data, "negative_halt") == 10.0
    assert [a["priority"] for a in data["alerts"] if a["kind"] == "adverse_reaction"] == ["high"]
    assert all(t["state"] != "running" for t in data["ticks"] if t["t"] >= 10)  # the smile does not restart it


def test_rule_leaving_a_step_depends_on_the_reaction(scenario_file: Path, tmp_path: Path) -> None:
    sc = load_scenario(scenario_file)
    step0 = sc.steps[0]
    end = step0.duration_s + step0.advance.max_extend_s + 10
    calm = run(
        write_label_csv(tmp_path / "calm.csv", [(t, "neutral") for t in seconds(0, end)]), scenario_file, tmp_path
    )
    uneasy_probs = {"sad": 0.1, "neutral": 0.9}
    uneasy = run(
        write_prob_csv(tmp_path / "uneasy.csv", [(t, uneasy_probs) for t in seconds(0, end)]), scenario_file, tmp_path
    )
    assert first(calm, "advance") == pytest.approx(step0.duration_s)
    assert first(uneasy, "extend") == pytest.approx(step0.duration_s)
    assert first(uneasy, "advance") == pytest.approx(step0.duration_s + step0.advance.max_extend_s)


def test_rule_gaps_hold_then_fade_to_safe_then_resume(scenario_file: Path, tmp_path: Path) -> None:
    sc = load_scenario(scenario_file)
    sf = sc.safety
    gap_from, gap_to = 10.0, 10.0 + sf.stale_after_s + sf.hold_s + 8
    rows = [(t, "happy") for t in seconds(0, gap_from)] + [(t, "neutral") for t in seconds(gap_to, gap_to + 10)]
    data = run(write_label_csv(tmp_path / "gap.csv", rows), scenario_file, tmp_path)
    last_face = gap_from - 1
    hold, fade, back = first(data, "no_reading_hold"), first(data, "no_reading_fade"), first(data, "face_back")
    assert hold == pytest.approx(last_face + sf.stale_after_s + TICK)
    assert fade == pytest.approx(hold + sf.hold_s)
    assert back == gap_to
    kinds = [(a["kind"], a["priority"]) for a in data["alerts"]]
    assert kinds == [("no_reading", "low"), ("no_reading", "medium")]
    in_gap = [t for t in data["ticks"] if last_face < t["t"] < gap_to]
    assert {t["state"] for t in in_gap} == {"running", "holding", "safe"}
    stale = [t for t in in_gap if t["t"] - last_face >= sf.stale_after_s]
    for a, b in zip(stale, stale[1:], strict=False):  # nothing rises on data older than stale_after_s
        assert all(b["intensity"][m] <= a["intensity"][m] for m in MODALITIES)
    assert in_gap[-1]["intensity"] == {m: min(level(data, hold, m), sc.limits(m).safe) for m in MODALITIES}  # type: ignore[arg-type]


@pytest.mark.parametrize("fault", sorted(FAULT_PRIORITY))
def test_rule_a_fault_goes_to_the_safe_state_with_an_alert(fault: str, scenario_file: Path, tmp_path: Path) -> None:
    rows: list[tuple[float, str] | tuple[float, str, str]] = [(t, "happy") for t in seconds(0, 30)]
    rows[10] = (10.0, "happy", fault)
    rows[20] = (20.0, "happy", "resume")
    data = run(write_label_csv(tmp_path / "f.csv", rows), scenario_file, tmp_path)
    assert first(data, "fault_safe") == 10.0
    assert {t["state"] for t in data["ticks"] if 10 <= t["t"] < 20} == {"safe"}
    assert [(a["t"], a["kind"], a["priority"]) for a in data["alerts"]] == [(10.0, fault, FAULT_PRIORITY[fault])]
    assert first(data, "resume") == 20.0 and level(data, 25) > level(data, 19.5)


def test_rule_emergency_stop_is_latched_until_reset_and_a_new_start(scenario_file: Path, tmp_path: Path) -> None:
    rows: list[tuple[float, str] | tuple[float, str, str]] = [(t, "happy") for t in seconds(0, 40)]
    rows[10] = (10.0, "happy", "estop")
    rows[12] = (12.0, "happy", "start")
    rows[15] = (15.0, "happy", "reset")
    rows[25] = (25.0, "happy", "start")
    data = run(write_label_csv(tmp_path / "s.csv", rows), scenario_file, tmp_path)
    assert level(data, 9.5) > 0
    estopped = [t for t in data["ticks"] if 10 <= t["t"] < 15]
    assert estopped and all(t["state"] == "estop" and set(t["intensity"].values()) == {0.0} for t in estopped)
    idle = [t for t in data["ticks"] if 15 <= t["t"] < 25]
    assert all(t["state"] == "idle" and set(t["intensity"].values()) == {0.0} for t in idle)
    assert level(data, 30) > 0
    assert [(a["t"], a["kind"], a["priority"]) for a in data["alerts"]] == [(10.0, "emergency_stop", "high")]


def test_report_and_csv_from_a_replay(scenario_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    csv = write_label_csv(
        tmp_path / "e.csv", [(t, "happy") for t in seconds(0, 10)] + [(t, "sad") for t in seconds(20, 35)]
    )
    report, log = tmp_path / "r.png", tmp_path / "log.csv"
    assert cli_simulate(csv, scenario_file, "--report", str(report), "--csv", str(log)) == 0
    assert report.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    text = log.read_text()
    assert "record" in text.splitlines()[0] and ",alert," in text and ",stimulus," in text
    assert "alerts" in capsys.readouterr().out


def test_simulate_library_call_matches_the_cli(scenario_file: Path, tmp_path: Path) -> None:
    csv = write_label_csv(tmp_path / "e.csv", [(t, "happy") for t in seconds(0, 10)])
    sim = simulate(read_emotions(csv), load_scenario(scenario_file))
    assert sim.as_dict() == run(csv, scenario_file, tmp_path)
    assert sim.log.emotions and len(sim.log.stimuli) == len(sim.ticks)


def test_timelines_from_spreadsheets_read_as_plain_ones(tmp_path: Path) -> None:
    plain = tmp_path / "plain.csv"
    plain.write_text("time,label,arousal,event\n0,happy,0.2,start\n1,sad,,\n2,none,0.7,pause\n3,happy,,resume\n")
    rows = read_emotions(plain)
    assert len(rows) == 4
    for name, text in (
        ("semicolons.csv", plain.read_text().replace(",", ";")),
        ("tabs.csv", plain.read_text().replace(",", "\t")),
        ("excel.csv", "\ufeff" + plain.read_text()),
    ):
        other = tmp_path / name
        other.write_text(text, encoding="utf-8")
        assert read_emotions(other) == rows
    # two events in one cell of a semicolon file are quoted, as spreadsheets write them
    quoted, inline = tmp_path / "quoted.csv", tmp_path / "inline.csv"
    quoted.write_text('time;label;event\n0;happy;"start;pause"\n')
    inline.write_text("time,label,event\n0,happy,start;pause\n")
    assert read_emotions(quoted) == read_emotions(inline) and len(read_emotions(inline)[0].events) == 2


def test_bad_timelines_are_one_line_errors(tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("time,label\n0,happy\n1,grumpy\n")
    r = subprocess.run(
        [sys.executable, "-m", "emolens", "relax", "simulate", "--emotions", str(bad)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert r.returncode == 2
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("emolens: error: bad.csv line 3: unknown label 'grumpy'")
    for text, message in (
        ("t,label\n0,happy\n", "needs a 'time' column"),
        ("time,label\n2,happy\n1,happy\n", "goes back"),
        ("time,happy\n0,1\n", "missing angry"),
        ("time,label,event\n0,happy,jump\n", "unknown event 'jump'"),
    ):
        bad.write_text(text)
        with pytest.raises(Exception, match=message):
            read_emotions(bad)
    assert main(["relax", "simulate", "--emotions", str(tmp_path / "none.csv")]) == 2


def test_the_readme_example_is_what_simulate_prints(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = Path(__file__).resolve().parents[1]
    example = root / "docs/relax/example-timeline.csv"
    assert cli_simulate(example, "calm-evening", "--json", str(tmp_path / "s.json")) == 0
    line = capsys.readouterr().out.strip()
    readme = (root / "README.md").read_text()
    assert line in readme
    data = json.loads((tmp_path / "s.json").read_text())
    section = readme[readme.index("## Relaxation system") :]
    section = section[: section.index("\n## ", 5)]
    table = [r for r in section.splitlines() if r[:3] in {f"| {d}" for d in "0123456789"}]
    rows = set()
    for t in data["ticks"]:
        i = t["intensity"]
        rows.add(
            f"| {t['t']:.1f} | {t['state']} | {i['light']:g} | {i['sound']:g} | {i['vibration']:g} | {t['action']} |"
        )
    assert table and set(table) <= rows
    for a in data["alerts"]:
        assert json.dumps(a) in readme


def test_rule_calm_face_rising_stress_warns_then_halts(tmp_path: Path) -> None:
    """Issue 13's fusion rule through ``relax simulate``: a physiological column beside the face."""
    toml = SCENARIO_TOML.replace(
        "sustained_negative_s = 10.0", "sustained_negative_s = 10.0\nwarn_arousal = 0.6\nhalt_arousal = 0.85"
    )
    scenario = tmp_path / "body.toml"
    scenario.write_text(toml)
    lines = ["time,label,arousal,event"]
    for t in range(40):
        stress = 0.3 if t < 10 else min(0.95, 0.3 + 0.04 * (t - 10))  # 0.62 at 18 s, 0.86 at 24 s
        lines.append(f"{t},neutral,{stress:.2f},")
    csv = tmp_path / "body.csv"
    csv.write_text("\n".join(lines) + "\n")
    data = run(csv, scenario, tmp_path)
    warn, halt = first(data, "stress_warning"), first(data, "negative_halt")
    assert warn == 18.0 and halt == 24.0
    assert level(data, warn + 1) < level(data, warn - 1)
    kinds = [(a["kind"], a["priority"], a["t"]) for a in data["alerts"]]
    assert kinds == [("stress_warning", "medium", 18.0), ("adverse_reaction", "high", 24.0)]
    assert "stress at 0.86" in data["alerts"][1]["message"]
