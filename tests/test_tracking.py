import numpy as np
import pytest

from emolens.errors import EmolensError
from emolens.video.tracking import (
    IoUTracker,
    TrackerOptions,
    TrackerState,
    greedy_match,
    iou_matrix,
    update_tracks,
)


def test_iou_matrix_values() -> None:
    a = [(0, 0, 10, 10), (100, 100, 10, 10)]
    b = [(0, 0, 10, 10), (5, 0, 10, 10), (50, 50, 5, 5)]
    m = iou_matrix(a, b)
    assert m.shape == (2, 3)
    np.testing.assert_allclose(m[0], [1.0, 50 / 150, 0.0])
    np.testing.assert_allclose(m[1], [0.0, 0.0, 0.0])
    assert iou_matrix([], b).shape == (0, 3) and iou_matrix(a, []).shape == (2, 0)
    assert iou_matrix([(0, 0, 0, 0)], [(0, 0, 0, 0)])[0, 0] == 0.0  # empty boxes overlap nothing


def test_greedy_match_takes_the_best_overlap_first() -> None:
    iou = np.array([[0.9, 0.8], [0.85, 0.1]])
    # row 0 takes column 0 (0.9); row 1 cannot take column 1 (0.1 < threshold) and column 0 is used
    assert greedy_match(iou, 0.3) == [(0, 0)]
    assert sorted(greedy_match(iou, 0.05)) == [(0, 0), (1, 1)]
    assert greedy_match(np.zeros((0, 2)), 0.3) == []


def test_a_moving_box_keeps_its_id() -> None:
    tr = IoUTracker()
    ids = [tr.update([(100 + 3 * i, 50 + i, 80, 80)])[0] for i in range(30)]
    assert ids == [1] * 30
    assert tr.state.tracks[0].hits == 30


def test_new_faces_get_new_ids_and_ids_follow_the_boxes_not_the_order() -> None:
    tr = IoUTracker()
    assert tr.update([(0, 0, 50, 50), (200, 0, 50, 50)]) == [1, 2]
    # same faces, listed in the other order, slightly moved; plus a third face
    assert tr.update([(202, 1, 50, 50), (400, 0, 50, 50), (1, 2, 50, 50)]) == [2, 3, 1]


def test_a_lost_track_survives_max_missed_frames_then_its_id_is_retired() -> None:
    opts = TrackerOptions(max_missed=2)
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
    assert (again, ids_again) == (s2, ids2) == (s2, [1, 2])
    assert ids1 == [1]


def test_low_overlap_starts_a_new_track() -> None:
    tr = IoUTracker(TrackerOptions(iou_threshold=0.5))
    tr.update([(0, 0, 100, 100)])
    assert tr.update([(60, 0, 100, 100)]) == [2]  # IoU 0.25 < 0.5


def test_options_are_checked() -> None:
    with pytest.raises(EmolensError, match="iou_threshold"):
        TrackerOptions(iou_threshold=0.0)
    with pytest.raises(EmolensError, match="max_missed"):
        TrackerOptions(max_missed=-1)


def test_move_tracks_moves_named_tracks_and_counts_misses() -> None:
    from emolens.video.tracking import move_tracks

    state, ids = update_tracks(TrackerState(), [(0, 0, 10, 10), (50, 50, 10, 10), (90, 90, 10, 10)])
    state = move_tracks(state, {ids[0]: (2, 1, 10, 10), ids[1]: None}, TrackerOptions(max_missed=1))
    by_id = {t.track_id: t for t in state.tracks}
    assert by_id[ids[0]].box == (2, 1, 10, 10) and by_id[ids[0]].missed == 0 and by_id[ids[0]].hits == 2
    assert by_id[ids[1]].missed == 1 and by_id[ids[1]].box == (50, 50, 10, 10)
    assert by_id[ids[2]].missed == 0 and by_id[ids[2]].hits == 1  # not named: untouched
    assert state.next_id == 4  # no track is created
    state = move_tracks(state, {ids[1]: None}, TrackerOptions(max_missed=1))
    assert ids[1] not in {t.track_id for t in state.tracks}  # retired after max_missed misses
