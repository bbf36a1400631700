"""The tracker and the counter on hand-made boxes and embeddings (no models): each rule the demo relies on."""

from __future__ import annotations

import numpy as np
import pytest

from ovdemo.common.errors import DemoError
from ovdemo.common.results import Detections
from ovdemo.common.tracking.counting import ZONE_GRACE_S, Counter, CountingLine, parse_points
from ovdemo.common.tracking.tracker import KalmanBox, State, Tracker, TrackerConfig


def unit(*values) -> np.ndarray:
    v = np.asarray(values, np.float32)
    return v / np.linalg.norm(v)


A, B = unit(1, 0, 0, 0), unit(0, 1, 0, 0)  # two people who look nothing alike


def box(cx, cy=200, w=60, h=160):
    return np.array([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], np.float32)


def step(tracker, boxes, embeddings=None):
    tracker.predict()
    boxes = np.asarray(boxes, np.float32).reshape(-1, 4)
    emb = None if embeddings is None else np.asarray(embeddings, np.float32).reshape(len(boxes), 4)
    tracker.update(boxes, np.ones(len(boxes), np.float32), np.zeros(len(boxes), np.int32), emb)
    return {t.id: t for t in tracker.tracks}


def sole(tracks: dict) -> object:
    (track,) = tracks.values()
    return track


def test_kalman_learns_a_constant_velocity_and_predicts_it():
    k = KalmanBox(box(100))
    for i in range(1, 15):
        k.predict()
        k.update(box(100 + 5 * i))
    for _ in range(3):
        k.predict()
    np.testing.assert_allclose(k.box, box(100 + 5 * 17), atol=1.5)
    assert k.mahalanobis(box(100 + 5 * 17)[None])[0] < 1.0 < k.mahalanobis(box(300)[None])[0]


def test_tentative_then_confirmed_then_lost_then_deleted():
    cfg = TrackerConfig(min_hits=3, max_coast=2, reid_window=5)
    tracker = Tracker(cfg)
    states = [sole(step(tracker, [box(100 + 4 * i)], [A])).state for i in range(3)]
    assert states == [State.TENTATIVE, State.TENTATIVE, State.CONFIRMED]
    for _ in range(cfg.max_coast):
        assert step(tracker, [], np.zeros((0, 4)))[1].state == State.CONFIRMED
    assert step(tracker, [], np.zeros((0, 4)))[1].state == State.LOST
    for _ in range(cfg.reid_window + 1):
        step(tracker, [], np.zeros((0, 4)))
    assert tracker.tracks == []


def test_a_tentative_track_missing_once_is_dropped():
    tracker = Tracker(TrackerConfig(min_hits=3))
    step(tracker, [box(100)], [A])
    assert step(tracker, [], np.zeros((0, 4))) == {}


def test_a_lost_person_is_reidentified_far_from_where_they_left():
    tracker = Tracker(TrackerConfig(min_hits=2, max_coast=1))
    for i in range(4):
        step(tracker, [box(100 + 5 * i), box(400)], [A, B])
    for _ in range(5):  # A leaves the frame; B stays
        step(tracker, [box(400)], [B])
    assert {t.id: t.state for t in tracker.tracks} == {1: State.LOST, 2: State.CONFIRMED}
    tracks = step(tracker, [box(400), box(600)], [B, A])  # A comes back on the other side
    assert tracks[1].state == State.CONFIRMED and tracks[1].box[0] == pytest.approx(box(600)[0], abs=1)
    assert set(tracks) == {1, 2}


def test_without_embeddings_a_returning_person_gets_a_new_id():
    tracker = Tracker(TrackerConfig(min_hits=2, max_coast=1))
    for i in range(4):
        step(tracker, [box(100 + 5 * i)])
    for _ in range(3):
        step(tracker, [])
    assert sole(step(tracker, [box(600)])).id < 0  # tentative: no id yet
    assert step(tracker, [box(605)]).keys() == {2}  # confirmed: a new id, the next number


def test_ids_are_given_on_confirmation_in_order_without_gaps():
    """Issue 26: detector noise (a tentative track that never confirms) uses up no id, so the first
    confirmed tracks are 1 and 2, in the order they were confirmed, and tentative ones have none."""
    tracker = Tracker(TrackerConfig(min_hits=3))
    step(tracker, [box(100), box(500, 50)], [A, B])  # a person, and noise seen once
    step(tracker, [box(104)], [A])
    step(tracker, [box(108), box(300)], [A, B])  # a second person appears
    tracks = step(tracker, [box(112), box(304)], [A, B])
    assert tracks[1].state == State.CONFIRMED
    assert [t.id < 0 for t in tracks.values() if t.state == State.TENTATIVE] == [True]  # no id yet
    assert step(tracker, [box(116), box(308)], [A, B]).keys() == {1, 2}
    assert tracker.next_id == 3


def test_crossing_people_keep_their_ids_by_appearance():
    # two people walk through each other; while they overlap the detector sees them at swapped-looking
    # places: appearance decides
    tracker = Tracker(TrackerConfig(min_hits=2))
    for i in range(10):
        left, right = 100 + 20 * i, 400 - 20 * i
        tracks = step(tracker, [box(left), box(right)], [A, B])
    assert tracks[1].box[0] > tracks[2].box[0]  # 1 started left and is now on the right
    assert len(tracker.tracks) == 2


def test_line_direction_follows_the_cross_product_and_the_segment_ends():
    line = CountingLine(0, np.array([100.0, 300.0]), np.array([500.0, 300.0]))  # drawn left to right
    assert line.crossing(np.array([200, 350]), np.array([210, 250])) == "in"  # moving up
    assert line.crossing(np.array([200, 250]), np.array([210, 350])) == "out"
    assert line.crossing(np.array([600, 350]), np.array([600, 250])) is None  # beyond its end
    assert line.crossing(np.array([200, 350]), np.array([200, 300])) is None  # reaching it is not crossing


def tracked(*rows) -> Detections:
    """A tracker's output: (track id, box, track_state) rows of class 0, "person"."""
    return Detections(np.array([r[1] for r in rows], np.float32).reshape(-1, 4), np.ones(len(rows)),
                      np.zeros(len(rows)), tracker_id=[r[0] for r in rows],
                      data={"track_state": [r[2] for r in rows]}, names=("person",))


def test_crossings_of_a_tentative_track_count_once_it_is_confirmed():
    counter = Counter([np.array([[0.0, 300.0], [800.0, 300.0]])], [], anchor="bottom")
    assert counter.update(tracked((7, [100, 250, 150, 350], "tentative")), 0.0) == []
    # its feet crossed the line upwards, but it is not yet a confirmed track
    assert counter.update(tracked((7, [100, 180, 150, 280], "tentative")), 0.1) == []
    events = counter.update(tracked((7, [100, 180, 150, 280], "confirmed")), 0.2)
    assert events == [{"type": "line_cross", "line": 0, "id": 7, "direction": "in", "label": "person"}]
    assert counter.summary()["lines"] == [{"line": 0, "in": {"person": 1}, "out": {}}]
    # a tentative track that crossed and then vanished is never counted
    t = (7, [100, 180, 150, 280], "confirmed")
    counter.update(tracked(t, (8, [300, 250, 350, 350], "tentative")), 0.3)
    counter.update(tracked(t, (8, [300, 180, 350, 280], "tentative")), 0.4)
    assert counter.update(tracked(t), 0.5) == []
    assert counter.summary()["lines"][0]["in"] == {"person": 1}


def test_a_predicted_box_crosses_nothing():
    counter = Counter([np.array([[0.0, 300.0], [800.0, 300.0]])], [], anchor="bottom")
    counter.update(tracked((1, [100, 250, 150, 350], "confirmed")), 0.0)
    assert counter.update(tracked((1, [100, 180, 150, 280], "predicted")), 0.1) == []
    assert counter.summary()["lines"][0] == {"line": 0, "in": {}, "out": {}}


def test_zone_dwell_runs_on_frame_timestamps_and_ends_when_last_seen_inside():
    zone = np.array([[0, 0], [200, 0], [200, 400], [0, 400]], np.float64)
    counter = Counter([], [zone], anchor="bottom")
    assert counter.update(tracked((3, [300, 100, 350, 300], "confirmed")), 1.0) == []
    assert counter.update(tracked((3, [100, 100, 150, 300], "confirmed")), 1.5) == [
        {"type": "zone_enter", "zone": 0, "id": 3}]
    counter.update(tracked((3, [100, 100, 150, 300], "confirmed")), 2.0)
    counter.update(tracked((3, [100, 100, 150, 300], "predicted")), 2.5)  # unseen for a frame: still inside
    zone_counts = counter.summary()["zones"][0]
    assert zone_counts == {"zone": 0, "occupancy": 1, "entries": 1, "exits": 0, "dwell_s": {"3": 0.5}}
    assert zone_counts["occupancy"] == zone_counts["entries"] - zone_counts["exits"]
    # gone from the tracker's output: it leaves once unseen for the grace, its dwell ending when last seen
    assert counter.update(tracked(), 2.0 + ZONE_GRACE_S) == []
    assert counter.update(tracked(), 2.1 + ZONE_GRACE_S) == [
        {"type": "zone_exit", "zone": 0, "id": 3, "dwell_s": 0.5}]
    assert counter.summary()["zones"][0]["occupancy"] == 0


def test_a_member_seen_outside_leaves_at_once():
    zone = np.array([[0, 0], [200, 0], [200, 400], [0, 400]], np.float64)
    counter = Counter([], [zone], anchor="bottom")
    counter.update(tracked((3, [100, 100, 150, 300], "confirmed")), 0.0)
    assert counter.update(tracked((3, [300, 100, 350, 300], "confirmed")), 0.4) == [
        {"type": "zone_exit", "zone": 0, "id": 3, "dwell_s": 0.0}]


@pytest.mark.parametrize("text, message", [("1,2,3", "has 3 numbers"), ("1,2,x,4", "not a list of numbers"),
                                           ("-1,2,3,4", "negative"), ("5,5,5,5", "zero length")])
def test_parse_points_errors_name_the_flag(text, message):
    with pytest.raises(DemoError, match=message):
        parse_points(text, "--line", 2, 2)
    assert parse_points("1,2,3,4", "--line", 2, 2).tolist() == [[1, 2], [3, 4]]


def test_a_crossing_made_while_tentative_counts_under_the_id_given_on_confirmation():
    """The pipeline's Tracking: a person crosses a line on their first frames (tentative: no id, nothing
    counted yet), is confirmed and numbered 1 on the third, and the crossing then counts with id 1."""
    from ovdemo.common.tracking.tracker import Tracking
    from ovdemo.demos import FAMILIES

    opts = FAMILIES["detect"].build_options({"model": "m", "track": True, "line": ("0,200,640,200",)})
    tracking = Tracking(opts, fps=10.0)
    seen = []
    for index, cy in enumerate((125, 117, 109, 101)):  # the bottom centre (cy + 80) passes y = 200 on frame 1
        found = Detections(box(300, cy)[None], [0.9], [0], names=("person",))
        tracked, events, counts = tracking.update(found, index, index / 10, inferred=True)
        seen.append((tracked.tracker_id.tolist(), tracked.data["track_state"], events, counts["lines"][0]["in"]))
    assert [s[0] for s in seen] == [[-1], [-1], [1], [1]]
    assert [s[1] for s in seen] == [["tentative"], ["tentative"], ["confirmed"], ["confirmed"]]
    assert seen[1][2] == [] and seen[1][3] == {}  # crossed while tentative: waiting for confirmation
    assert seen[2][2] == [{"type": "line_cross", "line": 0, "id": 1, "direction": "in", "label": "person"}]
    assert seen[2][3] == seen[3][3] == {"person": 1}
