"""The relaxation loop with the in-process sim devices: the emergency stop, the operator's inputs,
faults of the camera, the recogniser and the devices, the session records, and `emolens relax run`
(with a real clip played as the camera, and with keys pressed on a real pseudo-terminal)."""

from __future__ import annotations

import json
import os
import pty
import select
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from conftest import MEDIA, need
from emolens.analysis import Analyzer
from emolens.detect import create_detector
from emolens.errors import EmolensError
from emolens.relax.devices import Fault
from emolens.relax.devices.sim import SimDevices
from emolens.relax.runner import RelaxRunner, RelaxSession, choose_scenario, relax_run
from emolens.relax.scenarios import load_scenario
from emolens.relax.sources import CameraReadings, DemoReadings, reading_from_faces
from emolens.relax.types import Command
from emolens.runtime.recognizer import Recognizer
from emolens.types import FrameResult

CLIP = "pyfeat_single_face.mp4"  # 72 frames at 30 fps: one face


def make(demo: str = "calm") -> tuple[SimDevices, RelaxSession, RelaxRunner]:
    sim = SimDevices()
    session = RelaxSession(sim, load_scenario("calm-evening"), child="c1", source_name=f"demo:{demo}")
    return sim, session, RelaxRunner(session, DemoReadings(demo, fps=20), tick_s=0.05)


def run_for(runner: RelaxRunner, seconds: float) -> None:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        runner.tick_once()


def kinds(session: RelaxSession) -> list[str]:
    return [a.alert.kind for a in session.alerts]


def test_emergency_stop_acts_before_the_next_tick_and_latches() -> None:
    sim, session, runner = make()
    session.start()
    run_for(runner, 1.0)
    assert session.state.mode == "running" and not sim.state().all_off
    sent_before = len(sim.commands())
    session.emergency_stop("test")
    assert sim.state().all_off and sim.state().estop  # at once, from this thread
    run_for(runner, 0.5)
    assert session.state.mode == "estop"
    assert kinds(session).count("emergency_stop") == 1
    after = sim.commands()[sent_before:]
    assert after and all(s.command.intensity == 0.0 for s in after)  # every command since is all-off
    session.start()  # refused while latched
    run_for(runner, 0.5)
    assert session.state.mode == "estop" and sim.state().all_off
    session.reset()
    run_for(runner, 0.5)
    assert session.state.mode == "idle" and sim.state().all_off  # nothing restarts by itself
    session.start()
    run_for(runner, 0.5)
    assert session.state.mode == "running" and not sim.state().all_off
    runner.close()
    assert sim.state().all_off
    assert [s.outcome for s in session.sessions] == ["emergency stop", "interrupted"]


def test_a_button_on_the_devices_latches_the_controller() -> None:
    sim, session, runner = make()
    session.start()
    run_for(runner, 0.3)
    sim.estop(True)  # as the estop topic would
    run_for(runner, 0.2)
    assert session.state.mode == "estop" and "emergency_stop" in kinds(session)
    runner.close()


class SendWatchingSim(SimDevices):
    """Sim devices that note, at each send, the session's mode and alerts as the panel sees them."""

    def __init__(self) -> None:
        super().__init__()
        self.session: RelaxSession | None = None
        self.seen: list[tuple[str, list[str]]] = []

    def send(self, commands: Sequence[Command]) -> None:
        if self.session is not None:
            panel = self.session.snapshot()
            self.seen.append((panel["mode"], [a["kind"] for a in panel["alerts"]]))
        super().send(commands)


def test_a_state_and_the_alert_it_raised_are_seen_together() -> None:
    # the panel (another thread) must never see the estop mode without its alert, even while
    # the tick is still sending the commands
    sim = SendWatchingSim()
    session = RelaxSession(sim, load_scenario("calm-evening"), child="c1", source_name="demo:calm")
    sim.session = session
    runner = RelaxRunner(session, DemoReadings("calm", fps=20), tick_s=0.05)
    session.start()
    run_for(runner, 0.3)
    session.emergency_stop("test")
    run_for(runner, 0.3)
    estop_views = [alerts for mode, alerts in sim.seen if mode == "estop"]
    assert estop_views and all("emergency_stop" in alerts for alerts in estop_views), sim.seen[-3:]
    runner.close()


def test_device_fault_goes_safe_with_one_alert() -> None:
    sim, session, runner = make()
    session.start()
    run_for(runner, 0.5)
    sim.inject(Fault("device_silent", "no word from the light device for over 2 s"))
    run_for(runner, 0.5)
    assert session.state.mode == "safe"
    assert kinds(session).count("device_error") == 1  # raised once while it lasts
    alert = next(a for a in session.alerts if a.alert.kind == "device_error")
    assert alert.alert.priority == "high" and "no word" in alert.alert.message
    # the operator cannot resume while it lasts: it is raised again
    session.operator("resume")
    run_for(runner, 0.3)
    assert session.state.mode == "safe" and kinds(session).count("device_error") == 2
    sim.inject()
    session.operator("resume")
    run_for(runner, 0.3)
    assert session.state.mode == "running"
    runner.close()


def test_alerts_are_acknowledged_and_the_snapshot_shows_them() -> None:
    sim, session, runner = make("upset")
    session.start()
    run_for(runner, 0.3)
    session.emergency_stop("panel")
    run_for(runner, 0.2)
    snap = session.snapshot()
    assert snap["mode"] == "estop" and snap["unacknowledged"] == 1
    assert snap["devices"]["all_off"] and snap["devices"]["estop"]
    alert = snap["alerts"][0]
    assert alert["kind"] == "emergency_stop" and alert["priority"] == "high" and not alert["acknowledged"]
    assert session.acknowledge(alert["id"]) and not session.acknowledge(9999)
    assert session.snapshot()["unacknowledged"] == 0
    assert snap["timeline"] and set(snap["intensity"]) == {"light", "sound", "vibration"}
    with pytest.raises(EmolensError):
        session.operator("launch")
    runner.close()


def test_adverse_reaction_halts_and_alerts() -> None:
    sim, session, runner = make("upset")  # calm 12 s, then distressed
    session.start()
    t0 = time.monotonic()
    while session.state.mode != "halted" and time.monotonic() - t0 < 40:
        runner.tick_once()
    assert session.state.mode == "halted"
    assert "adverse_reaction" in kinds(session)
    run_for(runner, 3.0)
    assert all(v == 0.0 for v in session.state.output) or max(session.state.output) < 0.05
    runner.close()


# ------------------------------------------------------------------------- camera faults


@pytest.fixture(scope="module")
def recognizer() -> Recognizer:
    return Recognizer()


def test_camera_lost_goes_safe_with_an_alert(recognizer: Recognizer) -> None:
    clip = need(MEDIA / CLIP)
    sim = SimDevices()
    source = CameraReadings(clip, Analyzer(recognizer, create_detector("haar")), lost_after_s=1.0)
    session = RelaxSession(sim, load_scenario("calm-evening"), child="c1", source_name=source.name)
    runner = RelaxRunner(session, source, tick_s=0.05)
    session.start()
    faces = 0
    t0 = time.monotonic()
    while "camera_lost" not in kinds(session) and time.monotonic() - t0 < 30:
        runner.tick_once()
        faces += session.reading is not None and session.reading.has_face
    assert faces > 0, "the clip's face was never read"
    assert "camera_lost" in kinds(session)
    assert session.state.mode == "safe"
    alert = next(a.alert for a in session.alerts if a.alert.kind == "camera_lost")
    assert alert.priority == "medium" and "ended" in alert.message
    runner.close()


class FailingAnalyzer(Analyzer):
    """Fault injection: the real analyser, but the recogniser fails on frames 10 to 12."""

    def process(self, image: np.ndarray, index: int = 0, time_s: float = 0.0, boxes: Any = None) -> FrameResult:
        if 10 <= index <= 12:
            raise RuntimeError("onnxruntime: out of memory")
        return super().process(image, index, time_s, boxes)


def test_recognizer_error_goes_safe_with_an_alert(recognizer: Recognizer) -> None:
    clip = need(MEDIA / CLIP)
    sim = SimDevices()
    source = CameraReadings(clip, FailingAnalyzer(recognizer, create_detector("haar")))
    session = RelaxSession(sim, load_scenario("calm-evening"), child="c1")
    runner = RelaxRunner(session, source, tick_s=0.05)
    session.start()
    t0 = time.monotonic()
    while "recognizer_error" not in kinds(session) and time.monotonic() - t0 < 30:
        runner.tick_once()
    assert session.state.mode == "safe"
    alert = next(a.alert for a in session.alerts if a.alert.kind == "recognizer_error")
    assert "out of memory" in alert.message
    runner.close()


def test_reading_from_faces_takes_the_largest_face() -> None:
    from emolens.types import Face

    small = Face((0, 0, 10, 10), "sad", {"sad": 1.0}, "negative")
    large = Face((50, 0, 40, 40), "happy", {"happy": 0.9, "neutral": 0.1}, "positive")
    r = reading_from_faces([small, large], 3.0, 0.1)
    assert r.probs["happy"] == 0.9 and r.valence == pytest.approx(0.9) and r.age_s == 0.1
    assert not reading_from_faces([], 3.0).has_face


# ------------------------------------------------------------------------- emolens relax run


def test_relax_run_with_a_clip_as_camera_and_a_store(tmp_path: Path) -> None:
    clip = need(MEDIA / CLIP)
    out = tmp_path / "run.json"
    db = tmp_path / "relax.sqlite"
    cmd = [
        sys.executable, "-m", "emolens", "relax", "run", "--video", str(clip), "--devices", "sim", "--child", "kid-7",
        "--scenario", "calm-evening", "--duration", "5", "--json", str(out), "--store", str(db), "--no-keyboard",
    ]  # fmt: skip
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    summary = json.loads(out.read_text())
    assert summary["scenario"] == "calm-evening" and summary["child"] == "kid-7"
    assert [a["kind"] for a in summary["alerts"]].count("camera_lost") == 1  # the clip ends after 2.4 s
    assert summary["final_mode"] == "safe"
    assert len(summary["sessions"]) == 1
    from emolens.relax.store import Store

    with Store(db) as store:
        sessions = store.sessions("kid-7")
        assert len(sessions) == 1
        log = store.session(sessions[0].session_id)
        assert any(e.valence is not None for e in log.emotions)
        assert any(a.kind == "camera_lost" for a in log.alerts)


def relax_run_error(*options: str) -> list[str]:
    """The stderr lines of ``emolens relax run --demo calm --child c OPTIONS``, which must fail with 2."""
    res = subprocess.run(
        [sys.executable, "-m", "emolens", "relax", "run", "--demo", "calm", "--child", "c", *options],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert res.returncode == 2, res.stderr
    return res.stderr.strip().splitlines()


def test_relax_run_errors_are_one_line() -> None:
    assert relax_run_error("--devices", "zigbee") == [
        "emolens: error: unknown devices 'zigbee': use 'sim' or 'mqtt://HOST:PORT'"
    ]


def test_relax_run_takes_the_detector_sensitivity() -> None:
    from emolens.detect.haar import HaarDetector
    from emolens.relax.runner import open_reading_source
    from emolens.relax.sources import CameraReadings
    from emolens.types import DetectorOptions

    source = open_reading_source(video=str(need(MEDIA / CLIP)), detector_options=DetectorOptions(haar_min_neighbors=9))
    try:
        assert isinstance(source, CameraReadings)
        detector = source.analyzer.detector
        assert isinstance(detector, HaarDetector) and detector.settings.min_neighbors == 9
    finally:
        source.close()
    assert relax_run_error("--haar-min-size", "0") == [
        "emolens: error: haar_min_size must be a whole number of 1 or more, got 0"
    ]


def test_bandit_chooses_a_scenario_without_one() -> None:
    sc, why = choose_scenario("c1", None, seed=1)
    assert why == "sampled" and sc.name
    sc, why = choose_scenario("c1", "forest-rest")
    assert (sc.name, why) == ("forest-rest", "given")


def test_relax_run_in_process_summary() -> None:
    summary = relax_run(DemoReadings("calm"), child="c2", scenario="calm-evening", duration_s=1.0, keyboard=False)
    assert summary["sessions"][0]["outcome"] == "interrupted"
    assert summary["devices"]["backend"] == "sim"


def _read_until(fd: int, text: str, timeout_s: float) -> str:
    seen = ""
    end = time.monotonic() + timeout_s
    while text not in seen and time.monotonic() < end:
        ready, _, _ = select.select([fd], [], [], 0.2)
        if ready:
            try:
                seen += os.read(fd, 4096).decode(errors="replace")
            except OSError:
                break
    return seen


def test_escape_key_stops_everything_in_a_terminal() -> None:
    primary, secondary = pty.openpty()
    proc = subprocess.Popen(
        [sys.executable, "-m", "emolens", "relax", "run", "--demo", "calm", "--devices", "sim", "--child", "c3",
         "--scenario", "calm-evening"],
        stdin=secondary, stdout=secondary, stderr=secondary, close_fds=True,
    )  # fmt: skip
    os.close(secondary)
    try:
        assert "keys: Esc" in _read_until(primary, "keys: Esc", 60)
        time.sleep(0.5)
        os.write(primary, b"\x1b")
        seen = _read_until(primary, "ALERT high emergency_stop", 20)
        assert "emergency stop from keyboard" in seen and "ALERT high emergency_stop" in seen
        os.write(primary, b"q")
        assert proc.wait(timeout=20) == 0
        seen += _read_until(primary, "session 1", 5)
        assert "emergency stop" in seen
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        os.close(primary)


def test_the_wristband_feed_reaches_the_controller_and_the_panel() -> None:
    from emolens.relax.body import BodyFeed

    sim = SimDevices()
    scenario = load_scenario("calm-evening")
    assert scenario.rules.halt_arousal is not None
    session = RelaxSession(sim, scenario, child="c1", source_name="demo:calm")
    feed = BodyFeed(session.clock)
    runner = RelaxRunner(session, DemoReadings("calm", fps=20), tick_s=0.05, body=feed)
    session.start()
    run_for(runner, 0.5)
    assert session.snapshot()["body"] is None
    feed.put(0.2, 0.3)
    run_for(runner, 0.3)
    snap = session.snapshot()
    assert snap["body"]["stress"] == 0.2 and snap["body"]["fresh"] and snap["reading"]["has_face"]
    assert snap["timeline"][-1]["stress"] == 0.2
    feed.put(scenario.rules.halt_arousal + 0.05)
    run_for(runner, 0.3)
    assert session.state.mode == "halted" and "adverse_reaction" in kinds(session)
    runner.close()
    assert sim.state().all_off
