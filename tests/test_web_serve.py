"""`emolens serve` as a user runs it: a real uvicorn process on loopback, its address line, clean stops."""

import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("uvicorn", reason="the web extra is not installed (pip install 'emolens[web]')")

from emolens.cli import main  # noqa: E402

ADDRESS = re.compile(r"^emolens: serving on (http://(127\.0\.0\.1|0\.0\.0\.0):(\d+)/)(\?token=(\S+))?$")


class Served:
    """An `emolens serve` subprocess: its address line, its standard error so far, and how to stop it."""

    def __init__(self, *args: str, verbose: bool = False) -> None:
        env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}
        env.pop("EMOLENS_TOKEN", None)
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "emolens", *(["-v"] if verbose else []), "serve", "--port", "0", *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        self.stderr: list[str] = []
        self._err = threading.Thread(target=self._drain, daemon=True)
        self._err.start()
        self.line = self._address_line()

    def _drain(self) -> None:
        assert self.proc.stderr is not None
        self.stderr.extend(self.proc.stderr)

    def _address_line(self) -> str:
        assert self.proc.stdout is not None
        found: list[str] = []
        reader = threading.Thread(target=lambda: found.append(self.proc.stdout.readline()), daemon=True)  # type: ignore[union-attr]
        reader.start()
        reader.join(120)
        if not found or not found[0]:
            self.stop(signal.SIGKILL)
            raise AssertionError(f"no address line; stderr: {''.join(self.stderr)}")
        return found[0].rstrip("\n")

    def stop(self, sig: int) -> tuple[int, str, str]:
        self.proc.send_signal(sig)
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise AssertionError("the server did not stop within 30 s") from None
        finally:
            self._err.join(10)  # standard error is read by its own thread only (communicate() would race it)
            assert self.proc.stdout is not None and self.proc.stderr is not None
            out = self.proc.stdout.read()
            self.proc.stdout.close()
            self.proc.stderr.close()
        return self.proc.returncode, out, "".join(self.stderr)


def get(url: str, token: str | None = None) -> tuple[int, Any]:
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"} if token else {})
    try:
        with urllib.request.urlopen(request, timeout=30) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        with e:
            return e.code, json.loads(e.read())


def raw_request(port: int, data: bytes) -> tuple[bytes, bytes]:
    """Send bytes that are not a valid HTTP request; the answer's head and body, read to the close."""
    with socket.create_connection(("127.0.0.1", port), timeout=30) as conn:
        conn.sendall(data)
        answer = b""
        while chunk := conn.recv(65536):
            answer += chunk
    head, _, body = answer.partition(b"\r\n\r\n")
    return head, body


def test_serve_prints_its_address_answers_and_stops_on_sigint() -> None:
    served = Served("--token", "tok-123", verbose=True)  # verbose: one log line per request
    try:
        m = ADDRESS.match(served.line)
        assert m, served.line
        url, port, token = m.group(1), int(m.group(3)), m.group(5)
        assert m.group(2) == "127.0.0.1" and port > 0 and token == "tok-123"
        assert get(f"{url}api/v1/health")[0] == 401
        status, health = get(f"{url}api/v1/health", token)
        assert status == 200 and health["status"] == "ok" and health["live_connections"] == 0
        assert get(f"{url}api/v1/health?token={token}")[0] == 200
        with urllib.request.urlopen(url, timeout=30) as r:  # the page itself needs no token
            assert r.status == 200 and r.headers["X-Frame-Options"] == "DENY"
        for junk in (
            b"GARBAGE\r\n\r\n",
            b"GET /\x00 HTTP/1.1\r\nHost: x\r\n\r\n",
            b"GET / HTTP/1.1\r\nbad header\r\n\r\n",
        ):
            head, body = raw_request(port, junk)
            assert head.startswith(b"HTTP/1.1 400") and b"application/json" in head, head
            assert json.loads(body)["detail"].startswith("malformed HTTP request"), body
        assert get(f"{url}api/v1/health", token)[0] == 200  # and the server goes on
    finally:
        code, out, err = served.stop(signal.SIGINT)
    assert code == 0, err
    assert out == "", out  # the address line was the only output
    assert "Traceback" not in err and "stopped" in err, err
    assert "/api/v1/health?token=*** HTTP/1.1" in err and "tok-123" not in err  # the token is never logged


def test_serve_on_all_interfaces_warns_without_a_token_and_stops_on_sigterm() -> None:
    served = Served("--host", "0.0.0.0")
    try:
        m = ADDRESS.match(served.line)
        assert m and m.group(2) == "0.0.0.0" and m.group(4) is None, served.line
        status, health = get(f"http://127.0.0.1:{m.group(3)}/api/v1/health")
        assert status == 200 and health["jobs"] == 0
    finally:
        code, _, err = served.stop(signal.SIGTERM)
    assert code == 0, err
    assert "without a token" in err and "Traceback" not in err


def run_main(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    code = main(list(args))
    return code, capsys.readouterr().err


def assert_one_line_error(code: int, err: str, pattern: str) -> None:
    assert code == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("emolens: error:"), err
    assert pattern in lines[0], lines[0]


def test_serve_bad_options_are_one_line_errors(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    assert_one_line_error(*run_main(capsys, "serve", "--port", "70000"), "0-65535")
    assert_one_line_error(*run_main(capsys, "serve", "--max-upload-mb", "0"), "max_upload_mb must be positive")
    assert_one_line_error(*run_main(capsys, "serve", "--upload-idle-s", "0"), "upload_idle_s must be positive")
    with pytest.raises(SystemExit) as exit_info:  # refused while the options are read, as every float option
        run_main(capsys, "serve", "--live-idle-s", "nan")
    assert_one_line_error(int(exit_info.value.code or 0), capsys.readouterr().err, "must be a finite number, not nan")
    assert_one_line_error(*run_main(capsys, "serve", "--live-idle-s", "-1"), "live_idle_s must be positive")
    assert_one_line_error(*run_main(capsys, "serve", "--upload-min-kb-s", "-1"), "upload_min_kb_s must be 0")
    assert_one_line_error(*run_main(capsys, "serve", "--samples", str(tmp_path / "none")), "does not exist")
    assert_one_line_error(*run_main(capsys, "serve", "--model", "no-such-model"), "unknown model")
    assert_one_line_error(*run_main(capsys, "serve", "--detector", "nope"), "unknown detector")
    assert_one_line_error(*run_main(capsys, "serve", "--haar-min-neighbors", "-1"), "haar_min_neighbors must be")
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        assert_one_line_error(*run_main(capsys, "serve", "--port", str(port)), f"cannot listen on 127.0.0.1:{port}")


def test_serve_without_the_web_extra_says_how_to_install_it() -> None:
    code = "import sys; sys.modules['fastapi'] = None; from emolens.cli import main; sys.exit(main(['serve']))"
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert r.returncode == 2, r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("emolens: error:"), r.stderr
    assert "pip install 'emolens[web]'" in lines[0] and "fastapi" in lines[0]


def test_importing_emolens_does_not_import_the_web_stack() -> None:
    code = (
        "import sys, emolens, emolens.web, emolens.cli; emolens.cli.build_parser(); "
        "print(sorted(m for m in ('fastapi', 'uvicorn', 'starlette', 'python_multipart') if m in sys.modules))"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0 and r.stdout.strip() == "[]", r.stdout + r.stderr
