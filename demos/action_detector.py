"""Decoding of Open Model Zoo's person/action detectors (the smart classroom models).

One SSD head finds people; action heads give, for every prior box, the logits of each action. Two output
layouts exist:
  * Caffe era (person-detection-action-recognition-0005, -teacher-0002, person-detection-raisinghand-
    recognition-0001): loc [1, P*4] (dx, dy, dw, dh), conf [1, P*2], the prior boxes and their variances in
    `mbox/priorbox` [1, 2, P*4], and one action map per anchor `out/anchorK` [1, H, W, A]; candidate p lies
    in cell p // anchors of that map, anchor p % anchors.
  * TensorFlow era (person-detection-action-recognition-0006): loc [1, P, 4] (dy, dx, dh, dw), conf [1, P, 2],
    no prior output: priors come from two heads (1/8 scale, one anchor; 1/16 scale, four anchors) with fixed
    anchor sizes and variances, action maps `out_head_H_anchor_K` with the classes on axis 1 or 3.
Boxes decode from their priors with the variances (centre offsets scaled by the prior size, log sizes), the
action is a softmax of the scaled logits, and Gaussian soft-NMS merges overlapping people.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import openvino as ov

from ovdemo.common.errors import DemoError
from ovdemo.common.inference import ModelOutputs, describe_ports, port_names
from ovdemo.common.results import box_iou
from ovdemo.common.scores import softmax

CAFFE_NAMES = {"loc": "mbox_loc1/out/conv/flat", "conf": "mbox_main_conf/out/conv/flat/softmax/flat",
               "priors": "mbox/priorbox", "action": "out/anchor{anchor}"}
TF_NAMES = {"loc": "ActionNet/out_detection_loc", "conf": "ActionNet/out_detection_conf",
            "action": "ActionNet/action_heads/out_head_{head}_anchor_{anchor}"}
# person-detection-action-recognition-0006's heads: (stride in input pixels, anchor sizes (w, h) in pixels)
TF_HEADS = ((8, ((26.17863728, 58.670372),)),
            (16, ((35.36, 81.829632), (45.8114572, 107.651852), (63.31491832, 142.595732), (93.5070856, 201.107692))))
TF_VARIANCES = np.array([0.1, 0.1, 0.2, 0.2], np.float32)
CAFFE_ACTION_SCALE, TF_ACTION_SCALE = 3.0, 16.0


@dataclass
class PersonActions:
    """People found in one frame: boxes (N, 4) in frame pixels, detection scores, and each one's action
    (id and confidence, plus all action probabilities for a top-k); track ids when tracking is on."""

    boxes: np.ndarray
    scores: np.ndarray
    actions: np.ndarray  # (N,) int32 action ids
    action_scores: np.ndarray  # (N,) float32 confidence of that action
    probs: np.ndarray  # (N, A) float32 every action's probability
    names: tuple[str, ...]
    track_ids: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.scores)

    def __getitem__(self, index) -> PersonActions:
        return PersonActions(self.boxes[index].reshape(-1, 4), np.atleast_1d(self.scores[index]),
                             np.atleast_1d(self.actions[index]), np.atleast_1d(self.action_scores[index]),
                             self.probs[index].reshape(-1, self.probs.shape[1]), self.names,
                             None if self.track_ids is None else np.atleast_1d(self.track_ids[index]))

    def name(self, action_id: int) -> str:
        return self.names[action_id] if 0 <= action_id < len(self.names) else f"#{action_id}"


@dataclass
class Candidates:
    boxes: np.ndarray  # (N, 4) normalised x1, y1, x2, y2
    scores: np.ndarray
    probs: np.ndarray  # (N, A)



def _static_shape(port) -> list[int]:
    return [d.get_length() for d in port.get_partial_shape()]


class ActionDetectorDecoder:
    """Bound once to a model's outputs (by name); `decode` turns one request's outputs into candidates."""

    def __init__(self, model: ov.Model, num_actions: int):
        self.num_actions = num_actions
        ports = {name: port for port in model.outputs for name in port_names(port)}
        if CAFFE_NAMES["loc"] in ports:
            self.layout = "caffe"
            self._bind_caffe(ports, model)
        elif TF_NAMES["loc"] in ports:
            self.layout = "tf"
            self._bind_tf(ports, model)
        else:
            raise DemoError("the model's outputs do not fit a person/action detector",
                            f"expected {CAFFE_NAMES['loc']} or {TF_NAMES['loc']} with action heads; "
                            f"the model has {describe_ports(model.outputs)}")

    def _mismatch(self, model: ov.Model, what: str) -> DemoError:
        return DemoError(f"the person/action detector's outputs do not fit: {what}",
                         f"the model has {describe_ports(model.outputs)}")

    def _action_axis(self, shape: list[int], model: ov.Model, name: str) -> int:
        """Where the action classes sit in an action map: the last axis (NHWC), else axis 1 (NCHW)."""
        for axis in (3, 1):
            if len(shape) == 4 and shape[axis] == self.num_actions:
                return axis
        raise self._mismatch(model, f"{name} {shape} has no axis of {self.num_actions} actions "
                                    "(pass --labels with one name per action of this model)")

    def _bind_caffe(self, ports: dict, model: ov.Model) -> None:
        if CAFFE_NAMES["conf"] not in ports or CAFFE_NAMES["priors"] not in ports:
            raise self._mismatch(model, f"expected {CAFFE_NAMES['conf']} and {CAFFE_NAMES['priors']}")
        self.num_priors = _static_shape(ports[CAFFE_NAMES["loc"]])[-1] // 4
        self.maps = []
        anchor = 1
        while CAFFE_NAMES["action"].format(anchor=anchor) in ports:
            name = CAFFE_NAMES["action"].format(anchor=anchor)
            shape = _static_shape(ports[name])
            self.maps.append((name, self._action_axis(shape, model, name)))
            anchor += 1
        if not self.maps:
            raise self._mismatch(model, "no action maps out/anchor1..N")
        h, w = (shape[1], shape[2]) if self.maps[0][1] == 3 else (shape[2], shape[3])
        if h * w * len(self.maps) != self.num_priors:
            raise self._mismatch(model, f"{len(self.maps)} action maps of {h}x{w} cells do not cover "
                                        f"{self.num_priors} prior boxes")
        # candidate p -> (anchor map, cell): the priors run cell by cell, the anchors of a cell together
        p = np.arange(self.num_priors)
        self.cell_of, self.anchor_of = p // len(self.maps), p % len(self.maps)
        self.scale = CAFFE_ACTION_SCALE

    def _bind_tf(self, ports: dict, model: ov.Model) -> None:
        if TF_NAMES["conf"] not in ports:
            raise self._mismatch(model, f"expected {TF_NAMES['conf']}")
        input_shape = _static_shape(model.input(0))
        in_h, in_w = (input_shape[1], input_shape[2]) if input_shape[-1] == 3 else (input_shape[2], input_shape[3])
        self.maps, priors, cells, anchors = [], [], [], []
        for head, (stride, sizes) in enumerate(TF_HEADS, start=1):
            first_map = len(self.maps)
            for anchor in range(1, len(sizes) + 1):
                name = TF_NAMES["action"].format(head=head, anchor=anchor)
                if name not in ports:
                    raise self._mismatch(model, f"expected action head {name}")
                shape = _static_shape(ports[name])
                axis = self._action_axis(shape, model, name)
                self.maps.append((name, axis))
            h, w = (shape[1], shape[2]) if axis == 3 else (shape[2], shape[3])
            ys, xs = np.divmod(np.arange(h * w), w)
            for cell in range(h * w):  # priors run cell by cell, a cell's anchors together
                cx, cy = (xs[cell] + 0.5) * stride, (ys[cell] + 0.5) * stride
                for a, (aw, ah) in enumerate(sizes):
                    priors.append(((cx - aw / 2) / in_w, (cy - ah / 2) / in_h, (cx + aw / 2) / in_w,
                                   (cy + ah / 2) / in_h))
                    cells.append(cell)
                    anchors.append(first_map + a)
        self.priors = np.array(priors, np.float32)
        self.num_priors = len(self.priors)
        self.cell_of, self.anchor_of = np.array(cells), np.array(anchors)
        loc_shape = _static_shape(ports[TF_NAMES["loc"]])
        if int(np.prod(loc_shape[1:])) != 4 * self.num_priors:
            raise self._mismatch(model, f"{TF_NAMES['loc']} {loc_shape} does not hold {self.num_priors} boxes")
        self.scale = TF_ACTION_SCALE

    def decode(self, outputs: ModelOutputs, threshold: float) -> Candidates:
        names = CAFFE_NAMES if self.layout == "caffe" else TF_NAMES
        loc = outputs.get(names["loc"]).reshape(-1, 4)
        conf = outputs.get(names["conf"]).reshape(-1, 2)[:, 1]
        keep = np.flatnonzero(conf >= threshold)
        if self.layout == "caffe":
            table = outputs.get(names["priors"]).reshape(2, -1, 4)
            priors, variances = table[0][keep], table[1][keep]
            dx, dy, dw, dh = loc[keep].T
        else:
            priors, variances = self.priors[keep], TF_VARIANCES[None, :]
            dy, dx, dh, dw = loc[keep].T
        pw, ph = priors[:, 2] - priors[:, 0], priors[:, 3] - priors[:, 1]
        cx = variances[:, 0] * dx * pw + (priors[:, 0] + priors[:, 2]) / 2
        cy = variances[:, 1] * dy * ph + (priors[:, 1] + priors[:, 3]) / 2
        w, h = np.exp(variances[:, 2] * dw) * pw, np.exp(variances[:, 3] * dh) * ph
        boxes = np.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], axis=1).astype(np.float32)
        logits = np.zeros((len(keep), self.num_actions), np.float32)
        for m, (name, axis) in enumerate(self.maps):
            rows = np.flatnonzero(self.anchor_of[keep] == m)
            if not len(rows):
                continue
            table = outputs.get(name)[0]
            table = table.reshape(-1, self.num_actions) if axis == 3 else table.reshape(self.num_actions, -1).T
            logits[rows] = table[self.cell_of[keep[rows]]]
        scaled = self.scale * logits
        probs = softmax(scaled, axis=1)
        return Candidates(boxes, conf[keep].astype(np.float32), probs.astype(np.float32))


def soft_nms(boxes: np.ndarray, scores: np.ndarray, threshold: float, sigma: float = 0.6,
             keep_top_k: int = 200) -> np.ndarray:
    """Gaussian soft-NMS: take the best box, lower the others' scores by exp(-IoU^2 / sigma), repeat while
    a score stays above `threshold`. Returns the kept indices, best first."""
    order = np.argsort(-scores)[:keep_top_k]
    live = scores[order].astype(np.float64)
    ious = box_iou(boxes[order], boxes[order])
    kept = []
    while True:
        best = int(np.argmax(live)) if len(live) else -1
        if best < 0 or live[best] < threshold:
            break
        kept.append(order[best])
        live[best] = 0.0
        live *= np.exp(-ious[best] ** 2 / sigma)
    return np.array(kept, np.int64)
