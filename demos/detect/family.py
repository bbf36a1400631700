"""`ovdemo detect`: object detection with any Open Model Zoo detector (SSD, boxes+labels, TF OD API, YOLO),
with the one tracker (`--track`, appearance from `--reid-model`), counting lines and zones."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import cv2
import numpy as np
import openvino as ov

from ovdemo.common.annotators import Annotator, ObjectAnnotator
from ovdemo.common.draw import Style, object_color
from ovdemo.common.engine.family import Family, RunContext
from ovdemo.common.engine.inference import ModelOutputs, describe_ports, port_key, port_shape
from ovdemo.common.engine.second_stage import Reader, SecondModel
from ovdemo.common.errors import DemoError
from ovdemo.common.io.capture import Frame
from ovdemo.common.models.detector import DECODERS, Detector
from ovdemo.common.models.resolve import ResolvedModel, resolve_from_options, resolve_main
from ovdemo.common.models.specs import load_labels
from ovdemo.common.options import (
    CLASSES,
    CLASSIFY,
    DRAWING,
    LABELS,
    REID_THRESHOLD,
    THRESHOLD,
    TRACKING,
    Alias,
    Opt,
    Options,
    OptionValues,
    arch_opt,
    parse_classes,
    reid_model_opt,
)
from ovdemo.common.results import Detections, Result

AGNOSTIC_NMS = Opt("agnostic_nms", ("--agnostic-nms",), "YOLO heads: remove overlapping boxes across classes, not "
                   "only within each class.", default=False, is_flag=True)
EMBEDDING_NAMES = ("reid_embedding", "descriptor")  # Open Model Zoo's names, for a model whose spec names none
DEFAULT_REID_THRESHOLD = 0.25  # cosine distance; a re-id model's spec may say otherwise (`reid_threshold`)


def one_embedding(shape: list[int | None]) -> bool:
    """(N, D) or (N, D, 1, 1): one embedding per crop."""
    return len(shape) == 2 or (len(shape) == 4 and shape[2:] == [1, 1])


@dataclass(frozen=True)
class DetectOptions(OptionValues):
    """What detect and track read from their options."""

    threshold: float | None
    labels: str | None
    classes: str | None
    arch: str | None
    agnostic_nms: bool
    track: bool
    reid_model: str | None  # "none": no re-id model (track's default has one)
    reid_threshold: float | None

    @property
    def reid_ref(self) -> str | None:
        return None if self.reid_model is None or self.reid_model.lower() == "none" else self.reid_model


class QuadAnnotator:
    """An oriented detector's rotated boxes (data["quad"]), outlined in each object's colour."""

    def annotate(self, scene: np.ndarray, result: Result, style: Style) -> None:
        objects = result.objects
        for i, quad in enumerate(objects.data.get("quad", ())):
            cv2.polylines(scene, [np.round(quad).astype(np.int32)], True, object_color(objects, i), style.thickness,
                          cv2.LINE_AA)


class ReidReader(Reader):
    """Appearance for the tracker: one embedding per object (its box as it is), under data["embedding"]. The
    output is the one its spec names (assets/models/track.toml `output`), else Open Model Zoo's names, else the
    model's single output of an embedding's shape."""

    role = "reid"
    expects = "one embedding output (N, D) such as reid_embedding [1,256]"

    def bind(self, model: ov.Model) -> None:
        port = self.find(model, self.output_names(*EMBEDDING_NAMES))
        if port is None and len(model.outputs) == 1:
            port = model.output(0)
        if port is None or not one_embedding(port_shape(port)):
            raise DemoError(f"the re-identification model has outputs {describe_ports(model.outputs)}",
                            f"expected {self.expects}")
        self.output = port_key(port) if port.get_names() else None  # (an unnamed single output: the only array)

    def apply(self, objects: Detections, indices: np.ndarray, outputs: ModelOutputs) -> None:
        array = outputs.array(self.output) if self.output else next(iter(outputs))[1]
        # every object: the stage runs on them all
        objects.data["embedding"] = array.reshape(array.shape[0], -1).astype(np.float32)


class DetectFamily(Family):
    """Detect objects in video, images, cameras or streams."""

    name = "detect"
    summary = "Detect objects in video, images, cameras or streams."
    default_model = "person-detection-0202"
    model_help = "Detector: an Open Model Zoo name or a .xml/.onnx/.pb path."
    decoders = DECODERS
    examples: ClassVar[tuple[str, ...]] = (
        "ovdemo detect -i one-by-one-person-detection.mp4",
        "ovdemo detect -m vehicle-detection-adas-0002 -i car-detection.mp4 --output out.mp4 --no-show",
        "ovdemo detect -m person-vehicle-bike-detection-2004 -i preview-person-bicycle-car-detection.gif -t 0.4 "
        "--classes person,vehicle",
        "ovdemo detect -i one-by-one-person-detection.mp4 --track --line 560,432,560,0 --json out.jsonl",
    )
    default_reid: str | None = None
    own_options = (
        THRESHOLD, LABELS, CLASSES, arch_opt(DECODERS), AGNOSTIC_NMS, *DRAWING, CLASSIFY, *TRACKING,
        reid_model_opt(None, "Re-identification model: appearance embeddings for --track (e.g. "
                             "person-reidentification-retail-0277)."),
        REID_THRESHOLD,
    )

    def __init__(self, model: ResolvedModel, opts: Options, reid: ResolvedModel | None = None):
        super().__init__(model, opts)
        self.values = DetectOptions.of(opts)
        self.reid = reid
        self.reid_model: SecondModel | None = None
        self.tracker_reid_threshold = self.values.reid_threshold
        if reid is not None and self.tracker_reid_threshold is None:
            self.tracker_reid_threshold = float(reid.spec.params.get("reid_threshold", DEFAULT_REID_THRESHOLD))

    @classmethod
    def create(cls, opts: Options) -> DetectFamily:
        values = DetectOptions.of(opts)
        if values.reid_ref and not values.track:
            raise DemoError("--reid-model gives the tracker appearance", "add --track")
        reid = resolve_from_options(values.reid_ref, opts) if values.reid_ref else None
        return cls(resolve_main(opts, cls.name, DECODERS), opts, reid)

    def start(self, ctx: RunContext) -> None:
        if self.reid is not None:
            self.reid_model = SecondModel(ReidReader(self.reid), ctx.config)
            self.stages = [self.reid_model.object_stage()]

    def prepare(self, model: ov.Model) -> None:
        values = self.values
        self.detector = Detector(model, self.model, threshold=values.threshold,
                                 labels=load_labels(values.labels) if values.labels else None,
                                 classes=parse_classes(values.classes), arch=values.arch, family=self.name,
                                 agnostic=values.agnostic_nms)

    def object_names(self) -> tuple[str, ...] | None:
        return self.detector.names

    def postprocess(self, outputs: ModelOutputs | None, frame: Frame) -> Result:
        assert outputs is not None  # (None only for a family whose own needs_inference skips frames)
        h, w = frame.image.shape[:2]
        objects = self.detector(outputs, (w, h))
        if self.reid_model is not None:  # filled by the reid stage; a frame without people has no embedding
            objects.data["embedding"] = np.zeros((len(objects), 0), np.float32)
        return Result(objects)

    def annotators(self) -> list[Annotator]:
        """Boxes, or an oriented detector's rotated boxes (data["quad"]) with the captions."""
        return [QuadAnnotator(), ObjectAnnotator(outlined_by="quad")]

    def finish(self) -> None:
        if self.reid_model is not None:
            self.reid_model.wait_all()


class TrackFamily(DetectFamily):
    """Track people (or any detected objects) with re-identification; count lines and zones."""

    name = "track"
    summary = "Track people (or any detected objects) with re-identification; count lines and zones."
    model_help = "Person (or any object) detector: an Open Model Zoo name or a model path."
    examples = (
        "ovdemo track -i one-by-one-person-detection.mp4 --line 560,432,560,0 --json out.jsonl",
        "ovdemo track -i preview-store-aisle-detection.gif --zone 240,0,480,0,480,270,240,270 --mot tracks.txt",
        "ovdemo track -i one-by-one-person-detection.mp4 --reid-model none --infer-every 3",
    )
    fixed = {"track": True}
    own_options = tuple(
        o for o in DetectFamily.own_options if o.name not in ("track", "reid_model")
    ) + (reid_model_opt("person-reidentification-retail-0277",
                        "Re-identification model; 'none' tracks by motion only.", aliases=(Alias("--reid"),)),)
