"""Decoders for segmentation outputs, on the one decoder contract (`ovdemo.common.engine.family.Decoder`).

Each is bound to a model once (outputs found by name, else by shape; a DemoError names what it expected
and what the model has), then turns one request's outputs into a result in frame pixels:
  semantic  probabilities [1,C,H,W] / [1,H,W,C] (an argmax `augment` adds to the model's graph) or class
            ids [1,1,H,W] / [1,H,W], resized to the frame with nearest neighbour: a `ClassMap`;
  maskrcnn  boxes [N,5] (x1, y1, x2, y2 in input pixels, score), labels [N], masks [N,h,w] spanning each box;
  yolact    boxes [1,N,4] (normalised x1, y1, x2, y2), conf [1,N,1+C], mask coefficients [1,N,K] and
            prototypes [1,h,w,K]: sigmoid(prototypes x coefficients), cropped to the box.
Instance decoders give `Detections` whose `mask` holds each instance's `BoxMask`, pasted at frame
resolution with a 0.5 threshold and kept cropped to its box.
"""

from __future__ import annotations

from typing import ClassVar

import cv2
import numpy as np
import openvino as ov
import openvino.opset13 as ops

from ovdemo.common.engine.family import Decoder
from ovdemo.common.engine.inference import ModelOutputs, find_port, port_key, port_shape
from ovdemo.common.errors import DemoError
from ovdemo.common.models import yolo_heads
from ovdemo.common.results import BoxMask, ClassMap, Detections, clip_boxes, nms
from ovdemo.common.scores import sigmoid

MASK_THRESHOLD = 0.5
MAX_INSTANCES = 100
MIN_MAP_SIDE = 8  # a class map narrower than this is some other output (e.g. DetectionOutput [1,1,N,7])
ARGMAX_OUTPUT = "ovdemo_class_map"  # the tensor name of the argmax `augment` adds to probability outputs


def paste_mask(prob: np.ndarray, spans: tuple[float, float, float, float],
               region: tuple[int, int, int, int]) -> np.ndarray:
    """Sample a probability map that covers the frame rectangle `spans` (x1, y1, x2, y2, frame pixels) at
    the pixels of the integer frame rectangle `region` (x1, y1, x2, y2 exclusive), bilinearly, and threshold
    it at 0.5. Outside the map counts as 0, so edge cells fade out as in Mask R-CNN's zero-padded pasting."""
    mh, mw = prob.shape
    sx = mw / max(spans[2] - spans[0], 1e-6)
    sy = mh / max(spans[3] - spans[1], 1e-6)
    # frame pixel centre X + 0.5 sits at map coordinate (X + 0.5 - spans.x1) * sx - 0.5 (cell centres at .0)
    to_map = np.array([[sx, 0.0, (region[0] + 0.5 - spans[0]) * sx - 0.5],
                       [0.0, sy, (region[1] + 0.5 - spans[1]) * sy - 0.5]], np.float64)
    size = (region[2] - region[0], region[3] - region[1])
    if size[0] <= 0 or size[1] <= 0:
        return np.zeros((max(size[1], 0), max(size[0], 0)), bool)
    sampled = cv2.warpAffine(np.ascontiguousarray(prob, np.float32), to_map, size,
                             flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP, borderMode=cv2.BORDER_CONSTANT,
                             borderValue=0)
    return sampled > MASK_THRESHOLD


def box_region(box: np.ndarray, width: int, height: int) -> tuple[int, int, int, int]:
    """The frame pixels a box touches: rounded outward, clipped to the frame."""
    x1, y1 = max(int(np.floor(box[0])), 0), max(int(np.floor(box[1])), 0)
    x2, y2 = min(int(np.ceil(box[2])), width), min(int(np.ceil(box[3])), height)
    return x1, y1, max(x2, x1), max(y2, y1)


def instances(boxes: np.ndarray, scores: np.ndarray, labels: np.ndarray, maps, spans, frame_size,
              names) -> Detections:
    """Frame-pixel boxes and one probability map per box (`maps[i]` covering the frame rectangle
    `spans[i]`) as Detections with box masks."""
    w, h = frame_size
    masks = []
    for box, prob, span in zip(boxes, maps, spans, strict=True):
        region = box_region(box, w, h)
        masks.append(BoxMask(paste_mask(prob, tuple(span), region), region[:2]))
    return Detections(clip_boxes(np.asarray(boxes, np.float32).reshape(-1, 4), w, h), scores, labels, mask=masks,
                      names=names)


class SegmentDecoder(Decoder):
    """A segmentation decoder: `semantic` ones give a ClassMap, the others Detections with masks."""

    semantic: ClassVar[bool] = False


def _channels_last(shape: list[int | None]) -> bool:
    """[1,H,W,C] rather than [1,C,H,W]: the last dimension is the small one."""
    c_first, c_last = shape[1], shape[3]
    return c_last is not None and c_first is not None and c_last < c_first


def _map_dims(shape: list[int | None]) -> tuple[int | None, int | None, int | None]:
    """(classes, height, width) of a class-map output [1,C,H,W], [1,H,W,C] or [1,H,W] (classes 1)."""
    if len(shape) == 3:
        return 1, shape[1], shape[2]
    if _channels_last(shape):
        return shape[3], shape[1], shape[2]
    return shape[1], shape[2], shape[3]


def _looks_like_map(shape: list[int | None]) -> bool:
    if len(shape) not in (3, 4):
        return False
    _, h, w = _map_dims(shape)
    return all(side is None or side >= MIN_MAP_SIDE for side in (h, w))


class SemanticDecoder(SegmentDecoder):
    name = "semantic"
    expects = "one class map: probabilities [1,C,H,W] or class ids [1,1,H,W] / [1,H,W]"
    semantic = True

    @classmethod
    def fits(cls, model: ov.Model) -> bool:
        ports = model.outputs
        return len(ports) == 1 and _looks_like_map(port_shape(ports[0]))

    def bind(self, model: ov.Model) -> None:
        ports = model.outputs
        maps = [p for p in ports if len(port_shape(p)) in (3, 4)]
        if not maps:
            raise self.mismatch(ports)
        named = (self.spec.params["output"],) if self.spec.params.get("output") else ()
        # several outputs (e.g. auxiliary heads): the named one, else the one of the largest spatial size
        self.port = find_port(maps, named) or max(maps, key=lambda p: _spatial_area(port_shape(p)))
        shape = port_shape(self.port)
        channels = _map_dims(shape)[0]
        if channels is None:
            raise DemoError(f"cannot tell the classes of output {self.port.get_any_name()} {shape}",
                            "the class dimension must be static")
        self.num_classes = channels if channels > 1 else None
        self.axis = 3 if len(shape) == 4 and _channels_last(shape) else 1
        self.key = port_key(self.port)

    def augment(self, model: ov.Model) -> None:
        """Probabilities: argmax inside the model, so OpenVINO's threads do it and 1/C of the data crosses back."""
        if self.num_classes is None:
            return
        result = self.port.get_node()  # a model output is its Result node's output
        top = ops.topk(result.input_value(0), ops.constant(np.int64(1)), self.axis, "max", "none", ov.Type.i32)
        top.output(1).get_tensor().set_names({ARGMAX_OUTPUT})
        model.remove_result(result)
        model.add_results([ops.result(top.output(1))])

    def decode(self, outputs: ModelOutputs, frame_size: tuple[int, int]) -> ClassMap:
        ids = outputs.get(ARGMAX_OUTPUT)
        if ids is None:  # class ids from the model, or probabilities of a model `augment` did not change
            ids = outputs.get(self.key)
            if self.num_classes is not None:
                ids = ids.argmax(axis=self.axis)
        ids = ids.squeeze()  # [1,1,H,W], [1,H,W,1] or [1,H,W] to (H, W)
        if ids.dtype.kind == "f":
            ids = np.rint(ids)
        ids = np.clip(ids, 0, 255).astype(np.uint8)
        w, h = frame_size
        if ids.shape != (h, w):
            # pixel centres aligned (plain INTER_NEAREST samples up to half a map cell up and left of them)
            ids = cv2.resize(ids, (w, h), interpolation=cv2.INTER_NEAREST_EXACT)
        return ClassMap(ids, self.setup.names)


def _spatial_area(shape: list[int | None]) -> int:
    _, h, w = _map_dims(shape)
    return (h or 0) * (w or 0)


class MaskRcnnDecoder(SegmentDecoder):
    """Open Model Zoo's instance-segmentation-security-* and instance-segmentation-person-*."""

    name = "maskrcnn"
    expects = "boxes [N,5] (x1, y1, x2, y2, score in input pixels), labels [N], masks [N,h,w]"

    @classmethod
    def fits(cls, model: ov.Model) -> bool:
        ports = model.outputs
        return any(port_shape(p)[-1:] == [5] and len(port_shape(p)) == 2 for p in ports) and \
            any(len(port_shape(p)) == 3 for p in ports)

    def bind(self, model: ov.Model) -> None:
        ports = model.outputs
        self.boxes = find_port(ports, ("boxes",), lambda s: len(s) == 2 and s[-1] == 5)
        self.masks = find_port(ports, ("masks",), lambda s: len(s) == 3)
        self.labels = find_port(ports, ("labels",), lambda s: len(s) == 1)
        if self.boxes is None or self.masks is None:
            raise self.mismatch(ports)
        if self.setup.input_size is None:
            raise DemoError("Mask R-CNN boxes are in input pixels, but the model's input size is dynamic",
                            "reshape the model to a fixed input size")

    def decode(self, outputs: ModelOutputs, frame_size: tuple[int, int]) -> Detections:
        rows = outputs.get(port_key(self.boxes)).reshape(-1, 5)
        masks = outputs.get(port_key(self.masks))
        masks = masks.reshape(-1, *masks.shape[-2:])
        labels = (outputs.get(port_key(self.labels)).reshape(-1).astype(np.int32) if self.labels is not None
                  else np.zeros(len(rows), np.int32))
        keep = np.flatnonzero((rows[:, 4] >= self.setup.threshold) & (rows[:, 2] > rows[:, 0])
                              & (rows[:, 3] > rows[:, 1]))
        keep = keep[np.argsort(-rows[keep, 4], kind="stable")][:MAX_INSTANCES]
        w, h = frame_size
        in_w, in_h = self.setup.input_size
        boxes = rows[keep, :4] * np.array([w / in_w, h / in_h, w / in_w, h / in_h], np.float32)
        # each mask spans its own (unclipped) box
        return instances(boxes, rows[keep, 4], labels[keep], masks[keep], boxes, frame_size, self.setup.names)


class YolactDecoder(SegmentDecoder):
    """YOLACT as Open Model Zoo converts it (yolact-resnet50-fpn-pytorch and kin)."""

    name = "yolact"
    expects = "boxes [1,N,4], conf [1,N,1+C], mask [1,N,K] (coefficients), proto [1,h,w,K]"

    @classmethod
    def fits(cls, model: ov.Model) -> bool:
        return all(find_port(model.outputs, (n,)) is not None for n in ("boxes", "conf", "mask", "proto"))

    def bind(self, model: ov.Model) -> None:
        ports = model.outputs
        self.proto = find_port(ports, ("proto",), lambda s: len(s) == 4)
        self.boxes = find_port(ports, ("boxes",), lambda s: len(s) == 3 and s[-1] == 4)
        self.conf = find_port(ports, ("conf",), None)
        self.coefs = find_port(ports, ("mask",), None)
        if None in (self.proto, self.boxes, self.conf, self.coefs):
            raise self.mismatch(ports)

    def decode(self, outputs: ModelOutputs, frame_size: tuple[int, int]) -> Detections:
        threshold, names = self.setup.threshold, self.setup.names
        boxes = outputs.get(port_key(self.boxes)).reshape(-1, 4)
        conf = outputs.get(port_key(self.conf))
        conf = conf.reshape(-1, conf.shape[-1])[:, 1:]  # class 0 is background
        anchor, cls = np.nonzero(conf >= threshold)
        if not len(anchor):
            return instances(np.zeros((0, 4), np.float32), [], [], [], [], frame_size, names)
        scores = conf[anchor, cls].astype(np.float32)
        labels = (cls + 1).astype(np.int32)
        keep = nms(boxes[anchor].astype(np.float32), scores, labels, threshold, self.spec.iou)[:MAX_INSTANCES]
        anchor, scores, labels = anchor[keep], scores[keep], labels[keep]
        w, h = frame_size
        proto = outputs.get(port_key(self.proto))
        proto = proto.reshape(proto.shape[-3:])
        coefs = outputs.get(port_key(self.coefs))
        coefs = coefs.reshape(-1, coefs.shape[-1])[anchor]
        probs = sigmoid(proto @ coefs.T)  # (h, w, n): each prototype map spans the frame; YOLACT crops to the box
        frame_boxes = boxes[anchor] * np.array([w, h, w, h], np.float32)
        return instances(frame_boxes, scores, labels, probs.transpose(2, 0, 1),
                         [(0.0, 0.0, float(w), float(h))] * len(anchor), frame_size, names)


class YoloSegDecoder(SegmentDecoder):
    """Ultralytics YOLOv8/11-seg: `output0` [1, 4+nc+32, anchors] (yolo_heads.py) and prototypes `output1`
    [1, 32, H/4, W/4] spanning the letterboxed input: sigmoid(coefficients x prototypes), cropped to the box."""

    name = "yolov8"
    expects = "YOLOv8/11-seg output0 [1,4+nc+32,anchors] and output1 [1,32,H/4,W/4]"

    @classmethod
    def fits(cls, model: ov.Model) -> bool:
        return yolo_heads.fits_anchor_free(model, yolo_heads.MASK_COEFFICIENTS, outputs=2) and \
            cls.find_protos(model) is not None

    @staticmethod
    def find_protos(model: ov.Model):
        k = yolo_heads.MASK_COEFFICIENTS
        return find_port(model.outputs, yolo_heads.PROTOS, lambda s: len(s) == 4 and s[1] == k)

    def bind(self, model: ov.Model) -> None:
        rows, protos = yolo_heads.anchor_free_port(model), self.find_protos(model)
        if rows is None or protos is None or port_shape(rows)[1] <= 4 + yolo_heads.MASK_COEFFICIENTS:
            raise self.mismatch(model.outputs)
        self.rows, self.protos = port_key(rows), port_key(protos)
        self.size = yolo_heads.input_size_of(model)

    def decode(self, outputs: ModelOutputs, frame_size: tuple[int, int]) -> Detections:
        rows, protos = outputs.get(self.rows), outputs.get(self.protos)
        k = yolo_heads.MASK_COEFFICIENTS
        found = yolo_heads.anchor_free(rows, rows.shape[-2] - 4 - k, self.setup.threshold, self.spec.iou)
        n = min(len(found.scores), MAX_INSTANCES)
        mh, mw = protos.shape[-2:]
        probs = sigmoid(found.rows[:n, -k:] @ protos.reshape(k, -1)).reshape(-1, mh, mw)
        letterbox = yolo_heads.Letterbox.of(frame_size, self.size)
        spans = [letterbox.spans(self.size)] * n  # every map spans the whole input
        return instances(letterbox.boxes(found.boxes[:n]), found.scores[:n], found.class_ids[:n], probs, spans,
                         frame_size, self.setup.names)


DECODERS: dict[str, type[SegmentDecoder]] = {"semantic": SemanticDecoder, "maskrcnn": MaskRcnnDecoder,
                                             "yolact": YolactDecoder, "yolov8": YoloSegDecoder}
