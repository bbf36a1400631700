"""The one multi-object tracker: Kalman motion + appearance embeddings, optimal assignment.

`Tracking` wraps it for the pipeline: it takes a frame's `Detections` and returns them with track ids (and
the tracks the detector missed, as predictions), and runs the line and zone counters (the MOT file is
`sinks.MotSink`'s, written from the tracked objects);
every box-producing family gets it through `--track`.

Each detector frame matches in three steps, each solved with `scipy.optimize.linear_sum_assignment`:
  1. active tracks (tentative, confirmed, coasting a few missed frames) against detections, on a cost that
     mixes appearance (cosine distance to the track's embedding gallery) with motion (1 - IoU with the
     Kalman prediction), gated by the Mahalanobis distance of the detection to the prediction
     (tentative tracks, whose look is still unknown, follow overlap alone);
  2. lost tracks (and confirmed tracks round 1 left unmatched) against the detections left over, on
     appearance only: re-identification after an occlusion or after leaving the frame and coming back;
  3. a young track whose first clean view matches a missing track is taken over by it (people often come
     back half hidden, too unlike themselves for round 2, and start a new track first).
Refused pairs cost just over the limit, so the solver never trades one good match for two poor ones.
Without embeddings (--reid none) round 1 uses motion alone and lost tracks are deleted (a SORT tracker).

Lifecycle: tentative -> confirmed after `min_hits` matched detector frames in a row (a tentative track that
misses once is deleted) -> lost after `max_coast` missed detector frames -> deleted after `reid_window`
frames lost. Between detector frames (--infer-every) every track is only predicted.

Ids: a track is numbered when it is confirmed, 1, 2, 3 ... in that order, so the ids users see have no gaps
(most tentative tracks are detector noise that never confirms). Until then its id is a negative key that
only the tracker's own bookkeeping uses: outputs give a tentative track no id (`tracker_id` -1).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

import numpy as np

from ..errors import DemoError
from ..results import MOVING_KEYS, Detections, box_iou
from .assignment import linear_sum_assignment, load_solver
from .counting import Counter, parse_points

CHI2_GATE_4DOF = 9.4877  # 95% quantile of chi-square with 4 degrees of freedom (DeepSORT's gate)
INFINITE = 1e6


class State(StrEnum):
    TENTATIVE = "tentative"
    CONFIRMED = "confirmed"
    LOST = "lost"
    DELETED = "deleted"


def to_xywh(box: np.ndarray) -> np.ndarray:
    """x1y1x2y2 -> centre x, centre y, width, height."""
    return np.array([(box[0] + box[2]) / 2, (box[1] + box[3]) / 2, box[2] - box[0], box[3] - box[1]], np.float64)


def to_xyxy(state: np.ndarray) -> np.ndarray:
    cx, cy, w, h = state[:4]
    w, h = max(w, 1.0), max(h, 1.0)
    return np.array([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], np.float32)


class KalmanBox:
    """Constant-velocity Kalman filter on (cx, cy, w, h). Noise scales with the box height, so near and far
    people are tracked alike (the weights are DeepSORT's)."""

    _F = np.eye(8) + np.eye(8, k=4)  # one frame per step
    _H = np.eye(4, 8)
    POS, VEL = 1 / 20, 1 / 160

    def __init__(self, box: np.ndarray):
        self.x = np.r_[to_xywh(box), np.zeros(4)]
        h = self.x[3]
        std = np.r_[2 * self.POS * h, 2 * self.POS * h, 2 * self.POS * h, 2 * self.POS * h,
                    10 * self.VEL * h, 10 * self.VEL * h, 10 * self.VEL * h, 10 * self.VEL * h]
        self.P = np.diag(std ** 2)

    def predict(self) -> None:
        h = max(self.x[3], 1.0)
        q = np.r_[np.full(4, self.POS * h), np.full(4, self.VEL * h)] ** 2
        self.x = self._F @ self.x
        self.P = self._F @ self.P @ self._F.T + np.diag(q)

    def _projected(self) -> tuple[np.ndarray, np.ndarray]:
        r = np.full(4, self.POS * max(self.x[3], 1.0)) ** 2
        return self._H @ self.x, self._H @ self.P @ self._H.T + np.diag(r)

    def update(self, box: np.ndarray) -> None:
        mean, cov = self._projected()
        gain = np.linalg.solve(cov, self._H @ self.P).T  # P H^T S^-1 (S is symmetric)
        self.x = self.x + gain @ (to_xywh(box) - mean)
        self.P = self.P - gain @ cov @ gain.T

    def mahalanobis(self, boxes: np.ndarray) -> np.ndarray:
        """Squared Mahalanobis distance of each box (N, 4 x1y1x2y2) to the predicted measurement."""
        mean, cov = self._projected()
        d = np.stack([to_xywh(b) for b in boxes]) - mean
        return np.einsum("ij,ij->i", d, np.linalg.solve(cov, d.T).T)

    @property
    def box(self) -> np.ndarray:
        return to_xyxy(self.x)


@dataclass
class Track:
    id: int  # negative while tentative (a key, never shown), its number from confirmation on
    kalman: KalmanBox
    label: int
    score: float
    state: State = State.TENTATIVE
    hits: int = 1  # matched detector frames in a row while tentative, then in total
    misses: int = 0  # detector frames in a row without a match
    lost_frames: int = 0  # frames since the track was lost
    born: int = 0  # tracker frame count when the track started
    last_seen: int = 0  # tracker frame count when the detector last saw it
    updated: bool = True  # matched on the latest detector frame
    gallery: list[np.ndarray] = field(default_factory=list)  # unit-length embeddings, newest last
    trail: list[tuple[float, float]] = field(default_factory=list)  # box bottom centres, newest last

    @property
    def box(self) -> np.ndarray:
        return self.kalman.box

    @property
    def visible(self) -> bool:
        """Confirmed and seen by the detector on its latest run: what is drawn, counted and written."""
        return self.state == State.CONFIRMED and self.updated

    def appearance_distance(self, embeddings: np.ndarray) -> np.ndarray:
        """Smallest cosine distance from each embedding (N, D, unit length) to this track's gallery."""
        if not self.gallery:
            return np.ones(len(embeddings))
        return 1.0 - (embeddings @ np.stack(self.gallery).T).max(axis=1)


@dataclass
class TrackerConfig:
    min_hits: int = 3  # detector frames in a row before a track is confirmed
    max_coast: int = 3  # missed detector frames before a confirmed track is lost
    reid_window: int = 150  # frames a lost track waits to be re-identified before it is deleted
    appearance_weight: float = 0.7  # in round 1; the rest is 1 - IoU
    max_appearance: float = 0.35  # cosine distance above which round 1 refuses a match
    max_cost: float = 0.45  # round 1's largest combined cost
    max_reid: float = 0.25  # cosine distance above which a lost track is not re-identified
    min_iou: float = 0.2  # motion-only matching (no embeddings) needs this much overlap
    young_hits: int = 8  # a track seen this few times can still turn out to be a lost one come back
    gallery_size: int = 16
    gallery_max_overlap: float = 0.3  # a detection overlapping another this much is not added to a gallery
    trail_length: int = 30


class Tracker:
    def __init__(self, config: TrackerConfig | None = None):
        self.config = config or TrackerConfig()
        self.tracks: list[Track] = []
        self.next_id = 1  # the next confirmed track's number
        self._next_key = -1  # the next tentative track's key
        self.frame = 0
        self.merged: dict[int, int] = {}  # young track id -> the lost track that took it over, latest update
        self.numbered: dict[int, int] = {}  # tentative key -> the id its confirmation gave it, latest update

    def predict(self) -> None:
        """Advance every live track by one frame (call once per frame, before `update` on detector frames)."""
        self.frame += 1
        for track in self.tracks:
            track.kalman.predict()
            if track.state == State.LOST:
                track.lost_frames += 1
        self.tracks = [t for t in self.tracks if not (t.state == State.LOST and
                                                       t.lost_frames > self.config.reid_window)]

    def update(self, boxes: np.ndarray, scores: np.ndarray, labels: np.ndarray,
               embeddings: np.ndarray | None) -> dict[int, int]:
        """Match one detector frame's detections (after `predict`); unmatched detections start tracks.
        Returns which detection each track holds now: {track id: detection index}, one track per detection."""
        cfg = self.config
        self.merged, self.numbered = {}, {}
        if embeddings is not None and len(embeddings):
            embeddings = embeddings / np.maximum(np.linalg.norm(embeddings, axis=1, keepdims=True), 1e-12)
        active = [t for t in self.tracks if t.state in (State.TENTATIVE, State.CONFIRMED)]
        lost = [t for t in self.tracks if t.state == State.LOST]
        pairs, free = self._match(active, list(range(len(boxes))), boxes, labels, embeddings, motion=True)
        if embeddings is not None and free:
            # lost tracks, and confirmed ones that reappear away from their prediction (after an occlusion)
            matched_now = {t.id for t, _ in pairs}
            unmatched = [t for t in active if t.state == State.CONFIRMED and t.id not in matched_now]
            more, free = self._match(lost + unmatched, free, boxes, labels, embeddings, motion=False)
            pairs += more
            reidentified = {t.id for t, _ in more}
        else:
            reidentified = set()
        matched = set()
        held: dict[int, int] = {}  # track id -> detection index, this frame
        crowded = self._crowded(boxes, [t for t in active if t.state == State.CONFIRMED])
        for track, d in pairs:
            if track.id in reidentified:  # found by appearance away from its prediction: start motion afresh
                track.kalman, track.trail = KalmanBox(boxes[d]), []
            else:
                track.kalman.update(boxes[d])
            track.score, track.label, track.updated, track.misses = float(scores[d]), int(labels[d]), True, 0
            track.hits += 1
            track.last_seen = self.frame
            if track.state == State.LOST:
                track.state, track.lost_frames = State.CONFIRMED, 0
            elif track.state == State.TENTATIVE and track.hits >= cfg.min_hits:
                track.state = State.CONFIRMED
            if embeddings is not None and not crowded[d]:
                track.gallery = [*track.gallery, embeddings[d]][-cfg.gallery_size:]
            held[track.id] = d
            matched.add(track.id)
        for track in active:
            if track.id in matched:
                continue
            track.updated = False
            track.misses += 1
            if track.state == State.TENTATIVE:
                track.state = State.DELETED
            elif track.misses > cfg.max_coast:
                track.state = State.LOST if embeddings is not None else State.DELETED
        for track in lost:
            if track.id not in matched:
                track.updated = False
        for d in free:
            track = Track(self._next_key, KalmanBox(boxes[d]), int(labels[d]), float(scores[d]),
                          born=self.frame, last_seen=self.frame)
            if cfg.min_hits <= 1:
                track.state = State.CONFIRMED
            if embeddings is not None:
                track.gallery = [embeddings[d]]  # even a crowded one: round 1 needs something to compare
            self._next_key -= 1
            self.tracks.append(track)
            held[track.id] = d
        if embeddings is not None:
            self._reclaim(embeddings, held, crowded)
        self.tracks = [t for t in self.tracks if t.state != State.DELETED]
        self._number_confirmed(held)
        return held

    def _number_confirmed(self, held: dict[int, int]) -> None:
        """Give each newly confirmed track the next id, oldest track first. Last of an update, so a young track
        that a lost one took over this frame never uses up a number."""
        for track in self.tracks:
            if track.state == State.CONFIRMED and track.id < 0:
                self.numbered[track.id] = self.next_id
                if track.id in held:
                    held[self.next_id] = held.pop(track.id)
                track.id = self.next_id
                self.next_id += 1

    def _reclaim(self, embeddings: np.ndarray, held: dict[int, int], crowded: np.ndarray) -> None:
        """A person who comes back half hidden often starts a new track before their appearance is clear
        enough to re-identify. Once a young track (born after the missing one was last seen) shows a clean
        view that matches a missing track's gallery, the missing track takes it over and the young one ends."""
        cfg = self.config
        young = [t for t in self.tracks if t.id in held and t.hits <= cfg.young_hits and not crowded[held[t.id]]]
        missing = [t for t in self.tracks if t.id not in held and t.state in (State.LOST, State.CONFIRMED)]
        if not young or not missing:
            return
        views = embeddings[[held[t.id] for t in young]]
        cost = np.stack([t.appearance_distance(views) for t in missing])
        # never two people seen at once; the frame a young track is born in is allowed, as the missing
        # track's last match then was often a blend of people that the young track's clean view corrects
        allowed = (cost <= cfg.max_reid) & (np.array([t.last_seen for t in missing])[:, None] <=
                                            np.array([t.born for t in young])[None, :])
        allowed &= np.array([t.label for t in missing])[:, None] == np.array([t.label for t in young])[None, :]
        rows, cols = linear_sum_assignment(np.where(allowed, cost, cfg.max_reid + 1e-5))
        for r, c in zip(rows, cols, strict=True):
            if not allowed[r, c]:
                continue
            old, new = missing[r], young[c]
            old.kalman, old.score, old.label, old.trail = new.kalman, new.score, new.label, new.trail
            old.gallery = [*old.gallery, views[c]][-cfg.gallery_size:]
            old.state, old.updated, old.misses, old.lost_frames = State.CONFIRMED, True, 0, 0
            old.last_seen = self.frame
            new.state = State.DELETED
            self.merged[new.id] = old.id
            held[old.id] = held.pop(new.id)

    def record_trails(self) -> None:
        for track in self.tracks:
            if track.visible:
                x1, _, x2, y2 = track.box
                track.trail = [*track.trail, ((x1 + x2) / 2, y2)][-self.config.trail_length:]

    def _crowded(self, boxes: np.ndarray, tracks: list[Track]) -> np.ndarray:
        """Detections overlapping another detection, or more than one track's prediction: their crops mix
        people, so they stay out of the galleries."""
        limit = self.config.gallery_max_overlap
        crowded = np.zeros(len(boxes), bool)
        if len(boxes) > 1:
            overlap = box_iou(boxes, boxes)
            np.fill_diagonal(overlap, 0)
            crowded |= overlap.max(axis=1) > limit
        if len(boxes) and len(tracks) > 1:
            crowded |= (box_iou(boxes, np.stack([t.box for t in tracks])) > limit).sum(axis=1) > 1
        return crowded

    def _match(self, tracks: list[Track], candidates: list[int], boxes: np.ndarray, labels: np.ndarray,
               embeddings: np.ndarray | None, motion: bool) -> tuple[list[tuple[Track, int]], list[int]]:
        """Optimal assignment of `candidates` (detection indices) to `tracks`; returns the pairs and the
        detections left unmatched."""
        cfg = self.config
        limit: float | np.ndarray  # per pair where tentative tracks are held to a looser one
        if not tracks or not candidates:
            return [], candidates
        cand = np.asarray(candidates)
        labels_agree = np.array([t.label for t in tracks])[:, None] == labels[cand][None, :]
        if motion:
            predicted = np.stack([t.box for t in tracks])
            motion_cost = 1.0 - box_iou(predicted, boxes[cand])
            gated = np.stack([t.kalman.mahalanobis(boxes[cand]) for t in tracks]) > CHI2_GATE_4DOF
            if embeddings is None:
                cost, limit = motion_cost, 1.0 - cfg.min_iou
                allowed = ~gated
            else:
                appearance = np.stack([t.appearance_distance(embeddings[cand]) for t in tracks])
                cost = cfg.appearance_weight * appearance + (1 - cfg.appearance_weight) * motion_cost
                # a tentative track knows its look from a view or two (often a person half in the frame,
                # still coming in): it follows overlap, and appearance only ranks its candidates
                tentative = np.array([t.state == State.TENTATIVE for t in tracks])[:, None]
                limit = np.where(tentative, 1.0, cfg.max_cost)
                allowed = ~gated & ((appearance <= cfg.max_appearance) | (tentative & (motion_cost <= 1 - cfg.min_iou)))
        else:
            # re-identification only: the caller matches without motion only when there are embeddings
            assert embeddings is not None, "matching by appearance alone needs embeddings"
            cost = np.stack([t.appearance_distance(embeddings[cand]) for t in tracks])
            limit = cfg.max_reid
            allowed = np.ones_like(cost, bool)
        allowed &= labels_agree & (cost <= limit)
        # a refused pair costs just over the limit, as leaving both unmatched would: the solver never
        # trades one good match for two poor ones just to match more (DeepSORT's min_cost_matching)
        cost = np.where(allowed, cost, limit + 1e-5)
        rows, cols = linear_sum_assignment(cost)
        pairs = [(tracks[r], int(cand[c])) for r, c in zip(rows, cols, strict=True) if allowed[r, c]]
        used = {d for _, d in pairs}
        return pairs, [d for d in candidates if d not in used]


def _moved(row: Detections, box: np.ndarray) -> Detections:
    """A track's last object, moved to its predicted box: points it carries shift with the box."""
    shift = ((box[:2] + box[2:]) - (row.xyxy[0, :2] + row.xyxy[0, 2:])) / 2
    data = dict(row.data)
    for key in MOVING_KEYS:  # per-object points in frame pixels (results.OBJECT_KEYS)
        if key in data:
            points = np.array(data[key], np.float32, copy=True)
            points[..., :2] += shift
            data[key] = points
    mask = None
    if row.mask is not None:
        from ..results import BoxMask

        m = row.mask[0]
        mask = [BoxMask(m.array, (int(round(m.origin[0] + shift[0])), int(round(m.origin[1] + shift[1]))))]
    return Detections(box[None], row.confidence, row.class_id, row.tracker_id, mask, data, row.names)


class Tracking:
    """The tracker as the pipeline runs it on any family's objects (`--track`), with lines and zones.

    Objects the detector found keep their own boxes and extras and gain `tracker_id` and `track_state`;
    confirmed tracks it missed on this frame (still coasting) come back as `predicted` rows at the Kalman
    prediction, carrying their last extras. On frames the main model skipped (--infer-every) every live track
    is its prediction. Appearance joins in when objects carry `data["embedding"]` (a re-id model)."""

    def __init__(self, opts, fps: float, reid_threshold: float | None = None):
        config = TrackerConfig(min_hits=opts.min_hits, reid_window=max(1, round(opts.reid_window * (fps or 30.0))))
        if reid_threshold is not None:
            config.max_reid = reid_threshold
        self.tracker = Tracker(config)
        load_solver()
        self.counter = Counter([parse_points(v, "--line", 2, 2) for v in opts.line],
                               [parse_points(v, "--zone", 3) for v in opts.zone], opts.anchor)
        self._last_index: int | None = None
        self._rows: dict[int, Detections] = {}  # track id -> its latest object

    @staticmethod
    def check_options(opts) -> None:
        """Before any model is fetched: lines, zones and MOT need --track, and must be well formed."""
        for flag, value in (("--line", opts.get("line")), ("--zone", opts.get("zone")), ("--mot", opts.get("mot"))):
            if value and not opts.get("track"):
                raise DemoError(f"{flag} works on tracked objects", "add --track")
        for value in opts.get("line") or ():
            parse_points(value, "--line", 2, 2)
        for value in opts.get("zone") or ():
            parse_points(value, "--zone", 3)

    @staticmethod
    def check(opts, family: str, boxes: bool) -> None:
        """--track where the family's results have no boxes (e.g. a semantic class map) is refused."""
        if opts.get("track") and not boxes:
            raise DemoError(f"--track needs objects with boxes, and this {family} model gives none",
                            "drop --track")

    def update(self, objects: Detections, index: int, timestamp: float, inferred: bool
               ) -> tuple[Detections, list[dict], dict | None]:
        """This frame's tracked objects, counting events and running counts (None without lines or zones)."""
        tracker = self.tracker
        steps = 1 if self._last_index is None else max(1, index - self._last_index)
        self._last_index = index
        for _ in range(steps):  # a live source that dropped frames: predict across the gap
            tracker.predict()
        held = tracker.update(objects.xyxy, objects.confidence, objects.class_id, objects.data.get("embedding")) \
            if inferred else {}
        tracker.record_trails()
        if tracker.merged:
            self.counter.merge(tracker.merged)
            for young in tracker.merged:
                self._rows.pop(young, None)
            tracker.merged = {}
        if tracker.numbered:  # confirmed tracks carry on under their new ids (crossings waiting, last position)
            self.counter.merge(tracker.numbered)
            for key, number in tracker.numbered.items():
                if key in self._rows:
                    self._rows[number] = self._rows.pop(key)
            tracker.numbered = {}
        by_id = {t.id: t for t in tracker.tracks}
        pairs = sorted(((d, tid) for tid, d in held.items() if tid in by_id), key=lambda p: p[0])
        found = objects[[d for d, _ in pairs]] if pairs else objects[[]]
        found.tracker_id = np.array([tid for _, tid in pairs], np.int32)
        found.data["track_state"] = [by_id[tid].state.value for _, tid in pairs]
        for row, (_, tid) in enumerate(pairs):
            self._rows[tid] = found[row]
        carried: list[Detections] = []
        for track in tracker.tracks:
            if track.id in held or track.id not in self._rows:
                continue
            if inferred and track.state != State.CONFIRMED:
                continue
            if not inferred and not (track.updated or track.state == State.CONFIRMED):
                continue
            moved = _moved(self._rows[track.id], track.box)
            # between detector frames every track is its prediction, drawn and counted as before;
            # on a detector frame a confirmed track it missed is shown as a guess
            moved.data["track_state"] = [track.state.value if not inferred and track.updated else "predicted"]
            carried.append(moved)
        alive = {t.id for t in tracker.tracks}
        for gone in set(self._rows) - alive:
            del self._rows[gone]
        tracked = Detections.merge([found, *carried]) if carried else found
        assert tracked.tracker_id is not None  # set on `found` above; each carried row is a tracked one, moved
        tracked.data["trail"] = [np.asarray(by_id[int(t)].trail, np.float32).reshape(-1, 2)
                                 for t in tracked.tracker_id]
        events = self.counter.update(tracked, timestamp) if self.counter else []
        counts = self.counter.summary() if self.counter else None
        if self.counter.zones:
            dwell = self.counter.dwell()
            tracked.data["dwell_s"] = np.array([dwell.get(int(t), np.nan) for t in tracked.tracker_id], np.float32)
        tracked.tracker_id = np.maximum(tracked.tracker_id, -1)  # a tentative track's key is no id
        return tracked, events, counts

    def close(self) -> None:
        """Nothing to flush: the MOT file is a sink's (`sinks.MotSink`), written from the tracked objects."""
