"""Per-frame results as small dataclasses of numpy arrays."""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np


@dataclass
class Detections:
    """N boxes in frame pixels (x1, y1, x2, y2), their scores and integer class ids."""

    boxes: np.ndarray  # (N, 4) float32
    scores: np.ndarray  # (N,) float32
    labels: np.ndarray  # (N,) int32
    names: tuple[str, ...] | None = None  # class names indexed by label id

    @classmethod
    def empty(cls, names: tuple[str, ...] | None = None) -> Detections:
        return cls(np.zeros((0, 4), np.float32), np.zeros(0, np.float32), np.zeros(0, np.int32), names)

    def __len__(self) -> int:
        return len(self.scores)

    def __getitem__(self, index) -> Detections:
        return Detections(self.boxes[index].reshape(-1, 4), np.atleast_1d(self.scores[index]),
                          np.atleast_1d(self.labels[index]), self.names)

    def label_name(self, label_id: int) -> str:
        if self.names is not None and 0 <= label_id < len(self.names):
            return self.names[label_id]
        return f"#{label_id}"

    def objects(self) -> list[dict]:
        """The JSON form every family shares: bbox (x1, y1, x2, y2 pixels), label, label_id, confidence."""
        return [
            {
                "bbox": [round(float(v), 1) for v in box],
                "label": self.label_name(int(label)),
                "label_id": int(label),
                "confidence": round(float(score), 4),
            }
            for box, score, label in zip(self.boxes, self.scores, self.labels, strict=True)
        ]


def clip_boxes(boxes: np.ndarray, width: int, height: int) -> np.ndarray:
    boxes = boxes.astype(np.float32, copy=True)
    np.clip(boxes[:, 0::2], 0, width - 1, out=boxes[:, 0::2])
    np.clip(boxes[:, 1::2], 0, height - 1, out=boxes[:, 1::2])
    return boxes


def box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU matrix between two sets of x1y1x2y2 boxes."""
    lt = np.maximum(a[:, None, :2], b[None, :, :2])
    rb = np.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = np.prod(np.clip(rb - lt, 0, None), axis=2)
    area_a = np.prod(a[:, 2:] - a[:, :2], axis=1)
    area_b = np.prod(b[:, 2:] - b[:, :2], axis=1)
    return inter / np.maximum(area_a[:, None] + area_b[None, :] - inter, 1e-9)


def nms(boxes: np.ndarray, scores: np.ndarray, labels: np.ndarray, threshold: float, iou: float) -> np.ndarray:
    """Per-class non-maximum suppression with OpenCV; indices of the boxes kept, best first."""
    xywh = np.concatenate([boxes[:, :2], boxes[:, 2:] - boxes[:, :2]], axis=1) * 10000.0  # pixels-like scale
    keep = cv2.dnn.NMSBoxesBatched(xywh.tolist(), scores.tolist(), labels.tolist(), threshold, iou)
    return np.asarray(keep, np.int64).reshape(-1)
