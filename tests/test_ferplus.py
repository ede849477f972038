from pathlib import Path

import numpy as np
import pytest

from emolens.data.fer2013 import load_split
from emolens.data.ferplus import load_votes, soft_targets
from emolens.errors import DataError
from emolens.labels import EMOTIONS


def test_soft_targets_blend_votes_with_labels(tmp_path: Path) -> None:
    p = tmp_path / "ferplus.csv"
    p.write_text(
        "path,neutral,happiness,surprise,sadness,anger,disgust,fear,contempt,unknown,NF\n"
        "test/happy/a.jpg,2,8,0,0,0,0,0,0,0,0\n"
        "test/sad/b.jpg,0,0,0,0,0,0,0,0,5,5\n"
    )
    votes = load_votes(p)
    labels = np.array([EMOTIONS.index("happy"), EMOTIONS.index("sad"), 0])
    t = soft_targets(("test/happy/a.jpg", "test/sad/b.jpg", "test/angry/c.jpg"), labels, votes, weight=1.0)
    assert t[0, EMOTIONS.index("happy")] == pytest.approx(0.8)
    assert t[0, EMOTIONS.index("neutral")] == pytest.approx(0.2)
    assert t[1].tolist() == np.eye(7)[EMOTIONS.index("sad")].tolist()  # only unknown/NF votes: keep the label
    assert t[2].tolist() == np.eye(7)[0].tolist()  # no row: keep the label
    half = soft_targets(("test/happy/a.jpg",), labels[:1], votes, weight=0.5)
    assert half[0, EMOTIONS.index("happy")] == pytest.approx(0.9)
    np.testing.assert_allclose(t.sum(axis=1), 1.0, rtol=1e-6)


def test_missing_or_wrong_votes_file(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="not found"):
        load_votes(tmp_path / "none.csv")
    (tmp_path / "x.csv").write_text("a,b\n1,2\n")
    with pytest.raises(DataError, match="missing column"):
        load_votes(tmp_path / "x.csv")


def test_shared_votes_cover_most_faces(fer_root: Path) -> None:
    votes = load_votes(fer_root / "ferplus.csv")
    assert len(votes) == 35709
    test = load_split(fer_root, "test")
    covered = sum(p in votes for p in test.paths)
    assert covered > 0.99 * len(test)


def test_ferplus_relabel_keeps_clear_majorities(tmp_path: Path) -> None:
    from emolens.data.fer2013 import FaceSet
    from emolens.data.ferplus import FERPLUS_LABELS, ferplus_relabel

    p = tmp_path / "ferplus.csv"
    p.write_text(
        "path,neutral,happiness,surprise,sadness,anger,disgust,fear,contempt,unknown,NF\n"
        "a.jpg,2,8,0,0,0,0,0,0,0,0\n"  # happy
        "b.jpg,0,0,0,0,0,0,0,6,4,0\n"  # contempt
        "c.jpg,5,5,0,0,0,0,0,0,0,0\n"  # a tie: dropped
        "d.jpg,1,0,0,0,0,0,0,0,2,7\n"  # mostly not a face: dropped
        "e.jpg,3,0,0,0,0,0,0,0,3,0\n"  # as many unknown as neutral: dropped
    )
    faces = FaceSet(
        np.zeros((6, 48, 48), np.uint8), np.zeros(6, np.int64), ("a.jpg", "b.jpg", "c.jpg", "d.jpg", "e.jpg", "f.jpg")
    )
    kept, dist = ferplus_relabel(faces, p)
    assert kept.paths == ("a.jpg", "b.jpg") and kept.classes == FERPLUS_LABELS
    assert [kept.classes[i] for i in kept.labels] == ["happy", "contempt"]
    assert dist[0, FERPLUS_LABELS.index("happy")] == pytest.approx(0.8)
    np.testing.assert_allclose(dist.sum(axis=1), 1.0, rtol=1e-6)
    seven, _ = ferplus_relabel(faces, p, EMOTIONS)  # over FER-2013's seven: b has no vote left
    assert seven.paths == ("a.jpg",) and seven.classes == EMOTIONS
    with pytest.raises(DataError, match="no votes for bored"):
        ferplus_relabel(faces, p, ("happy", "bored"))


def test_ferplus_test_split_and_a_model_evaluated_on_it(fer_root: Path) -> None:
    from emolens.data.ferplus import FERPLUS_LABELS, ferplus_relabel
    from emolens.eval.report import evaluate

    test = load_split(fer_root, "test")
    kept, _ = ferplus_relabel(test, fer_root / "ferplus.csv")
    assert kept.classes == FERPLUS_LABELS and 3300 < len(kept) < len(test)
    ev = evaluate("emolens-vgg-fer2013-int8", fer_root, "test", ferplus=fer_root / "ferplus.csv")
    assert ev.faces == len(ferplus_relabel(test, fer_root / "ferplus.csv", EMOTIONS)[0])
    assert ev.metrics.accuracy > 0.6  # FER-2013's labels and FER+'s majorities mostly agree
