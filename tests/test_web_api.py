"""The HTTP API of the web app, on the real app with the real model: routes, token, limits, bad input."""

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest

pytest.importorskip("fastapi", reason="the web extra is not installed (pip install 'emolens[web]')")

from fastapi.testclient import TestClient  # noqa: E402

from emolens.errors import EmolensError  # noqa: E402
from emolens.labels import EMOTIONS  # noqa: E402
from emolens.models.bundled import resolve_model  # noqa: E402
from emolens.runtime.recognizer import Recognizer  # noqa: E402
from emolens.web.app import create_app  # noqa: E402
from emolens.web.security import CSP, SECURITY_HEADERS  # noqa: E402
from emolens.web.settings import ServeOptions  # noqa: E402
from test_web_sniff import jpeg_header, png_header  # noqa: E402

BASE = "http://127.0.0.1:8000"
TOKEN = "s3cret-token"


@pytest.fixture(scope="module")
def recognizer() -> Recognizer:
    return Recognizer(threads=1)


def client_for(recognizer: Recognizer, **options: Any) -> TestClient:
    return TestClient(create_app(ServeOptions(**options), recognizer), base_url=BASE)


@pytest.fixture
def client(recognizer: Recognizer) -> Iterator[TestClient]:
    with client_for(recognizer) as c:
        yield c


@pytest.fixture
def secured(recognizer: Recognizer) -> Iterator[TestClient]:
    with client_for(recognizer, token=TOKEN) as c:
        yield c


def upload(client: TestClient, path: str, data: bytes, name: str = "x.jpg", **kw: Any) -> Any:
    return client.post(path, files={"file": (name, data, "application/octet-stream")}, **kw)


def detail(r: Any, status: int) -> str:
    assert r.status_code == status, r.text
    body = r.json()
    assert set(body) == {"detail"} and isinstance(body["detail"], str) and body["detail"], body
    return str(body["detail"])


# ---------------------------------------------------------------------- routes


def test_health(client: TestClient) -> None:
    r = client.get("/api/v1/health")
    assert r.status_code == 200
    h = r.json()
    assert h["status"] == "ok" and h["model"] == resolve_model(None).stem and h["detector"] == "haar"
    assert h["live_connections"] == 0 and h["jobs"] == 0 and re.fullmatch(r"\d+\.\d+\.\d+.*", h["version"])
    assert h["limits"]["max_image_pixels"] == 40_000_000 and h["limits"]["max_upload_mb"] == 200
    assert h["limits"]["max_live"] == 8 and h["limits"]["max_jobs"] == 4


def test_page_static_files_and_docs_are_public_and_locked_down(secured: TestClient) -> None:
    static = Path(__file__).resolve().parents[1] / "src" / "emolens" / "web" / "static"
    page = secured.get("/")
    if (static / "index.html").is_file():
        assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    else:
        detail(page, 404)
    assets = sorted(p for p in static.rglob("*") if p.is_file() and p.suffix in (".js", ".css"))
    if assets:
        r = secured.get("/static/" + assets[0].relative_to(static).as_posix())
        assert r.status_code == 200 and r.content == assets[0].read_bytes()
    assert secured.get("/static/no-such-file.js").status_code == 404
    assert secured.get("/static/../settings.py").status_code == 404
    spec = secured.get("/openapi.json").json()
    assert {"/api/v1/health", "/api/v1/analyze", "/api/v1/videos", "/api/v1/videos/{job_id}"} <= set(spec["paths"])
    assert "multipart/form-data" in spec["paths"]["/api/v1/analyze"]["post"]["requestBody"]["content"]
    assert {"HTTPBearer", "APIKeyQuery"} <= set(spec["components"]["securitySchemes"])
    docs = secured.get("/docs")
    assert docs.status_code == 200 and "swagger-ui" in docs.text
    csp = docs.headers["content-security-policy"]
    assert "https:" not in csp and "'sha256-" in csp and "frame-ancestors 'none'" in csp  # nothing from elsewhere
    assert "/docs-assets/swagger-ui-bundle.js" in docs.text and "cdn" not in docs.text
    bundle = secured.get("/docs-assets/swagger-ui-bundle.js")
    assert bundle.status_code == 200 and len(bundle.content) > 100_000
    assert "unsafe-inline" not in csp.split("script-src")[1].split(";")[0]  # the inline script goes by its hash
    assert secured.get("/redoc").status_code == 404


def test_head_of_the_page_and_its_link_to_the_docs(secured: TestClient) -> None:
    head = secured.head("/")
    get = secured.get("/")
    assert head.status_code == 200 and head.content == b""
    assert head.headers["content-type"].startswith("text/html")
    assert head.headers["content-length"] == str(len(get.content))
    assert head.headers["content-security-policy"] == CSP  # the same headers as GET
    assert re.search(r'<a href="docs"[^>]*>', get.text)
    assert secured.head("/docs").status_code == 200
    assert secured.head("/api/v1/health").status_code == 405  # the API answers GET only


def schema_of(spec: dict[str, Any], answer: dict[str, Any]) -> dict[str, Any]:
    """The component schema an OpenAPI answer refers to."""
    ref = answer["content"]["application/json"]["schema"]["$ref"]
    assert ref.startswith("#/components/schemas/")
    return dict(spec["components"]["schemas"][ref.rsplit("/", 1)[1]])


def test_openapi_documents_answers_and_errors_with_schemas(secured: TestClient) -> None:
    spec = secured.get("/openapi.json").json()
    paths = spec["paths"]
    error = spec["components"]["schemas"]["ErrorBody"]
    assert error["required"] == ["detail"] and error["properties"]["detail"]["type"] == "string"
    # the analysis of an image: its answer, and each error it can give, in the one error shape
    analyze = paths["/api/v1/analyze"]["post"]["responses"]
    result = schema_of(spec, analyze["200"])
    assert {"width", "height", "faces", "processing_ms", "hint"} <= set(result["properties"])
    face = spec["components"]["schemas"]["FaceOut"]
    assert {"number", "box", "label", "confidence", "scores", "valence", "track_id"} == set(face["properties"])
    for status in ("401", "413", "415", "422"):
        assert schema_of(spec, analyze[status]) == error, status
    videos = paths["/api/v1/videos"]["post"]["responses"]
    assert set(schema_of(spec, videos["202"])["properties"]) >= {"id", "status", "progress", "summary", "links"}
    for status in ("400", "401", "413", "415", "422", "429"):
        assert schema_of(spec, videos[status]) == error, status
    assert "Retry-After" in videos["429"]["headers"]
    assert "WWW-Authenticate" in videos["401"]["headers"]
    job = paths["/api/v1/videos/{job_id}"]
    assert schema_of(spec, job["get"]["responses"]["200"])["title"] == "JobInfo"
    assert schema_of(spec, job["get"]["responses"]["404"]) == error
    assert set(job["delete"]["responses"]) == {"204", "401", "404", "503"}
    mp4 = paths["/api/v1/videos/{job_id}/annotated.mp4"]["get"]["responses"]
    assert "video/mp4" in mp4["200"]["content"] and "video/mp4" in mp4["206"]["content"] and "416" in mp4
    timeline = paths["/api/v1/videos/{job_id}/timeline"]["get"]["responses"]
    assert schema_of(spec, timeline["200"])["title"] == "Timeline"
    # every API route documents the 401 of the token; none documents FastAPI's own 422 shape, never sent
    for path, operations in paths.items():
        for method, operation in operations.items():
            if path.startswith("/api/v1/"):
                assert schema_of(spec, operation["responses"]["401"]) == error, (method, path)
            for status, answer in operation["responses"].items():
                if status.startswith(("4", "5")):
                    assert schema_of(spec, answer) == error, (method, path, status)
    assert "HTTPValidationError" not in spec["components"]["schemas"]


def test_security_headers_on_every_response(secured: TestClient, media: Path) -> None:
    responses = {
        "page": secured.get("/"),
        "health": secured.get(f"/api/v1/health?token={TOKEN}"),
        "401": secured.get("/api/v1/health"),
        "404": secured.get(f"/api/v1/nothing?token={TOKEN}"),
        "422": upload(secured, "/api/v1/analyze", b"", headers={"Authorization": f"Bearer {TOKEN}"}),
        "analyze": upload(secured, "/api/v1/analyze", (media / "fer_justin.jpg").read_bytes(), params={"token": TOKEN}),
    }
    for name, r in responses.items():
        assert r.headers["content-security-policy"] == CSP, name
        for header, value in SECURITY_HEADERS.items():
            assert r.headers[header] == value, (name, header)
        assert r.headers["x-content-type-options"] == "nosniff" and r.headers["x-frame-options"] == "DENY"
        assert r.headers["referrer-policy"] == "no-referrer"
        if name != "page":
            assert r.headers["cache-control"] == "no-store", name
    assert responses["analyze"].status_code == 200


def test_token_missing_wrong_header_and_query(secured: TestClient) -> None:
    r = secured.get("/api/v1/health")
    assert "token" in detail(r, 401) and r.headers["www-authenticate"] == "Bearer"
    assert "wrong" in detail(secured.get("/api/v1/health", params={"token": "nope"}), 401)
    assert "wrong" in detail(secured.get("/api/v1/health", headers={"Authorization": "Bearer nope"}), 401)
    assert detail(secured.get("/api/v1/health", headers={"Authorization": f"Bearer {TOKEN}x"}), 401)
    assert detail(secured.get("/api/v1/health", params={"token": "é"}), 401)  # not ASCII: still a plain 401
    assert secured.get("/api/v1/health", headers={"Authorization": f"Bearer {TOKEN}"}).status_code == 200
    assert secured.get("/api/v1/health", params={"token": TOKEN}).status_code == 200
    # every API route is behind the token, before anything else is looked at
    for method, path in [
        ("POST", "/api/v1/analyze"),
        ("POST", "/api/v1/videos"),
        ("GET", "/api/v1/videos/0123"),
        ("GET", "/api/v1/videos/0123/frames.csv"),
        ("GET", "/api/v1/videos/0123/annotated.mp4"),
        ("DELETE", "/api/v1/videos/0123"),
        ("GET", "/api/v1/samples"),
        ("GET", "/api/v1/samples/x.jpg"),
    ]:
        assert secured.request(method, path).status_code == 401, path


def test_other_hosts_and_cross_site_requests_are_refused(client: TestClient, media: Path) -> None:
    # DNS rebinding: a page of evil.example whose name resolves to 127.0.0.1
    assert "Host" in detail(client.get("/api/v1/health", headers={"Host": "evil.example:8000"}), 400)
    assert client.get("/api/v1/health", headers={"Host": "localhost:8000"}).status_code == 200
    assert client.get("/api/v1/health", headers={"Host": "[::1]:8000"}).status_code == 200
    jpg = (media / "fer_justin.jpg").read_bytes()
    r = upload(client, "/api/v1/analyze", jpg, headers={"Origin": "https://evil.example"})
    assert "other sites" in detail(r, 403)
    assert upload(client, "/api/v1/analyze", jpg, headers={"Origin": BASE}).status_code == 200


def test_the_host_check_is_off_when_serving_the_network(recognizer: Recognizer) -> None:
    with client_for(recognizer, host="0.0.0.0", token=TOKEN) as c:
        r = c.get("/api/v1/health", headers={"Host": "my-machine.lan:8000", "Authorization": f"Bearer {TOKEN}"})
        assert r.status_code == 200


# ---------------------------------------------------------------------- /analyze


def test_analyze_a_real_photo(client: TestClient, media: Path) -> None:
    data = (media / "facerec_two_people.jpg").read_bytes()
    r = upload(client, "/api/v1/analyze", data, name="two.jpg")
    assert r.status_code == 200, r.text
    body = r.json()
    img = cv2.imread(str(media / "facerec_two_people.jpg"))
    assert (body["width"], body["height"]) == (img.shape[1], img.shape[0])
    assert len(body["faces"]) == 2 and body["processing_ms"] > 0 and body["hint"] is None
    xs = [face["box"][0] for face in body["faces"]]
    assert xs == sorted(xs)  # left to right, as numbered
    for face in body["faces"]:
        assert set(face) == {"number", "box", "label", "confidence", "scores", "valence", "track_id"}
        assert len(face["box"]) == 4 and all(isinstance(v, int) for v in face["box"]) and face["box"][2] > 50
        assert list(face["scores"]) == list(EMOTIONS) and sum(face["scores"].values()) == pytest.approx(1, abs=1e-4)
        assert face["label"] == max(face["scores"], key=face["scores"].get) and face["track_id"] is None


@pytest.mark.parametrize("ext", [".png", ".webp", ".bmp"])
def test_analyze_other_image_formats(client: TestClient, media: Path, ext: str) -> None:
    ok, enc = cv2.imencode(ext, cv2.imread(str(media / "fer_justin.jpg")))
    r = upload(client, "/api/v1/analyze", enc.tobytes(), name="photo.bin")  # the name does not matter
    assert r.status_code == 200, r.text
    assert len(r.json()["faces"]) == 1


def test_analyze_bad_inputs(client: TestClient, media: Path) -> None:
    jpg = (media / "fer_justin.jpg").read_bytes()
    assert "'file'" in detail(client.post("/api/v1/analyze", files={"image": ("x.jpg", jpg)}), 422)
    assert "multipart" in detail(client.post("/api/v1/analyze", data={"file": "not a file"}), 422)  # urlencoded
    r = client.post("/api/v1/analyze", data={"file": "a text field"}, files={"other": ("x.jpg", jpg)})
    assert "not a JPEG" in detail(r, 415)
    assert "multipart" in detail(client.post("/api/v1/analyze", json={"file": "x"}), 422)
    assert "multipart" in detail(client.post("/api/v1/analyze"), 422)
    assert detail(upload(client, "/api/v1/analyze", b""), 422) == "the file is empty"
    garbage = detail(upload(client, "/api/v1/analyze", b"hello world\n" * 10, name="notes.txt"), 415)
    assert "not a JPEG, PNG, WebP or BMP" in garbage and "match no format the server knows" in garbage
    assert "video (MP4, MOV, AVI, MKV or WebM)" in garbage  # a text file: say that videos are taken too
    r = upload(client, "/api/v1/analyze", (media / "pyfeat_single_face.mp4").read_bytes())
    assert "mp4 video" in detail(r, 415)
    assert "truncated" in detail(upload(client, "/api/v1/analyze", jpg[: len(jpg) // 2]), 422)
    assert "cut short" in detail(upload(client, "/api/v1/analyze", jpg[:300]), 422)
    ok, png = cv2.imencode(".png", cv2.imread(str(media / "fer_justin.jpg")))
    assert "corrupt or truncated" in detail(upload(client, "/api/v1/analyze", png.tobytes()[:5000]), 422)
    two = client.post("/api/v1/analyze", files=[("file", ("a.jpg", jpg)), ("file", ("b.jpg", jpg))])
    assert "one file" in detail(two, 422)
    head = b'--xyz\r\nContent-Disposition: form-data; name="file"; filename="a.jpg"\r\n\r\n'
    form = {"Content-Type": "multipart/form-data; boundary=xyz"}
    r = client.post("/api/v1/analyze", content=head + jpg, headers=form)  # no closing boundary
    assert "incomplete" in detail(r, 422)
    r = client.post("/api/v1/analyze", content=b"garbage without any boundary", headers=form)
    assert detail(r, 422)
    r = client.post("/api/v1/analyze", content=head + jpg + b"\r\n--xyz--\r\n", headers=form)
    assert r.status_code == 200 and len(r.json()["faces"]) == 1


def test_analyze_refuses_huge_images_from_their_header(client: TestClient) -> None:
    r = upload(client, "/api/v1/analyze", png_header(100_000, 100_000), name="huge.png")
    text = detail(r, 413)
    assert "100000x100000" in text and "10,000,000,000" in text and "40,000,000" in text
    text = detail(upload(client, "/api/v1/analyze", jpeg_header(65_000, 65_000), name="huge.jpg"), 413)
    assert "65000x65000" in text and "40,000,000" in text


def test_analyze_limits_are_configurable(recognizer: Recognizer, media: Path) -> None:
    jpg = (media / "facerec_two_people.jpg").read_bytes()
    assert len(jpg) > 20_000
    with client_for(recognizer, max_upload_mb=0.01, max_image_pixels=1000) as c:
        assert "0.01 MB" in detail(upload(c, "/api/v1/analyze", jpg), 413)
        small = cv2.imencode(".png", np.full((40, 40, 3), 128, np.uint8))[1].tobytes()
        assert "1,600 pixels" in detail(upload(c, "/api/v1/analyze", small), 413)
        tiny = cv2.imencode(".png", np.full((20, 20, 3), 128, np.uint8))[1].tobytes()
        r = upload(c, "/api/v1/analyze", tiny)
        assert r.status_code == 200 and r.json()["faces"] == []
        assert "--detector yunet" in r.json()["hint"]  # no face with Haar: say what to try


def test_the_detector_sensitivity_is_the_servers(recognizer: Recognizer, media: Path) -> None:
    from emolens.types import DetectorOptions

    jpg = (media / "facerec_two_people.jpg").read_bytes()  # two faces of about 150 pixels
    with client_for(recognizer, detector_options=DetectorOptions(haar_min_size=400)) as c:
        r = upload(c, "/api/v1/analyze", jpg)
        assert r.status_code == 200 and r.json()["faces"] == []


# ---------------------------------------------------------------------- /videos: input checks (jobs: test_web_jobs)


def test_video_upload_bad_inputs(recognizer: Recognizer, media: Path, tmp_path: Path) -> None:
    clip = (media / "pyfeat_single_face.mp4").read_bytes()
    with client_for(recognizer, max_video_s=1.0) as c:
        text = b"this is a text file, renamed video.mp4\n" * 20
        refused = detail(upload(c, "/api/v1/videos", text, name="video.mp4"), 415)
        assert "not a video" in refused and "nor an image (JPEG, PNG, WebP or BMP)" in refused
        jpg = (media / "fer_justin.jpg").read_bytes()
        assert "/api/v1/analyze" in detail(upload(c, "/api/v1/videos", jpg, name="video.mp4"), 415)
        assert detail(upload(c, "/api/v1/videos", b"", name="v.mp4"), 422) == "the file is empty"
        r = upload(c, "/api/v1/videos", clip[:3000], name="cut.mp4")
        msg = detail(r, 422)
        assert "cut.mp4" in msg and "/tmp" not in msg  # the user's name, never the server's path
        from test_source import write_faststart_mp4

        whole = write_faststart_mp4(tmp_path / "fs.mp4", frames=10).read_bytes()  # its index first: it opens
        half = detail(upload(c, "/api/v1/videos", whole[: len(whole) // 2], name="half.mp4"), 422)
        assert "half.mp4: the video is truncated" in half and "/tmp" not in half
        assert "2.4 s, longer than the limit of 1 s" in detail(upload(c, "/api/v1/videos", clip, name="v.mp4"), 413)
        assert "'file'" in detail(c.post("/api/v1/videos", files={"video": ("v.mp4", clip)}), 422)
        assert c.get("/api/v1/health").json()["jobs"] == 0
        root = c.app.state.jobs.root  # type: ignore[attr-defined]
        assert list(root.iterdir()) == []  # refused uploads leave nothing on disk
    with client_for(recognizer, max_upload_mb=0.1) as c:
        assert "0.1 MB" in detail(upload(c, "/api/v1/videos", clip, name="v.mp4"), 413)
        assert list(c.app.state.jobs.root.iterdir()) == []  # type: ignore[attr-defined]


def test_unknown_job_ids(client: TestClient) -> None:
    assert detail(client.get("/api/v1/videos/.."), 404).startswith("nothing at /api/v1")
    assert "not allowed" in detail(client.put("/api/v1/health"), 405)
    for job in ("0" * 32, "nope", "%2e%2e", "a" * 500):
        for method, suffix in [("GET", ""), ("GET", "/frames.csv"), ("GET", "/annotated.mp4"), ("DELETE", "")]:
            r = client.request(method, f"/api/v1/videos/{job}{suffix}")
            assert "unknown, deleted or expired" in detail(r, 404), (method, job, suffix)


# ---------------------------------------------------------------------- samples


def test_samples(recognizer: Recognizer, media: Path, tmp_path: Path) -> None:
    with client_for(recognizer) as c:
        assert c.get("/api/v1/samples").json() == {"samples": []}
        detail(c.get("/api/v1/samples/fer_justin.jpg"), 404)
    folder = tmp_path / "samples"
    folder.mkdir()
    (folder / "face.jpg").write_bytes((media / "fer_justin.jpg").read_bytes())
    (folder / "clip.mp4").write_bytes((media / "pyfeat_single_face.mp4").read_bytes())
    (folder / "talk.flac").write_bytes(b"fLaC")  # listed by its name; what it holds is judged on upload
    (folder / "notes.txt").write_text("not a sample")
    (folder / ".hidden.jpg").write_bytes(b"x")
    (folder / "sub").mkdir()
    (tmp_path / "secret.jpg").write_bytes(b"secret")
    with client_for(recognizer, samples=str(folder)) as c:
        listing = c.get("/api/v1/samples").json()["samples"]
        assert listing == [
            {"name": "clip.mp4", "kind": "video"},
            {"name": "face.jpg", "kind": "image"},
            {"name": "talk.flac", "kind": "audio"},
        ]
        assert c.get("/api/v1/samples/talk.flac").headers["content-type"] == "audio/flac"
        r = c.get("/api/v1/samples/face.jpg")
        assert r.status_code == 200 and r.content == (folder / "face.jpg").read_bytes()
        assert r.headers["content-type"] == "image/jpeg"
        assert c.get("/api/v1/samples/clip.mp4").headers["content-type"] == "video/mp4"
        for name in ("notes.txt", ".hidden.jpg", "..%2Fsecret.jpg", "%2e%2e%2fsecret.jpg", "sub"):
            assert c.get(f"/api/v1/samples/{name}").status_code == 404, name
        assert c.get("/api/v1/samples/../secret.jpg").status_code == 404


# ---------------------------------------------------------------------- options and failures


def test_options_are_checked() -> None:
    for bad in [
        {"port": 70000},
        {"max_upload_mb": 0},
        {"max_image_pixels": 0},
        {"max_video_s": -1},
        {"keep_s": 0},
        {"max_jobs": 0},
        {"max_live": 0},
        {"token": ""},
        {"token": "with space"},
        {"host": ""},
        {"samples": "/no/such/folder"},
    ]:
        with pytest.raises(EmolensError):
            ServeOptions(**bad)  # type: ignore[arg-type]
    assert ServeOptions().url(8000) == "http://127.0.0.1:8000/"
    assert ServeOptions(token="a&b").url(5) == "http://127.0.0.1:5/?token=a%26b"
    assert ServeOptions(host="::1").url(80, with_token=False) == "http://[::1]:80/"
    assert ServeOptions().loopback and ServeOptions(host="localhost").loopback
    assert not ServeOptions(host="0.0.0.0").loopback


def test_a_bad_detector_fails_when_the_app_is_made(recognizer: Recognizer) -> None:
    with pytest.raises(EmolensError, match="unknown detector"):
        create_app(ServeOptions(detector="nope"), recognizer)


def test_a_failing_route_answers_json_500_with_the_headers() -> None:
    from starlette.applications import Starlette
    from starlette.middleware import Middleware
    from starlette.routing import Route

    from emolens.web.security import Guard

    async def boom(request: Any) -> Any:
        raise RuntimeError("a bug")

    app = Starlette(routes=[Route("/api/v1/boom", boom)], middleware=[Middleware(Guard, loopback=True)])
    with TestClient(app, base_url=BASE) as c:
        r = c.get("/api/v1/boom")
        assert "RuntimeError" in detail(r, 500) and r.headers["content-security-policy"] == CSP
        assert json.loads(r.text)["detail"].startswith("internal server error")
