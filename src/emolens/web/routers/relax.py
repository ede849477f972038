"""The relaxation operator panel: the page ``/relax`` and, under ``/api/v1/relax`` behind the token,
its state and the operator's actions (start, pause, resume, stop, emergency stop, reset,
acknowledging alerts). See :mod:`emolens.web.relax` for the chair behind it.

Every action answers the panel's new state (:class:`RelaxStatus`). The emergency stop acts at
once on the devices and latches; only ``reset`` clears it, and nothing plays without a new start.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import Depends, HTTPException
from fastapi.responses import FileResponse
from pydantic import BaseModel, Field

from emolens.web.relax import RelaxPanel, get_panel
from emolens.web.routers.pages import STATIC
from emolens.web.routing import Route, build_router
from emolens.web.schemas import ErrorBody

Panel = Annotated[RelaxPanel, Depends(get_panel)]


class OutputView(BaseModel):
    modality: str
    intensity: float = Field(description="the last intensity commanded, 0 to 1")
    params: dict[str, Any]
    seq: int
    reported: float | None = Field(description="what the device says it runs (None: no report yet)")
    reported_seq: int | None
    reason: str = Field(description="why: command, estop, watchdog, controller_offline, broker_lost, ...")
    off: bool


class FaultView(BaseModel):
    kind: str
    message: str


class DeviceAlert(BaseModel):
    t: float
    kind: str
    priority: Literal["high", "medium", "low"]
    message: str


class DevicesView(BaseModel):
    backend: str = Field(description="sim or mqtt")
    connected: bool
    estop: bool = Field(description="the emergency stop is latched at device level")
    all_off: bool
    outputs: dict[str, OutputView]
    faults: list[FaultView]
    alerts: list[DeviceAlert]


class AlertView(BaseModel):
    id: int
    t: float = Field(description="seconds since the panel started")
    kind: str
    priority: Literal["high", "medium", "low"] = Field(description="IEC 60601-1-8 priority")
    message: str
    at: str = Field(description="wall-clock time, ISO 8601")
    source: str = Field(description="controller or devices")
    acknowledged: bool


class ReadingView(BaseModel):
    age_s: float
    has_face: bool
    valence: float | None
    probs: dict[str, float]


class BodyView(BaseModel):
    stress: float = Field(description="the wristband's stress probability, 0 to 1")
    age_s: float
    fresh: bool = Field(description="young enough for the controller to use (stale_after_s)")


class TimelinePoint(BaseModel):
    t: float
    mode: str
    action: str
    valence: float | None
    stress: float | None = Field(default=None, description="the wristband's stress while fresh")
    light: float
    sound: float
    vibration: float


class SessionView(BaseModel):
    id: int | None
    child: str
    scenario: str
    started_at: str
    ended_at: str | None
    duration_s: float
    outcome: str | None
    alerts: int
    reward: float | None = Field(description="valence change over the session (the bandit's reward)")


class RelaxStatus(BaseModel):
    """The panel's view of the chair."""

    mode: str = Field(description="idle, running, paused, holding, safe, halted or estop")
    action: str = Field(description="the controller's last transitions")
    child: str
    scenario: str
    step: str
    source: str
    recording: bool = Field(description="a session is being recorded")
    elapsed_s: float | None
    intensity: dict[str, float] = Field(description="light, sound and vibration commanded now, 0 to 1")
    level: float
    reading: ReadingView | None
    body: BodyView | None = Field(default=None, description="the wristband (serve --physio-mqtt); None without one")
    devices: DevicesView
    alerts: list[AlertView] = Field(description="newest first")
    unacknowledged: int
    timeline: list[TimelinePoint] = Field(description="the current session, one point per 0.25 s, last 120 s")
    sessions: list[SessionView] = Field(description="past sessions, newest first")


class ScenarioOption(BaseModel):
    name: str
    description: str
    minutes: float


class SourceOption(BaseModel):
    name: str
    description: str


class RelaxOptions(BaseModel):
    scenarios: list[ScenarioOption]
    sources: list[SourceOption]
    children: list[str] = Field(description="children known to the records")
    backend: str


class StartRequest(BaseModel):
    child: str = Field(description="the child's pseudonymous id (never a name)", examples=["kid-0042"])
    scenario: str | None = Field(None, description="a shipped scenario (None: the child's learned choice)")
    source: str = Field("demo:calm", description="where readings come from: demo:calm, demo:upset, demo:gaps")


def _status(panel: RelaxPanel) -> RelaxStatus:
    return RelaxStatus.model_validate(panel.session.snapshot())


def relax_status(panel: Panel) -> RelaxStatus:
    return _status(panel)


def relax_options(panel: Panel) -> RelaxOptions:
    return RelaxOptions.model_validate(panel.options())


def relax_start(body: StartRequest, panel: Panel) -> RelaxStatus:
    panel.start(body.child, body.scenario, body.source)
    return _status(panel)


def relax_pause(panel: Panel) -> RelaxStatus:
    panel.session.operator("pause", "panel")
    return _status(panel)


def relax_resume(panel: Panel) -> RelaxStatus:
    panel.session.operator("resume", "panel")
    return _status(panel)


def relax_stop(panel: Panel) -> RelaxStatus:
    panel.session.operator("stop", "panel")
    return _status(panel)


def relax_estop(panel: Panel) -> RelaxStatus:
    panel.session.emergency_stop("panel")
    return _status(panel)


def relax_reset(panel: Panel) -> RelaxStatus:
    panel.session.reset("panel")
    return _status(panel)


def relax_ack(alert_id: int, panel: Panel) -> RelaxStatus:
    if not panel.session.acknowledge(alert_id):
        raise HTTPException(404, f"no alert #{alert_id}")
    return _status(panel)


async def relax_page() -> FileResponse:
    page = STATIC / "relax.html"
    if not page.is_file():
        raise HTTPException(404, "the panel is not installed (src/emolens/web/static/relax.html is missing)")
    return FileResponse(page, media_type="text/html")


POST = ("POST",)
ROUTES = (
    Route(
        "/relax", relax_status, "the relaxation chair: mode, stimulus, reading, devices, alerts, history", errors=(503,)
    ),
    Route("/relax/options", relax_options, "scenarios, reading sources and children to choose from", errors=(503,)),
    Route(
        "/relax/start",
        relax_start,
        "start a session",
        methods=POST,
        errors=(422, 503),
        responses={409: {"model": ErrorBody, "description": "a session is playing, or the emergency stop is latched"}},
    ),
    Route("/relax/pause", relax_pause, "pause: outputs fall to the safe level", methods=POST, errors=(503,)),
    Route("/relax/resume", relax_resume, "resume after a pause or a fault", methods=POST, errors=(503,)),
    Route("/relax/stop", relax_stop, "end the session: outputs fade out", methods=POST, errors=(503,)),
    Route("/relax/estop", relax_estop, "emergency stop: every output off now, latched", methods=POST, errors=(503,)),
    Route(
        "/relax/reset", relax_reset, "reset a latched emergency stop (nothing restarts)", methods=POST, errors=(503,)
    ),
    Route("/relax/alerts/{alert_id}/ack", relax_ack, "acknowledge an alert", methods=POST, errors=(404, 503)),
)
PAGE_ROUTES = (Route("/relax", relax_page, "the operator panel", methods=("GET", "HEAD"), include_in_schema=False),)

router = build_router(ROUTES, tags=["relax"])
page_router = build_router(PAGE_ROUTES)
