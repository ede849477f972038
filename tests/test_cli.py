import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest


def emolens(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "emolens", *args], capture_output=True, text=True, cwd=cwd, timeout=300
    )


def assert_one_line_error(r: subprocess.CompletedProcess[str], pattern: str) -> None:
    assert r.returncode == 2, r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("emolens: error:"), r.stderr
    assert pattern in lines[0], lines[0]


def test_image_writes_annotated_copy_and_json(media: Path, tmp_path: Path) -> None:
    out, js = tmp_path / "out", tmp_path / "faces.json"
    r = emolens("image", str(media / "facerec_two_people.jpg"), "--out", str(out), "--json", str(js))
    assert r.returncode == 0, r.stderr
    data = json.loads(js.read_text())
    faces = data["images"][0]["faces"]
    assert len(faces) == 2
    assert all(set(f) >= {"box", "label", "scores", "valence"} for f in faces)
    assert (out / "facerec_two_people_emolens.jpg").stat().st_size > 10_000


def test_image_json_inside_the_new_out_folder(media: Path, tmp_path: Path) -> None:
    # the README's command-line example: the JSON goes into the folder --out creates
    out = tmp_path / "out"
    r = emolens("image", str(media / "pyfeat_multi_face.jpg"), "--out", str(out), "--json", str(out / "faces.json"))
    assert r.returncode == 0, r.stderr
    assert len(json.loads((out / "faces.json").read_text())["images"][0]["faces"]) >= 4


def test_image_bad_inputs(tmp_path: Path, media: Path) -> None:
    assert_one_line_error(emolens("image", str(tmp_path / "missing.jpg")), "image not found")
    junk = tmp_path / "junk.jpg"
    junk.write_bytes(b"\xff\xd8\xff garbage")
    assert_one_line_error(emolens("image", str(junk)), "not an image, or a corrupt or truncated one")
    empty = tmp_path / "empty.png"
    empty.write_bytes(b"")
    assert_one_line_error(emolens("image", str(empty)), "cannot read")
    js = tmp_path / "no" / "such" / "dir" / "x.json"
    out = tmp_path / "ann"
    r = emolens("image", str(media / "fer_justin.jpg"), "--out", str(out), "--json", str(js))
    assert_one_line_error(r, "does not exist")
    assert not js.exists() and not out.exists()  # nothing half-written


def test_image_unwritable_output(media: Path, tmp_path: Path) -> None:
    if os.geteuid() == 0:
        pytest.skip("root can write to read-only folders")
    ro = tmp_path / "ro"
    ro.mkdir(mode=0o500)
    assert_one_line_error(emolens("image", str(media / "fer_justin.jpg"), "--json", str(ro / "x.json")), "not writable")


def test_image_output_is_a_file(media: Path, tmp_path: Path) -> None:
    f = tmp_path / "file"
    f.write_text("x")
    assert_one_line_error(emolens("image", str(media / "fer_justin.jpg"), "--out", str(f)), "not a folder")


def test_train_on_a_missing_folder(tmp_path: Path) -> None:
    assert_one_line_error(
        emolens("train", "--data", str(tmp_path / "nope"), "--out", str(tmp_path / "r")), "data not found"
    )


def test_evaluate_and_report(tmp_path: Path) -> None:
    from conftest import write_fer_folder

    data = write_fer_folder(tmp_path / "fer", per_class=3)
    js, png = tmp_path / "r.json", tmp_path / "cm.png"
    r = emolens("evaluate", "--data", str(data), "--split", "test", "--json", str(js), "--confusion", str(png))
    assert r.returncode == 0, r.stderr
    rep = json.loads(js.read_text())
    assert rep["faces"] == 21 and len(rep["confusion"]) == 7 and png.stat().st_size > 5000
    assert f"accuracy {rep['accuracy']:.4f}  " in r.stdout and f"macro-F1 {rep['macro_f1']:.4f}" in r.stdout
    lo, hi = rep["accuracy_ci95"]
    assert lo <= rep["accuracy"] <= hi and f"(Wilson, 21 faces): {lo:.4f}-{hi:.4f}" in r.stdout
    crops = emolens("evaluate", "--data", str(data), "--split", "test", "--tta", "crops")  # a speech model's
    assert_one_line_error(crops, "is for speech models")


def test_unknown_model_and_version() -> None:
    assert_one_line_error(emolens("bench", "faces", "--model", "nope", "--repeats", "1"), "unknown model 'nope'")
    r = emolens("--version")
    assert r.returncode == 0 and r.stdout.startswith("emolens ")


def test_models_lists_default() -> None:
    r = emolens("models")
    assert r.returncode == 0 and "(default)" in r.stdout
    assert "  accurate  -> emolens-vgg4-fer2013-" in r.stdout and "tta shift" in r.stdout  # a short name's own mode
    speech = r.stdout.split("speech models")[1].splitlines()[1:]
    assert "  emolens-speech-ravdess  (default)" in speech
    assert "  emolens-speech-ravdess-speaker" in speech


def test_bench_faces_reports_throughput(tmp_path: Path) -> None:
    js = tmp_path / "b.json"
    r = emolens("bench", "faces", "--faces", "32", "--repeats", "2", "--json", str(js))
    assert r.returncode == 0, r.stderr
    res = json.loads(js.read_text())
    assert res["faces"] == 32 and res["repeats"] == 2
    assert res["faces_per_s"] == pytest.approx(32 / (res["p50_ms"] / 1000))  # throughput of the median call
    assert f"{res['faces_per_s']:.0f} faces/s" in r.stdout
    assert f"all 64 faces over all calls: {res['overall_faces_per_s']:.0f} faces/s" in r.stdout


def test_info_json_describes_this_machine() -> None:
    from emolens.export.schemes import SCHEMES
    from emolens.hardware import cpu_info, train_precision

    r = emolens("info", "--json")
    assert r.returncode == 0, r.stderr
    info = json.loads(r.stdout)
    assert list(info) == ["version", "cpu", "onnxruntime", "opencv", "torch", "int8", "train_precision", "train_device"]
    assert set(info["cpu"]) == {"model", "flags"} and isinstance(info["cpu"]["flags"], list)
    cpu = cpu_info()
    assert info["cpu"]["model"] == cpu.model and info["cpu"]["flags"] == list(cpu.flags)
    import cv2
    import onnxruntime

    assert info["opencv"] == cv2.__version__ and info["onnxruntime"] == onnxruntime.__version__
    assert info["int8"] in SCHEMES
    if info["torch"]:
        from emolens.train.device import resolve_compute

        assert info["train_precision"] == resolve_compute("auto", "auto").precision
    else:
        assert info["train_precision"] == train_precision()
    try:
        import torch
    except ImportError:
        assert info["torch"] is None
    else:
        assert info["torch"] == torch.__version__
    text = emolens("info")
    assert text.returncode == 0 and f"CPU: {cpu.model}" in text.stdout
    assert f"training precision (--precision auto): {info['train_precision']}" in text.stdout
    if info["torch"]:
        import torch

        assert info["train_device"].split(":")[0] == ("cuda" if torch.cuda.is_available() else "cpu")
        assert f"training device (--device auto): {info['train_device']}" in text.stdout
    else:
        assert info["train_device"] is None


def test_train_logs_its_precision_once(tmp_path: Path) -> None:
    from conftest import write_fer_folder
    from emolens.hardware import train_precision

    data = write_fer_folder(tmp_path / "fer", per_class=3)
    args = ("train", "--data", str(data), "--arch", "compact", "--epochs", "1", "--batch-size", "8", "--no-progress")
    r = emolens(*args, "--out", str(tmp_path / "run"))
    assert r.returncode == 0, r.stderr
    lines = [ln for ln in r.stderr.splitlines() if ln.startswith("precision ")]
    assert lines == [
        f"precision {train_precision()} (auto: this CPU has {'native bf16' if train_precision() == 'bf16' else 'no native bf16 (AVX512-BF16 or AMX)'})"
    ]
    r = emolens(*args, "--out", str(tmp_path / "run32"), "--precision", "fp32")
    assert r.returncode == 0 and "precision fp32\n" in r.stderr


def test_train_on_a_gpu_that_is_not_there_says_so_in_one_line(tmp_path: Path) -> None:
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has a CUDA GPU, so --device cuda is no error here")
    from conftest import write_fer_folder

    data = write_fer_folder(tmp_path / "fer", per_class=3)
    r = emolens("train", "--data", str(data), "--device", "cuda", "--epochs", "1", "--out", str(tmp_path / "run"))
    assert_one_line_error(r, "sees no CUDA GPU; use --device cpu")
    assert not (tmp_path / "run").exists()


# ---------------------------------------------------------------------- issue 11: decode bombs, unreadable files


def test_image_refuses_decode_bombs_with_one_line(tmp_path: Path, media: Path) -> None:
    from bombs import png16_rgba, progressive_scan_bomb, zero_png

    huge = tmp_path / "huge.png"
    huge.write_bytes(zero_png(30000, 30000))  # a real 30000x30000 PNG: Haar once tried to allocate 29 GB for it
    r = emolens("image", str(huge))
    assert_one_line_error(
        r, f"cannot read {huge}: the image is 30000x30000 = 900,000,000 pixels, more than the limit of 40,000,000"
    )
    bomb = tmp_path / "bomb.png"
    bomb.write_bytes(png16_rgba(6000, 6000))
    assert_one_line_error(
        emolens("image", str(bomb)), "288,000,000 bytes once decoded, more than the limit of 120,000,000"
    )
    scans = tmp_path / "scans.jpg"
    scans.write_bytes(progressive_scan_bomb(2000, 2000, 1000))
    assert_one_line_error(emolens("image", str(scans)), "the JPEG has more than 100 scans")
    photo = str(media / "fer_justin.jpg")
    assert_one_line_error(
        emolens("image", photo, "--max-pixels", "1000"),
        "381x384 = 146,304 pixels, more than the limit of 1,000 (--max-pixels N raises the limit)",
    )
    assert_one_line_error(emolens("image", photo, "--max-pixels", "0"), "the pixel limit must be 1 or more")
    assert_one_line_error(emolens("image", photo, "--threads", "-1"), "threads must be a whole number")


def test_an_unknown_option_is_blamed_on_its_command() -> None:
    assert_one_line_error(
        emolens("video", "clip.mp4", "--fps", "5"),
        "video: unrecognized arguments: --fps 5 (see emolens video --help)",
    )
    assert_one_line_error(
        emolens("relax", "scenarios", "--colour"),
        "relax scenarios: unrecognized arguments: --colour (see emolens relax scenarios --help)",
    )
    assert_one_line_error(emolens("--colour"), "the following arguments are required: command (see emolens --help)")


def test_unreadable_inputs_are_one_line_errors() -> None:
    mem = Path("/proc/self/mem")  # exists, and reading it from its start fails (EIO), even for root
    if not mem.is_file():
        pytest.skip("needs Linux's /proc/self/mem")
    assert_one_line_error(emolens("image", str(mem)), "cannot read /proc/self/mem: Input/output error")
    assert_one_line_error(emolens("video", str(mem), "--no-progress"), "cannot read /proc/self/mem")


def test_permission_denied_inputs_are_one_line_errors(tmp_path: Path, media: Path) -> None:
    if os.geteuid() == 0:
        pytest.skip("root can read files without read permission")
    for name, command in (("fer_justin.jpg", "image"), ("pyfeat_single_face.mp4", "video")):
        locked = tmp_path / name
        locked.write_bytes((media / name).read_bytes())
        locked.chmod(0)
        assert_one_line_error(emolens(command, str(locked)), "Permission denied")


def test_outputs_under_a_folder_that_cannot_be_written_are_one_line_errors(media: Path) -> None:
    sysfs = Path("/sys")  # no one, root included, may create files or folders at the top of sysfs
    if not sysfs.is_dir():
        pytest.skip("needs Linux's /sys")
    r = emolens("image", str(media / "fer_justin.jpg"), "--out", "/sys/emolens-out/annotated")
    assert_one_line_error(r, "cannot create the --out folder /sys/emolens-out/annotated")
    r = emolens("video", str(media / "pyfeat_single_face.mp4"), "--out", "/sys/emolens.mp4", "--no-progress")
    assert_one_line_error(r, "cannot write /sys/emolens.mp4")


def test_image_copies_of_images_with_one_name_do_not_overwrite_each_other(media: Path, tmp_path: Path) -> None:
    for d in ("a", "b"):
        (tmp_path / d).mkdir()
    (tmp_path / "a" / "x.jpg").write_bytes((media / "fer_justin.jpg").read_bytes())
    (tmp_path / "b" / "x.jpg").write_bytes((media / "facerec_two_people.jpg").read_bytes())
    out, js = tmp_path / "out", tmp_path / "faces.json"
    r = emolens(
        "image", str(tmp_path / "a" / "x.jpg"), str(tmp_path / "b" / "x.jpg"), "--out", str(out), "--json", str(js)
    )
    assert r.returncode == 0, r.stderr
    copies = [Path(i["annotated"]).name for i in json.loads(js.read_text())["images"]]
    assert copies == ["x_emolens.jpg", "x_emolens-2.jpg"]
    assert sorted(p.name for p in out.iterdir()) == sorted(copies)


def test_outputs_that_are_folders_are_refused_before_any_work_and_leave_nothing(media: Path, tmp_path: Path) -> None:
    folder = tmp_path / "out"
    folder.mkdir()
    r = emolens("image", str(media / "fer_justin.jpg"), "--json", str(folder))
    assert_one_line_error(r, "it is a folder")
    r = emolens("export", str(tmp_path / "missing.pt"), "--out", str(folder))
    assert_one_line_error(r, "it is a folder")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"] and list(folder.iterdir()) == []


def test_image_detector_sensitivity(media: Path, tmp_path: Path) -> None:
    photo = str(media / "oarriaga_test_image.jpg")  # a busy photo: Haar's defaults take non-faces for faces
    counts = []
    for neighbors in ("5", "12"):
        js = tmp_path / f"faces-{neighbors}.json"
        r = emolens("image", photo, "--haar-min-neighbors", neighbors, "--json", str(js))
        assert r.returncode == 0, r.stderr
        counts.append(len(json.loads(js.read_text())["images"][0]["faces"]))
    assert counts[0] > counts[1] > 0
    assert_one_line_error(emolens("image", photo, "--haar-min-size", "0"), "haar_min_size must be a whole number")
    assert_one_line_error(emolens("image", photo, "--yunet-score", "2"), "yunet_score must lie in [0, 1]")


def test_image_on_a_folder_reads_every_image_under_it(media: Path, tmp_path: Path) -> None:
    photos = tmp_path / "photos"
    (photos / "trip").mkdir(parents=True)
    (photos / "a.jpg").write_bytes((media / "fer_justin.jpg").read_bytes())
    (photos / "trip" / "a.jpg").write_bytes((media / "pyfeat_single_face.jpg").read_bytes())  # the same name
    (photos / "list.txt").write_text("not an image, and not looked at\n")
    import cv2
    import numpy as np

    cv2.imwrite(str(photos / "trip" / "wall.png"), np.full((120, 160, 3), 128, np.uint8))  # no face
    out, js, table = tmp_path / "out", tmp_path / "faces.json", tmp_path / "faces.csv"
    r = emolens("image", str(photos), "--out", str(out), "--json", str(js), "--csv", str(table))
    assert r.returncode == 0, r.stderr
    images = json.loads(js.read_text())["images"]
    names = [str(photos / "a.jpg"), str(photos / "trip" / "a.jpg"), str(photos / "trip" / "wall.png")]
    assert [i["image"] for i in images] == names
    assert [len(i["faces"]) for i in images] == [1, 1, 0]
    assert sorted(p.name for p in out.iterdir()) == ["a_emolens-2.jpg", "a_emolens.jpg", "wall_emolens.png"]
    rows = list(csv.DictReader(table.read_text().splitlines()))
    assert [r["image"] for r in rows] == names and [r["face"] for r in rows] == ["1", "1", ""]
    for row, image in zip(rows[:2], images[:2], strict=True):  # the table says what the JSON says
        face = image["faces"][0]
        assert [int(row[k]) for k in "xywh"] == face["box"] and row["label"] == face["label"]
        assert float(row["confidence"]) == pytest.approx(face["confidence"], abs=1e-5)
        assert sum(float(row[lab]) for lab in face["scores"]) == pytest.approx(1, abs=1e-4)
    inside = photos / "annotated"  # copies written inside the folder are not taken for photos by a rerun
    for _ in range(2):
        r = emolens("image", str(photos), "--out", str(inside), "--json", str(js))
        assert r.returncode == 0, r.stderr
        assert [i["image"] for i in json.loads(js.read_text())["images"]] == names
    empty = tmp_path / "empty"
    empty.mkdir()
    assert_one_line_error(emolens("image", str(empty)), f"{empty}: no image file in this folder")
