"""Ultralytics YOLO heads: what the detect, segment and pose decoders of YOLOv8 and its successors share.

Every head of YOLOv8, v9, 11 and 12 (anchor-free) has one row per anchor point of the strides 8, 16 and 32
(8400 at 640x640), as columns of `output0` [1, C, anchors]: cx, cy, w, h in input pixels, then the class scores
(sigmoid applied), then the head's own values: 32 mask coefficients (segment; prototypes in `output1`
[1, 32, H/4, W/4]), K*3 keypoint values x, y, visibility (pose), or the box's angle in radians (obb).
End-to-end heads (YOLOv10, YOLO26) give [1, N, 6]: x1, y1, x2, y2, score, class, already without overlaps;
YOLOv5's anchor-based head gives [1, 3*anchors, 5+nc]: cx, cy, w, h, objectness, class scores.
The input is the frame letterboxed as Ultralytics does (`letterbox.centred_geometry`), so every point goes
back to the frame through that geometry exactly.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
import openvino as ov

from ovdemo.common.engine.inference import find_port, input_layout, model_input_size, port_shape
from ovdemo.common.errors import DemoError
from ovdemo.common.models.letterbox import centred_geometry
from ovdemo.common.results import nms

ROWS = ("output0",)
PROTOS = ("output1",)
MASK_COEFFICIENTS = 32
MAX_DETECTIONS = 300  # Ultralytics' max_det
STRIDE_SETS = ((8, 16, 32), (8, 16, 32, 64))  # P5 and P6 models


def anchor_counts(model: ov.Model) -> set[int]:
    """The anchor points a YOLO head of this model's input size has (one count per stride set)."""
    size = model_input_size(model, input_layout(model, None)) if model.inputs else None
    if size is None:
        return set()
    w, h = size
    return {sum(-(-w // s) * -(-h // s) for s in strides) for strides in STRIDE_SETS}


def anchor_free_port(model: ov.Model):
    """`output0` [1, C, anchors] of an anchor-free head, by name, else by shape."""
    counts = anchor_counts(model)
    return find_port(model.outputs, ROWS, lambda s: len(s) == 3 and s[2] in counts and s[1] is not None)


def fits_anchor_free(model: ov.Model, extra: int = 0, outputs: int = 1) -> bool:
    """An anchor-free head with `extra` values per row besides the box and at least one class score."""
    port = anchor_free_port(model)
    shape = port_shape(port) if port is not None else []
    return len(model.outputs) == outputs and len(shape) == 3 and shape[2] in anchor_counts(model) \
        and shape[1] > 4 + extra


@dataclass(frozen=True)
class Letterbox:
    """Where the input sits in a frame: input point p is (p - offset) / scale in frame pixels."""

    scale: float
    offset: np.ndarray  # (left, top)

    @classmethod
    def of(cls, frame_size: tuple[int, int], input_size: tuple[int, int]) -> Letterbox:
        scale, left, top = centred_geometry(frame_size, input_size)
        return cls(scale, np.array([left, top], np.float32))

    def points(self, xy: np.ndarray) -> np.ndarray:
        """Input pixels (..., 2) to frame pixels."""
        return ((np.asarray(xy, np.float32) - self.offset) / self.scale).astype(np.float32)

    def boxes(self, xyxy: np.ndarray) -> np.ndarray:
        return self.points(np.asarray(xyxy, np.float32).reshape(-1, 2, 2)).reshape(-1, 4)

    def spans(self, input_size: tuple[int, int]) -> tuple[float, float, float, float]:
        """The frame rectangle the whole input covers (x1, y1, x2, y2), e.g. for mask prototypes."""
        (x1, y1), (x2, y2) = self.points(np.array([[0, 0], input_size], np.float32))
        return float(x1), float(y1), float(x2), float(y2)


def input_size_of(model: ov.Model) -> tuple[int, int]:
    size = model_input_size(model, input_layout(model, None)) if model.inputs else None
    if size is None:
        raise DemoError("the YOLO model's input size is dynamic",
                        "export it with a fixed size (Ultralytics' default: dynamic=False)")
    return size


def xywh_to_xyxy(xywh: np.ndarray) -> np.ndarray:
    half = xywh[:, 2:4] / 2
    return np.concatenate([xywh[:, :2] - half, xywh[:, :2] + half], axis=1)


@dataclass
class Found:
    """One frame's detections of a head, in input pixels, best first: each one's anchor row in `rows`."""

    boxes: np.ndarray  # (N, 4) x1y1x2y2
    scores: np.ndarray
    class_ids: np.ndarray
    rows: np.ndarray  # (N, C) the anchors' whole rows (mask coefficients, keypoints, angle come from them)
    quad: np.ndarray | None = None  # (N, 4, 2) a rotated box's corners (obb)


def anchor_free(output: np.ndarray, classes: int, threshold: float, iou: float, agnostic: bool = False,
                rotated: bool = False) -> Found:
    """Rows [1, 4+classes+extra, anchors] to the detections above `threshold`, overlaps removed (per class, or
    across classes when `agnostic`): Ultralytics' non_max_suppression with its defaults."""
    columns = output.reshape(output.shape[-2], output.shape[-1])  # (C, anchors), as the model wrote it
    keep = np.flatnonzero(columns[4:4 + classes].max(axis=0) >= threshold)  # along rows: memory order, fast
    rows = columns[:, keep].T  # (kept, C): only the candidates are gathered
    best = rows[:, 4:4 + classes].argmax(axis=1).astype(np.int32)
    confidence = rows[np.arange(len(rows)), 4 + best].astype(np.float32)
    boxes = xywh_to_xyxy(rows[:, :4]).astype(np.float32)
    labels = np.zeros_like(best) if agnostic else best
    order = rotated_nms(rows[:, :4], rows[:, -1], confidence, labels, threshold, iou) if rotated else \
        pixel_nms(boxes, confidence, labels, threshold, iou)
    order = order[:MAX_DETECTIONS]
    return Found(boxes[order], confidence[order], best[order], np.ascontiguousarray(rows[order]))


def pixel_nms(boxes: np.ndarray, scores: np.ndarray, labels: np.ndarray, threshold: float, iou: float) -> np.ndarray:
    """`results.nms` on boxes in input pixels (it takes them normalised)."""
    return nms(boxes / 10000.0, scores, labels, threshold, iou) if len(boxes) else np.zeros(0, np.int64)


def rotated_nms(xywh: np.ndarray, angles: np.ndarray, scores: np.ndarray, labels: np.ndarray, threshold: float,
                iou: float) -> np.ndarray:
    """Overlaps of rotated boxes removed per class (OpenCV's rotated-rectangle IoU), best first."""
    kept = []
    for label in np.unique(labels):
        index = np.flatnonzero(labels == label)
        rects = [((float(x), float(y)), (float(w), float(h)), float(np.degrees(a)))
                 for (x, y, w, h), a in zip(xywh[index], angles[index], strict=True)]
        chosen = cv2.dnn.NMSBoxesRotated(rects, scores[index].tolist(), threshold, iou)
        kept.extend(index[np.asarray(chosen, np.int64).reshape(-1)])
    kept = np.asarray(kept, np.int64)
    return kept[np.argsort(-scores[kept], kind="stable")]


def rotated_corners(xywh: np.ndarray, angles: np.ndarray) -> np.ndarray:
    """(N, 4, 2) corners of rotated boxes (cx, cy, w, h, angle in radians, as Ultralytics' xywhr): the box's
    own top-left, top-right, bottom-right, bottom-left (at angle 0, the frame's)."""
    cos, sin = np.cos(angles), np.sin(angles)
    along = np.stack([cos, sin], axis=1) * xywh[:, 2:3] / 2  # half the width, along the box
    across = np.stack([-sin, cos], axis=1) * xywh[:, 3:4] / 2  # half the height, across it
    centre = xywh[:, :2]
    return np.stack([centre - along - across, centre + along - across, centre + along + across,
                     centre - along + across], axis=1).astype(np.float32)


def end_to_end(output: np.ndarray, threshold: float) -> Found:
    """[1, N, 6] rows x1, y1, x2, y2, score, class (YOLOv10, YOLO26): no overlaps to remove."""
    rows = output.reshape(-1, output.shape[-1])
    rows = rows[rows[:, 4] >= threshold]
    rows = rows[np.argsort(-rows[:, 4], kind="stable")][:MAX_DETECTIONS]
    return Found(rows[:, :4].astype(np.float32), rows[:, 4].astype(np.float32), rows[:, 5].astype(np.int32), rows)


def anchor_based(output: np.ndarray, threshold: float, iou: float, agnostic: bool = False) -> Found:
    """YOLOv5's [1, anchors, 5+nc]: a class's score is objectness times its class score."""
    rows = output.reshape(-1, output.shape[-1])
    rows = rows[rows[:, 4] >= threshold]
    scores = rows[:, 5:] * rows[:, 4:5]
    best = scores.argmax(axis=1).astype(np.int32)
    confidence = scores[np.arange(len(rows)), best].astype(np.float32)
    keep = confidence >= threshold
    rows, best, confidence = rows[keep], best[keep], confidence[keep]
    boxes = xywh_to_xyxy(rows[:, :4]).astype(np.float32)
    labels = np.zeros_like(best) if agnostic else best
    order = pixel_nms(boxes, confidence, labels, threshold, iou)[:MAX_DETECTIONS]
    return Found(boxes[order], confidence[order], best[order], rows[order])
