"""The relaxation loop around the pure controller: readings in, device commands out, safely.

:class:`RelaxSession` is the loop's body without threads: each :meth:`~RelaxSession.tick` takes
the newest reading (or a fault of its source), the operator's inputs since the last tick and the
devices' faults, runs one :func:`emolens.relax.controller.step`, sends its commands and a
heartbeat to the devices, and records alerts, the timeline and the session log. The operator's
inputs (start, pause, resume, stop, emergency stop, reset, acknowledge) may come from any thread.

The emergency stop does not wait for the next tick: it latches the stop at device level at once
(:meth:`~emolens.relax.devices.Devices.estop`: the device agents switch off themselves and refuse
anything above zero), sends all-off, and latches the controller on the next tick. Only an explicit
:meth:`~RelaxSession.reset` clears it, and nothing plays again without a new start.

Faults go to the controller, which takes the chair to its safe state and raises an alert: the
source's (``camera_lost``, ``recognizer_error``: :class:`~emolens.relax.sources.SourceFault`) and
the devices' (``broker_lost``; a silent, offline or failing device is a ``device_error``). A
physical emergency-stop button (the ``estop`` topic) latches the controller as the panel's would.

:class:`RelaxRunner` runs a session over a :class:`~emolens.relax.sources.ReadingSource` in a loop
(in the caller's thread or its own); :func:`run_session` is ``emolens relax run``, with
:class:`KeyboardControl` for a terminal.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import math
import os
import select
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from typing import Any

from emolens.errors import EmolensError
from emolens.relax.body import BodyFeed, with_body
from emolens.relax.controller import Fault, Operator, Outcome, State, fresh_arousal, step
from emolens.relax.devices import Clock, Devices, DevicesState
from emolens.relax.report import EmotionPoint, OperatorRecord, SessionLog, StimulusPoint
from emolens.relax.scenarios import Scenario
from emolens.relax.sources import ReadingSource, SourceFault
from emolens.relax.types import MODALITIES, Alert, Reading, all_off
from emolens.types import DetectorOptions

log = logging.getLogger(__name__)

ACTIONS = ("start", "pause", "resume", "stop", "estop", "reset")
DEVICE_FAULTS = {"broker_lost": "broker_lost"}  # any other device fault is a device_error
SAMPLE_S = 0.25
"""The timeline and the session log keep one point per this many seconds."""
TIMELINE_S = 600.0
ENDED_MODES = ("idle",)


def _rounded(x: float | None) -> float | None:
    return None if x is None else round(x, 4)


def _iso(t: float | None = None) -> str:
    return dt.datetime.fromtimestamp(time.time() if t is None else t, dt.timezone.utc).isoformat(timespec="seconds")


@dataclass
class AlertRecord:
    """An alert shown to the operator until acknowledged. ``t``: the clock's time; ``at``: wall clock."""

    id: int
    alert: Alert
    at: str
    source: str
    acknowledged: bool = False

    def as_dict(self, t0: float) -> dict[str, Any]:
        return {
            "id": self.id,
            **self.alert.as_dict(),
            "t": round(self.alert.t - t0, 3),
            "at": self.at,
            "source": self.source,
            "acknowledged": self.acknowledged,
        }


@dataclass
class _Recording:
    """The session being recorded: its log's timelines so far."""

    child: str
    scenario: str
    source: str
    started_at: str
    t0: float
    emotions: list[EmotionPoint] = field(default_factory=list)
    stimuli: list[StimulusPoint] = field(default_factory=list)
    alerts: list[Alert] = field(default_factory=list)
    operator: list[OperatorRecord] = field(default_factory=list)
    outcome: str = ""


class RelaxSession:
    """One chair's controller, devices and records (see the module). Thread-safe operator methods.

    ``scenario``: played on each start (change it with :meth:`start`'s argument while no session
    plays). ``child``: the child's pseudonymous id. ``on_session_end``: called with the
    :class:`~emolens.relax.report.SessionLog` of each session that ends (to store it).
    """

    def __init__(
        self,
        devices: Devices,
        scenario: Scenario,
        *,
        child: str,
        clock: Clock = time.monotonic,
        source_name: str = "",
        on_session_end: Callable[[SessionLog], None] | None = None,
    ) -> None:
        self.devices = devices
        self.scenario = scenario
        self.child = child
        self.clock = clock
        self.source_name = source_name
        self.on_session_end = on_session_end
        self.state = State()
        self.last: Outcome | None = None
        self.reading: Reading | None = None
        self.devices_state: DevicesState = devices.state()
        self.t0 = clock()
        self.alerts: list[AlertRecord] = []
        self.sessions: list[SessionLog] = []
        self.timeline: deque[dict[str, Any]] = deque(maxlen=int(TIMELINE_S / SAMPLE_S))
        self._inputs: list[Operator] = []
        self._recording: _Recording | None = None
        self._device_alerts_seen: set[tuple[float, str, str]] = set()
        self._last_sample = -math.inf
        self._lock = threading.RLock()
        self._next_id = 1
        self.ticks = 0

    # ------------------------------------------------------------------ the operator

    def operator(self, action: str, detail: str = "") -> None:
        """Queue an operator input for the next tick: one of :data:`ACTIONS` (``estop`` and ``reset``
        also act on the devices at once; see :meth:`emergency_stop`)."""
        if action not in ACTIONS:
            raise EmolensError(f"unknown operator action {action!r}; one of {', '.join(ACTIONS)}")
        if action == "estop":
            self.emergency_stop(detail or "operator")
            return
        if action == "reset":
            self.reset(detail)
            return
        with self._lock:
            self._inputs.append(Operator(action))  # type: ignore[arg-type]
            self._note_operator(action, detail)

    def start(
        self, scenario: Scenario | None = None, *, child: str | None = None, source_name: str | None = None
    ) -> None:
        """Start a session (with ``scenario`` and ``child`` when given; only between sessions)."""
        with self._lock:
            if scenario is not None or child is not None or source_name is not None:
                if self.state.mode not in ("idle", "halted", "estop", "safe", "paused"):
                    raise EmolensError("a session is playing: stop it before changing the scenario or the child")
                self.scenario = scenario or self.scenario
                self.child = child or self.child
                self.source_name = source_name if source_name is not None else self.source_name
            self.operator("start", self.scenario.name)

    def emergency_stop(self, source: str = "operator") -> None:
        """Everything off now: the device-level stop latched and all-off sent from this thread, the
        controller latched on the next tick. Only :meth:`reset` clears it."""
        self.devices.estop(True)
        self.devices.send(all_off(self.state.seq + 1))
        with self._lock:
            self._inputs.append(Operator("estop"))
            self._note_operator("estop", source)
        log.warning("emergency stop from %s: every output off", source)

    def reset(self, detail: str = "") -> None:
        """The operator's explicit reset of a latched emergency stop (nothing restarts by itself)."""
        with self._lock:
            self.devices.estop(False)
            self._inputs.append(Operator("reset"))
            self._note_operator("reset", detail)

    def acknowledge(self, alert_id: int) -> bool:
        """Mark an alert seen by the operator; False when there is no such alert."""
        with self._lock:
            for rec in self.alerts:
                if rec.id == alert_id:
                    if not rec.acknowledged:
                        rec.acknowledged = True
                        self._note_operator("acknowledge", f"{rec.alert.kind} #{alert_id}")
                    return True
        return False

    # ------------------------------------------------------------------ the loop's body

    def tick(self, reading: Reading | None, faults: tuple[Fault, ...] = ()) -> Outcome:
        """One turn of the loop at the clock's time now (see the module)."""
        now = self.clock()
        dstate = self.devices.state()
        with self._lock:
            inputs: list[Operator | Fault] = list(self._inputs)
            self._inputs.clear()
            if dstate.estop and self.state.mode != "estop" and not any(i == Operator("reset") for i in inputs):
                inputs.append(Operator("estop"))  # the physical button (or another panel)
                self._note_operator("estop", "the estop topic")
            inputs.extend(Fault(DEVICE_FAULTS.get(f.kind, "device_error"), f.message) for f in dstate.faults)  # type: ignore[arg-type]
            inputs.extend(faults)
            self.state = _follow_devices(self.state, dstate)
            outcome = step(self.state, reading, now, self.scenario, inputs)
            self.state = outcome.state
            alerts = self._publish_alerts(outcome, dstate, now)  # seen together with the state that raised them
            self.last = outcome
            if reading is not None and (reading.has_face or reading.arousal is None):
                self.reading = reading  # the face's last reading (a body-only one says nothing of it)
            self.devices_state = dstate
            self.ticks += 1
        try:
            self.devices.heartbeat(now)  # first: a device takes nothing above zero without a fresh heartbeat
            self.devices.send(outcome.commands)
        except Exception as e:  # the next tick sees the device fault; never let it kill the loop
            log.error("sending to the devices failed: %s", e)
        with self._lock:
            self._record(outcome, reading, now, alerts)
        return outcome

    def _publish_alerts(self, outcome: Outcome, dstate: DevicesState, now: float) -> list[Alert]:
        """The controller's alerts of this tick and the devices' new ones, added to :attr:`alerts`."""
        alerts = [(alert, "controller") for alert in outcome.alerts]
        for alert in dstate.alerts:
            key = (alert.t, alert.kind, alert.message)
            if key not in self._device_alerts_seen:
                self._device_alerts_seen.add(key)
                alerts.append((replace(alert, t=now), "devices"))
        for alert, source in alerts:
            self.alerts.append(AlertRecord(self._next_id, alert, _iso(), source))
            self._next_id += 1
            log.warning("ALERT %s %s: %s", alert.priority, alert.kind, alert.message)
        return [alert for alert, _ in alerts]

    def _record(self, outcome: Outcome, reading: Reading | None, now: float, alerts: list[Alert]) -> None:
        actions = outcome.action.split("+")
        if "start" in actions:
            self._end_recording(now, "restarted")
            self._recording = _Recording(self.child, self.scenario.name, self.source_name, _iso(), now)
            self.timeline.clear()
        rec = self._recording
        if rec is not None:
            rec.alerts.extend(alerts)
        if rec is not None and rec.outcome == "":
            if "negative_halt" in actions:
                rec.outcome = "halted"
            elif "estop" in actions:
                rec.outcome = "emergency stop"
            elif "fault_safe" in actions:
                rec.outcome = "safe state after a fault"
        if now - self._last_sample >= SAMPLE_S or outcome.action not in ("none", "neutral_hold", "fault"):
            self._last_sample = now
            intensity = self.state.intensity()
            point: dict[str, Any] = {
                "t": round(now - (rec.t0 if rec else self.t0), 3),
                "mode": self.state.mode,
                "action": outcome.action,
                "valence": self.reading.valence if self.reading is not None and self.reading.has_face else None,
                "stress": _rounded(fresh_arousal(self.state, now, self.scenario)),
                **{m: round(intensity[m], 4) for m in MODALITIES},
            }
            self.timeline.append(point)
            if rec is not None:
                if reading is not None:
                    rec.emotions.append(
                        EmotionPoint(
                            now, reading.valence if reading.has_face else None, dict(reading.probs), reading.arousal
                        )
                    )
                rec.stimuli.append(StimulusPoint(now, self.state.mode, outcome.action, *self.state.output))
        if (
            rec is not None
            and self.state.mode in ENDED_MODES
            and ("stop" in actions or "finish" in actions or "reset" in actions)
        ):
            self._end_recording(now, "finished" if "finish" in actions else rec.outcome or "stopped")

    def _end_recording(self, now: float, outcome: str) -> None:
        rec = self._recording
        if rec is None:
            return
        self._recording = None
        reward = None
        try:
            from emolens.relax.bandit import session_reward

            reward = session_reward([(p.t, p.valence) for p in rec.emotions if p.valence is not None])
        except (ImportError, EmolensError):
            reward = None
        log_ = SessionLog(
            rec.child,
            rec.scenario,
            rec.started_at,
            rec.t0,
            tuple(rec.emotions),
            tuple(rec.stimuli),
            tuple(rec.alerts),
            tuple(rec.operator),
            session_id=len(self.sessions) + 1,
            ended_at=_iso(),
            reward=reward,
            outcome=rec.outcome or outcome,
        )
        self.sessions.append(log_)
        log.info("session %d of %s (%s) ended: %s", log_.session_id, rec.child, rec.scenario, log_.outcome)
        if self.on_session_end is not None:
            try:
                self.on_session_end(log_)
            except Exception as e:  # storing must not stop the chair from being safe
                log.error("could not store the session: %s", e)

    def end(self) -> None:
        """Close the session being recorded (when the loop stops)."""
        with self._lock:
            self._end_recording(self.clock(), "interrupted")

    def _note_operator(self, action: str, detail: str) -> None:
        if self._recording is not None:
            self._recording.operator.append(OperatorRecord(self.clock(), action, detail))

    # ------------------------------------------------------------------ what the panel shows

    def snapshot(self) -> dict[str, Any]:
        """The panel's view: mode, child, scenario, intensities, the last reading, the wristband's
        stress (``body``: None without one; ``fresh``: the controller uses it), the devices,
        alerts (newest first), the timeline of the current session, and the past sessions."""
        with self._lock:
            s = self.state
            rec = self._recording
            t0 = rec.t0 if rec is not None else self.t0
            reading = self.reading
            return {
                "mode": s.mode,
                "action": self.last.action if self.last is not None else "none",
                "child": self.child,
                "scenario": self.scenario.name,
                "step": self.scenario.steps[min(s.step_index, len(self.scenario.steps) - 1)].name,
                "source": self.source_name,
                "recording": rec is not None,
                "elapsed_s": round(self.clock() - t0, 1) if rec is not None else None,
                "intensity": {m: round(v, 4) for m, v in s.intensity().items()},
                "level": round(s.level, 3),
                "reading": None
                if reading is None
                else {
                    "age_s": round(max(0.0, self.clock() - reading.time + reading.age_s), 3),
                    "has_face": reading.has_face,
                    "valence": reading.valence,
                    "probs": {k: round(v, 4) for k, v in reading.probs.items()},
                },
                "body": None
                if s.arousal is None or s.arousal_at is None
                else {
                    "stress": round(s.arousal, 4),
                    "age_s": round(max(0.0, self.clock() - s.arousal_at), 3),
                    "fresh": fresh_arousal(s, self.clock(), self.scenario) is not None,
                },
                "devices": self.devices.state().as_dict(),
                "alerts": [a.as_dict(self.t0) for a in reversed(self.alerts[-100:])],
                "unacknowledged": sum(not a.acknowledged for a in self.alerts),
                "timeline": list(self.timeline)[-int(120 / SAMPLE_S) :],
                "sessions": [session_summary(x) for x in reversed(self.sessions[-50:])],
            }


FELL_SAFE = ("watchdog", "broker_lost", "controller_offline", "estop", "stopped")
"""The reasons for which a device switches an output off by itself."""


def _follow_devices(state: State, dstate: DevicesState) -> State:
    """``state`` with each output no higher than what its device reports after switching off by
    itself (its watchdog, a lost broker, a stop): the controller then ramps up from what really
    runs, never jumping back to where it was."""
    out = list(state.output)
    for i, m in enumerate(MODALITIES):
        o = dstate.outputs.get(m)
        if o is not None and o.reported is not None and o.reason in FELL_SAFE and o.reported < out[i]:
            out[i] = o.reported
    return state if out == list(state.output) else replace(state, output=(out[0], out[1], out[2]))


def session_summary(log_: SessionLog) -> dict[str, Any]:
    """One line of the session history."""
    duration = (log_.stimuli[-1].t - log_.t0) if log_.stimuli else 0.0
    return {
        "id": log_.session_id,
        "child": log_.child_id,
        "scenario": log_.scenario,
        "started_at": log_.started_at,
        "ended_at": log_.ended_at,
        "duration_s": round(duration, 1),
        "outcome": log_.outcome,
        "alerts": len(log_.alerts),
        "reward": None if log_.reward is None else round(log_.reward, 3),
    }


class RelaxRunner:
    """Runs a :class:`RelaxSession` over a reading source: poll, tick, repeat, at least every ``tick_s``.

    ``body``: a wristband's readings (:class:`~emolens.relax.body.BodyFeed`, on the session's
    clock), added to the face's at each tick.

    The source may be swapped between sessions (:meth:`set_source`); without one the loop still
    ticks (heartbeats, the safe state). :meth:`start_thread` runs it in a thread of its own;
    :meth:`close` stops the loop, ends the recording and switches every device off.
    """

    def __init__(
        self,
        session: RelaxSession,
        source: ReadingSource | None = None,
        *,
        tick_s: float = 0.05,
        body: BodyFeed | None = None,
    ) -> None:
        self.session = session
        self.tick_s = tick_s
        self.body = body
        self._source = source
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self.error: BaseException | None = None

    def set_source(self, source: ReadingSource | None) -> None:
        """Read from ``source`` from the next tick on (the previous one is closed)."""
        with self._lock:
            old, self._source = self._source, source
        if old is not None and old is not source:
            old.close()

    @property
    def source(self) -> ReadingSource | None:
        return self._source

    def tick_once(self) -> Outcome:
        """Poll the source (up to ``tick_s``) and tick the session once."""
        with self._lock:
            source = self._source
        reading: Reading | None = None
        faults: tuple[Fault, ...] = ()
        if source is None:
            self._stop.wait(self.tick_s)
        else:
            try:
                reading = source.poll(self.session.clock(), self.tick_s)
            except SourceFault as e:
                faults = (Fault(e.kind, e.detail),)  # type: ignore[arg-type]
                self._stop.wait(self.tick_s)
            except Exception as e:  # a source bug is a recogniser fault: the chair goes safe
                faults = (Fault("recognizer_error", f"{type(e).__name__}: {e}"),)
                self._stop.wait(self.tick_s)
        if self.body is not None:
            reading = with_body(reading, self.body.take(), self.session.clock())
        return self.session.tick(reading, faults)

    def run(self, until: Callable[[RelaxSession], bool] | None = None) -> None:
        """Tick until :meth:`stop` (or ``until(session)`` is true)."""
        while not self._stop.is_set():
            self.tick_once()
            if until is not None and until(self.session):
                break

    def start_thread(self) -> None:
        def loop() -> None:
            try:
                self.run()
            except BaseException as e:  # never expected: make it safe and say so
                self.error = e
                log.exception("the relaxation loop stopped on an error; every output goes off")
                with contextlib.suppress(Exception):
                    self.session.devices.send(all_off(self.session.state.seq + 1))

        self._thread = threading.Thread(target=loop, name="relax-loop", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()

    def close(self) -> None:
        """Stop the loop, end the recording, every device off, the source closed."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5.0)
        self.session.end()
        self.set_source(None)
        self.session.devices.close()


# ----------------------------------------------------------------------------- the terminal


KEYS = {
    "\x1b": "estop",
    " ": "estop",
    "e": "estop",
    "r": "reset",
    "s": "start",
    "p": "pause",
    "c": "resume",
    "x": "stop",
}
"""Keys of ``emolens relax run`` in a terminal: Esc, space or e stop everything (latched); r
resets; s starts; p pauses; c continues; x stops the session; q quits."""


class KeyboardControl:
    """Single key presses on the terminal drive a session (see :data:`KEYS`); ``q`` calls ``quit``.

    Works only when standard input is a terminal (:meth:`available`); the terminal is put back as
    it was on :meth:`close`.
    """

    def __init__(self, session: RelaxSession, quit: Callable[[], None]) -> None:
        self.session = session
        self.quit = quit
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._saved: Any = None

    @staticmethod
    def available() -> bool:
        return sys.stdin is not None and sys.stdin.isatty() and os.name == "posix"

    def start(self) -> None:
        import termios
        import tty

        fd = sys.stdin.fileno()
        self._saved = termios.tcgetattr(fd)
        tty.setcbreak(fd)
        self._thread = threading.Thread(target=self._read, args=(fd,), name="relax-keys", daemon=True)
        self._thread.start()

    def _read(self, fd: int) -> None:
        while not self._stop.is_set():
            ready, _, _ = select.select([fd], [], [], 0.1)
            if not ready:
                continue
            key = os.read(fd, 1).decode(errors="ignore").lower()
            if key == "q":
                self.quit()
            elif key in KEYS:
                self.session.operator(KEYS[key], "keyboard")

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=1.0)
        if self._saved is not None:
            import termios

            termios.tcsetattr(sys.stdin.fileno(), termios.TCSADRAIN, self._saved)


@contextlib.contextmanager
def _keyboard(session: RelaxSession, quit: Callable[[], None], enabled: bool) -> Iterator[bool]:
    if not enabled or not KeyboardControl.available():
        yield False
        return
    keys = KeyboardControl(session, quit)
    keys.start()
    try:
        yield True
    finally:
        keys.close()


def run_session(
    runner: RelaxRunner,
    *,
    duration_s: float | None = None,
    keyboard: bool = True,
    until_done: bool = True,
) -> RelaxSession:
    """``emolens relax run``: start the scenario, loop until it ends (``until_done``), ``duration_s``
    passes, ``q`` or Ctrl-C; then every output off. Returns the session (its ``sessions`` logs)."""
    session = runner.session
    deadline = None if duration_s is None else session.clock() + duration_s
    session.start()
    played = False

    def done(s: RelaxSession) -> bool:
        nonlocal played
        played = played or s.state.mode != "idle"
        if deadline is not None and s.clock() >= deadline:
            return True
        return until_done and played and s.state.mode == "idle" and all(v == 0.0 for v in s.state.output)

    with _keyboard(session, runner.stop, keyboard) as keys:
        if keys:
            log.info("keys: Esc/space/e emergency stop, r reset, s start, p pause, c continue, x stop, q quit")
        try:
            runner.run(done)
        finally:
            runner.close()
    return session


# ------------------------------------------------------------------------- emolens relax run


def choose_scenario(
    child: str, scenario: str | None, store: Any = None, seed: int | None = None
) -> tuple[Scenario, str]:
    """The scenario to play for ``child``: ``scenario`` (a shipped name or a .toml file) when
    given, else the per-child bandit's choice over the shipped ones (from ``store``'s learned
    preferences, a :class:`~emolens.relax.store.Store`; fresh ones without). Returns it and why."""
    import random

    from emolens.relax.bandit import Preferences, choose
    from emolens.relax.scenarios import available_scenarios, load_scenario

    if scenario is not None:
        return load_scenario(scenario), "given"
    prefs = Preferences(child)
    if store is not None:
        store.add_child(child)
        prefs = store.preferences(child)
    pick = choose(prefs, available_scenarios(), random.Random(seed))
    return load_scenario(pick.scenario), pick.reason


def store_session(store: Any) -> Callable[[SessionLog], None]:
    """A session-end hook that saves the log in ``store`` and teaches the child's bandit its reward."""
    from emolens.relax.bandit import update

    def save(log_: SessionLog) -> None:
        sid = store.save_log(log_)
        if log_.reward is not None:
            store.save_preferences(update(store.preferences(log_.child_id), log_.scenario, log_.reward))
        log.info("session stored as #%d in %s", sid, store.path)

    return save


def open_reading_source(
    *,
    camera: int | None = None,
    video: str | None = None,
    demo: str | None = None,
    readings: str | None = None,
    model: str | None = None,
    threads: int | None = None,
    tta: str | None = None,
    detector: str = "haar",
    detector_options: DetectorOptions | None = None,
) -> ReadingSource:
    """The source named by exactly one of ``camera``, ``video`` (a file played as a camera),
    ``demo`` (a scripted child) or ``readings`` (a CSV replayed); a camera or video's faces found by
    ``detector`` as sensitive as ``detector_options`` say."""
    given = [x for x in (camera, video, demo, readings) if x is not None]
    if len(given) != 1:
        raise EmolensError("give one source: --camera N, --video FILE, --demo NAME or --readings FILE.csv")
    from emolens.relax.sources import CameraReadings, CsvReadings, DemoReadings

    if demo is not None:
        return DemoReadings(demo)
    if readings is not None:
        return CsvReadings(readings)
    from emolens.analysis import Analyzer
    from emolens.detect import create_detector
    from emolens.runtime.recognizer import Recognizer

    rec = Recognizer(model, threads=threads, tta=tta)
    analyzer = Analyzer(rec, create_detector(detector, detector_options))
    return CameraReadings(camera if camera is not None else str(video), analyzer)


def relax_run(
    source: ReadingSource,
    *,
    devices: str = "sim",
    chair: str = "chair1",
    child: str,
    scenario: str | None = None,
    store: str | None = None,
    duration_s: float | None = None,
    keyboard: bool = True,
    physio: str | None = None,
) -> dict[str, Any]:
    """``emolens relax run``: one session of ``child`` from ``source`` to ``devices``; returns a
    summary (the sessions, every alert, the devices' last state). ``physio``: the broker
    (``mqtt://HOST:PORT``) on which the child's wristband publishes its samples
    (:class:`~emolens.relax.physio_mqtt.PhysioSubscriber`): its stress joins the face's readings."""
    from emolens.relax.devices import create_devices

    db = None
    band = None
    if store is not None:
        from emolens.relax.store import Store

        db = Store(store)
    try:
        sc, why = choose_scenario(child, scenario, db)
        devs = create_devices(devices, chair=chair)
        log.info("child %s: scenario %s (%s); readings from %s; devices %s", child, sc.name, why, source.name, devices)
        session = RelaxSession(
            devs,
            sc,
            child=child,
            source_name=source.name,
            on_session_end=store_session(db) if db is not None else None,
        )
        feed = None
        if physio is not None:
            from emolens.relax.physio_mqtt import PhysioSubscriber

            feed = BodyFeed(session.clock)
            band = PhysioSubscriber(physio, child, feed)
            log.info("wristband: samples of %s from %s", band.topic, physio)
        runner = RelaxRunner(session, source, body=feed)
        run_session(runner, duration_s=duration_s, keyboard=keyboard)
        return {
            "child": child,
            "scenario": sc.name,
            "chosen": why,
            "sessions": [session_summary(s) for s in session.sessions],
            "alerts": [a.as_dict(session.t0) for a in session.alerts],
            "devices": session.devices_state.as_dict(),
            "final_mode": session.state.mode,
            "wristband": None if band is None else band.stats(),
        }
    finally:
        source.close()
        if band is not None:
            band.close()
        if db is not None:
            db.close()
