"""The relaxation panel's side of the server: one chair's loop, made on first use (``app.state.relax``).

:class:`RelaxPanel` holds the devices (``ServeOptions.relax_devices``: ``sim`` or an MQTT broker),
the :class:`~emolens.relax.runner.RelaxSession` and its loop thread, which ticks from the first
use until the server stops (heartbeats, the safe state), and the records (``relax_store``). A
session reads a scripted demo child (:data:`emolens.relax.sources.DEMOS`), so the panel works
without a camera. The routes are in :mod:`emolens.web.routers.relax`.
"""

from __future__ import annotations

import logging
import re
import threading
from typing import TYPE_CHECKING, Any

from fastapi import HTTPException
from starlette.requests import HTTPConnection

from emolens.errors import EmolensError
from emolens.web.settings import ServeOptions

if TYPE_CHECKING:
    from emolens.relax.body import BodyFeed

log = logging.getLogger(__name__)

CHILD_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
PLAYING = ("running", "holding")
_create_lock = threading.Lock()


class RelaxPanel:
    """One chair driven from the panel (see the module). Raises an EmolensError when its devices
    cannot be reached."""

    def __init__(self, options: ServeOptions, body: BodyFeed | None = None) -> None:
        from emolens.relax.devices import create_devices
        from emolens.relax.runner import RelaxRunner, RelaxSession, store_session
        from emolens.relax.scenarios import available_scenarios, load_scenario

        self.store: Any = None
        if options.relax_store is not None:
            from emolens.relax.store import Store

            self.store = Store(options.relax_store)
        try:
            devices = create_devices(options.relax_devices, chair=options.relax_chair)
        except BaseException:
            if self.store is not None:
                self.store.close()
            raise
        self.session = RelaxSession(
            devices,
            load_scenario(available_scenarios()[0]),
            child="",
            on_session_end=store_session(self.store) if self.store is not None else None,
        )
        self.runner = RelaxRunner(self.session, None, tick_s=0.05, body=body)
        self.runner.start_thread()
        log.info("relaxation panel: devices %s, chair %s", options.relax_devices, options.relax_chair)

    def start(self, child: str, scenario: str | None, source: str) -> None:
        """A new session of ``child`` with ``scenario`` (None: the child's learned choice), reading
        ``source`` (``demo:NAME``). HTTP 409 while one plays, 422 for a bad child, scenario or source."""
        from emolens.relax.runner import choose_scenario
        from emolens.relax.sources import DEMOS, DemoReadings

        if self.session.state.mode in PLAYING:
            raise HTTPException(409, "a session is playing: stop it first")
        if self.session.state.mode == "estop" or self.session.devices.state().estop:
            raise HTTPException(409, "the emergency stop is latched: reset it first")
        if not CHILD_ID.match(child):
            raise HTTPException(
                422, "the child id is a pseudonym of 1 to 64 letters, digits, '.', '_' or '-' (never a name)"
            )
        kind, _, name = source.partition(":")
        if kind != "demo" or name not in DEMOS:
            raise HTTPException(
                422, f"unknown source {source[:40]!r}; use one of {', '.join('demo:' + d for d in DEMOS)}"
            )
        try:
            sc, why = choose_scenario(child, scenario, self.store)
        except EmolensError as e:
            raise HTTPException(422, str(e)) from None
        log.info("panel: child %s, scenario %s (%s), source %s", child, sc.name, why, source)
        self.runner.set_source(DemoReadings(name))
        try:
            self.session.start(sc, child=child, source_name=source)
        except EmolensError as e:
            raise HTTPException(409, str(e)) from None

    def options(self) -> dict[str, Any]:
        """What the panel offers: the scenarios, the reading sources, the known children."""
        from emolens.relax.scenarios import available_scenarios, load_scenario
        from emolens.relax.sources import DEMOS

        scenarios = []
        for name in available_scenarios():
            sc = load_scenario(name)
            minutes = sum(s.duration_s for s in sc.steps) / 60
            scenarios.append({"name": sc.name, "description": sc.description, "minutes": round(minutes, 1)})
        return {
            "scenarios": scenarios,
            "sources": [{"name": f"demo:{k}", "description": v[0]} for k, v in DEMOS.items()],
            "children": self.store.children() if self.store is not None else [],
            "backend": self.session.devices.name,
        }

    def close(self) -> None:
        """Stop the loop: every output off, the records closed."""
        self.runner.close()
        if self.store is not None:
            self.store.close()


def get_panel(conn: HTTPConnection) -> RelaxPanel:
    """The app's panel, made on first use; HTTP 503 when its devices cannot be reached."""
    state = conn.app.state
    panel = getattr(state, "relax", None)
    if panel is None:
        with _create_lock:
            panel = getattr(state, "relax", None)
            if panel is None:
                try:
                    panel = RelaxPanel(state.web.options, state.web.body)
                except EmolensError as e:
                    raise HTTPException(503, f"the relaxation devices cannot be used: {e}") from None
                state.relax = panel
    assert isinstance(panel, RelaxPanel)
    return panel


def close_panel(state: Any) -> None:
    """Close the app's panel if it was made (at shutdown)."""
    panel = getattr(state, "relax", None)
    if panel is not None:
        state.relax = None
        panel.close()
