"""``emolens audio`` and ``emolens evaluate`` on speech: outputs, summaries, and one-line errors."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest

from audio_support import music_like, speech_like, speech_model, write_audio, write_ravdess
from conftest import MEDIA, assert_one_line_error, need, run_main
from emolens.audio.labels import SPEECH_EMOTIONS
from emolens.cli import main


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return speech_model(tmp_path_factory.mktemp("speech"))


@pytest.fixture(scope="module")
def recording(tmp_path_factory: pytest.TempPathFactory) -> Path:
    rate = 48000
    x = np.concatenate([speech_like(3.0, sr=rate), np.zeros(2 * rate, np.float32), music_like(3.0, sr=rate)])
    return write_audio(tmp_path_factory.mktemp("rec") / "talk.flac", np.stack([x, 0.5 * x], axis=1), sr=rate)


def test_audio_writes_json_csv_and_a_timeline(
    capsys: pytest.CaptureFixture[str], model: Path, recording: Path, tmp_path: Path
) -> None:
    j, c, png = tmp_path / "a.json", tmp_path / "a.csv", tmp_path / "a.png"
    code, out, err = run_main(
        capsys,
        "audio",
        str(recording),
        "--model",
        str(model),
        "--threads",
        "1",
        "--json",
        str(j),
        "--csv",
        str(c),
        "--plot",
        str(png),
    )
    assert code == 0 and "windows:" in out
    assert "voice activity:" in err and "emotion:" in err  # each stage's progress bar, on stderr
    report = json.loads(j.read_text())
    assert (
        report["source_rate"] == 48000
        and report["channels"] == 2
        and report["duration_s"] == pytest.approx(8.0, abs=0.01)
    )
    assert report["labels"] == list(SPEECH_EMOTIONS) and report["windows"] == len(report["per_window"]) == 13
    assert report["speech_windows"] >= 3 and report["silence_windows"] >= 1 and report["music_windows"] >= 1
    assert report["emotion"] in SPEECH_EMOTIONS and sum(report["mean_probs"].values()) == pytest.approx(1.0, abs=1e-3)
    with c.open() as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 13 and rows[0]["start_s"] == "0.000" and rows[0]["p_neutral"] != ""
    assert any(r["label"] == "silence" and r["p_neutral"] == "" for r in rows)
    assert png.read_bytes()[:4] == b"\x89PNG"


def test_audio_prints_everything_without_outputs(
    capsys: pytest.CaptureFixture[str], model: Path, recording: Path
) -> None:
    code, out, err = run_main(
        capsys, "audio", str(recording), "--model", str(model), "--window", "3", "--hop", "1.5", "--no-progress"
    )
    assert code == 0 and err == ""  # no bars with --no-progress
    report = json.loads(out)
    assert report["window_s"] == 3.0 and [w["start_s"] for w in report["per_window"]] == [0.0, 1.5, 3.0, 4.5, 5.0]


def test_audio_errors_are_one_line(
    capsys: pytest.CaptureFixture[str], model: Path, recording: Path, tmp_path: Path
) -> None:
    code, _, err = run_main(
        capsys, "audio", str(recording), "--model", str(model), "--json", str(tmp_path / "no" / "a.json")
    )
    assert_one_line_error(code, err, "does not exist")
    code, _, err = run_main(capsys, "audio", str(tmp_path / "none.wav"), "--model", str(model))
    assert_one_line_error(code, err, "not found")
    code, _, err = run_main(capsys, "audio", str(recording), "--model", "emolens-speech-nope")
    assert_one_line_error(code, err, "unknown speech model 'emolens-speech-nope'")
    code, _, err = run_main(capsys, "audio", str(recording), "--model", "emolens-vgg-fer2013-fp32")
    assert_one_line_error(code, err, "not a speech model")
    code, _, err = run_main(capsys, "audio", str(recording), "--model", str(model), "--max-duration", "5")
    assert_one_line_error(code, err, "more than 5 s")
    code, _, err = run_main(capsys, "audio", str(recording), "--model", "emolens-speech-nope", "--hop", "3")
    assert_one_line_error(code, err, "a hop of 3 s is longer than the 2 s window")  # before the model is looked up
    with pytest.raises(SystemExit):
        main(["audio", str(recording), "--window", "0"])
    capsys.readouterr()


def test_audio_on_several_files_skips_the_bad_one_and_keeps_the_rest(
    capsys: pytest.CaptureFixture[str], model: Path, recording: Path, tmp_path: Path
) -> None:
    other = tmp_path / "b" / recording.name  # the same name in another folder
    other.parent.mkdir()
    other.write_bytes(recording.read_bytes())
    bad = tmp_path / "notes.wav"
    bad.write_text("not sound at all\n")
    j, c, plots = tmp_path / "all.json", tmp_path / "all.csv", tmp_path / "plots"
    files = (str(recording), str(bad), str(other.parent))  # the folder stands for the recording in it
    code, out, err = run_main(
        capsys, "audio", *files, "--model", str(model), "--json", str(j), "--csv", str(c), "--plot", str(plots)
    )
    assert code == 1  # as emolens batch: an input failed
    lines = err.strip().splitlines()
    assert lines[-1].endswith("emolens: 1 of 3 files could not be analysed (each said above)")
    assert any(line.startswith(f"emolens: skipped {bad}: ") and "text file" in line for line in lines), err
    assert out.splitlines()[0].startswith(f"{recording}: 8.0 s, 13 windows")
    report = json.loads(j.read_text())
    assert [f["source"] for f in report["files"]] == [str(recording), str(other)]
    assert [s["source"] for s in report["skipped"]] == [str(bad)]
    assert "text file" in report["skipped"][0]["error"]
    assert report["files"][0]["per_window"] == report["files"][1]["per_window"]  # the same sound, the same result
    with c.open() as fh:
        rows = list(csv.DictReader(fh))
    assert list(rows[0])[:2] == ["source", "start_s"] and len(rows) == 26
    assert [r["source"] for r in rows] == [str(recording)] * 13 + [str(other)] * 13
    assert sorted(p.name for p in plots.iterdir()) == ["talk-2.png", "talk.png"]


def test_audio_on_a_folder_hears_every_recording_under_it(
    capsys: pytest.CaptureFixture[str], model: Path, recording: Path, tmp_path: Path
) -> None:
    calls = tmp_path / "calls"
    (calls / "monday").mkdir(parents=True)
    (calls / "monday" / "first.flac").write_bytes(recording.read_bytes())
    (calls / "notes.txt").write_text("not a recording, and not looked at\n")
    j = tmp_path / "calls.json"
    code, out, err = run_main(capsys, "audio", str(calls), "--model", str(model), "--json", str(j), "--no-progress")
    assert code == 0, err
    report = json.loads(j.read_text())  # a folder gives the report of several files, even of one
    assert [f["source"] for f in report["files"]] == [str(calls / "monday" / "first.flac")] and report["skipped"] == []
    (calls / "monday" / "first.flac").unlink()
    code, _, err = run_main(capsys, "audio", str(calls), "--model", str(model))
    assert_one_line_error(code, err, f"{calls}: no recording file in this folder (looked for .wav .flac")


def test_audio_on_several_files_prints_them_all_and_wants_a_plot_folder(
    capsys: pytest.CaptureFixture[str], model: Path, recording: Path, tmp_path: Path
) -> None:
    code, out, err = run_main(capsys, "audio", str(recording), str(recording), "--model", str(model), "--no-progress")
    assert code == 0 and err == ""
    report = json.loads(out)
    assert len(report["files"]) == 1 and report["skipped"] == []  # a file named twice is heard once
    taken = tmp_path / "taken"
    taken.write_text("")
    code, _, err = run_main(
        capsys, "audio", str(recording), str(recording), "--model", str(model), "--plot", str(taken)
    )
    assert_one_line_error(code, err, "names a folder (one PNG per file), and this is a file")
    code, _, err = run_main(
        capsys, "audio", str(recording), str(recording), "--model", str(model), "--plot", str(tmp_path / "t.png")
    )
    assert_one_line_error(code, err, "not a .png file")
    assert not (tmp_path / "t.png").exists()
    code, _, err = run_main(
        capsys,
        "audio",
        str(tmp_path / "a.wav"),
        str(tmp_path / "b.wav"),
        "--model",
        str(model),
        "--json",
        str(tmp_path / "x.json"),
    )
    assert code == 1 and "2 of 2 files could not be analysed" in err and err.count("emolens: skipped") == 2
    assert not (tmp_path / "x.json").exists()  # nothing analysed, nothing written


def test_audio_on_videos(capsys: pytest.CaptureFixture[str], model: Path) -> None:
    code, _, err = run_main(capsys, "audio", str(need(MEDIA / "fer_woman2.mp4")), "--model", str(model))
    assert_one_line_error(code, err, "has no audio track")
    code, out, _ = run_main(
        capsys, "audio", str(need(MEDIA / "facerec_short_hamilton_clip.mp4")), "--model", str(model)
    )
    assert code == 0 and json.loads(out)["codec"] == "aac"


def test_evaluate_on_speech_data(capsys: pytest.CaptureFixture[str], model: Path, tmp_path: Path) -> None:
    data = write_ravdess(tmp_path / "ravdess", actors=(21,), per_emotion=1, seconds=0.8)
    j, png = tmp_path / "ev.json", tmp_path / "cm.png"
    code, out, _ = run_main(
        capsys,
        "evaluate",
        "--model",
        str(model),
        "--data",
        str(data),
        "--threads",
        "1",
        "--json",
        str(j),
        "--confusion",
        str(png),
    )
    assert code == 0
    assert "accuracy" in out and "4-class (neutral+calm, happy, sad, angry; 5 utterances)" in out and "confusion" in out
    report = json.loads(j.read_text())
    assert report["utterances"] == 8 and report["split"] == "test" and list(report["per_speaker_accuracy"]) == ["21"]
    assert "accuracy 95% interval (Wilson, 8 utterances): " in out and len(report["accuracy_ci95"]) == 2
    assert sum(map(sum, report["confusion"])) == 8 and report["four_class"]["labels"] == [
        "neutral",
        "happy",
        "sad",
        "angry",
    ]
    assert png.is_file()
    code, _, err = run_main(capsys, "evaluate", "--model", str(model), "--data", str(data), "--split", "val")
    assert_one_line_error(code, err, "no RAVDESS speech of the val actors")
    code, _, err = run_main(capsys, "evaluate", "--model", str(model), "--data", str(data), "--tta", "hflip")
    assert_one_line_error(code, err, "for face models")
    code, out, _ = run_main(capsys, "evaluate", "--model", str(model), "--data", str(data), "--tta", "none")
    assert code == 0 and "tta=none" in out


def test_calibrate_a_speech_model_fits_its_temperature_and_stores_the_tta(
    capsys: pytest.CaptureFixture[str], model: Path, tmp_path: Path
) -> None:
    from emolens.audio.recognizer import VoiceRecognizer

    data = write_ravdess(tmp_path / "ravdess", actors=(19, 21), per_emotion=1, seconds=2.6)
    out, j = tmp_path / "cal.onnx", tmp_path / "cal.json"
    code, printed, _ = run_main(
        capsys, "calibrate", str(model), "--data", str(data), "--out", str(out), "--tta", "crops", "--json", str(j)
    )
    assert code == 0 and "tta=crops" in printed
    report = json.loads(j.read_text())
    cal, raw = VoiceRecognizer(out, threads=1), VoiceRecognizer(model, threads=1)
    assert cal.tta == "crops" and raw.tta == "none" and cal.meta.temperature == pytest.approx(report["temperature"])
    assert report["temperature"] != 1.0 and set(report["splits"]) == {"val", "test"}
    x = speech_like(1.5, seed=3)  # one pass: the temperature alone separates the two files, never the label
    p, q = cal.predict(x, 16000), raw.predict(x, 16000)
    assert p.argmax() == q.argmax() and not np.allclose(p, q, atol=1e-4)
    code, _, err = run_main(capsys, "calibrate", str(model), "--data", str(data), "--out", str(out), "--tta", "hflip")
    assert_one_line_error(code, err, "for face models")


def test_calibrate_with_report_split_val_reads_no_test_speaker(
    capsys: pytest.CaptureFixture[str], model: Path, tmp_path: Path
) -> None:
    data = write_ravdess(tmp_path / "ravdess", actors=(19,), per_emotion=1, seconds=2.6)  # no test speaker at all
    out, j = tmp_path / "cal.onnx", tmp_path / "cal.json"
    args = ("calibrate", str(model), "--data", str(data), "--out", str(out), "--json", str(j))
    code, _, err = run_main(capsys, *args)
    assert code != 0 and not out.exists() and not j.exists(), err  # the default reports on actors 21-24: none here
    code, printed, _ = run_main(capsys, *args, "--report-split", "val")
    assert code == 0 and out.exists() and "test " not in printed
    assert set(json.loads(j.read_text())["splits"]) == {"val"}


def test_four_class_merges_neutral_and_calm() -> None:
    from emolens.audio.evaluate import four_class

    labels = SPEECH_EMOTIONS
    probs = np.zeros((3, 8))
    probs[0, [0, 1]] = [0.3, 0.3]  # neutral + calm beat happy's 0.4
    probs[0, 2] = 0.4
    probs[1, 5] = 1.0  # a fearful utterance: left out
    probs[2, 4] = 1.0
    got = four_class(probs, np.array([1, 5, 4]), labels)
    assert got is not None
    assert got[0].tolist() == [0, 3] and got[1].tolist() == [0, 3]
    assert four_class(probs[:, :2], np.array([0, 1, 1]), ("calm", "angry")) is None


def test_calibrate_names_a_speaker_profile_partner_and_refuses_one_that_cannot_serve(
    capsys: pytest.CaptureFixture[str], model: Path, tmp_path: Path
) -> None:
    from emolens.audio.recognizer import VoiceRecognizer

    data = write_ravdess(tmp_path / "ravdess", actors=(19,), per_emotion=1, seconds=2.6)
    speech_model(tmp_path / "spk", feature_norm="speaker").rename(tmp_path / "voice-partner.onnx")
    out = tmp_path / "voice.onnx"
    args = ("calibrate", str(model), "--data", str(data), "--out", str(out), "--report-split", "val")
    code, _, err = run_main(capsys, *args, "--partner", "nobody")
    assert_one_line_error(code, err, "'nobody' cannot be used")
    assert not out.exists()
    code, printed, _ = run_main(capsys, *args, "--partner", "voice-partner")
    assert code == 0 and "partner voice-partner" in printed
    rec = VoiceRecognizer(out, threads=1)
    assert rec.meta.partner == "voice-partner" and rec.partner is not None and rec.uses_profile
    code, _, _ = run_main(
        capsys, "calibrate", str(out), "--data", str(data), "--out", str(out), "--report-split", "val"
    )
    assert code == 0 and VoiceRecognizer(out, threads=1).meta.partner == "voice-partner"  # kept by default
    code, _, _ = run_main(capsys, *args, "--partner", "")
    assert code == 0 and VoiceRecognizer(out, threads=1).partner is None


def test_evaluate_and_audio_take_no_partner(
    capsys: pytest.CaptureFixture[str], model: Path, recording: Path, tmp_path: Path
) -> None:
    import onnx

    from emolens.runtime.metadata import PREFIX, set_props

    speech_model(tmp_path / "spk", feature_norm="speaker").rename(tmp_path / "voice-partner.onnx")
    proto = onnx.load(str(model))
    set_props(proto, {p.key: p.value for p in proto.metadata_props} | {PREFIX + "partner": "voice-partner"})
    onnx.save(proto, str(tmp_path / "voice.onnx"))
    data = write_ravdess(tmp_path / "ravdess", actors=(21,), per_emotion=1, seconds=2.6)
    base = ("evaluate", "--model", str(tmp_path / "voice.onnx"), "--data", str(data), "--threads", "1")
    _, paired, _ = run_main(capsys, *base)
    _, alone, _ = run_main(capsys, *base, "--no-partner")
    _, silent, _ = run_main(capsys, *base, "--profile-utterances", "0")
    assert "speaker profile: speaker" in paired and "speaker profile: none;" in alone
    assert "speaker profile: none (the partner is silent)" in silent
    assert alone.splitlines()[1] == silent.splitlines()[1]  # the same figures: the file alone either way
    code, _, err = run_main(capsys, "audio", str(recording), "--model", str(tmp_path / "voice.onnx"), "--no-partner")
    assert code == 0


def test_plot_names_keep_each_file_apart() -> None:
    from emolens.audio.analyze import plot_names

    assert plot_names(["a/talk.wav", "b/talk.mp3", "Talk.flac", "c/talk-2.wav", "x/.wav"]) == [
        "talk.png",
        "talk-2.png",
        "Talk-3.png",
        "talk-2-2.png",
        ".wav.png",
    ]
