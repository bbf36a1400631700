"""Text detectors: each turns one request's outputs into word quadrilaterals in frame pixels.

  boxes        horizontal-text-detection-0001 (boxes [N,5] + labels): decoded by `ovdemo detect`'s DetectTask
  pixellink    text-detection-0003/0004: pixel and link maps, linked pixels joined into words, rotated boxes
  db           PaddleOCR DB detectors: probability map, threshold, contours, box score, box expansion (unclip)
  text-spotting  text-spotting-0005-detector: Mask R-CNN boxes, masks (for the rotated box) and text features
                 that its own recognizer head reads
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
import openvino as ov
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from ovdemo.common.capture import Frame
from ovdemo.common.errors import DemoError
from ovdemo.common.inference import ModelOutputs, describe_ports, input_layout, model_input_size, port_names, port_shape
from ovdemo.common.models import ResolvedModel
from ovdemo.common.scores import softmax
from ovdemo.common.specs import ModelSpec

from .detect import DetectTask


@dataclass
class Found:
    """Words found in a frame: quadrilaterals (N, 4, 2) in frame pixels, corners in reading order
    (top-left, top-right, bottom-right, bottom-left), their detection scores, and for detectors that
    carry them (text spotting) per-word features for the recognizer."""

    quads: np.ndarray
    scores: np.ndarray
    features: np.ndarray | None = None

    @classmethod
    def empty(cls) -> Found:
        return cls(np.zeros((0, 4, 2), np.float32), np.zeros(0, np.float32))

    def __len__(self) -> int:
        return len(self.scores)


def order_corners(points: np.ndarray) -> np.ndarray:
    """Four corners of a (near-)rectangle as top-left, top-right, bottom-right, bottom-left: the two
    leftmost are the left edge (upper one first), the two rightmost the right edge."""
    pts = np.asarray(points, np.float32).reshape(4, 2)
    by_x = pts[np.argsort(pts[:, 0], kind="stable")]
    left, right = by_x[:2], by_x[2:]
    tl, bl = left[np.argsort(left[:, 1])]
    tr, br = right[np.argsort(right[:, 1])]
    return np.array([tl, tr, br, bl], np.float32)


def rect_quad(rect) -> np.ndarray:
    return order_corners(cv2.boxPoints(rect))


def boxes_to_quads(boxes: np.ndarray) -> np.ndarray:
    """Axis-aligned x1y1x2y2 boxes (N, 4) as quads (N, 4, 2)."""
    x1, y1, x2, y2 = (boxes[:, i] for i in range(4))
    return np.stack([np.stack([x1, y1], 1), np.stack([x2, y1], 1), np.stack([x2, y2], 1),
                     np.stack([x1, y2], 1)], axis=1).astype(np.float32)




class TextDetector:
    name = ""
    expects = ""

    def __init__(self, resolved: ResolvedModel, threshold: float | None):
        self.resolved, self.spec = resolved, resolved.spec
        self.params = self.spec.params if self.spec else {}
        default = self.spec.threshold if self.spec else 0.5
        self.threshold = default if threshold is None else threshold

    def mismatch(self, model: ov.Model) -> DemoError:
        return DemoError(f"the outputs of {self.resolved.name} do not fit the {self.name} text detector",
                         f"expected {self.expects}; the model has {describe_ports(model.outputs)}")

    def prepare(self, model: ov.Model, frame_size: tuple[int, int] | None) -> None:
        raise NotImplementedError

    def decode(self, outputs: ModelOutputs, frame: Frame) -> Found:
        raise NotImplementedError


class BoxesDetector(TextDetector):
    """Axis-aligned word boxes from any detector `ovdemo detect` decodes (horizontal-text-detection-0001)."""

    name = "boxes"
    expects = "boxes [N,5] with labels [N], or DetectionOutput [1,1,N,7]"

    @staticmethod
    def fits(model: ov.Model) -> bool:
        return any(len(port_shape(p)) == 2 and port_shape(p)[-1] == 5 for p in model.outputs) or any(
            port_shape(p)[-1:] == [7] for p in model.outputs)

    def prepare(self, model, frame_size) -> None:
        self.task = DetectTask(model=self.resolved, threshold=self.threshold, arch="ssd")
        try:
            self.task.prepare(model)
        except DemoError:
            raise self.mismatch(model) from None

    def decode(self, outputs, frame) -> Found:
        found = self.task.postprocess(outputs, frame)
        return Found(boxes_to_quads(found.boxes), found.scores.astype(np.float32))


class PixelLinkDetector(TextDetector):
    """PixelLink: a text/no-text pair of logits per pixel, and 8 neighbour-link pairs. Text pixels joined
    by positive links form one word; each word's minimum-area rectangle is its rotated box."""

    name = "pixellink"
    expects = "a pixel map with 2 channels and a link map with 16 (model/segm_logits/add, model/link_logits_/add)"
    # neighbours in the order the link channels come: row by row around the pixel, centre skipped
    NEIGHBOURS = [(dy, dx) for dy in (-1, 0, 1) for dx in (-1, 0, 1) if (dy, dx) != (0, 0)]

    @staticmethod
    def _channels(port) -> int | None:
        shape = port_shape(port)
        if len(shape) != 4:
            return None
        for size in (16, 2):
            if size in (shape[1], shape[3]):
                return size
        return None

    @classmethod
    def fits(cls, model: ov.Model) -> bool:
        return sorted(filter(None, (cls._channels(p) for p in model.outputs))) == [2, 16]

    def prepare(self, model, frame_size) -> None:
        ports = list(model.outputs)
        pixel = next((p for p in ports if "model/segm_logits/add" in port_names(p)), None)
        link = next((p for p in ports if "model/link_logits_/add" in port_names(p)), None)
        pixel = pixel or next((p for p in ports if self._channels(p) == 2), None)
        link = link or next((p for p in ports if self._channels(p) == 16), None)
        if pixel is None or link is None:
            raise self.mismatch(model)
        self.pixel_name, self.link_name = sorted(pixel.get_names())[0], sorted(link.get_names())[0]
        self.pixel_threshold = float(self.params.get("pixel_threshold", 0.8))
        self.link_threshold = float(self.params.get("link_threshold", 0.8))
        self.min_area = float(self.params.get("min_area", 300))
        self.min_side = float(self.params.get("min_side", 10))

    @staticmethod
    def _hwc(array: np.ndarray, channels: int) -> np.ndarray:
        array = array[0]
        return array if array.shape[-1] == channels else array.transpose(1, 2, 0)

    def decode(self, outputs, frame) -> Found:
        pixel = softmax(self._hwc(outputs.get(self.pixel_name), 2))[..., 1]
        h, w = pixel.shape
        link = softmax(self._hwc(outputs.get(self.link_name), 16).reshape(h, w, 8, 2))[..., 1]
        labels, count = self.join(pixel >= self.pixel_threshold, link >= self.link_threshold)
        return self.boxes(labels, count, pixel, frame.image.shape[1] / w, frame.image.shape[0] / h)

    def join(self, positive: np.ndarray, links: np.ndarray) -> tuple[np.ndarray, int]:
        """Label map (0 = background, 1..count = words) of text pixels joined through their links."""
        h, w = positive.shape
        index = np.arange(h * w).reshape(h, w)
        rows, cols = [], []
        for k, (dy, dx) in enumerate(self.NEIGHBOURS):
            # pairs (pixel, neighbour) both inside the map
            ys = slice(max(-dy, 0), h - max(dy, 0))
            xs = slice(max(-dx, 0), w - max(dx, 0))
            nys = slice(max(dy, 0), h - max(-dy, 0))
            nxs = slice(max(dx, 0), w - max(-dx, 0))
            ok = positive[ys, xs] & positive[nys, nxs] & links[ys, xs, k]
            rows.append(index[ys, xs][ok])
            cols.append(index[nys, nxs][ok])
        rows, cols = np.concatenate(rows), np.concatenate(cols)
        graph = coo_matrix((np.ones(len(rows), np.int8), (rows, cols)), shape=(h * w, h * w))
        _, component = connected_components(graph, directed=False)
        flat = positive.ravel()
        labels = np.zeros(h * w, np.int32)
        _, dense = np.unique(component[flat], return_inverse=True)
        labels[flat] = dense + 1
        return labels.reshape(h, w), int(dense.max() + 1) if flat.any() else 0

    def boxes(self, labels, count, pixel, sx, sy) -> Found:
        quads, scores = [], []
        ys, xs = np.nonzero(labels)
        ids = labels[ys, xs]
        order = np.argsort(ids, kind="stable")
        ys, xs, ids = ys[order], xs[order], ids[order]
        bounds = np.searchsorted(ids, np.arange(1, count + 2))
        for k in range(count):
            cy, cx = ys[bounds[k]:bounds[k + 1]], xs[bounds[k]:bounds[k + 1]]
            # every corner of every cell, in frame pixels: the area the cells cover once scaled up
            corners = np.concatenate([np.stack([cx + ox, cy + oy], 1) for ox in (0, 1) for oy in (0, 1)])
            rect = cv2.minAreaRect((corners * np.array([sx, sy])).astype(np.float32))
            (rw, rh) = rect[1]
            if min(rw, rh) < self.min_side or rw * rh < self.min_area:
                continue
            quads.append(rect_quad(rect))
            scores.append(float(pixel[cy, cx].mean()))
        if not quads:
            return Found.empty()
        return Found(np.stack(quads), np.array(scores, np.float32))


class DbDetector(TextDetector):
    """PaddleOCR DB (differentiable binarization): a text probability map. Regions above the binarization
    threshold whose mean probability passes the box threshold become their minimum-area rectangles, grown
    by `unclip` (the shrink the model was trained with, undone: offset = area * unclip / perimeter)."""

    name = "db"
    expects = "one probability map [N,1,H,W]"
    STRIDE = 32

    @staticmethod
    def fits(model: ov.Model) -> bool:
        return len(model.outputs) == 1 and len(port_shape(model.output(0))) == 4 and port_shape(model.output(0))[1] == 1

    def __init__(self, resolved, threshold, side: int | None = None):
        super().__init__(resolved, threshold)
        self.side = side

    def input_size(self, frame_size: tuple[int, int] | None) -> tuple[int, int]:
        """(w, h), multiples of 32: the frame scaled to fit `side` (--det-size), else scaled down only as far
        as PaddleOCR's limit of 960 on the longer side; a square of that size for frames of various sizes."""
        limit = int(self.params.get("limit_side", 960))
        if frame_size is None:
            side = self.side or limit
            return side, side
        w, h = frame_size
        ratio = (self.side / max(w, h)) if self.side else min(1.0, limit / max(w, h))
        return tuple(max(self.STRIDE, int(round(v * ratio / self.STRIDE)) * self.STRIDE) for v in (w, h))

    def prepare(self, model, frame_size) -> None:
        if not self.fits(model):
            raise self.mismatch(model)
        self.output = sorted(model.output(0).get_names())[0]
        port = model.input(0)
        if model_input_size(model, input_layout(model, self.spec)) is None:  # dynamic: give it a static size
            w, h = self.input_size(frame_size)
            shape = port.get_partial_shape()
            model.reshape({port: ov.PartialShape([1 if shape[0].is_dynamic else shape[0], shape[1], h, w])})
        self.bin_threshold = float(self.params.get("bin_threshold", 0.3))
        self.unclip = float(self.params.get("unclip", 1.5))
        self.max_candidates = int(self.params.get("max_candidates", 1000))
        self.min_side = float(self.params.get("min_side", 3))

    def decode(self, outputs, frame) -> Found:
        prob = outputs.get(self.output)[0, 0]
        mh, mw = prob.shape
        fh, fw = frame.image.shape[:2]
        bitmap = (prob > self.bin_threshold).astype(np.uint8)
        contours, _ = cv2.findContours(bitmap, cv2.RETR_LIST, cv2.CHAIN_APPROX_SIMPLE)
        quads, scores = [], []
        scale = np.array([fw / mw, fh / mh], np.float32)
        for contour in contours[:self.max_candidates]:
            rect = cv2.minAreaRect(contour)
            if min(rect[1]) < self.min_side:
                continue
            score = self.region_score(prob, contour.reshape(-1, 2))
            if score < self.threshold:
                continue
            (cx, cy), (rw, rh), angle = rect
            offset = rw * rh * self.unclip / (2 * (rw + rh))
            grown = ((cx, cy), (rw + 2 * offset, rh + 2 * offset), angle)
            if min(grown[1]) < self.min_side + 2:
                continue
            quad = rect_quad(grown) * scale
            quad[:, 0] = np.clip(quad[:, 0], 0, fw - 1)
            quad[:, 1] = np.clip(quad[:, 1], 0, fh - 1)
            quads.append(quad)
            scores.append(score)
        if not quads:
            return Found.empty()
        return Found(np.stack(quads).astype(np.float32), np.array(scores, np.float32))

    @staticmethod
    def region_score(prob: np.ndarray, points: np.ndarray) -> float:
        """Mean probability inside the region's own outline (PaddleOCR's "slow" score mode): unlike the
        mean inside its rectangle, it does not drop for curved lines, e.g. on a bent page."""
        h, w = prob.shape
        x1, y1 = np.clip(np.floor(points.min(0)).astype(int), 0, [w - 1, h - 1])
        x2, y2 = np.clip(np.ceil(points.max(0)).astype(int), 0, [w - 1, h - 1])
        mask = np.zeros((y2 - y1 + 1, x2 - x1 + 1), np.uint8)
        cv2.fillPoly(mask, [np.round(points - [x1, y1]).astype(np.int32)], 1)
        return float(cv2.mean(prob[y1:y2 + 1, x1:x2 + 1], mask)[0])


class SpottingDetector(TextDetector):
    """text-spotting-0005-detector: Mask R-CNN boxes [N,5] (input pixels), labels, 28x28 masks fitted into
    each box (their minimum-area rectangle is the rotated word box) and text features [N,64,28,28]."""

    name = "text-spotting"
    expects = "boxes [N,5], labels [N], masks [N,28,28] and text_features.0 [N,64,28,28]"

    @staticmethod
    def fits(model: ov.Model) -> bool:
        return any("text_features" in n for p in model.outputs for n in port_names(p))

    def prepare(self, model, frame_size) -> None:
        outs = {n: p for p in model.outputs for n in port_names(p)}
        self.features_name = next((n for n in ("text_features.0", "text_features") if n in outs), None)
        if not {"boxes", "masks"} <= set(outs) or self.features_name is None:
            raise self.mismatch(model)
        self.input_wh = model_input_size(model, input_layout(model, self.spec))
        if self.input_wh is None:
            raise DemoError(f"{self.resolved.name} has a dynamic input", "expected a fixed size such as 1280x768")

    def decode(self, outputs, frame) -> Found:
        boxes = outputs.get("boxes")
        keep = boxes[:, 4] > self.threshold
        if not keep.any():
            return Found.empty()
        fh, fw = frame.image.shape[:2]
        scale = np.array([fw / self.input_wh[0], fh / self.input_wh[1]] * 2, np.float32)
        frame_boxes = boxes[keep, :4] * scale
        masks = outputs.get("masks")[keep]
        quads = np.stack([self.mask_quad(b, m, fw, fh) for b, m in zip(frame_boxes, masks, strict=True)])
        return Found(quads, boxes[keep, 4].astype(np.float32), outputs.get(self.features_name)[keep])

    @staticmethod
    def mask_quad(box: np.ndarray, mask: np.ndarray, fw: int, fh: int) -> np.ndarray:
        """The rotated rectangle of the mask's pixels once the mask is stretched over its box."""
        x1, y1, x2, y2 = box
        w, h = max(int(round(x2 - x1)), 1), max(int(round(y2 - y1)), 1)
        resized = (cv2.resize(mask.astype(np.float32), (w, h)) > 0.5).astype(np.uint8)
        contours, _ = cv2.findContours(resized, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
        if not contours:
            return boxes_to_quads(box[None])[0]
        points = np.concatenate(contours).reshape(-1, 2).astype(np.float32) + [x1, y1]
        quad = rect_quad(cv2.minAreaRect(points))
        quad[:, 0] = np.clip(quad[:, 0], 0, fw - 1)
        quad[:, 1] = np.clip(quad[:, 1], 0, fh - 1)
        return quad


DETECTORS: dict[str, type[TextDetector]] = {
    "boxes": BoxesDetector, "ssd": BoxesDetector, "pixellink": PixelLinkDetector, "db": DbDetector,
    "text-spotting": SpottingDetector,
}


def choose_detector(model: ov.Model, spec: ModelSpec | None) -> type[TextDetector]:
    """By the spec's decoder, else by what the outputs look like."""
    if spec and spec.decoder in DETECTORS:
        return DETECTORS[spec.decoder]
    for detector in (SpottingDetector, PixelLinkDetector, DbDetector, BoxesDetector):
        if detector.fits(model):
            return detector
    raise DemoError("the model's outputs fit no text detector",
                    "expected boxes [N,5] (horizontal-text-detection), PixelLink pixel+link maps, a DB "
                    f"probability map [N,1,H,W] or Mask R-CNN text features; it has {describe_ports(model.outputs)}")
