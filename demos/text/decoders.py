"""Text detectors, on the one decoder contract (`ovdemo.common.engine.family.Decoder`): each turns one request's
outputs into words, `Detections` of class "text" whose `data["quad"]` (N, 4, 2) holds each word's
quadrilateral in frame pixels and whose box is that quad's bounding box.

  boxes          horizontal-text-detection-0001 (boxes [N,5] + labels): upright word boxes, read by the
                 reusable detector's SSD decoder (`demos.detector`)
  pixellink      text-detection-0003/0004: pixel and link maps, linked pixels joined into words, rotated boxes
  db             PaddleOCR DB detectors: probability map, threshold, contours, box score, box expansion (unclip)
  text-spotting  text-spotting-0005-detector: Mask R-CNN boxes, masks (for the rotated box) and text features
                 (`data["features"]`) that its own recognizer head reads
"""

from __future__ import annotations

import cv2
import numpy as np
import openvino as ov

from ovdemo.common.engine.family import Decoder
from ovdemo.common.engine.inference import ModelOutputs, find_port, port_key, port_names, port_shape
from ovdemo.common.errors import DemoError
from ovdemo.common.models.detector import SsdDecoder
from ovdemo.common.models.specs import ModelSpec
from ovdemo.common.results import Detections
from ovdemo.common.scores import softmax

NAMES = ("text",)  # every word is of the one class "text"


def words(quads, scores, features: np.ndarray | None = None) -> Detections:
    """Words as `Detections`: each quad's bounding box, its detection score, class "text", the quad in
    `data["quad"]` (and the text-spotting features the recognizer needs in `data["features"]`)."""
    quads = np.asarray(quads, np.float32).reshape(-1, 4, 2)
    xyxy = np.concatenate([quads.min(axis=1), quads.max(axis=1)], axis=1) if len(quads) else np.zeros((0, 4))
    data: dict = {"quad": quads}
    if features is not None:
        data["features"] = features
    return Detections(xyxy, scores, np.zeros(len(quads), np.int32), data=data, names=NAMES)


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


class TextDecoder(Decoder):
    """A text detector's decoder: `decode` gives words (see `words`)."""

    @property
    def params(self) -> dict:
        return self.spec.params

    @classmethod
    def dynamic_size(cls, spec: ModelSpec, frame_size: tuple[int, int] | None,
                     side: int | None) -> tuple[int, int]:
        """The (w, h) to give a model whose input size is dynamic (--input-size: `side`); decoders of
        fixed-size models refuse."""
        raise DemoError(f"the {cls.name} text detector needs a model with a fixed input size",
                        "reshape the model to a fixed size")

    def decode(self, outputs: ModelOutputs, frame_size: tuple[int, int]) -> Detections:
        raise NotImplementedError


class BoxesDecoder(TextDecoder):
    """Axis-aligned word boxes from an SSD-style detector (horizontal-text-detection-0001: boxes [N,5] in
    input pixels + labels), decoded by the reusable detector's SSD decoder."""

    name = "boxes"
    expects = "boxes [N,5] with labels [N], or DetectionOutput [1,1,N,7]"

    @classmethod
    def fits(cls, model: ov.Model) -> bool:
        return SsdDecoder.fits(model)

    def bind(self, model: ov.Model) -> None:
        try:
            self.boxes = SsdDecoder(model, self.setup)
        except DemoError:
            raise self.mismatch(model.outputs) from None

    def decode(self, outputs, frame_size) -> Detections:
        found = self.boxes.decode(outputs, frame_size)
        return words(boxes_to_quads(found.xyxy), found.confidence)


class PixelLinkDecoder(TextDecoder):
    """PixelLink: a text/no-text pair of logits per pixel, and 8 neighbour-link pairs. Text pixels joined
    by positive links form one word; each word's minimum-area rectangle is its rotated box."""

    name = "pixellink"
    expects = "a pixel map with 2 channels and a link map with 16 (model/segm_logits/add, model/link_logits_/add)"
    # neighbours in the order the link channels come: row by row around the pixel, centre skipped
    NEIGHBOURS = [(dy, dx) for dy in (-1, 0, 1) for dx in (-1, 0, 1) if (dy, dx) != (0, 0)]

    @staticmethod
    def _channels(shape: list) -> int | None:
        if len(shape) != 4:
            return None
        return next((size for size in (16, 2) if size in (shape[1], shape[3])), None)

    @classmethod
    def fits(cls, model: ov.Model) -> bool:
        return sorted(filter(None, (cls._channels(port_shape(p)) for p in model.outputs))) == [2, 16]

    def bind(self, model: ov.Model) -> None:
        ports = model.outputs
        pixel = find_port(ports, ("model/segm_logits/add",), lambda s: self._channels(s) == 2)
        link = find_port(ports, ("model/link_logits_/add",), lambda s: self._channels(s) == 16)
        if pixel is None or link is None:
            raise self.mismatch(ports)
        self.pixel_key, self.link_key = port_key(pixel), port_key(link)
        self.pixel_threshold = float(self.params.get("pixel_threshold", 0.8))
        self.link_threshold = float(self.params.get("link_threshold", 0.8))
        self.min_area = float(self.params.get("min_area", 300))
        self.min_side = float(self.params.get("min_side", 10))

    @staticmethod
    def _hwc(array: np.ndarray, channels: int) -> np.ndarray:
        array = array[0]
        return array if array.shape[-1] == channels else array.transpose(1, 2, 0)

    def decode(self, outputs, frame_size) -> Detections:
        pixel = softmax(self._hwc(outputs.get(self.pixel_key), 2))[..., 1]
        h, w = pixel.shape
        link = softmax(self._hwc(outputs.get(self.link_key), 16).reshape(h, w, 8, 2))[..., 1]
        labels, count = self.join(pixel >= self.pixel_threshold, link >= self.link_threshold)
        return self.boxes(labels, count, pixel, frame_size[0] / w, frame_size[1] / h)

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
        from scipy.sparse import coo_matrix  # late: scipy's import costs every run, PixelLink only needs it
        from scipy.sparse.csgraph import connected_components

        graph = coo_matrix((np.ones(len(rows), np.int8), (rows, cols)), shape=(h * w, h * w))
        _, component = connected_components(graph, directed=False)
        flat = positive.ravel()
        labels = np.zeros(h * w, np.int32)
        _, dense = np.unique(component[flat], return_inverse=True)
        labels[flat] = dense + 1
        return labels.reshape(h, w), int(dense.max() + 1) if flat.any() else 0

    def boxes(self, labels, count, pixel, sx, sy) -> Detections:
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
        return words(quads, scores)


class DbDecoder(TextDecoder):
    """PaddleOCR DB (differentiable binarization): a text probability map. Regions above the binarization
    threshold whose mean probability passes the box threshold become their minimum-area rectangles, grown
    by `unclip` (the shrink the model was trained with, undone: offset = area * unclip / perimeter)."""

    name = "db"
    expects = "one probability map [N,1,H,W]"
    STRIDE = 32

    @classmethod
    def fits(cls, model: ov.Model) -> bool:
        """One map of one channel at the input's own resolution (not, e.g., a DetectionOutput [1,1,N,7])."""
        shape = port_shape(model.output(0)) if len(model.outputs) == 1 else []
        image = port_shape(model.input(0)) if len(model.inputs) == 1 else []
        return len(shape) == 4 and shape[1] == 1 and len(image) == 4 and shape[2:] == image[2:]

    @classmethod
    def dynamic_size(cls, spec, frame_size, side):
        """(w, h), multiples of 32: the frame scaled to fit `side` (--input-size), else scaled down only as
        far as PaddleOCR's limit of 960 on the longer side; a square of that size for frames of various sizes."""
        limit = int(spec.params.get("limit_side", 960))
        if frame_size is None:
            side = side or limit
            return side, side
        w, h = frame_size
        ratio = (side / max(w, h)) if side else min(1.0, limit / max(w, h))
        return tuple(max(cls.STRIDE, int(round(v * ratio / cls.STRIDE)) * cls.STRIDE) for v in (w, h))

    def bind(self, model: ov.Model) -> None:
        if not self.fits(model):
            raise self.mismatch(model.outputs)
        self.output = port_key(model.output(0))
        self.bin_threshold = float(self.params.get("bin_threshold", 0.3))
        self.unclip = float(self.params.get("unclip", 1.5))
        self.max_candidates = int(self.params.get("max_candidates", 1000))
        self.min_side = float(self.params.get("min_side", 3))

    def decode(self, outputs, frame_size) -> Detections:
        prob = outputs.get(self.output)[0, 0]
        mh, mw = prob.shape
        fw, fh = frame_size
        bitmap = (prob > self.bin_threshold).astype(np.uint8)
        contours, _ = cv2.findContours(bitmap, cv2.RETR_LIST, cv2.CHAIN_APPROX_SIMPLE)
        quads, scores = [], []
        scale = np.array([fw / mw, fh / mh], np.float32)
        for contour in contours[:self.max_candidates]:
            rect = cv2.minAreaRect(contour)
            if min(rect[1]) < self.min_side:
                continue
            score = self.region_score(prob, contour.reshape(-1, 2))
            if score < self.setup.threshold:
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
        return words(quads, scores)

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


class SpottingDecoder(TextDecoder):
    """text-spotting-0005-detector: Mask R-CNN boxes [N,5] (input pixels), labels, 28x28 masks fitted into
    each box (their minimum-area rectangle is the rotated word box) and text features [N,64,28,28]."""

    name = "text-spotting"
    expects = "boxes [N,5], labels [N], masks [N,28,28] and text_features.0 [N,64,28,28]"

    @classmethod
    def fits(cls, model: ov.Model) -> bool:
        return any("text_features" in n for p in model.outputs for n in port_names(p))

    def bind(self, model: ov.Model) -> None:
        ports = model.outputs
        boxes, masks = find_port(ports, ("boxes",)), find_port(ports, ("masks",))
        features = find_port(ports, ("text_features.0", "text_features"))
        if boxes is None or masks is None or features is None:
            raise self.mismatch(ports)
        self.boxes_key, self.masks_key, self.features_key = port_key(boxes), port_key(masks), port_key(features)
        if self.setup.input_size is None:
            raise DemoError("the text-spotting detector has a dynamic input", "expected a fixed size such as 1280x768")

    def decode(self, outputs, frame_size) -> Detections:
        boxes = outputs.get(self.boxes_key)
        keep = boxes[:, 4] > self.setup.threshold
        if not keep.any():
            return words([], [])
        fw, fh = frame_size
        in_w, in_h = self.setup.input_size
        scale = np.array([fw / in_w, fh / in_h] * 2, np.float32)
        frame_boxes = boxes[keep, :4] * scale
        masks = outputs.get(self.masks_key)[keep]
        quads = np.stack([self.mask_quad(b, m, fw, fh) for b, m in zip(frame_boxes, masks, strict=True)])
        return words(quads, boxes[keep, 4], outputs.get(self.features_key)[keep])

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


# In the order `choose_decoder` tries their `fits`: text spotting first (it has boxes [N,5] too), plain boxes last.
DECODERS: dict[str, type[TextDecoder]] = {
    "text-spotting": SpottingDecoder, "pixellink": PixelLinkDecoder, "db": DbDecoder, "boxes": BoxesDecoder,
}
