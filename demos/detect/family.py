"""`ovdemo detect`: object detection with any Open Model Zoo detector (SSD, boxes+labels, TF OD API, YOLO),
with the one tracker (`--track`, appearance from `--reid-model`), counting lines and zones."""

from __future__ import annotations

import cv2
import numpy as np
import openvino as ov

from ovdemo.common.annotators import Annotator, ObjectAnnotator
from ovdemo.common.draw import Style, object_color
from ovdemo.common.engine.family import Family, RunContext
from ovdemo.common.engine.inference import ModelOutputs, describe_ports
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
    arch_opt,
    parse_classes,
    reid_model_opt,
)
from ovdemo.common.results import Detections, Result

AGNOSTIC_NMS = Opt("agnostic_nms", ("--agnostic-nms",), "YOLO heads: remove overlapping boxes across classes, not "
                   "only within each class.", default=False, is_flag=True)
EMBEDDING_NAMES = ("reid_embedding", "descriptor")
DEFAULT_REID_THRESHOLD = 0.25  # cosine distance; a re-id model's spec may say otherwise (`reid_threshold`)


class QuadAnnotator:
    """An oriented detector's rotated boxes (data["quad"]), outlined in each object's colour."""

    def annotate(self, scene: np.ndarray, result: Result, style: Style) -> None:
        objects = result.objects
        for i, quad in enumerate(objects.data.get("quad", ())):
            cv2.polylines(scene, [np.round(quad).astype(np.int32)], True, object_color(objects, i), style.thickness,
                          cv2.LINE_AA)


class ReidReader(Reader):
    """Appearance for the tracker: one embedding per object (its box as it is), under data["embedding"]."""

    role = "reid"
    expects = "one embedding output (N, D) such as reid_embedding [1,256]"

    def bind(self, model: ov.Model) -> None:
        """One embedding per crop: a single (N, D) or (N, D, 1, 1) output, by its name where it has one."""
        outputs = model.outputs
        named = [o for o in outputs if o.get_names() & set(EMBEDDING_NAMES)]
        candidates = named or outputs
        shape = candidates[0].get_partial_shape() if len(candidates) == 1 else None
        fits = shape is not None and shape.rank.is_static and (
            shape.rank.get_length() == 2 or (shape.rank.get_length() == 4 and all(
                d.is_static and d.get_length() == 1 for d in list(shape)[2:])))
        if not fits:
            raise DemoError(f"the re-identification model has outputs {describe_ports(outputs)}",
                            f"expected {self.expects}")

    def apply(self, objects: Detections, indices: np.ndarray, outputs: ModelOutputs) -> None:
        array = outputs.get(*EMBEDDING_NAMES)
        if array is None:
            array = next(iter(outputs))[1]
        # every object: the stage runs on them all
        objects.data["embedding"] = array.reshape(array.shape[0], -1).astype(np.float32)


class DetectFamily(Family):
    """Detect objects in video, images, cameras or streams."""

    name = "detect"
    summary = "Detect objects in video, images, cameras or streams."
    default_model = "person-detection-0202"
    model_help = "Detector: an Open Model Zoo name or a .xml/.onnx/.pb path."
    decoders = DECODERS
    examples = (
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

    def __init__(self, model: ResolvedModel, opts, reid: ResolvedModel | None = None):
        super().__init__(model, opts)
        self.reid = reid
        self.reid_model: SecondModel | None = None
        self.tracker_reid_threshold = opts.get("reid_threshold")
        if reid is not None and self.tracker_reid_threshold is None:
            self.tracker_reid_threshold = float(reid.spec.params.get("reid_threshold", DEFAULT_REID_THRESHOLD))

    @classmethod
    def create(cls, opts) -> DetectFamily:
        reid_ref = opts.get("reid_model")
        if reid_ref and reid_ref.lower() == "none":
            reid_ref = None
        if reid_ref and not opts.get("track"):
            raise DemoError("--reid-model gives the tracker appearance", "add --track")
        reid = resolve_from_options(reid_ref, opts) if reid_ref else None
        return cls(resolve_main(opts, cls.name, DECODERS), opts, reid)

    def start(self, ctx: RunContext) -> None:
        if self.reid is not None:
            self.reid_model = SecondModel(ReidReader(self.reid), ctx.config)
            self.stages = [self.reid_model.object_stage()]

    def prepare(self, model: ov.Model) -> None:
        self.detector = Detector(model, self.model, threshold=self.opts.get("threshold"),
                                 labels=load_labels(self.opts.labels) if self.opts.get("labels") else None,
                                 classes=parse_classes(self.opts.get("classes")), arch=self.opts.get("arch"),
                                 family=self.name, agnostic=bool(self.opts.get("agnostic_nms")))

    def object_names(self) -> tuple[str, ...] | None:
        return self.detector.names

    def postprocess(self, outputs: ModelOutputs, frame: Frame) -> Result:
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
