"""The web app's settings: one frozen dataclass, checked when it is made."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

from emolens.errors import EmolensError
from emolens.types import DetectorOptions

LOOPBACK_NAMES = ("localhost", "localhost.localdomain", "ip6-localhost")


def is_loopback(host: str) -> bool:
    """True when ``host`` (a name or address) is only reachable from this machine."""
    if host.lower() in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True)
class ServeOptions:
    """What ``emolens serve`` serves, where, and within which limits.

    ``host``/``port``: where to listen (port 0: any free port). ``token``: when set, every API
    request and the live WebSocket must carry it (``Authorization: Bearer T`` or ``?token=T``).
    ``model``/``detector``: as for :class:`~emolens.runtime.recognizer.Recognizer`, the detector as
    sensitive as ``detector_options`` say.
    ``max_upload_mb``: largest upload (image, video or recording). ``max_image_pixels``: largest
    image or live frame (width x height, read from the file's header before decoding).
    ``max_video_s``: longest video, or recording sent to ``/audio``. ``keep_s``: uploaded videos and
    their results are deleted this many seconds after their job ends. ``max_jobs``: video jobs
    queued or running at once (beyond: 429), and recordings judged at once. ``max_live``: live
    WebSocket streams at once (beyond: closed with code 1013, "try again later").
    ``upload_idle_s``: an upload whose body sends nothing for this long is answered 408 and its
    connection closed (its place among the jobs is freed). ``upload_min_kb_s``: slowest average
    rate of an upload's body, in kB/s, counted after its first ``upload_idle_s`` seconds (beyond:
    408; 0: no minimum). ``live_idle_s``: a live WebSocket stream that sends nothing for this
    long is closed with code 4408 (see :data:`emolens.web.live.WS_IDLE`), freeing its place.
    ``samples``: a folder whose images, videos and recordings the page offers as samples (None: none).
    ``relax_devices``, ``relax_chair``, ``relax_store``: the relaxation panel's (``/relax``)
    devices (``sim`` or ``mqtt://HOST:PORT``), chair id and SQLite records (None: in memory).
    ``physio_mqtt``, ``physio_child``: a wristband publishing on ``emolens/physio/<child>/+`` of
    this broker (:mod:`emolens.physio.mqtt`); its stress is shown on the live page beside the face
    and joins the relaxation panel's readings (None: no wristband).
    ``speech_model``: the model that hears the live page's microphone when the user switches it on, and
    the video jobs that ask to hear the sound
    (loaded on first use; None: the bundled one).
    """

    host: str = field(default="127.0.0.1", metadata={"help": "address to listen on (127.0.0.1: this machine only)"})
    port: int = field(default=8000, metadata={"help": "port (0: any free port)"})
    token: str | None = field(
        default=None,
        metadata={"help": "require this access token on every API request (default: $EMOLENS_TOKEN, else none)"},
    )
    model: str | None = field(
        default=None, metadata={"help": "bundled model name or .onnx path (default: the bundled default)"}
    )
    detector: str = field(
        default="haar", metadata={"help": "face detector: haar, or yunet (after 'emolens fetch yunet')"}
    )
    detector_options: DetectorOptions = DetectorOptions()
    max_upload_mb: float = field(default=200, metadata={"help": "largest upload, in MB"})
    max_image_pixels: int = field(default=40_000_000, metadata={"help": "largest image or frame, in pixels"})
    max_video_s: float = field(default=600.0, metadata={"help": "longest video or recording, in seconds"})
    keep_s: float = field(
        default=600.0, metadata={"help": "delete uploaded videos and results this long after their job"}
    )
    max_jobs: int = field(
        default=4, metadata={"help": "video jobs queued or running at once, and recordings judged at once"}
    )
    max_live: int = field(default=8, metadata={"help": "live camera streams at once"})
    upload_idle_s: float = field(
        default=30.0, metadata={"help": "answer 408 to an upload whose body pauses this long, in seconds"}
    )
    upload_min_kb_s: float = field(
        default=8.0,
        metadata={
            "help": "answer 408 to an upload slower than this, in kB/s, after its first idle allowance (0: none)"
        },
    )
    live_idle_s: float = field(
        default=60.0, metadata={"help": "close a live stream that sends nothing for this long, in seconds"}
    )
    samples: str | None = field(
        default=None, metadata={"help": "offer the images, videos and recordings of this folder", "metavar": "DIR"}
    )
    relax_devices: str = field(
        default="sim",
        metadata={"help": "the relaxation panel's devices: sim, or mqtt://HOST:PORT", "metavar": "SPEC"},
    )
    relax_chair: str = field(default="chair1", metadata={"help": "the chair's id in the MQTT topics", "metavar": "ID"})
    relax_store: str | None = field(
        default=None, metadata={"help": "keep the panel's sessions in this SQLite file", "metavar": "FILE"}
    )
    physio_mqtt: str | None = field(
        default=None,
        metadata={
            "help": "read a wristband's samples from this MQTT broker (emolens physio topics)",
            "metavar": "mqtt://HOST:PORT",
        },
    )
    physio_child: str = field(
        default="child1", metadata={"help": "whose wristband: the child id in its topics", "metavar": "ID"}
    )
    speech_model: str | None = field(
        default=None,
        metadata={
            "help": "speech model for the live page's microphone and voice video jobs (default: the bundled one)",
            "metavar": "M",
        },
    )

    def __post_init__(self) -> None:
        if not self.host:
            raise EmolensError("the host must not be empty (use 127.0.0.1 for this machine only)")
        if not 0 <= self.port <= 65535:
            raise EmolensError(f"the port must lie in 0-65535 (0: any free port), got {self.port}")
        if self.token is not None:
            if not self.token or self.token != self.token.strip():
                raise EmolensError("the token must not be empty or start or end with spaces")
            if any(ord(c) < 0x21 or ord(c) > 0x7E for c in self.token):
                raise EmolensError("the token must be printable ASCII without spaces (it goes into URLs)")
        for name in ("max_upload_mb", "max_video_s", "keep_s", "upload_idle_s", "live_idle_s"):
            value = getattr(self, name)
            if not value > 0:
                raise EmolensError(f"{name} must be positive, got {value}")
        if not self.upload_min_kb_s >= 0:
            raise EmolensError(f"upload_min_kb_s must be 0 (no minimum) or more, got {self.upload_min_kb_s}")
        if self.max_image_pixels < 1:
            raise EmolensError(f"max_image_pixels must be positive, got {self.max_image_pixels}")
        if self.max_jobs < 1:
            raise EmolensError(f"max_jobs must be 1 or more, got {self.max_jobs}")
        if self.max_live < 1:
            raise EmolensError(f"max_live must be 1 or more, got {self.max_live}")
        if self.samples is not None and not Path(self.samples).is_dir():
            raise EmolensError(f"the samples folder {self.samples} does not exist")
        from emolens.mqtt import parse_broker
        from emolens.relax.devices.topics import check_name

        if self.relax_devices != "sim":
            parse_broker(self.relax_devices)
        check_name("the chair id", self.relax_chair)
        if self.physio_mqtt is not None:
            parse_broker(self.physio_mqtt)
        check_name("the child id", self.physio_child)

    @property
    def max_upload_bytes(self) -> int:
        return int(self.max_upload_mb * 1024 * 1024)

    @property
    def loopback(self) -> bool:
        """True when the server listens on this machine only."""
        return is_loopback(self.host)

    def url(self, port: int | None = None, with_token: bool = True) -> str:
        """The address of the page, e.g. ``http://127.0.0.1:8000/`` (with ``?token=...`` when one is set)."""
        host = self.host
        if ":" in host and not host.startswith("["):
            host = f"[{host}]"
        url = f"http://{host}:{self.port if port is None else port}/"
        if with_token and self.token:
            url += f"?token={quote(self.token, safe='')}"
        return url
