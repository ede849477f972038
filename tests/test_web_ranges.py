"""Range requests (seeking in the player) and the valence timeline of a job's frames.csv, as plain functions."""

import csv
import io

import pytest

pytest.importorskip("fastapi", reason="the web extra is not installed (pip install 'emolens[web]')")

from emolens.labels import EMOTIONS  # noqa: E402
from emolens.web.ranges import Unsatisfiable, parse_range  # noqa: E402
from emolens.web.timeline import read_timeline, valence_score  # noqa: E402


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (None, None),
        ("", None),
        ("bytes=0-", (0, 999)),
        ("bytes=0-0", (0, 0)),
        ("bytes=100-199", (100, 199)),
        ("bytes=900-5000", (900, 999)),  # the end is cut to the file
        ("bytes=-10", (990, 999)),  # the last 10 bytes
        ("bytes=-5000", (0, 999)),
        ("BYTES = 5 - 6", (5, 6)),
        ("bytes=5-4", None),  # invalid: ignored, the whole file
        ("bytes=0-1,5-6", None),  # several ranges: the whole file
        ("items=0-5", None),
        ("bytes=-", None),
        ("bytes=abc", None),
    ],
)
def test_parse_range(header: str | None, expected: tuple[int, int] | None) -> None:
    assert parse_range(header, 1000) == expected


@pytest.mark.parametrize("header", ["bytes=1000-", "bytes=5000-6000", "bytes=-0"])
def test_ranges_past_the_end_are_unsatisfiable(header: str) -> None:
    with pytest.raises(Unsatisfiable):
        parse_range(header, 1000)
    with pytest.raises(Unsatisfiable):
        parse_range("bytes=-5", 0)  # nothing to give from an empty file


def frames_csv(rows: list[tuple[int, float, str, dict[str, float]]]) -> list[str]:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["frame", "time", "track_id", "x", "y", "w", "h", *EMOTIONS, "label", "valence"])
    for frame, time, track, scores in rows:
        label = max(scores, key=lambda k: scores[k])
        writer.writerow([frame, f"{time:.4f}", track, 1, 2, 3, 4, *(scores.get(e, 0.0) for e in EMOTIONS), label, "x"])
    return out.getvalue().splitlines(keepends=True)


def test_valence_score_is_positive_minus_negative() -> None:
    assert valence_score({"happy": 0.7, "sad": 0.2, "neutral": 0.1}) == pytest.approx(0.5)
    assert valence_score({"angry": 0.3, "disgust": 0.1, "fear": 0.1, "sad": 0.3, "happy": 0.2}) == pytest.approx(-0.6)
    assert valence_score({"surprise": 0.6, "neutral": 0.4}) == 0.0  # surprise carries no sign
    assert valence_score({"contempt": 1.0}) == -1.0  # FER+'s eighth emotion is negative


def test_read_timeline_groups_rows_by_track_in_time_order() -> None:
    happy = {"happy": 0.9, "neutral": 0.1}
    sad = {"sad": 0.8, "happy": 0.2}
    rows = [
        (0, 0.0, "2", happy),
        (0, 0.0, "1", sad),
        (1, 0.04, "1", happy),
        (1, 0.04, "", happy),  # no track: left out
        (2, 0.08, "2", sad),
    ]
    timeline = read_timeline(frames_csv(rows))
    assert timeline["last_s"] == pytest.approx(0.08)
    one, two = timeline["tracks"]
    assert one["track_id"] == 1 and one["times"] == [0.0, 0.04] and one["labels"] == ["sad", "happy"]
    assert one["valence"] == pytest.approx([-0.6, 0.9])
    assert two["track_id"] == 2 and two["times"] == [0.0, 0.08] and two["valence"] == pytest.approx([0.9, -0.6])


def test_read_timeline_thins_long_tracks_and_survives_bad_rows() -> None:
    rows = [(i, i / 30, "1", {"happy": (i % 10) / 10, "neutral": 1 - (i % 10) / 10}) for i in range(1000)]
    lines = frames_csv(rows)
    lines.insert(5, "7,not-a-time,1,0,0,0,0\n")
    timeline = read_timeline(lines, max_points=100)
    (track,) = timeline["tracks"]
    assert 50 <= len(track["times"]) <= 100
    assert track["times"] == sorted(track["times"]) and track["times"][0] == 0.0
    assert read_timeline(frames_csv([])) == {"last_s": None, "tracks": []}
