"""`emolens video --audio`: the face and the voice fused per moment on a real clip with sound; a clip
without sound says so once and goes on with the face."""

from __future__ import annotations

import csv
import json
import logging
from pathlib import Path

import pytest

from conftest import MEDIA, need
from emolens.audio.labels import NOT_EMOTIONS, SPEECH_EMOTIONS
from emolens.cli import main
from emolens.fusion import FACE_SKILL, VOICE_SKILL
from emolens.labels import EMOTIONS


def test_video_with_sound_gets_voice_and_fused_columns(tmp_path: Path) -> None:
    clip = need(MEDIA / "facerec_short_hamilton_clip.mp4")  # 10 s, faces and people talking
    out = {k: tmp_path / f"o.{k}" for k in ("csv", "json", "png")}
    assert main(["video", str(clip), "--audio", "--max-frames", "120", "--csv", str(out["csv"]),
                 "--json", str(out["json"]), "--timeline", str(out["png"]), "--no-progress"]) == 0  # fmt: skip
    with out["csv"].open() as f:
        rows = list(csv.DictReader(f))
    assert rows and set(rows[0]) >= {"voice_label", "voice_speech", "fused_label", *(f"fused_{e}" for e in EMOTIONS)}
    heard = [r for r in rows if r["voice_label"]]
    assert heard, "every frame lies within the sound"
    for r in heard:
        assert r["voice_label"] in (*SPEECH_EMOTIONS, *NOT_EMOTIONS)
        fused = {e: float(r[f"fused_{e}"]) for e in EMOTIONS}
        assert sum(fused.values()) == pytest.approx(1.0, abs=1e-3) and r["fused_label"] == max(
            fused, key=fused.__getitem__
        )
        face = {e: float(r[e]) for e in EMOTIONS}
        if r["voice_label"] in NOT_EMOTIONS:  # silence or music: the face alone
            assert fused == pytest.approx(face, abs=2e-5)
    assert any(r["voice_label"] in SPEECH_EMOTIONS and r["fused_label"] for r in heard)
    summary = json.loads(out["json"].read_text())
    voice = summary["voice"]
    assert voice["available"] and voice["windows"] >= 10 and voice["speech_windows"] >= 1
    assert (voice["face_skill"], voice["voice_skill"]) == (FACE_SKILL, VOICE_SKILL)
    assert sum(voice["share"].values()) == pytest.approx(1.0, abs=1e-3)
    assert all("fused_dominant" in t and "fused_share" in t for t in summary["tracks"])
    assert out["png"].stat().st_size > 10_000


def test_video_without_sound_says_so_once(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    clip = need(MEDIA / "fer_test.mp4")
    with caplog.at_level(logging.WARNING):
        assert (
            main(
                [
                    "video",
                    str(clip),
                    "--audio",
                    "--json",
                    str(tmp_path / "s.json"),
                    "--csv",
                    str(tmp_path / "f.csv"),
                    "--no-progress",
                ]
            )
            == 0
        )
    assert caplog.text.count("no audio track") == 1
    summary = json.loads((tmp_path / "s.json").read_text())
    assert summary["voice"]["available"] is False and "no audio track" in summary["voice"]["reason"]
    header = (tmp_path / "f.csv").read_text().splitlines()[0]
    assert "fused_label" not in header and summary["tracks"]
