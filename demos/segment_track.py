"""`--track`: instances keep their id (and so their colour) from frame to frame, matched by box IoU."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.optimize import linear_sum_assignment

from ovdemo.common.results import box_iou

from .segment_decoders import Instances


@dataclass
class _Track:
    id: int
    box: np.ndarray
    label: int
    missed: int = 0


class InstanceTracker:
    """Optimal one-to-one matching of this frame's instances to live tracks of the same class; a track
    survives `max_missed` frames without a match (an occluded or missed object gets its id back)."""

    def __init__(self, min_iou: float = 0.3, max_missed: int = 10):
        self.min_iou, self.max_missed = min_iou, max_missed
        self.tracks: list[_Track] = []
        self.next_id = 1

    def update(self, found: Instances) -> None:
        """Sets `found.ids`."""
        ids = np.full(len(found), -1, np.int32)
        matched_tracks: set[int] = set()
        if len(found) and self.tracks:
            track_boxes = np.stack([t.box for t in self.tracks])
            iou = box_iou(found.boxes, track_boxes)
            same_class = found.labels[:, None] == np.array([t.label for t in self.tracks])[None, :]
            iou = np.where(same_class, iou, 0.0)
            rows, cols = linear_sum_assignment(-iou)
            for r, c in zip(rows, cols, strict=True):
                if iou[r, c] >= self.min_iou:
                    track = self.tracks[c]
                    track.box, track.missed = found.boxes[r].copy(), 0
                    ids[r] = track.id
                    matched_tracks.add(c)
        for i, track in enumerate(self.tracks):
            if i not in matched_tracks:
                track.missed += 1
        self.tracks = [t for t in self.tracks if t.missed <= self.max_missed]
        for r in np.flatnonzero(ids < 0):
            self.tracks.append(_Track(self.next_id, found.boxes[r].copy(), int(found.labels[r])))
            ids[r] = self.next_id
            self.next_id += 1
        found.ids = ids
