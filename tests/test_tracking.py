"""The IoU tracker: matching, duplicate boxes, tentative and confirmed tracks, and one person = one track on real clips."""

from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from emolens.errors import EmolensError
from emolens.types import Box, TrackerOptions
from emolens.video.tracking import (
    NO_TRACK,
    IoUTracker,
    TrackerState,
    greedy_match,
    iou_matrix,
    move_tracks,
    overlap_matrix,
    suppress_duplicates,
    update_tracks,
)

AT_ONCE = TrackerOptions(min_hits=1)  # every new box is confirmed at once: the matching alone


def shifted(box: Box, dx: int, dy: int) -> Box:
    return box[0] + dx, box[1] + dy, box[2], box[3]


def test_iou_matrix_values() -> None:
    a = [(0, 0, 10, 10), (100, 100, 10, 10)]
    b = [(0, 0, 10, 10), (5, 0, 10, 10), (50, 50, 5, 5)]
    m = iou_matrix(a, b)
    assert m.shape == (2, 3)
    np.testing.assert_allclose(m[0], [1.0, 50 / 150, 0.0])
    np.testing.assert_allclose(m[1], [0.0, 0.0, 0.0])
    assert iou_matrix([], b).shape == (0, 3) and iou_matrix(a, []).shape == (2, 0)
    assert iou_matrix([(0, 0, 0, 0)], [(0, 0, 0, 0)])[0, 0] == 0.0  # empty boxes overlap nothing


def test_overlap_matrix_is_intersection_over_the_smaller_box() -> None:
    big, inner, half, apart = (0, 0, 100, 100), (20, 20, 30, 30), (50, 0, 100, 100), (200, 0, 50, 50)
    m = overlap_matrix([big], [inner, half, apart, big])
    np.testing.assert_allclose(m[0], [1.0, 0.5, 0.0, 1.0])  # wholly inside: 1, whatever the sizes
    assert iou_matrix([big], [inner])[0, 0] == pytest.approx(0.09)  # where IoU sees little overlap
    np.testing.assert_allclose(overlap_matrix([inner], [big]), [[1.0]])  # symmetric
    assert overlap_matrix([(0, 0, 0, 0)], [big])[0, 0] == 0.0
    assert overlap_matrix([], [big]).shape == (0, 1)


def test_greedy_match_takes_the_best_overlap_first() -> None:
    iou = np.array([[0.9, 0.8], [0.85, 0.1]])
    # row 0 takes column 0 (0.9); row 1 cannot take column 1 (0.1 < threshold) and column 0 is used
    assert greedy_match(iou, 0.3) == [(0, 0)]
    assert sorted(greedy_match(iou, 0.05)) == [(0, 0), (1, 1)]
    assert greedy_match(np.zeros((0, 2)), 0.3) == []


def test_suppress_duplicates_keeps_one_box_per_face() -> None:
    face = (100, 100, 120, 120)
    chin = (130, 150, 120, 120)  # the same face found again lower right: 44% of a box over the other
    eye = (120, 120, 40, 40)  # a small box inside the face
    neighbour = (210, 100, 120, 120)  # the next face, cheek to cheek: 8% of a box over the first
    assert overlap_matrix([face], [chin])[0, 0] == pytest.approx(90 * 70 / 120**2)
    assert suppress_duplicates([face, chin, eye, neighbour], 0.4) == [0, 3]
    assert suppress_duplicates([eye, face], 0.4) == [1]  # the largest wins by default
    assert suppress_duplicates([face, chin], 0.4, prefer=[shifted(chin, 2, 1)]) == [1]  # the one continuing a track
    assert suppress_duplicates([face, chin], 0.5) == [0, 1]  # less overlap than asked: two faces
    assert suppress_duplicates([face], 0.4) == [0] and suppress_duplicates([], 0.4) == []


def test_a_moving_box_keeps_its_id() -> None:
    tr = IoUTracker(AT_ONCE)
    ids = [tr.update([(100 + 3 * i, 50 + i, 80, 80)])[0] for i in range(30)]
    assert ids == [1] * 30
    assert tr.state.tracks[0].hits == 30


def test_new_faces_get_new_ids_and_ids_follow_the_boxes_not_the_order() -> None:
    tr = IoUTracker(AT_ONCE)
    assert tr.update([(0, 0, 50, 50), (200, 0, 50, 50)]) == [1, 2]
    # same faces, listed in the other order, slightly moved; plus a third face
    assert tr.update([(202, 1, 50, 50), (400, 0, 50, 50), (1, 2, 50, 50)]) == [2, 3, 1]


def test_a_new_track_is_shown_only_after_min_hits_detections() -> None:
    tr = IoUTracker(TrackerOptions(min_hits=3))
    face = (100, 80, 90, 90)
    assert tr.update([face]) == [-1]  # tentative: a negative id, not shown
    assert tr.visible() == () and tr.has_tentative()
    tr.move({-1: shifted(face, 2, 0)})  # followed: no hit, still tentative
    tr.move({-1: shifted(face, 4, 0)})
    assert tr.visible() == () and tr.state.tracks[0].hits == 1
    assert tr.update([shifted(face, 5, 1)]) == [-1]
    assert tr.visible() == ()
    assert tr.update([shifted(face, 6, 1)]) == [1]  # third detection: confirmed, public id 1
    assert [t.track_id for t in tr.visible()] == [1] and not tr.has_tentative()
    assert tr.state.visible() == tr.visible()


def test_a_tentative_track_dies_at_its_first_miss_and_confirmed_ids_stay_consecutive() -> None:
    tr = IoUTracker(TrackerOptions(min_hits=2))
    blip, face = (300, 300, 40, 40), (10, 10, 60, 60)
    assert tr.update([blip]) == [-1]
    assert tr.update([]) == [] and tr.state.tracks == ()  # not seen again: gone, never shown
    assert tr.update([face]) == [-2]
    state_before_follow = tr.state
    tr.move({-2: None})  # lost by the follower: gone too
    assert tr.state.tracks == ()
    tr.state = state_before_follow
    assert tr.update([shifted(face, 1, 1)]) == [1]  # the first confirmed track is track 1
    assert tr.update([shifted(face, 2, 2), blip]) == [1, -3]
    assert tr.update([shifted(face, 3, 3), shifted(blip, 1, 0)]) == [1, 2]


def test_a_duplicate_box_on_a_tracked_face_starts_no_track() -> None:
    """A second box on the same face for ten frames, as a detector gives now and then, is no second person."""
    tr = IoUTracker()  # the defaults
    face = (216, 80, 134, 134)
    for k in range(3):
        tr.update([shifted(face, k, 0)])
    assert [t.track_id for t in tr.visible()] == [1]
    dup = (244, 134, 132, 132)  # lower right, over the mouth and chin, listed first
    assert tr.update([dup, shifted(face, 3, 0)]) == [NO_TRACK, 1]
    for k in range(9):  # followed in between, then detected again, duplicate included
        tr.move({1: shifted(face, 3 + k, 0)})
        assert [t.track_id for t in tr.visible()] == [1]
    for _ in range(5):
        assert tr.update([shifted(face, 12, 0), shifted(dup, 12, 0)]) == [1, NO_TRACK]
    assert [t.track_id for t in tr.state.tracks] == [1]


def test_a_followed_box_drifting_onto_a_confirmed_face_is_dropped() -> None:
    tr = IoUTracker(TrackerOptions(min_hits=2))
    face, other = (100, 100, 80, 80), (200, 100, 80, 80)
    tr.update([face])
    tr.update([face, other])
    assert [t.track_id for t in tr.visible()] == [1] and tr.has_tentative()
    tr.move({1: face, -2: shifted(face, 10, 5)})  # the follower of the new track slid onto face 1
    assert [t.track_id for t in tr.state.tracks] == [1]
    assert [t.track_id for t in tr.visible()] == [1]


def test_two_confirmed_tracks_on_one_face_leave_one_visible() -> None:
    tr = IoUTracker(AT_ONCE)
    a, b = (100, 100, 80, 80), (300, 100, 80, 80)
    for _ in range(3):
        tr.update([a])
    tr.update([a, b])  # track 2: one detector hit against track 1's four
    tr.move({1: a, 2: shifted(a, 4, 2)})
    assert [t.track_id for t in tr.visible()] == [1]
    assert {t.track_id: t.missed for t in tr.state.tracks} == {1: 0, 2: 1}  # a miss, not deleted
    assert tr.update([a, b]) == [1, 2]  # both seen again by the detector: both back


def test_a_confirmed_track_takes_a_box_lying_over_its_last_one() -> None:
    tr = IoUTracker(TrackerOptions(min_hits=1, iou_threshold=0.5))
    box = (100, 100, 100, 100)
    tr.update([box])
    tall = (115, 50, 70, 180)  # the detector boxed the head taller and narrower
    assert iou_matrix([box], [tall])[0, 0] < 0.5 <= overlap_matrix([box], [tall])[0, 0]
    assert tr.update([tall]) == [1]  # IoU too low, but 70% of it over track 1's last box: the same face
    assert tr.update([(400, 100, 100, 100)]) == [2]  # a box elsewhere is another face


def test_a_lost_track_survives_max_missed_frames_then_its_id_is_retired() -> None:
    opts = TrackerOptions(max_missed=2, min_hits=1)
    tr = IoUTracker(opts)
    box = (10, 10, 60, 60)
    assert tr.update([box]) == [1]
    assert tr.update([]) == [] and tr.update([]) == []
    assert [t.missed for t in tr.state.tracks] == [2]
    assert tr.visible() == ()
    assert tr.update([box]) == [1]  # back within max_missed: same id
    for _ in range(3):
        tr.update([])
    assert tr.state.tracks == ()
    assert tr.update([box]) == [2]  # ids are never reused


def test_update_is_pure() -> None:
    s0 = TrackerState()
    s1, ids1 = update_tracks(s0, [(0, 0, 40, 40)])
    s2, ids2 = update_tracks(s1, [(2, 2, 40, 40), (300, 300, 40, 40)])
    assert s0 == TrackerState() and len(s1.tracks) == 1  # inputs untouched
    again, ids_again = update_tracks(s1, [(2, 2, 40, 40), (300, 300, 40, 40)])
    assert (again, ids_again) == (s2, ids2) == (s2, [-1, -2])
    assert ids1 == [-1]
    moved = move_tracks(s2, {-1: (3, 3, 40, 40)})
    assert s2 == again and moved != s2  # move_tracks leaves its input alone too


def test_low_overlap_starts_a_new_track() -> None:
    tr = IoUTracker(TrackerOptions(iou_threshold=0.5, min_hits=1))
    tr.update([(0, 0, 100, 100)])
    assert tr.update([(70, 0, 100, 100)]) == [2]  # IoU 0.18 < 0.5, and only 30% over the old box


def test_reset_forgets_the_tracks_but_never_reuses_ids() -> None:
    tr = IoUTracker(TrackerOptions(min_hits=2))
    tr.update([(0, 0, 50, 50)])
    tr.update([(0, 0, 50, 50), (100, 0, 50, 50)])
    tr.reset()
    assert tr.state.tracks == () and not tr.has_tentative()
    assert tr.update([(0, 0, 50, 50)]) == [-3]
    assert tr.update([(0, 0, 50, 50)]) == [2]


def test_options_are_checked() -> None:
    with pytest.raises(EmolensError, match="iou_threshold"):
        TrackerOptions(iou_threshold=0.0)
    with pytest.raises(EmolensError, match="max_missed"):
        TrackerOptions(max_missed=-1)
    with pytest.raises(EmolensError, match="min_hits"):
        TrackerOptions(min_hits=0)
    with pytest.raises(EmolensError, match="duplicate_overlap"):
        TrackerOptions(duplicate_overlap=0.0)


def test_move_tracks_moves_named_tracks_and_counts_misses() -> None:
    state, ids = update_tracks(TrackerState(), [(0, 0, 10, 10), (50, 50, 10, 10), (90, 90, 10, 10)], AT_ONCE)
    state = move_tracks(state, {ids[0]: (2, 1, 10, 10), ids[1]: None}, TrackerOptions(max_missed=1))
    by_id = {t.track_id: t for t in state.tracks}
    assert by_id[ids[0]].box == (2, 1, 10, 10) and by_id[ids[0]].missed == 0
    assert by_id[ids[0]].hits == 1  # following is no detector hit
    assert by_id[ids[1]].missed == 1 and by_id[ids[1]].box == (50, 50, 10, 10)
    assert by_id[ids[2]].missed == 0 and by_id[ids[2]].hits == 1  # not named: untouched
    assert state.next_id == 4  # no track is created
    state = move_tracks(state, {ids[1]: None}, TrackerOptions(max_missed=1))
    assert ids[1] not in {t.track_id for t in state.tracks}  # retired after max_missed misses


@pytest.mark.parametrize(
    "clip",
    ["pyfeat_single_face.mp4", "fer_test.mp4", pytest.param("fer_woman2.mp4", marks=pytest.mark.slow)],
)
def test_one_person_is_one_confirmed_track_with_the_defaults(media: Path, clip: str) -> None:
    from emolens.runtime.recognizer import Recognizer
    from emolens.video.pipeline import stream

    ids: Counter[int] = Counter()
    first: float | None = None
    frames = 0
    with stream(media / clip, Recognizer(threads=1)) as vs:
        for r in vs:
            frames += 1
            ids.update(f.track_id for f in r.faces if f.track_id is not None)
            if r.faces and first is None:
                first = r.time
    assert len(ids) == 1, ids  # exactly one person, whatever boxes the detector gave now and then
    assert first is not None and first < 1.0  # shown within a second
    assert next(iter(ids.values())) >= 0.5 * frames, (ids, frames)  # and not lost for long
