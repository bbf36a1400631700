"""Multi-object tracker for `ovdemo track`: Kalman motion + appearance embeddings, optimal assignment.

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
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

import numpy as np
from ovdemo.common.results import box_iou
from scipy.optimize import linear_sum_assignment

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
    id: int
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
        self.next_id = 1
        self.frame = 0
        self.merged: dict[int, int] = {}  # young track id -> the lost track that took it over, latest update

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
               embeddings: np.ndarray | None) -> None:
        """Match one detector frame's detections (after `predict`); unmatched detections start tracks."""
        cfg = self.config
        self.merged = {}
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
            track = Track(self.next_id, KalmanBox(boxes[d]), int(labels[d]), float(scores[d]),
                          born=self.frame, last_seen=self.frame)
            if cfg.min_hits <= 1:
                track.state = State.CONFIRMED
            if embeddings is not None:
                track.gallery = [embeddings[d]]  # even a crowded one: round 1 needs something to compare
            self.next_id += 1
            self.tracks.append(track)
            held[track.id] = d
        if embeddings is not None:
            self._reclaim(embeddings, held, crowded)
        self.tracks = [t for t in self.tracks if t.state != State.DELETED]

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
