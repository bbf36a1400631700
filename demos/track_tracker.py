"""Multi-object tracker for `ovdemo track`: Kalman motion + appearance embeddings, optimal assignment.

Each detector frame runs two matching rounds, each solved with `scipy.optimize.linear_sum_assignment`:
  1. active tracks (tentative, confirmed, coasting a few missed frames) against detections, on a cost that
     mixes appearance (cosine distance to the track's embedding gallery) with motion (1 - IoU with the
     Kalman prediction), gated by the Mahalanobis distance of the detection to the prediction;
  2. lost tracks (and confirmed tracks round 1 left unmatched) against the detections left over, on
     appearance only: re-identification after an occlusion or after leaving the frame and coming back.
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
        h = self.x[3]
        q = np.r_[np.full(4, self.POS * h), np.full(4, self.VEL * h)] ** 2
        self.x = self._F @ self.x
        self.P = self._F @ self.P @ self._F.T + np.diag(q)

    def _projected(self) -> tuple[np.ndarray, np.ndarray]:
        r = np.full(4, self.POS * self.x[3]) ** 2
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
    age: int = 0  # frames since the track started
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
    max_reid: float = 0.25  # cosine distance above which a lost track is not re-identified
    min_iou: float = 0.2  # motion-only matching (no embeddings) needs this much overlap
    gallery_size: int = 16
    gallery_max_overlap: float = 0.3  # a detection overlapping another this much is not added to a gallery
    trail_length: int = 30


class Tracker:
    def __init__(self, config: TrackerConfig | None = None):
        self.config = config or TrackerConfig()
        self.tracks: list[Track] = []
        self.next_id = 1

    def predict(self) -> None:
        """Advance every live track by one frame (call once per frame, before `update` on detector frames)."""
        for track in self.tracks:
            track.kalman.predict()
            track.age += 1
            if track.state == State.LOST:
                track.lost_frames += 1
        self.tracks = [t for t in self.tracks if not (t.state == State.LOST and
                                                       t.lost_frames > self.config.reid_window)]

    def update(self, boxes: np.ndarray, scores: np.ndarray, labels: np.ndarray,
               embeddings: np.ndarray | None) -> list[int]:
        """Match one detector frame's detections (after `predict`). Returns the track id of each detection
        (0 for a detection given to no track: that only happens to lost-track candidates never here)."""
        cfg = self.config
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
        owner = [0] * len(boxes)
        matched = set()
        crowded = self._crowded(boxes)
        for track, d in pairs:
            track.kalman.update(boxes[d])
            track.score, track.label, track.updated, track.misses = float(scores[d]), int(labels[d]), True, 0
            track.hits += 1
            if track.state == State.LOST:
                track.state, track.lost_frames = State.CONFIRMED, 0
            elif track.state == State.TENTATIVE and track.hits >= cfg.min_hits:
                track.state = State.CONFIRMED
            if embeddings is not None and not crowded[d]:
                track.gallery = [*track.gallery, embeddings[d]][-cfg.gallery_size:]
            owner[d] = track.id
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
            track = Track(self.next_id, KalmanBox(boxes[d]), int(labels[d]), float(scores[d]))
            if cfg.min_hits <= 1:
                track.state = State.CONFIRMED
            if embeddings is not None:
                track.gallery = [embeddings[d]]
            self.next_id += 1
            self.tracks.append(track)
            owner[d] = track.id
        self.tracks = [t for t in self.tracks if t.state != State.DELETED]
        return owner

    def record_trails(self) -> None:
        for track in self.tracks:
            if track.visible:
                x1, _, x2, y2 = track.box
                track.trail = [*track.trail, ((x1 + x2) / 2, y2)][-self.config.trail_length:]

    def _crowded(self, boxes: np.ndarray) -> np.ndarray:
        if len(boxes) < 2:
            return np.zeros(len(boxes), bool)
        overlap = box_iou(boxes, boxes)
        np.fill_diagonal(overlap, 0)
        return overlap.max(axis=1) > self.config.gallery_max_overlap

    def _match(self, tracks: list[Track], candidates: list[int], boxes: np.ndarray, labels: np.ndarray,
               embeddings: np.ndarray | None, motion: bool) -> tuple[list[tuple[Track, int]], list[int]]:
        """Optimal assignment of `candidates` (detection indices) to `tracks`; returns the pairs and the
        detections left unmatched."""
        cfg = self.config
        if not tracks or not candidates:
            return [], candidates
        cand = np.asarray(candidates)
        cost = np.zeros((len(tracks), len(cand)))
        allowed = np.ones_like(cost, bool)
        if motion:
            predicted = np.stack([t.box for t in tracks])
            overlap = box_iou(predicted, boxes[cand])
            gated = np.stack([t.kalman.mahalanobis(boxes[cand]) for t in tracks]) > CHI2_GATE_4DOF
            if embeddings is None:
                cost = 1.0 - overlap
                allowed &= (overlap >= cfg.min_iou) & ~gated
            else:
                appearance = np.stack([t.appearance_distance(embeddings[cand]) for t in tracks])
                cost = cfg.appearance_weight * appearance + (1 - cfg.appearance_weight) * (1.0 - overlap)
                # a large IoU keeps a match through an appearance change (turning round, a partial occlusion)
                allowed &= ~gated & ((appearance <= cfg.max_appearance) | (overlap >= 0.5))
        else:
            cost = np.stack([t.appearance_distance(embeddings[cand]) for t in tracks])
            allowed &= cost <= cfg.max_reid
        allowed &= np.array([t.label for t in tracks])[:, None] == labels[cand][None, :]
        cost = np.where(allowed, cost, INFINITE)
        rows, cols = linear_sum_assignment(cost)
        pairs = [(tracks[r], int(cand[c])) for r, c in zip(rows, cols, strict=True) if allowed[r, c]]
        used = {d for _, d in pairs}
        return pairs, [d for d in candidates if d not in used]
