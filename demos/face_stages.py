"""The per-face models of `ovdemo face`: where each one crops the face, and how its outputs are read.

Outputs are bound once, when the model is read: by the names Open Model Zoo releases gave them, else by
their shape, and a model that fits neither fails at start naming what was expected and what it has.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import openvino as ov

from ovdemo.common.errors import DemoError
from ovdemo.common.inference import InferenceConfig, ModelOutputs, describe_ports, find_port, port_key, port_shape
from ovdemo.common.models import ResolvedModel
from ovdemo.common.results import Detections
from ovdemo.common.stages import ObjectStage, Stage, crops, expand_boxes

from .face_gallery import align, five_points

EMBEDDING = "face_embedding"  # data key of the face embeddings


@dataclass(frozen=True)
class Roi:
    """How a face box is grown into the region a model was trained on."""

    scale: float = 1.0
    square: bool = False

    def of(self, boxes: np.ndarray) -> np.ndarray:
        return expand_boxes(boxes, self.scale, self.square)


def values_per_face(shape: list[int | None]) -> int | None:
    """Values per face of an output shape: the product of its dimensions after the batch one."""
    if len(shape) < 2 or any(d is None for d in shape[1:]):
        return None
    return int(np.prod(shape[1:]))


def per_face(count: int):
    """A `find_port` shape test: an output with `count` values per face."""
    return lambda shape: values_per_face(shape) == count


class FaceStage:
    """A per-face model on its own async requests. Subclasses say which outputs they read (`bind`) and
    how (`decode`); `submit` crops every face of a frame into one batch."""

    kind = ""
    expects = ""
    default_roi = Roi()

    def __init__(self, model: ResolvedModel, config: InferenceConfig):
        self.model = model
        params = model.spec.params if model.spec else {}
        self.roi = Roi(float(params.get("roi_scale", self.default_roi.scale)),
                       bool(params.get("roi_square", self.default_roi.square)))
        self.labels = model.spec.labels if model.spec and model.spec.labels else None
        self.stage = Stage(model, config, check=self._check)

    def _check(self, model: ov.Model) -> None:
        if len(model.inputs) != 1:
            raise DemoError(f"{self.model.name} has {len(model.inputs)} inputs ({describe_ports(model.inputs)})",
                            f"a {self.kind} model takes one face image")
        if not self.bind(list(model.outputs)):
            raise DemoError(f"{self.model.name} does not fit the {self.kind} stage",
                            f"expected {self.expects}; it has {describe_ports(model.outputs)}")

    def bind(self, ports: list) -> bool:
        """Find the outputs this stage reads; False when the model has none that fit."""
        raise NotImplementedError

    @staticmethod
    def _only(ports: list):
        """The model's single output, when it has one."""
        return ports[0] if len(ports) == 1 else None

    @staticmethod
    def _key(port) -> str | None:
        """The name to read a found output by (None when none was found, or it has no name)."""
        return port_key(port) if port is not None and port.get_names() else None

    def regions(self, boxes: np.ndarray) -> np.ndarray:
        """The regions cut for these face boxes, in whole pixels: what the model sees, which its outputs (e.g.
        landmarks) are relative to."""
        return np.round(self.roi.of(boxes))

    def batch(self, image: np.ndarray, faces: Detections, indices: np.ndarray) -> np.ndarray:
        return crops(image, self.regions(faces.xyxy[indices]), self.stage.input_size)

    def apply(self, faces: Detections, indices: np.ndarray, outputs: ModelOutputs) -> None:
        """Write the decoded outputs into the faces' data."""
        raise NotImplementedError

    def defaults(self, faces: Detections) -> None:
        """The data this stage writes, before it answers (every face of every frame has the keys)."""
        raise NotImplementedError

    def object_stage(self, after: str | None = None) -> ObjectStage:
        return ObjectStage(self.kind, self.stage, apply=self.apply, batch=self.batch, after=after,
                           defaults=self.defaults)

    def _get(self, outputs: ModelOutputs, name: str) -> np.ndarray:
        array = outputs.get(name)
        return array.reshape(len(array), -1).astype(np.float32)


class LandmarksStage(FaceStage):
    """Facial landmarks as (x, y) pairs normalised to the face region: 10 values are the 5 points of
    landmarks-regression-retail-0009, 70 the 35 points of facial-landmarks-35-adas-0002."""

    kind = "landmarks"
    expects = "one output of 10 values (5 points) or 70 values (35 points) per face, e.g. '95' [1,10,1,1]"
    default_roi = Roi(1.15)  # face_recognition_demo's -exp_r_fd

    def bind(self, ports: list) -> bool:
        port = find_port(ports, ("95", "align_fc3")) or self._only(ports)
        self.output = self._key(port)
        self.points = (values_per_face(port_shape(port)) or 0) // 2 if port is not None else 0
        return self.output is not None and self.points in (5, 35)

    def decode(self, outputs: ModelOutputs, rois: np.ndarray) -> np.ndarray:
        """(N, K, 2) landmarks in frame pixels."""
        normalised = self._get(outputs, self.output).reshape(len(rois), -1, 2)
        size = rois[:, None, 2:] - rois[:, None, :2]
        return rois[:, None, :2] + normalised * size

    def apply(self, faces: Detections, indices: np.ndarray, outputs: ModelOutputs) -> None:
        faces.data["landmarks"] = self.decode(outputs, self.regions(faces.xyxy[indices]))  # every face

    def defaults(self, faces: Detections) -> None:
        faces.data["landmarks"] = np.zeros((len(faces), self.points, 2), np.float32)


HEAD_POSE_ANGLES = ("yaw", "pitch", "roll")


class HeadPoseStage(FaceStage):
    kind = "head-pose"
    expects = "angle_y_fc, angle_p_fc and angle_r_fc (yaw, pitch, roll in degrees, one value per face)"
    default_roi = Roi(1.2, square=True)

    def bind(self, ports: list) -> bool:
        self.angles = [self._key(find_port(ports, (f"angle_{a}_fc", f"fc_{a}"))) for a in "ypr"]
        return all(self.angles)

    def decode(self, outputs: ModelOutputs) -> list[dict[str, float]]:
        """Per face {"yaw", "pitch", "roll"} in degrees: the shape the JSON has, so `data` reads the same."""
        angles = np.concatenate([self._get(outputs, name)[:, :1] for name in self.angles], axis=1)
        return [dict(zip(HEAD_POSE_ANGLES, map(float, row), strict=True)) for row in angles]

    def apply(self, faces: Detections, indices: np.ndarray, outputs: ModelOutputs) -> None:
        faces.data["head_pose"] = self.decode(outputs)

    def defaults(self, faces: Detections) -> None:
        faces.data["head_pose"] = [dict.fromkeys(HEAD_POSE_ANGLES, 0.0) for _ in range(len(faces))]


class ReidStage(FaceStage):
    """Face re-identification: one embedding per face aligned on its five landmarks (no box crop: see
    face_gallery.align), under EMBEDDING (not "embedding", which the tracker would use with thresholds tuned on
    people)."""

    kind = "reid"
    expects = "one embedding output per face, e.g. '658' [1,256,1,1]"

    def bind(self, ports: list) -> bool:
        self.output = self._key(find_port(ports, ("658",)) or self._only(ports))
        return self.output is not None

    def batch(self, image: np.ndarray, faces: Detections, indices: np.ndarray) -> np.ndarray:
        return align(image, five_points(faces.data["landmarks"][indices]), self.stage.input_size)

    def decode(self, outputs: ModelOutputs) -> np.ndarray:
        return self._get(outputs, self.output)

    def apply(self, faces: Detections, indices: np.ndarray, outputs: ModelOutputs) -> None:
        faces.data[EMBEDDING] = self.decode(outputs)

    def defaults(self, faces: Detections) -> None:
        faces.data[EMBEDDING] = np.zeros((len(faces), 0), np.float32)
