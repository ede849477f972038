"""``sim``: actuators in this process that do nothing but remember (for demos, tests and the panel).

Every command is recorded with its time (:attr:`SimDevices.log`); the outputs take each command at
once, as an ideal device would, and behave like the device agent on an emergency stop (off,
latched: nothing above zero until released). Faults can be injected (:meth:`SimDevices.inject`) to
try the controller's fault handling without hardware.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, replace

from emolens.relax.devices import Clock, DevicesState, Fault, OutputState, empty_outputs
from emolens.relax.types import Command

MAX_LOG = 100_000


@dataclass(frozen=True)
class Sent:
    """One command as the sim devices received it at ``t`` (their clock); ``refused``: dropped
    because the emergency stop was latched."""

    t: float
    command: Command
    refused: bool = False


class SimDevices:
    """In-process actuators: :class:`~emolens.relax.devices.Devices` with a record of every command."""

    name = "sim"

    def __init__(self, clock: Clock = time.monotonic) -> None:
        self.clock = clock
        self.log: deque[Sent] = deque(maxlen=MAX_LOG)
        self.heartbeats = 0
        self.last_heartbeat: float | None = None
        self._outputs = empty_outputs()
        self._estop = False
        self._faults: tuple[Fault, ...] = ()
        self._closed = False
        self._lock = threading.Lock()

    def send(self, commands: Sequence[Command]) -> None:
        with self._lock:
            now = self.clock()
            for c in commands:
                refused = self._closed or (self._estop and c.intensity > 0.0)
                self.log.append(Sent(now, c, refused))
                if refused:
                    continue
                reason = "estop" if self._estop else "command"
                self._outputs[c.modality] = OutputState(
                    c.modality, c.intensity, dict(c.params), c.seq, now, c.intensity, c.seq, reason, now
                )

    def heartbeat(self, now: float) -> None:
        with self._lock:
            self.heartbeats += 1
            self.last_heartbeat = now

    def estop(self, active: bool) -> None:
        with self._lock:
            self._estop = active
            if active:
                self._all_off("estop")

    def inject(self, *faults: Fault) -> None:
        """Pretend these faults (none: clear them); they show in :meth:`state` until changed."""
        with self._lock:
            self._faults = tuple(faults)

    def commands(self) -> list[Sent]:
        """Every command received so far (up to the last 100,000), oldest first."""
        with self._lock:
            return list(self.log)

    def state(self) -> DevicesState:
        with self._lock:
            return DevicesState("sim", not self._closed, self._estop, dict(self._outputs), self._faults)

    def close(self) -> None:
        with self._lock:
            self._all_off("closed")
            self._closed = True

    def _all_off(self, reason: str) -> None:
        now = self.clock()
        for m, o in self._outputs.items():
            self._outputs[m] = replace(o, intensity=0.0, reported=0.0, reason=reason, seen_at=now)
