"""MQTT plumbing shared by every part of emolens that talks to a broker (the relaxation chair's
devices, the wristband's samples, the emotion events): broker addresses, a configured paho client,
connecting with a timeout, and compact JSON payloads. Needs paho-mqtt only when a client is made
(the ``relax`` extra); everything else here is plain Python.
"""

from __future__ import annotations

import contextlib
import json
import socket
import threading
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from emolens.errors import EmolensError

if TYPE_CHECKING:
    import paho.mqtt.client as mqtt

__all__ = [
    "DEFAULT_PORT",
    "QOS",
    "connect",
    "decode",
    "encode",
    "make_client",
    "parse_broker",
    "parse_topic_url",
    "set_nodelay",
]

QOS = 1
DEFAULT_PORT = 1883


def parse_broker(url: str) -> tuple[str, int]:
    """``mqtt://HOST[:PORT]`` as ``(host, port)`` (port 1883 by default); an EmolensError when malformed."""
    parts = urlsplit(url)
    if parts.scheme != "mqtt" or not parts.hostname:
        raise EmolensError(f"a broker is given as mqtt://HOST:PORT, got {url!r}")
    try:
        port = parts.port or DEFAULT_PORT
    except ValueError:
        raise EmolensError(f"the port of {url!r} is not a number from 1 to 65535") from None
    if parts.path not in ("", "/") or parts.query or parts.username:
        raise EmolensError(f"a broker is given as mqtt://HOST:PORT, without a path or user, got {url!r}")
    return parts.hostname, port


def parse_topic_url(url: str, default_topic: str) -> tuple[str, int, str]:
    """``mqtt://HOST[:PORT][/TOPIC/PREFIX]`` as ``(host, port, topic prefix)``; the prefix is
    ``default_topic`` when the URL has no path. An EmolensError when malformed."""
    parts = urlsplit(url)
    topic = parts.path.strip("/") or default_topic
    host, port = parse_broker(parts._replace(path="").geturl())
    if any(c in topic for c in "+#\x00") or "//" in topic:
        raise EmolensError(f"the topic prefix {topic!r} of {url!r} must not hold '+', '#' or empty levels")
    return host, port, topic


def set_nodelay(sock: Any) -> None:
    """Switch Nagle's algorithm off on a TCP socket, so that small messages leave at once."""
    with contextlib.suppress(AttributeError, OSError):  # a WebSocket wrapper, or not TCP: nothing to do
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


def encode(payload: dict[str, Any]) -> bytes:
    return json.dumps(payload, separators=(",", ":"), allow_nan=False).encode()


def decode(raw: bytes) -> dict[str, Any]:
    """A JSON object; ValueError for anything else."""
    value = json.loads(raw.decode("utf-8"))
    if not isinstance(value, dict):
        raise ValueError("not a JSON object")
    return value


def make_client(client_id: str, will: tuple[str, str] | None = None) -> mqtt.Client:
    """A paho MQTT 3.1.1 client with a clean session, TCP no-delay, a quick reconnect and ``will``
    (topic, payload) as its retained last will."""
    try:
        import paho.mqtt.client as mqtt
        from paho.mqtt.enums import CallbackAPIVersion
    except ImportError:
        raise EmolensError("MQTT needs paho-mqtt: pip install 'emolens[relax]'") from None
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id, clean_session=True, protocol=mqtt.MQTTv311)
    client.on_socket_open = lambda _client, _userdata, sock: set_nodelay(sock)
    client.reconnect_delay_set(min_delay=1, max_delay=2)
    if will is not None:
        client.will_set(will[0], will[1], qos=QOS, retain=True)
    return client


def connect(client: mqtt.Client, url: str, *, keepalive_s: int, timeout_s: float, connected: threading.Event) -> None:
    """Connect ``client`` to the broker at ``url``, start its network thread and wait up to
    ``timeout_s`` for ``connected`` (set by its on_connect); an EmolensError when that fails."""
    host, port = parse_broker(url)
    try:
        client.connect(host, port, keepalive=keepalive_s)
    except OSError as e:
        raise EmolensError(f"cannot reach the MQTT broker at {host}:{port}: {e.strerror or e}") from None
    client.loop_start()
    if not connected.wait(timeout_s):
        client.loop_stop()
        client.disconnect()
        raise EmolensError(f"the MQTT broker at {host}:{port} did not accept the connection within {timeout_s:g} s")
