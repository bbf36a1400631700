"""The reusable detector: decoders for every detection output family of Open Model Zoo's detection table,
and `Detector`, which any family with a detection model (detect, track, face, top-down pose, text) binds once.

Each decoder follows the one decoder contract (`ovdemo.common.engine.family.Decoder`): bound to a model once (`bind`
finds its outputs by name, else by shape, and raises a DemoError naming what it expected and what the model
has), then `decode` turns one request's outputs into `Detections` in frame pixels.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import ClassVar

import numpy as np
import openvino as ov

from ovdemo.common.engine.family import Decoder, DecoderSetup, choose_decoder
from ovdemo.common.engine.inference import ModelOutputs, find_port, input_layout, model_input_size, port_key, port_shape
from ovdemo.common.errors import DemoError
from ovdemo.common.models.letterbox import LETTERBOX, padded_size
from ovdemo.common.models.resolve import ResolvedModel
from ovdemo.common.results import Detections, clip_boxes, nms
from ovdemo.common.scores import sigmoid

from . import yolo_heads


def in_frame(boxes: np.ndarray, scores: np.ndarray, class_ids: np.ndarray, frame_size: tuple[int, int],
             names: tuple[str, ...] | None, seen_size: tuple[int, int] | None = None,
             landmarks: np.ndarray | None = None, data: dict | None = None) -> Detections:
    """Boxes normalised to [0, 1] of what the model saw (the frame, or the frame letterboxed to `seen_size`) as
    Detections in frame pixels: clipped to the frame, and without the boxes that collapse to nothing there.
    Normalised `landmarks` (N, K, 2) come along as data["landmarks"] in frame pixels; `data` (already in frame
    pixels) as it is."""
    w, h = frame_size
    sw, sh = seen_size or frame_size
    pixels = clip_boxes(np.asarray(boxes, np.float32).reshape(-1, 4) * np.array([sw, sh, sw, sh], np.float32), w, h)
    data = dict(data or {})
    if landmarks is not None:
        data["landmarks"] = np.asarray(landmarks, np.float32) * np.array([sw, sh], np.float32)
    keep = ((pixels[:, 2:] - pixels[:, :2]) > 1).all(axis=1)
    if not keep.all():  # (selected before the Detections is made: a frame's objects are built once)
        pixels, scores, class_ids = pixels[keep], np.asarray(scores)[keep], np.asarray(class_ids)[keep]
        data = {key: np.asarray(value)[keep] for key, value in data.items()}
    return Detections(pixels, scores, class_ids, data=data, names=names)


class DetectionDecoder(Decoder):
    """A detection decoder: `candidates` gives normalised boxes, `decode` puts them in the frame."""

    gives_landmarks: ClassVar[bool] = False  # its detections carry data["landmarks"] (faces' five points)

    @property
    def input_size(self) -> tuple[int, int] | None:
        return self.setup.input_size

    def candidates(self, outputs: ModelOutputs, threshold: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(boxes (N, 4) normalised x1y1x2y2, scores (N,), class ids (N,)) at or above `threshold`."""
        raise NotImplementedError

    def seen_size(self, frame_size: tuple[int, int]) -> tuple[int, int]:
        """The size of the image the model saw, in frame pixels: the frame, or the frame letterboxed."""
        if self.spec.resize == LETTERBOX and self.input_size is not None:
            return padded_size(frame_size, self.input_size)
        return frame_size

    def decode(self, outputs: ModelOutputs, frame_size: tuple[int, int]) -> Detections:
        boxes, scores, class_ids = self.candidates(outputs, self.setup.threshold)
        return in_frame(boxes, scores, class_ids, frame_size, self.setup.names, self.seen_size(frame_size))


class SsdDecoder(DetectionDecoder):
    """DetectionOutput rows [image_id, label, conf, x1, y1, x2, y2] (normalised), or boxes [N,5] + labels [N]."""

    name = "ssd"
    expects = "DetectionOutput [1,1,N,7] (detection_out), or boxes [N,5] with labels [N]"

    @classmethod
    def fits(cls, model: ov.Model) -> bool:
        ports = model.outputs
        return any(port_shape(p)[-1:] == [7] for p in ports) or any(
            len(port_shape(p)) in (2, 3) and port_shape(p)[-1:] == [5] for p in ports)

    def bind(self, model: ov.Model) -> None:
        ports = model.outputs
        self.detection_out = find_port(ports, ("detection_out", "DetectionOutput"),
                                   lambda s: len(s) == 4 and s[-1] == 7)
        self.boxes = self.labels = None
        self.detection_out_key = None if self.detection_out is None else port_key(self.detection_out)
        if self.detection_out is None:
            self.boxes = find_port(ports, ("boxes",), lambda s: len(s) in (2, 3) and s[-1] == 5)
            self.labels = find_port(ports, ("labels",), None)
            if self.boxes is None:
                raise self.mismatch(ports)
            if self.input_size is None:
                raise DemoError("boxes [N,5] are in input pixels, but the model's input size is dynamic",
                                "reshape the model to a fixed input size")

    def candidates(self, outputs, threshold):
        if self.detection_out is not None:
            rows = outputs.get(self.detection_out_key).reshape(-1, 7)
            ends = rows[:, 0] < 0
            rows = rows[: ends.argmax()] if ends.any() else rows  # rows after the first image_id < 0 are padding
            rows = rows[rows[:, 2] >= threshold]  # (a copy: the boxes and scores below are its own)
            return rows[:, 3:7], rows[:, 2], rows[:, 1].astype(np.int32)
        boxes = outputs.get(port_key(self.boxes)).reshape(-1, 5)
        if self.labels is not None:
            labels = outputs.get(port_key(self.labels)).reshape(-1).astype(np.int32)
        else:
            labels = np.zeros(len(boxes), np.int32)
        keep = boxes[:, 4] >= threshold
        boxes, labels = boxes[keep], labels[keep]
        w, h = self.input_size
        return boxes[:, :4] / np.array([w, h, w, h], np.float32), boxes[:, 4].copy(), labels


class TfOdDecoder(DetectionDecoder):
    """TensorFlow Object Detection API: detection_boxes (ymin, xmin, ymax, xmax), scores, classes, count."""

    name = "tf-od"
    expects = "detection_boxes [1,N,4], detection_scores [1,N], detection_classes [1,N], num_detections [1]"

    @classmethod
    def fits(cls, model: ov.Model) -> bool:
        wanted = ("detection_boxes", "detection_scores", "detection_classes")
        return all(find_port(model.outputs, (n,)) is not None for n in wanted)

    def bind(self, model: ov.Model) -> None:
        ports = model.outputs
        found = [find_port(ports, (n,)) for n in ("detection_boxes", "detection_scores", "detection_classes")]
        if any(p is None for p in found):
            raise self.mismatch(ports)
        self.ports = [port_key(p) for p in found]
        count = find_port(ports, ("num_detections",))
        self.count = port_key(count) if count is not None else None

    def candidates(self, outputs, threshold):
        boxes = outputs.get(self.ports[0]).reshape(-1, 4)
        scores = outputs.get(self.ports[1]).reshape(-1)
        classes = outputs.get(self.ports[2]).reshape(-1)
        if self.count is not None:
            n = int(outputs.get(self.count).reshape(-1)[0])
            boxes, scores, classes = boxes[:n], scores[:n], classes[:n]
        keep = scores >= threshold
        boxes = boxes[keep][:, [1, 0, 3, 2]]  # to x1, y1, x2, y2
        return boxes, scores[keep].copy(), np.rint(classes[keep]).astype(np.int32)


@dataclass
class YoloHead:
    key: str
    grid: tuple[int, int]  # (rows, cols)
    anchors: np.ndarray  # (A, 2) for this head
    classes: int
    activated: bool  # RegionYolo already applied sigmoid (and softmax for v2)
    anchors_in_cells: bool  # YOLO v2: anchors in grid cells; v3: in input pixels
    channels_last: bool


class YoloDecoder(DetectionDecoder):
    """YOLO v2/v3 region outputs: per anchor [x, y, w, h, objectness, class scores...] per grid cell.

    Anchors, classes and masks are read from the RegionYolo ops in the IR (OpenVINO's own YOLO layer);
    raw convolution outputs (no RegionYolo) use the spec's anchors/masks and get their sigmoid here."""

    name = "yolo"
    expects = "YOLO region outputs [1, A*(5+C), H, W] (or flattened [1, A*(5+C)*H*W] from RegionYolo)"

    @classmethod
    def fits(cls, model: ov.Model) -> bool:
        return any(op.get_type_name() == "RegionYolo" for op in model.get_ordered_ops())

    def bind(self, model: ov.Model) -> None:
        ports = model.outputs
        if self.input_size is None:
            raise DemoError("YOLO decoding needs a fixed model input size", "reshape the model to a fixed size")
        regions = {op.get_friendly_name(): op for op in model.get_ordered_ops() if op.get_type_name() == "RegionYolo"}
        self.heads: list[YoloHead] = []
        params = self.spec.params
        spec_anchors = np.asarray(params.get("anchors", []), np.float32).reshape(-1, 2)
        raw_ports = []
        for port in ports:
            producer = port.get_node().input_value(0).get_node() if port.get_node().get_type_name() == "Result" \
                else port.get_node()
            region = producer if producer.get_type_name() == "RegionYolo" else None
            if region is None:
                region = next((op for name, op in regions.items() if name and name in port.get_any_name()), None)
            if region is not None:
                self.heads.append(self._region_head(port, region, spec_anchors))
            else:
                raw_ports.append(port)
        if raw_ports and not self.heads:
            self._raw_heads(raw_ports, params)
        if not self.heads:
            raise self.mismatch(ports)

    def _region_head(self, port, region, spec_anchors) -> YoloHead:
        attrs = region.get_attributes()
        classes, num, coords = int(attrs["classes"]), int(attrs["num"]), int(attrs.get("coords", 4))
        if coords != 4:
            raise DemoError(f"RegionYolo with {coords} coordinates is not supported", "expected 4")
        anchors = np.asarray(attrs.get("anchors") or [], np.float32).reshape(-1, 2)
        if not len(anchors):
            anchors = spec_anchors
        mask = [int(m) for m in attrs.get("mask") or []]
        v3 = bool(mask) and not attrs.get("do_softmax", False)
        anchors = anchors[mask] if v3 else anchors[:num]
        if len(anchors) == 0:
            raise DemoError(f"no anchors for YOLO output {port.get_any_name()}", "add `anchors` to the model's spec")
        in_shape = [d.get_length() for d in region.input(0).get_partial_shape()]
        return YoloHead(port_key(port), (in_shape[2], in_shape[3]), anchors, classes,
                        activated=True, anchors_in_cells=not v3, channels_last=False)

    def _raw_heads(self, ports, params) -> None:
        """Plain convolution outputs (YOLOv3/v4 exported without RegionYolo): largest grid gets the first mask."""
        anchors = np.asarray(params.get("anchors", []), np.float32).reshape(-1, 2)
        masks = params.get("masks")
        shapes = [(p, port_shape(p)) for p in ports if len(port_shape(p)) == 4]
        if not len(anchors) or not shapes:
            return
        per_head = len(anchors) // len(shapes)
        masks = np.asarray(masks if masks else range(len(anchors)), int).reshape(len(shapes), per_head)
        shapes.sort(key=lambda ps: -(ps[1][2] * ps[1][3] if ps[1][1] > ps[1][3] else ps[1][1] * ps[1][2]))
        for (port, shape), mask in zip(shapes, masks, strict=True):
            channels_last = shape[3] % per_head == 0 and shape[3] > shape[1]
            c = shape[3] if channels_last else shape[1]
            grid = (shape[1], shape[2]) if channels_last else (shape[2], shape[3])
            self.heads.append(YoloHead(port_key(port), grid, anchors[mask], c // per_head - 5,
                                       activated=False, anchors_in_cells=False, channels_last=channels_last))

    def candidates(self, outputs, threshold):
        all_boxes, all_scores, all_labels = [], [], []
        in_w, in_h = self.input_size
        for head in self.heads:
            data = outputs.get(head.key)
            rows, cols = head.grid
            a, k = len(head.anchors), 5 + head.classes
            if head.channels_last:
                data = data.reshape(rows, cols, a, k).transpose(2, 3, 0, 1)
            else:
                data = data.reshape(a, k, rows, cols)
            if not head.activated:
                data = data.copy()
                data[:, [0, 1, 4]] = sigmoid(data[:, [0, 1, 4]])
                data[:, 5:] = sigmoid(data[:, 5:])
            objectness = data[:, 4]
            probs = data[:, 5:] * objectness[:, None]  # (A, C, rows, cols)
            # every class of a box that reaches the threshold is a detection (Open Model Zoo's decode): a box
            # that is mostly "cat" can still be a "person" above the threshold, which NMS keeps apart
            anchor_i, label_i, row_i, col_i = np.nonzero(probs >= threshold)
            if not len(anchor_i):
                continue
            x = (col_i + data[anchor_i, 0, row_i, col_i]) / cols
            y = (row_i + data[anchor_i, 1, row_i, col_i]) / rows
            norm = np.array([cols, rows], np.float32) if head.anchors_in_cells else np.array([in_w, in_h], np.float32)
            wh = np.exp(data[anchor_i, 2:4, row_i, col_i]) * head.anchors[anchor_i] / norm
            all_boxes.append(np.stack([x - wh[:, 0] / 2, y - wh[:, 1] / 2, x + wh[:, 0] / 2, y + wh[:, 1] / 2], 1))
            all_scores.append(probs[anchor_i, label_i, row_i, col_i])
            all_labels.append(label_i)
        if not all_boxes:
            return np.zeros((0, 4), np.float32), np.zeros(0, np.float32), np.zeros(0, np.int32)
        boxes = np.concatenate(all_boxes).astype(np.float32)
        scores = np.concatenate(all_scores).astype(np.float32)
        labels = np.concatenate(all_labels).astype(np.int32)
        keep = nms(boxes, scores, labels, threshold, self.spec.iou)
        return boxes[keep], scores[keep], labels[keep]


class RetinaFaceDecoder(DetectionDecoder):
    """RetinaFace: faces with five landmarks (eyes, nose tip, mouth corners), in either published layout.

    InsightFace's (the MXNet model card, retinaface-resnet50): per stride s in 32, 16, 8 three outputs
    `face_rpn_cls_prob_reshape_stride<s>` [1,2A,H,W] (background for A anchors, then face), `face_rpn_bbox_pred_
    stride<s>` [1,4A,H,W] and `face_rpn_landmark_pred_stride<s>` [1,10A,H,W]; the anchors of a cell are squares of
    16 * scale pixels centred on the cell's (7.5, 7.5) + s * (column, row), scales (32, 16), (8, 4), (2, 1).
    The PyTorch port's (biubug6/Pytorch_Retinaface, retinaface-resnet50-pytorch): `face_rpn_cls_prob` [1,N,2],
    `face_rpn_bbox_pred` [1,N,4] and `face_rpn_landmark_pred` [1,N,10] over all priors at once, priors of min
    sizes (16, 32), (64, 128), (256, 512) at strides 8, 16, 32, offsets scaled by the variances 0.1 and 0.2.
    A spec may give other `anchor_scales` ({stride = [scales]}) or `min_sizes` (per stride, smallest first)."""

    name = "retinaface"
    gives_landmarks = True
    expects = ("RetinaFace outputs face_rpn_cls_prob_reshape_stride{32,16,8} [1,2A,H,W] with bbox_pred [1,4A,H,W] "
               "and landmark_pred [1,10A,H,W]; or face_rpn_cls_prob [1,N,2], bbox_pred [1,N,4], landmark_pred [1,N,10]")
    ANCHOR_SCALES = {32: (32, 16), 16: (8, 4), 8: (2, 1)}
    MIN_SIZES = {8: (16, 32), 16: (64, 128), 32: (256, 512)}
    VARIANCES = (0.1, 0.2)

    @classmethod
    def fits(cls, model: ov.Model) -> bool:
        names = {n for p in model.outputs for n in p.get_names()}
        return any(n.startswith("face_rpn_cls_prob") for n in names)

    def bind(self, model: ov.Model) -> None:
        ports = model.outputs
        if self.input_size is None:
            raise DemoError("RetinaFace decoding needs a fixed model input size", "reshape the model to a fixed size")
        self.strides: list[tuple[int, str, str, str]] = []  # (stride, cls, bbox, landmark) keys, per-stride layout
        for stride in sorted({int(s) for s in self.spec.params.get("anchor_scales", self.ANCHOR_SCALES)}, reverse=True):
            found = [find_port(ports, (f"face_rpn_{kind}_stride{stride}",))
                     for kind in ("cls_prob_reshape", "bbox_pred", "landmark_pred")]
            if all(p is not None for p in found):
                self.strides.append((stride, *(port_key(p) for p in found)))
        self.joint = None
        if not self.strides:
            found = [find_port(ports, (f"face_rpn_{kind}",), lambda s, k=k: len(s) == 3 and s[-1] == k)
                     for kind, k in (("cls_prob", 2), ("bbox_pred", 4), ("landmark_pred", 10))]
            if any(p is None for p in found):
                raise self.mismatch(ports)
            self.joint = [port_key(p) for p in found]
            self.priors = self._priors()

    def _priors(self) -> np.ndarray:
        """(N, 4) normalised cx, cy, w, h of the PyTorch port's priors, in its order: stride, row, column, size."""
        w, h = self.input_size
        min_sizes = self.spec.params.get("min_sizes", self.MIN_SIZES)
        priors = []
        for stride, sizes in sorted((int(k), v) for k, v in min_sizes.items()):
            rows, cols = -(-h // stride), -(-w // stride)
            cy, cx, size = np.meshgrid(np.arange(rows), np.arange(cols), np.asarray(sizes, np.float32), indexing="ij")
            priors.append(np.stack([(cx + 0.5) * stride / w, (cy + 0.5) * stride / h, size / w, size / h],
                                   -1).reshape(-1, 4))
        return np.concatenate(priors).astype(np.float32)

    def faces(self, outputs: ModelOutputs, threshold: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(boxes (N, 4), scores (N,), landmarks (N, 5, 2)), normalised to the input, before NMS."""
        if self.joint is not None:
            scores, deltas, points = (outputs.get(k)[0] for k in self.joint)
            keep = np.flatnonzero(scores[:, 1] >= threshold)
            prior, d = self.priors[keep], deltas[keep]
            small, large = self.VARIANCES
            centre = prior[:, :2] + d[:, :2] * small * prior[:, 2:]
            size = prior[:, 2:] * np.exp(d[:, 2:] * large)
            landmarks = prior[:, None, :2] + points[keep].reshape(-1, 5, 2) * small * prior[:, None, 2:]
            return np.concatenate([centre - size / 2, centre + size / 2], 1), scores[keep, 1], landmarks
        boxes, scores, landmarks = [], [], []
        scales = {int(k): v for k, v in self.spec.params.get("anchor_scales", self.ANCHOR_SCALES).items()}
        for stride, cls_key, box_key, point_key in self.strides:
            probs = outputs.get(cls_key)[0]
            anchors = probs.shape[0] // 2
            face = probs[anchors:].transpose(1, 2, 0).reshape(-1)  # order: row, column, anchor
            keep = np.flatnonzero(face >= threshold)
            if not len(keep):
                continue
            cells, anchor = np.divmod(keep, anchors)
            row, col = np.divmod(cells, probs.shape[2])
            size = 16.0 * np.asarray(scales[stride], np.float32)[anchor]
            centre = np.stack([7.5 + col * stride, 7.5 + row * stride], 1).astype(np.float32)
            d = outputs.get(box_key)[0].transpose(1, 2, 0).reshape(-1, 4)[keep]
            mid = centre + d[:, :2] * size[:, None]
            half = 0.5 * (np.exp(d[:, 2:]) * size[:, None] - 1.0)
            points = outputs.get(point_key)[0].transpose(1, 2, 0).reshape(-1, 5, 2)[keep]
            boxes.append(np.concatenate([mid - half, mid + half], 1))
            scores.append(face[keep])
            landmarks.append(centre[:, None] + points * size[:, None, None])
        if not boxes:
            return np.zeros((0, 4), np.float32), np.zeros(0, np.float32), np.zeros((0, 5, 2), np.float32)
        scale = np.asarray(self.input_size, np.float32)
        return (np.concatenate(boxes) / np.tile(scale, 2), np.concatenate(scores),
                np.concatenate(landmarks) / scale)

    def decode(self, outputs: ModelOutputs, frame_size: tuple[int, int]) -> Detections:
        boxes, scores, landmarks = self.faces(outputs, self.setup.threshold)
        labels = np.zeros(len(scores), np.int32)
        keep = nms(boxes.astype(np.float32), scores.astype(np.float32), labels, self.setup.threshold, self.spec.iou)
        return in_frame(boxes[keep], scores[keep], labels[keep], frame_size, self.setup.names,
                        self.seen_size(frame_size), landmarks[keep])


class UltralyticsDecoder(DetectionDecoder):
    """An Ultralytics YOLO detection head (yolo_heads.py); the input is the frame letterboxed, centred."""

    def bind(self, model: ov.Model) -> None:
        self.port = self.find(model)
        if self.port is None:
            raise self.mismatch(model.outputs)
        self.key = port_key(self.port)
        self.size = yolo_heads.input_size_of(model)
        self.agnostic = bool(self.spec.params.get("agnostic_nms"))

    @classmethod
    def find(cls, model: ov.Model):
        return yolo_heads.anchor_free_port(model)

    def found(self, output: np.ndarray) -> yolo_heads.Found:
        raise NotImplementedError

    def extras(self, found: yolo_heads.Found, letterbox: yolo_heads.Letterbox) -> dict:
        return {}

    def decode(self, outputs: ModelOutputs, frame_size: tuple[int, int]) -> Detections:
        found = self.found(outputs.get(self.key))
        letterbox = yolo_heads.Letterbox.of(frame_size, self.size)
        w, h = frame_size
        return in_frame(letterbox.boxes(found.boxes) / np.array([w, h, w, h], np.float32), found.scores,
                        found.class_ids, frame_size, self.setup.names, data=self.extras(found, letterbox))


class YoloV8Decoder(UltralyticsDecoder):
    """YOLOv8, v9, 11, 12: `output0` [1, 4+nc, anchors]."""

    name = "yolov8"
    expects = "YOLOv8/11 output0 [1,4+nc,anchors] (8400 anchors at 640x640)"

    @classmethod
    def fits(cls, model: ov.Model) -> bool:
        return yolo_heads.fits_anchor_free(model)

    def found(self, output):
        return yolo_heads.anchor_free(output, output.shape[-2] - 4, self.setup.threshold, self.spec.iou,
                                      self.agnostic)


class YoloObbDecoder(UltralyticsDecoder):
    """Oriented boxes (YOLOv8/11-obb): `output0` [1, 4+nc+1, anchors], the last row each box's angle; each
    detection's corners are data["quad"], its box their extent."""

    name = "yolov8-obb"
    expects = "YOLOv8/11-obb output0 [1,4+nc+1,anchors] (the last row the angle in radians)"

    @classmethod
    def fits(cls, model: ov.Model) -> bool:  # as a detect head does: the spec's task tells them apart
        return yolo_heads.fits_anchor_free(model, extra=1)

    def found(self, output):
        found = yolo_heads.anchor_free(output, output.shape[-2] - 5, self.setup.threshold, self.spec.iou,
                                       self.agnostic, rotated=True)
        found.quad = yolo_heads.rotated_corners(found.rows[:, :4], found.rows[:, -1])
        found.boxes = np.concatenate([found.quad.min(axis=1), found.quad.max(axis=1)], axis=1)
        return found

    def extras(self, found, letterbox):
        return {"quad": letterbox.points(found.quad)}


class YoloEndToEndDecoder(UltralyticsDecoder):
    """End-to-end heads without NMS (YOLOv10, YOLO26): [1, N, 6] rows x1, y1, x2, y2, score, class."""

    name = "yolov10"
    expects = "YOLOv10/YOLO26 end-to-end output0 [1,N,6] (x1, y1, x2, y2, score, class in input pixels)"

    @classmethod
    def find(cls, model: ov.Model):
        counts = yolo_heads.anchor_counts(model)
        return find_port(model.outputs, yolo_heads.ROWS, lambda s: len(s) == 3 and s[2] == 6 and s[1] not in counts)

    @classmethod
    def fits(cls, model: ov.Model) -> bool:
        return len(model.outputs) == 1 and cls.find(model) is not None and bool(yolo_heads.anchor_counts(model))

    def found(self, output):
        return yolo_heads.end_to_end(output, self.setup.threshold)


class YoloV5Decoder(UltralyticsDecoder):
    """YOLOv5 (anchor-based): [1, 3*anchors, 5+nc] rows cx, cy, w, h, objectness, class scores."""

    name = "yolov5"
    expects = "YOLOv5 output0 [1,3*anchors,5+nc] (25200 rows at 640x640)"

    @classmethod
    def find(cls, model: ov.Model):
        counts = {3 * n for n in yolo_heads.anchor_counts(model)}
        return find_port(model.outputs, yolo_heads.ROWS, lambda s: len(s) == 3 and s[1] in counts)

    @classmethod
    def fits(cls, model: ov.Model) -> bool:
        return len(model.outputs) == 1 and cls.find(model) is not None

    def found(self, output):
        return yolo_heads.anchor_based(output, self.setup.threshold, self.spec.iou, self.agnostic)


DECODERS: dict[str, type[DetectionDecoder]] = {"ssd": SsdDecoder, "tf-od": TfOdDecoder, "yolo": YoloDecoder,
                                               "retinaface": RetinaFaceDecoder, "yolov8": YoloV8Decoder,
                                               "yolov8-obb": YoloObbDecoder, "yolov10": YoloEndToEndDecoder,
                                               "yolov5": YoloV5Decoder}


class Detector:
    """A detection model's decoding, bound once: the decoder its spec, --arch or outputs call for, its class
    names and threshold, and a class filter. Called on one request's outputs, it gives `Detections`."""

    def __init__(self, model: ov.Model, resolved: ResolvedModel, *, threshold: float | None = None,
                 labels: tuple[str, ...] | None = None, classes: tuple[str, ...] = (), arch: str | None = None,
                 family: str = "detect", agnostic: bool = False):
        spec = replace(resolved.spec, params=resolved.spec.params | {"agnostic_nms": agnostic})
        self.names = labels or spec.labels  # --labels, else the spec's
        self.single_class = bool(spec.params.get("single_class")) and not labels
        input_size = model_input_size(model, input_layout(model, spec)) if model.inputs else None
        setup = DecoderSetup(spec, spec.threshold if threshold is None else threshold, self.names, input_size)
        self.decoder = choose_decoder(DECODERS, model, spec, arch, family)(model, setup)
        self.keep_ids = None
        if classes:
            if not self.names:
                raise DemoError("--classes needs class names", "pass --labels FILE for this model")
            unknown = [c for c in classes if c not in self.names]
            if unknown:
                raise DemoError(f"unknown class(es) {', '.join(unknown)} for {resolved.name}",
                                f"known: {', '.join(n for n in self.names if n != 'background')}")
            self.keep_ids = np.array([i for i, n in enumerate(self.names) if n in classes], np.int32)

    def __call__(self, outputs: ModelOutputs, frame_size: tuple[int, int]) -> Detections:
        found = self.decoder.decode(outputs, frame_size)
        if self.single_class:
            found.class_id[:] = 0
        if self.keep_ids is not None:
            found = found[np.isin(found.class_id, self.keep_ids)]
        return found
