"""A short, bounded run of benchmarks/web_load.py: a real server, real WebSocket clients, real frames."""

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

pytest.importorskip("uvicorn", reason="the web extra is not installed (pip install 'emolens[web]')")
pytest.importorskip("websockets", reason="the load test client needs websockets (the dev extra)")

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "web_load.py"


def load_script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("web_load", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["web_load"] = module  # dataclasses look their module up by name
    spec.loader.exec_module(module)
    return module


def test_two_connections_rtt_and_flood(media: Path) -> None:
    web_load = load_script()
    result = web_load.run_load(
        [2],
        ["rtt", "flood"],
        duration_s=2.5,
        fps=120.0,  # far more than the server can answer: it must drop, not queue
        max_requests=1500,
        clip=media / "pyfeat_single_face.mp4",
        rss_interval=0.25,
    )
    rtt, flood = result["phases"]
    for phase in (rtt, flood):
        assert phase["errors"] == 0 and phase["failures"] == [], phase
        assert phase["in_order"] and phase["last_frame_answered"], phase
        assert phase["answered"] > 0 and phase["connections"] == 2
    assert rtt["answered"] == rtt["sent"] and rtt["dropped"] == 0  # one frame in flight: nothing to drop
    assert rtt["rtt_ms"]["p50"] is not None
    # Whether the flood drops frames depends on how fast this machine is (test_web_live proves the dropping
    # itself with a held server); on any machine every frame is answered or dropped, never queued.
    assert flood["answered"] + flood["dropped"] == flood["sent"]
    rss = result["rss"]
    assert rss["samples"] >= 4 and rss["peak_mb"] - rss["start_mb"] < 250, rss  # bounded: no queue of frames
    assert result["server_exit_status"] == 0
    assert result["caps"]["requests_left"] >= 0 and result["frames"]["size"] == [640, 480]
    assert {"command", "date", "machine", "server_command"} <= set(result)


def test_the_caps_are_enforced() -> None:
    web_load = load_script()
    for kwargs in ({"connections": [9]}, {"connections": [0]}, {"duration_s": 121.0}, {"modes": ["spam"]}):
        args = {"connections": [1], "modes": ["rtt"], "duration_s": 1.0} | kwargs
        with pytest.raises(ValueError):
            web_load.run_load(**args)
