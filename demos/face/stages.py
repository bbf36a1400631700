"""The per-face readers of `ovdemo face` (second models: common/engine/second_stage.py): where each one crops the
face, and how its outputs are read.

Outputs are bound once, when the model is read: by the names its spec declares (assets/models/face.toml
`output`), else the names Open Model Zoo releases gave them, else by their shape; a model that fits none
fails at start naming what was expected and what it has. Age, gender and emotions are attribute models,
read as --classify reads any (common/models/attributes.py).
"""

from __future__ import annotations

import numpy as np
import openvino as ov

from ovdemo.common.engine.inference import ModelOutputs, port_key, port_shape
from ovdemo.common.engine.second_stage import Reader
from ovdemo.common.results import Detections

from .gallery import align, five_points

EMBEDDING = "face_embedding"  # data key of the face embeddings


def values_per_face(shape: list[int | None]) -> int | None:
    """Values per face of an output shape: the product of its dimensions after the batch one."""
    known = [d for d in shape[1:] if d is not None]
    if len(shape) < 2 or len(known) < len(shape) - 1:
        return None
    return int(np.prod(known))


class FaceReader(Reader):
    """A per-face model: one face image in; its regions in whole pixels (what the model sees, which its
    outputs, e.g. landmarks, are relative to)."""

    def bind(self, model: ov.Model) -> None:
        self.one_input(model, f"a {self.role} model takes one face image")
        if not self.bind_outputs(model):
            raise self.mismatch(model)

    def bind_outputs(self, model: ov.Model) -> bool:
        """Find the outputs this reader reads; False when the model has none that fit."""
        raise NotImplementedError

    @staticmethod
    def _key(port) -> str | None:
        """The name to read a found output by (None when none was found, or it has no name)."""
        return port_key(port) if port is not None and port.get_names() else None

    def regions(self, boxes: np.ndarray) -> np.ndarray:
        return np.round(super().regions(boxes))

    @staticmethod
    def _get(outputs: ModelOutputs, name: str | None) -> np.ndarray:
        assert name is not None  # bound: `bind` refuses a model whose output it did not find
        array = outputs.array(name)
        return array.reshape(len(array), -1).astype(np.float32)


class LandmarksReader(FaceReader):
    """Facial landmarks as (x, y) pairs normalised to the face region: 10 values are the 5 points of
    landmarks-regression-retail-0009, 70 the 35 points of facial-landmarks-35-adas-0002."""

    role = "landmarks"
    expects = "one output of 10 values (5 points) or 70 values (35 points) per face, e.g. '95' [1,10,1,1]"
    roi_scale = 1.15  # face_recognition_demo's -exp_r_fd

    def bind_outputs(self, model: ov.Model) -> bool:
        port = self.find(model, self.output_names("95", "align_fc3"), only=True)
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


class HeadPoseReader(FaceReader):
    role = "head-pose"
    expects = "angle_y_fc, angle_p_fc and angle_r_fc (yaw, pitch, roll in degrees, one value per face)"
    roi_scale, roi_square = 1.2, True

    def bind_outputs(self, model: ov.Model) -> bool:
        declared = self.output_names()  # yaw, pitch, roll, as the spec names them
        # three outputs of one value each: only their names tell them apart
        self.angles = [self._key(self.find(model, (*declared[i:i + 1], f"angle_{a}_fc", f"fc_{a}")))
                       for i, a in enumerate("ypr")]
        return all(self.angles)

    def decode(self, outputs: ModelOutputs) -> list[dict[str, float]]:
        """Per face {"yaw", "pitch", "roll"} in degrees: the shape the JSON has, so `data` reads the same."""
        angles = np.concatenate([self._get(outputs, name)[:, :1] for name in self.angles], axis=1)
        return [dict(zip(HEAD_POSE_ANGLES, map(float, row), strict=True)) for row in angles]

    def apply(self, faces: Detections, indices: np.ndarray, outputs: ModelOutputs) -> None:
        faces.data["head_pose"] = self.decode(outputs)

    def defaults(self, faces: Detections) -> None:
        faces.data["head_pose"] = [dict.fromkeys(HEAD_POSE_ANGLES, 0.0) for _ in range(len(faces))]


class FaceReidReader(FaceReader):
    """Face re-identification: one embedding per face aligned on its five landmarks (no box crop: see
    face_gallery.align), under EMBEDDING (not "embedding", which the tracker would use with thresholds tuned on
    people)."""

    role = "reid"
    expects = "one embedding output per face, e.g. '658' [1,256,1,1]"

    def bind_outputs(self, model: ov.Model) -> bool:
        self.output = self._key(self.find(model, self.output_names("658"), only=True))
        return self.output is not None

    def crops(self, image: np.ndarray, faces: Detections, indices: np.ndarray) -> np.ndarray:
        return align(image, five_points(faces.data["landmarks"][indices]), self.stage.crop_size)

    def apply(self, faces: Detections, indices: np.ndarray, outputs: ModelOutputs) -> None:
        faces.data[EMBEDDING] = self._get(outputs, self.output)

    def defaults(self, faces: Detections) -> None:
        faces.data[EMBEDDING] = np.zeros((len(faces), 0), np.float32)
