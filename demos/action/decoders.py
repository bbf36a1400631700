"""Decoding of Open Model Zoo's person/action detectors (the smart classroom models), on the one decoder
contract (`ovdemo.common.engine.family.Decoder`): each person a box of class "person" with its detection score as
`confidence`, and its action as the attribute `action` (label, label_id, confidence, every action's score).

One SSD head finds people; action heads give, for every prior box, the logits of each action. Two output
layouts exist, one decoder each:
  * Caffe era (person-detection-action-recognition-0005, -teacher-0002, person-detection-raisinghand-
    recognition-0001): loc [1, P*4] (dx, dy, dw, dh), conf [1, P*2], the prior boxes and their variances in
    `mbox/priorbox` [1, 2, P*4], and one action map per anchor `out/anchorK` [1, H, W, A]; candidate p lies
    in cell p // anchors of that map, anchor p % anchors.
  * TensorFlow era (person-detection-action-recognition-0006): loc [1, P, 4] (dy, dx, dh, dw), conf [1, P, 2],
    no prior output: priors come from two heads (1/8 scale, one anchor; 1/16 scale, four anchors) with fixed
    anchor sizes and variances, action maps `out_head_H_anchor_K` with the classes on axis 1 or 3.
Boxes decode from their priors with the variances (centre offsets scaled by the prior size, log sizes), the
action is a softmax of the scaled logits (below the spec's `action_threshold` the model's `default_action`),
and Gaussian soft-NMS merges overlapping people.
"""

from __future__ import annotations

import numpy as np
import openvino as ov

from ovdemo.common.engine.family import Decoder
from ovdemo.common.engine.inference import ModelOutputs, describe_ports, find_port, port_key, port_shape
from ovdemo.common.errors import DemoError
from ovdemo.common.results import Detections, box_iou, clip_boxes
from ovdemo.common.scores import softmax

PERSON = ("person",)  # the class of every object a person/action detector finds
CAFFE_NAMES = {"loc": "mbox_loc1/out/conv/flat", "conf": "mbox_main_conf/out/conv/flat/softmax/flat",
               "priors": "mbox/priorbox", "action": "out/anchor{anchor}"}
TF_NAMES = {"loc": "ActionNet/out_detection_loc", "conf": "ActionNet/out_detection_conf",
            "action": "ActionNet/action_heads/out_head_{head}_anchor_{anchor}"}
# person-detection-action-recognition-0006's heads: (stride in input pixels, anchor sizes (w, h) in pixels)
TF_HEADS = ((8, ((26.17863728, 58.670372),)),
            (16, ((35.36, 81.829632), (45.8114572, 107.651852), (63.31491832, 142.595732), (93.5070856, 201.107692))))
TF_VARIANCES = np.array([0.1, 0.1, 0.2, 0.2], np.float32)
CAFFE_ACTION_SCALE, TF_ACTION_SCALE = 3.0, 16.0
DEFAULT_ACTION_THRESHOLD = 0.75


def action_attributes(probs: np.ndarray, actions: np.ndarray, names: tuple[str, ...]) -> list[dict]:
    """Each person's `attributes`: the action shown (`actions[i]`, with its probability) and every action's."""
    return [{"action": {"label": names[a], "label_id": int(a), "confidence": float(p[a]),
                        "scores": {name: float(s) for name, s in zip(names, p, strict=True)}}}
            for a, p in zip(actions, probs, strict=True)]


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


class PersonActionDecoder(Decoder):
    """A person/action detector: `setup.names` are its actions, `setup.threshold` the person threshold; the
    spec's params give `action_threshold` and `default_action`. `bind` finds the layout's outputs by name and
    sets the action maps (`maps`: (key, class axis) per anchor), which map and cell each prior reads
    (`anchor_of`, `cell_of`) and the logit scale."""

    layout = ""
    ports: dict[str, str]  # "loc", "conf" (and "priors") -> output key
    scale: float

    def __init__(self, model: ov.Model, setup):
        if not setup.names:
            raise DemoError(f"no action names for {setup.spec.name or 'this model'}",
                            "pass --labels FILE, one action per line")
        self.num_actions = len(setup.names)
        super().__init__(model, setup)
        params = self.spec.params
        self.action_threshold = float(params.get("action_threshold", DEFAULT_ACTION_THRESHOLD))
        self.default_action = int(params.get("default_action", 0))

    @classmethod
    def fits(cls, model: ov.Model) -> bool:
        names = CAFFE_NAMES if cls.layout == "caffe" else TF_NAMES
        return find_port(model.outputs, (names["loc"],)) is not None

    def _required(self, model: ov.Model, *names: str) -> dict[str, ov.Output]:
        found = {name: find_port(model.outputs, (name,)) for name in names}
        missing = [name for name, port in found.items() if port is None]
        if missing:
            raise self._mismatch(model, f"expected {', '.join(missing)}")
        return found

    def _mismatch(self, model: ov.Model, what: str) -> DemoError:
        return DemoError(f"the person/action detector's outputs do not fit: {what}",
                         f"the model has {describe_ports(model.outputs)}")

    def _action_map(self, model: ov.Model, port: ov.Output) -> tuple[str, int, tuple[int, int]]:
        """An action map's key, where its action classes sit (the last axis (NHWC), else axis 1 (NCHW)) and
        its grid (rows, cols)."""
        shape = port_shape(port)
        for axis in (3, 1):
            if len(shape) == 4 and shape[axis] == self.num_actions:
                grid = (shape[1], shape[2]) if axis == 3 else (shape[2], shape[3])
                return port_key(port), axis, grid
        raise self._mismatch(model, f"{port.get_any_name()} {shape} has no axis of {self.num_actions} actions "
                                    "(pass --labels with one name per action of this model)")

    def priors(self, outputs: ModelOutputs, keep: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The prior boxes (normalised x1y1x2y2) of candidates `keep` and their variances."""
        raise NotImplementedError

    def offsets(self, loc: np.ndarray) -> tuple[np.ndarray, ...]:
        """dx, dy, dw, dh of each candidate's box."""
        raise NotImplementedError

    def candidates(self, outputs: ModelOutputs) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(boxes (N, 4) normalised x1y1x2y2, person scores (N,), action probabilities (N, A)) of the priors
        at or above the person threshold, before soft-NMS."""
        loc = outputs.get(self.ports["loc"]).reshape(-1, 4)
        conf = outputs.get(self.ports["conf"]).reshape(-1, 2)[:, 1]
        keep = np.flatnonzero(conf >= self.setup.threshold)
        priors, variances = self.priors(outputs, keep)
        dx, dy, dw, dh = self.offsets(loc[keep])
        pw, ph = priors[:, 2] - priors[:, 0], priors[:, 3] - priors[:, 1]
        cx = variances[:, 0] * dx * pw + (priors[:, 0] + priors[:, 2]) / 2
        cy = variances[:, 1] * dy * ph + (priors[:, 1] + priors[:, 3]) / 2
        w, h = np.exp(variances[:, 2] * dw) * pw, np.exp(variances[:, 3] * dh) * ph
        boxes = np.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], axis=1).astype(np.float32)
        logits = np.zeros((len(keep), self.num_actions), np.float32)
        for m, (key, axis, _) in enumerate(self.maps):
            rows = np.flatnonzero(self.anchor_of[keep] == m)
            if not len(rows):
                continue
            table = outputs.get(key)[0]
            table = table.reshape(-1, self.num_actions) if axis == 3 else table.reshape(self.num_actions, -1).T
            logits[rows] = table[self.cell_of[keep[rows]]]
        probs = softmax(self.scale * logits, axis=1)
        return boxes, conf[keep].astype(np.float32), probs.astype(np.float32)

    def decode(self, outputs: ModelOutputs, frame_size: tuple[int, int]) -> Detections:
        boxes, scores, probs = self.candidates(outputs)
        keep = soft_nms(boxes, scores, self.setup.threshold)
        w, h = frame_size
        pixels = clip_boxes(boxes[keep].reshape(-1, 4) * np.array([w, h, w, h], np.float32), w, h)
        probs = probs[keep].reshape(-1, self.num_actions)
        actions = probs.argmax(axis=1).astype(np.int32)
        # an action the model is unsure of reads as the default one (sitting, for the classroom models)
        actions[probs[np.arange(len(actions)), actions] < self.action_threshold] = self.default_action
        sizes = pixels[:, 2:] - pixels[:, :2]
        real = (sizes > 1).all(axis=1)
        return Detections(pixels[real], scores[keep][real], np.zeros(int(real.sum()), np.int32), names=PERSON,
                          data={"attributes": action_attributes(probs[real], actions[real], self.setup.names)})


class CaffeActionDecoder(PersonActionDecoder):
    name = "caffe-actions"
    layout = "caffe"
    expects = (f"{CAFFE_NAMES['loc']}, {CAFFE_NAMES['conf']}, {CAFFE_NAMES['priors']} and action maps "
               "out/anchor1..N")

    def bind(self, model: ov.Model) -> None:
        found = self._required(model, CAFFE_NAMES["loc"], CAFFE_NAMES["conf"], CAFFE_NAMES["priors"])
        self.ports = {k: port_key(found[CAFFE_NAMES[k]]) for k in ("loc", "conf", "priors")}
        self.num_priors = port_shape(found[CAFFE_NAMES["loc"]])[-1] // 4
        self.maps = []
        while True:
            port = find_port(model.outputs, (CAFFE_NAMES["action"].format(anchor=len(self.maps) + 1),))
            if port is None:
                break
            self.maps.append(self._action_map(model, port))
        if not self.maps:
            raise self._mismatch(model, "no action maps out/anchor1..N")
        h, w = self.maps[0][2]
        if h * w * len(self.maps) != self.num_priors:
            raise self._mismatch(model, f"{len(self.maps)} action maps of {h}x{w} cells do not cover "
                                        f"{self.num_priors} prior boxes")
        # candidate p -> (anchor map, cell): the priors run cell by cell, the anchors of a cell together
        p = np.arange(self.num_priors)
        self.cell_of, self.anchor_of = p // len(self.maps), p % len(self.maps)
        self.scale = CAFFE_ACTION_SCALE

    def priors(self, outputs, keep):
        table = outputs.get(self.ports["priors"]).reshape(2, -1, 4)
        return table[0][keep], table[1][keep]

    def offsets(self, loc):
        return tuple(loc.T)  # dx, dy, dw, dh


class TfActionDecoder(PersonActionDecoder):
    name = "tf-actions"
    layout = "tf"
    expects = (f"{TF_NAMES['loc']}, {TF_NAMES['conf']} and action heads "
               f"{TF_NAMES['action'].format(head='H', anchor='K')}")

    def bind(self, model: ov.Model) -> None:
        found = self._required(model, TF_NAMES["loc"], TF_NAMES["conf"])
        self.ports = {k: port_key(found[TF_NAMES[k]]) for k in ("loc", "conf")}
        if self.setup.input_size is None:
            raise DemoError("the person/action detector's input size is dynamic",
                            "its prior boxes need a fixed input size: reshape the model")
        in_w, in_h = self.setup.input_size
        self.maps, priors, cells, anchors = [], [], [], []
        for head, (stride, sizes) in enumerate(TF_HEADS, start=1):
            first_map = len(self.maps)
            names = [TF_NAMES["action"].format(head=head, anchor=a) for a in range(1, len(sizes) + 1)]
            for port in self._required(model, *names).values():
                self.maps.append(self._action_map(model, port))
            h, w = self.maps[-1][2]
            ys, xs = np.divmod(np.arange(h * w), w)
            for cell in range(h * w):  # priors run cell by cell, a cell's anchors together
                cx, cy = (xs[cell] + 0.5) * stride, (ys[cell] + 0.5) * stride
                for a, (aw, ah) in enumerate(sizes):
                    priors.append(((cx - aw / 2) / in_w, (cy - ah / 2) / in_h, (cx + aw / 2) / in_w,
                                   (cy + ah / 2) / in_h))
                    cells.append(cell)
                    anchors.append(first_map + a)
        self.prior_boxes = np.array(priors, np.float32)
        self.num_priors = len(self.prior_boxes)
        self.cell_of, self.anchor_of = np.array(cells), np.array(anchors)
        loc_shape = port_shape(found[TF_NAMES["loc"]])
        if None in loc_shape or int(np.prod(loc_shape[1:])) != 4 * self.num_priors:
            raise self._mismatch(model, f"{TF_NAMES['loc']} {loc_shape} does not hold {self.num_priors} boxes")
        self.scale = TF_ACTION_SCALE

    def priors(self, outputs, keep):
        return self.prior_boxes[keep], TF_VARIANCES[None, :]

    def offsets(self, loc):
        dy, dx, dh, dw = loc.T
        return dx, dy, dw, dh


DECODERS: dict[str, type[PersonActionDecoder]] = {"caffe-actions": CaffeActionDecoder,
                                                   "tf-actions": TfActionDecoder}
