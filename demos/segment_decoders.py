"""Decoders for segmentation outputs: semantic class maps and per-instance masks, at frame scale.

Each decoder is bound to a model once (outputs found by name, else by shape; a DemoError names what it
expected and what the model has), then turns one request's outputs into a result in frame pixels:
  semantic  probabilities [1,C,H,W] / [1,H,W,C] (argmax, embedded into the model's graph) or class ids
            [1,1,H,W] / [1,H,W], resized to the frame with nearest neighbour;
  maskrcnn  boxes [N,5] (x1, y1, x2, y2 in input pixels, score), labels [N], masks [N,h,w] spanning each box;
  yolact    boxes [1,N,4] (normalised x1, y1, x2, y2), conf [1,N,1+C], mask coefficients [1,N,K] and
            prototypes [1,h,w,K]: sigmoid(prototypes x coefficients), cropped to the box.
Instance masks are pasted at frame resolution with a 0.5 threshold and kept cropped to their box.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np
import openvino as ov
import openvino.opset13 as ops

from ovdemo.common.errors import DemoError
from ovdemo.common.inference import ModelOutputs, describe_ports, find_port, port_key, port_shape
from ovdemo.common.results import Detections, clip_boxes, nms
from ovdemo.common.scores import sigmoid
from ovdemo.common.specs import ModelSpec

MASK_THRESHOLD = 0.5
MAX_INSTANCES = 100
ARGMAX_OUTPUT = "ovdemo_class_map"  # the tensor name of the argmax this module adds to probability outputs


@dataclass
class ClassMap:
    """Semantic segmentation of one frame: a class id per frame pixel."""

    classes: np.ndarray  # (H, W) uint8
    names: tuple[str, ...] | None = None
    _shares: dict[int, float] | None = field(default=None, repr=False, compare=False)

    def label_name(self, class_id: int) -> str:
        if self.names is not None and 0 <= class_id < len(self.names):
            return self.names[class_id]
        return f"#{class_id}"

    def shares(self) -> dict[int, float]:
        """Fraction of the frame each present class covers, by class id (counted once: legend and JSON share it)."""
        if self._shares is None:
            counts = np.bincount(self.classes.ravel(), minlength=1)
            total = max(self.classes.size, 1)
            self._shares = {int(i): float(c) / total for i, c in enumerate(counts) if c}
        return self._shares


@dataclass
class Instances:
    """Instance segmentation of one frame. Mask i is a bool array covering the frame pixels
    [origins[i][1] : +h, origins[i][0] : +w]: the instance's box, so a frame of many objects stays small."""

    boxes: np.ndarray  # (N, 4) float32 frame pixels x1, y1, x2, y2
    scores: np.ndarray  # (N,) float32
    labels: np.ndarray  # (N,) int32
    masks: list[np.ndarray]  # N bool arrays (h_i, w_i)
    origins: np.ndarray  # (N, 2) int32 (x, y) frame pixel of each mask's top-left corner
    names: tuple[str, ...] | None = None
    ids: np.ndarray = field(default=None)  # (N,) int32 track ids with --track, else -1

    def __post_init__(self):
        if self.ids is None:
            self.ids = np.full(len(self.scores), -1, np.int32)

    def __len__(self) -> int:
        return len(self.scores)

    def full_mask(self, i: int, height: int, width: int) -> np.ndarray:
        """Mask i as a (height, width) bool frame."""
        full = np.zeros((height, width), bool)
        x, y = self.origins[i]
        h, w = self.masks[i].shape
        full[y:y + h, x:x + w] = self.masks[i]
        return full

    def label_name(self, class_id: int) -> str:
        return self.detections().label_name(class_id)

    def detections(self) -> Detections:
        return Detections(self.boxes, self.scores, self.labels, self.names)

    @classmethod
    def empty(cls, names=None) -> Instances:
        return cls(np.zeros((0, 4), np.float32), np.zeros(0, np.float32), np.zeros(0, np.int32), [],
                   np.zeros((0, 2), np.int32), names)


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


class Decoder:
    name = ""
    expects = ""
    semantic = False

    def __init__(self, model: ov.Model, spec: ModelSpec | None, input_size: tuple[int, int] | None):
        self.spec, self.input_size = spec, input_size
        self.bind(model)

    def mismatch(self, ports) -> DemoError:
        return DemoError(f"the model's outputs do not fit the {self.name} decoder",
                         f"expected {self.expects}; the model has {describe_ports(ports)}")

    def bind(self, model: ov.Model) -> None:
        raise NotImplementedError


def _channels_last(shape: list[int | None]) -> bool:
    """[1,H,W,C] rather than [1,C,H,W]: the last dimension is the small one."""
    c_first, c_last = shape[1], shape[3]
    return c_last is not None and c_first is not None and c_last < c_first


class SemanticDecoder(Decoder):
    name = "semantic"
    expects = "one class map: probabilities [1,C,H,W] or class ids [1,1,H,W] / [1,H,W]"
    semantic = True

    def bind(self, model: ov.Model) -> None:
        ports = model.outputs
        maps = [p for p in ports if len(port_shape(p)) in (3, 4)]
        if not maps:
            raise self.mismatch(ports)
        named = (self.spec.params.get("output"),) if self.spec and self.spec.params.get("output") else ()
        # several outputs (e.g. auxiliary heads): the named one, else the one of the largest spatial size
        port = find_port(maps, named) or max(maps, key=lambda p: _spatial_area(port_shape(p)))
        shape = port_shape(port)
        channels = (shape[3] if _channels_last(shape) else shape[1]) if len(shape) == 4 else 1
        if channels is None:
            raise DemoError(f"cannot tell the classes of output {port.get_any_name()} {shape}",
                            "the class dimension must be static")
        self.num_classes = channels if channels > 1 else None
        if channels > 1:
            # argmax inside the model: OpenVINO's threads do it, and 1/C of the data crosses back
            axis = 3 if _channels_last(shape) else 1
            result = port.get_node()  # a model output is its Result node's output
            top = ops.topk(result.input_value(0), ops.constant(np.int64(1)), axis, "max", "none", ov.Type.i32)
            top.output(1).get_tensor().set_names({ARGMAX_OUTPUT})
            model.remove_result(result)
            model.add_results([ops.result(top.output(1))])
            self.key = ARGMAX_OUTPUT
        else:
            self.key = port_key(port)

    def decode(self, outputs: ModelOutputs, frame_size: tuple[int, int], names) -> ClassMap:
        ids = outputs.get(self.key).squeeze()  # [1,1,H,W], [1,H,W,1] or [1,H,W] to (H, W)
        if ids.dtype.kind == "f":
            ids = np.rint(ids)
        ids = np.clip(ids, 0, 255).astype(np.uint8)
        w, h = frame_size
        if ids.shape != (h, w):
            ids = cv2.resize(ids, (w, h), interpolation=cv2.INTER_NEAREST)
        return ClassMap(ids, names)


def _spatial_area(shape: list[int | None]) -> int:
    dims = [d or 0 for d in shape]
    if len(dims) == 3:
        return dims[1] * dims[2]
    return dims[1] * dims[2] if _channels_last(shape) else dims[2] * dims[3]


class MaskRcnnDecoder(Decoder):
    """Open Model Zoo's instance-segmentation-security-* and instance-segmentation-person-*."""

    name = "maskrcnn"
    expects = "boxes [N,5] (x1, y1, x2, y2, score in input pixels), labels [N], masks [N,h,w]"

    @staticmethod
    def fits(ports) -> bool:
        return any(port_shape(p)[-1:] == [5] and len(port_shape(p)) == 2 for p in ports) and \
            any(len(port_shape(p)) == 3 for p in ports)

    def bind(self, model: ov.Model) -> None:
        ports = model.outputs
        self.boxes = find_port(ports, ("boxes",), lambda s: len(s) == 2 and s[-1] == 5)
        self.masks = find_port(ports, ("masks",), lambda s: len(s) == 3)
        self.labels = find_port(ports, ("labels",), lambda s: len(s) == 1)
        if self.boxes is None or self.masks is None:
            raise self.mismatch(ports)
        if self.input_size is None:
            raise DemoError("Mask R-CNN boxes are in input pixels, but the model's input size is dynamic",
                            "reshape the model to a fixed input size")

    def decode(self, outputs: ModelOutputs, frame_size, threshold: float, names) -> Instances:
        rows = outputs.get(port_key(self.boxes)).reshape(-1, 5)
        masks = outputs.get(port_key(self.masks))
        masks = masks.reshape(-1, *masks.shape[-2:])
        labels = (outputs.get(port_key(self.labels)).reshape(-1).astype(np.int32) if self.labels is not None
                  else np.zeros(len(rows), np.int32))
        keep = np.flatnonzero((rows[:, 4] >= threshold) & (rows[:, 2] > rows[:, 0]) & (rows[:, 3] > rows[:, 1]))
        keep = keep[np.argsort(-rows[keep, 4], kind="stable")][:MAX_INSTANCES]
        w, h = frame_size
        in_w, in_h = self.input_size
        boxes = rows[keep, :4] * np.array([w / in_w, h / in_h, w / in_w, h / in_h], np.float32)
        pasted, origins = [], []
        for box, mask in zip(boxes, masks[keep], strict=True):
            region = box_region(box, w, h)
            pasted.append(paste_mask(mask, tuple(box), region))
            origins.append(region[:2])
        return Instances(clip_boxes(boxes, w, h), rows[keep, 4].astype(np.float32), labels[keep],
                         pasted, np.asarray(origins, np.int32).reshape(-1, 2), names)


class YolactDecoder(Decoder):
    """YOLACT as Open Model Zoo converts it (yolact-resnet50-fpn-pytorch and kin)."""

    name = "yolact"
    expects = "boxes [1,N,4], conf [1,N,1+C], mask [1,N,K] (coefficients), proto [1,h,w,K]"

    @staticmethod
    def fits(ports) -> bool:
        return all(find_port(ports, (n,)) is not None for n in ("boxes", "conf", "mask", "proto"))

    def bind(self, model: ov.Model) -> None:
        ports = model.outputs
        self.proto = find_port(ports, ("proto",), lambda s: len(s) == 4)
        self.boxes = find_port(ports, ("boxes",), lambda s: len(s) == 3 and s[-1] == 4)
        self.conf = find_port(ports, ("conf",), None)
        self.coefs = find_port(ports, ("mask",), None)
        if None in (self.proto, self.boxes, self.conf, self.coefs):
            raise self.mismatch(ports)

    def decode(self, outputs: ModelOutputs, frame_size, threshold: float, names) -> Instances:
        boxes = outputs.get(port_key(self.boxes)).reshape(-1, 4)
        conf = outputs.get(port_key(self.conf))
        conf = conf.reshape(-1, conf.shape[-1])[:, 1:]  # class 0 is background
        anchor, cls = np.nonzero(conf >= threshold)
        if not len(anchor):
            return Instances.empty(names)
        scores = conf[anchor, cls].astype(np.float32)
        labels = (cls + 1).astype(np.int32)
        keep = nms(boxes[anchor].astype(np.float32), scores, labels, threshold, self.spec.iou if self.spec else 0.5)
        keep = keep[:MAX_INSTANCES]
        anchor, scores, labels = anchor[keep], scores[keep], labels[keep]
        w, h = frame_size
        frame_boxes = clip_boxes(boxes[anchor] * np.array([w, h, w, h], np.float32), w, h)
        proto = outputs.get(port_key(self.proto))
        proto = proto.reshape(proto.shape[-3:])
        coefs = outputs.get(port_key(self.coefs))
        coefs = coefs.reshape(-1, coefs.shape[-1])[anchor]
        probs = sigmoid(proto @ coefs.T)  # (h, w, n): each prototype map spans the frame
        pasted, origins = [], []
        for i, box in enumerate(frame_boxes):
            region = box_region(box, w, h)  # YOLACT crops each mask to its box
            pasted.append(paste_mask(probs[:, :, i], (0.0, 0.0, float(w), float(h)), region))
            origins.append(region[:2])
        return Instances(frame_boxes, scores, labels, pasted, np.asarray(origins, np.int32).reshape(-1, 2), names)


DECODERS: dict[str, type[Decoder]] = {"semantic": SemanticDecoder, "maskrcnn": MaskRcnnDecoder,
                                      "yolact": YolactDecoder}


def choose_decoder(model: ov.Model, spec: ModelSpec | None, arch: str | None) -> type[Decoder]:
    """--arch, else the model's spec, else what its outputs look like."""
    if arch:
        return DECODERS[arch]
    if spec and spec.decoder in DECODERS:
        return DECODERS[spec.decoder]
    ports = model.outputs
    if YolactDecoder.fits(ports):
        return YolactDecoder
    if MaskRcnnDecoder.fits(ports):
        return MaskRcnnDecoder
    if len(ports) == 1 and len(port_shape(ports[0])) in (3, 4):
        return SemanticDecoder
    expected = "; or ".join(d.expects for d in DECODERS.values())
    raise DemoError("the model's outputs do not fit the segment demo",
                    f"expected {expected}; the model has {describe_ports(ports)} "
                    f"(if it is a segmentation model, pass --arch {'|'.join(DECODERS)})")
