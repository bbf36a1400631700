"""`ovdemo pose`: multi-person (OpenPose, associative embedding) and top-down single-person pose estimation.

Results are people: `Detections` of class "person" with their 17 COCO keypoints as data["keypoints"] (N, 17, 3:
x, y, score; score 0 for a keypoint below --kp-threshold, neither drawn nor written). Bottom-up, a person's
confidence is its person score and its box the extent of its keypoints shown; top-down, both are the
detector's.
"""

from __future__ import annotations

import colorsys
import dataclasses
import math

import click
import cv2
import numpy as np
import openvino as ov

from ovdemo.common.annotators import Annotator, ObjectAnnotator
from ovdemo.common.draw import Style
from ovdemo.common.engine.family import DecoderSetup, Family, RunContext, choose_decoder
from ovdemo.common.engine.inference import ModelOutputs, input_layout, read_model
from ovdemo.common.engine.second_stage import SecondModel
from ovdemo.common.errors import DemoError
from ovdemo.common.io.capture import Frame
from ovdemo.common.models.detector import Detector
from ovdemo.common.models.resolve import ResolvedModel, resolve_from_options, resolve_main
from ovdemo.common.options import (
    CLASSIFY,
    DRAWING,
    INPUT_SIZE,
    THRESHOLD,
    TRACKING,
    Alias,
    Opt,
    Options,
    OptionValues,
    arch_opt,
    model_opt,
)
from ovdemo.common.results import Detections, Result

from .decoders import (
    DECODERS,
    PERSON,
    BottomUpDecoder,
    TopDownReader,
    YoloPoseDecoder,
    keypoint_extent,
)

DEFAULT_MODEL = "human-pose-estimation-0001"
DEFAULT_DETECTOR = "person-detection-0202"
DEFAULT_THRESHOLD = 0.4  # bottom-up: the mean score of a person's keypoints found
DEFAULT_KP_THRESHOLD = 0.1
DYNAMIC_INPUT_SIDE = 512  # the model's size when its input is dynamic

# Limbs drawn between COCO keypoints: face, arms, torso, legs.
SKELETON = (
    (0, 1), (0, 2), (1, 3), (2, 4),
    (5, 7), (7, 9), (6, 8), (8, 10), (5, 6),
    (5, 11), (6, 12), (11, 12),
    (11, 13), (13, 15), (12, 14), (14, 16),
)


def _rainbow(n: int) -> list[tuple[int, int, int]]:
    colors = []
    for i in range(n):
        r, g, b = colorsys.hsv_to_rgb(i / n, 0.9, 1.0)
        colors.append((int(b * 255), int(g * 255), int(r * 255)))
    return colors


LIMB_COLORS = _rainbow(len(SKELETON))  # one colour per limb, the same for every person


class LegacyTsize(int):
    """An input size given as the old --tsize: the network's height (OpenPose) or shorter side (associative
    embedding), not --input-size's longer side."""


DETECTOR_MODEL = model_opt("detector_model", "--detector-model", None,
                           f"Person detector for top-down models [default: {DEFAULT_DETECTOR}].",
                           aliases=(Alias("--detector"),))
POSE_INPUT_SIZE = dataclasses.replace(
    INPUT_SIZE, aliases=(Alias("--tsize", LegacyTsize),),
    help="Bottom-up models: the network input's longer side in pixels, the other side following the frame's "
         "aspect ratio, both rounded up to the model's stride [default: the model's height (OpenPose) or shorter "
         "side (associative embedding)].")
POSE_THRESHOLD = THRESHOLD.with_default(None, help=f"Bottom-up: a person's mean keypoint score [default: "
                                                   f"{DEFAULT_THRESHOLD}]; top-down: the detector's confidence "
                                                   "[default: the detector's].")
KP_THRESHOLD = Opt("kp_threshold", ("--kp-threshold",), "Keypoints below this confidence are neither drawn nor "
                   "written to the JSON.", default=DEFAULT_KP_THRESHOLD, type=click.FloatRange(0, 1),
                   show_default=True)


def with_original_normalisation(resolved: ResolvedModel) -> ResolvedModel:
    """Open Model Zoo's converted IRs take BGR 0..255 with normalisation built in; the same model exported to
    ONNX from its source framework does not: use the spec's `original_*` colour order, mean and scale then."""
    spec = resolved.spec
    if resolved.path is None or resolved.path.suffix.lower() != ".onnx" or "original_mean" not in spec.params:
        return resolved
    original = dataclasses.replace(spec, color=spec.params.get("original_color", spec.color),
                                   mean=tuple(spec.params["original_mean"]),
                                   scale=tuple(spec.params.get("original_scale", (1.0, 1.0, 1.0))))
    return dataclasses.replace(resolved, spec=original)


def input_shape_for(model_hw: tuple[int, int], frame_size: tuple[int, int] | None, input_size: int | None,
                    mode: str, stride: int) -> tuple[int, int]:
    """(h, w) of a bottom-up network for frames of `frame_size` (w, h): the frame's aspect ratio, each side
    rounded up to the network's stride. `input_size` is the longer side (--input-size; a LegacyTsize is the height
    or shorter side as `mode` says); without it the model's height (`mode` height) or shorter side (short)."""
    h0, w0 = model_hw
    fw, fh = frame_size if frame_size else (w0, h0)
    if input_size and not isinstance(input_size, LegacyTsize):
        h, w = (input_size * fh / fw, input_size) if fw >= fh else (input_size, input_size * fw / fh)
    elif mode == "height":
        h = input_size or h0
        w = h * fw / fh
    else:
        short = input_size or min(h0, w0)
        h, w = (short, short * fw / fh) if fw >= fh else (short * fh / fw, short)
    return math.ceil(h / stride) * stride, math.ceil(w / stride) * stride


def shown(found: Detections, kp_threshold: float, boxes_from_keypoints: bool) -> Detections:
    """People with their keypoints below `kp_threshold` scored 0 (neither drawn nor written). Bottom-up
    (`boxes_from_keypoints`), a person's box becomes the extent of its keypoints shown, and a person with
    none is left out."""
    keypoints = found.data["keypoints"].copy()
    keypoints[..., 2] = np.where(keypoints[..., 2] >= kp_threshold, keypoints[..., 2], 0.0)
    found = found.with_data(keypoints=keypoints)
    if boxes_from_keypoints:
        found = found[(keypoints[..., 2] > 0).any(axis=1)]
        found.xyxy = keypoint_extent(found.data["keypoints"])
    return found


class SkeletonAnnotator:
    """Each person's keypoints and the limbs between them."""

    def annotate(self, scene: np.ndarray, result: Result, style: Style) -> None:
        draw_skeletons(scene, result.objects, style)


def draw_skeletons(image: np.ndarray, found: Detections, style: Style) -> None:
    """Each limb in its own colour between two keypoints shown, keypoints as dots."""
    radius = max(2, style.thickness + 1)
    for person in found.data.get("keypoints", ()):
        visible = person[:, 2] > 0
        points = np.rint(person[:, :2]).astype(np.int32)
        for (a, b), color in zip(SKELETON, LIMB_COLORS, strict=True):
            if visible[a] and visible[b]:
                cv2.line(image, tuple(points[a]), tuple(points[b]), color, style.thickness + 1, cv2.LINE_AA)
        for j in np.nonzero(visible)[0]:
            cv2.circle(image, tuple(points[j]), radius, (255, 255, 255), cv2.FILLED, cv2.LINE_AA)
            cv2.circle(image, tuple(points[j]), radius, (40, 40, 40), 1, cv2.LINE_AA)


def people_of(names: tuple[str, ...] | None) -> tuple[str, ...]:
    """--classes for a person detector: a multi-class detector keeps its people only."""
    return ("person",) if names and "person" in names and len(set(names) - {"background"}) > 1 else ()


@dataclasses.dataclass(frozen=True)
class PoseOptions(OptionValues):
    """What pose reads from its options."""

    detector_model: str | None
    arch: str | None
    input_size: int | None
    threshold: float | None
    kp_threshold: float


class PoseFamily(Family):
    """Human pose. `create` reads the pose model once and picks the variant by its kind, each a whole family:
    `BottomUpPose` (one pass over the whole frame finds every person) or `TopDownPose` (a person detector,
    and the pose model on every person's crop)."""

    name = "pose"
    summary = "Estimate human poses (17 COCO keypoints per person) in video, images, cameras or streams."
    default_model = DEFAULT_MODEL
    model_help = ("Pose model: human-pose-estimation-0001 (OpenPose), human-pose-estimation-0005/6/7 or "
                  "higher-hrnet-w32-human-pose-estimation (associative embedding), single-human-pose-estimation-0001 "
                  "(top-down, with --detector-model); a name or a path.")
    decoders = DECODERS
    examples = (
        "ovdemo pose -i preview-worker-zone-detection.gif",
        "ovdemo pose -m human-pose-estimation-0005 -i one-by-one-person-detection.mp4 --kp-threshold 0.3",
        "ovdemo pose -m single-human-pose-estimation-0001 --detector-model person-detection-0202 "
        "-i preview-worker-zone-detection.gif",
        "ovdemo pose -i one-by-one-person-detection.mp4 --track --json poses.jsonl --no-show",
    )
    own_options = (DETECTOR_MODEL, arch_opt(DECODERS), POSE_INPUT_SIZE, POSE_THRESHOLD, KP_THRESHOLD, *DRAWING,
                   CLASSIFY, *TRACKING)

    def __init__(self, model: ResolvedModel, opts: Options, ov_model: ov.Model | None = None):
        super().__init__(model, opts, ov_model)
        self.values = PoseOptions.of(opts)
        self.kp_threshold = self.values.kp_threshold

    @classmethod
    def create(cls, opts: Options) -> PoseFamily:
        """The pose model's kind decides the variant and the flags that apply: both checked before any output."""
        values = PoseOptions.of(opts)
        resolved = with_original_normalisation(resolve_main(opts, cls.name, DECODERS))
        ov_model = read_model(resolved.source)
        decoder_cls = choose_decoder(DECODERS, ov_model, resolved.spec, values.arch, cls.name)
        if issubclass(decoder_cls, TopDownReader):
            if values.input_size:
                raise DemoError("--input-size is for bottom-up models",
                                f"{resolved.name} is top-down: it sees each person's crop at its own size")
            detector = resolve_from_options(values.detector_model or DEFAULT_DETECTOR, opts)
            return TopDownPose(detector, opts, pose_model=resolved, pose_ov_model=ov_model)
        if values.detector_model:
            raise DemoError("--detector-model is for top-down models",
                            f"{resolved.name} finds people by itself; e.g. -m single-human-pose-estimation-0001")
        assert issubclass(decoder_cls, (BottomUpDecoder, YoloPoseDecoder))  # DECODERS' other kinds
        return BottomUpPose(resolved, opts, ov_model, decoder_cls=decoder_cls)

    def object_names(self) -> tuple[str, ...]:
        return PERSON

    def annotators(self) -> list[Annotator]:
        return [ObjectAnnotator(), SkeletonAnnotator()]


class BottomUpPose(PoseFamily):
    """One pass over the whole frame finds every person: OpenPose and associative embedding (keypoints grouped
    into people, the network fitted to the frames' aspect ratio) or a YOLO pose model (people boxed with their
    keypoints, at the model's own size, letterboxed). `model` is the pose model."""

    def __init__(self, model: ResolvedModel, opts, ov_model: ov.Model, *,
                 decoder_cls: type[BottomUpDecoder] | type[YoloPoseDecoder]):
        super().__init__(model, opts, ov_model)
        threshold = self.values.threshold
        default = DEFAULT_THRESHOLD if issubclass(decoder_cls, BottomUpDecoder) else model.spec.threshold
        setup = DecoderSetup(model.spec, default if threshold is None else float(threshold), PERSON)
        self.decoder: BottomUpDecoder | YoloPoseDecoder = decoder_cls(ov_model, setup)
        self.frame_size: tuple[int, int] | None = None
        if isinstance(self.decoder, BottomUpDecoder):
            self.decoder.timer = self.timer

    def start(self, ctx: RunContext) -> None:
        self.frame_size = ctx.frame_size

    def prepare(self, model: ov.Model) -> None:
        if isinstance(self.decoder, BottomUpDecoder):  # a YOLO pose model runs at its own size, letterboxed
            self.fit_to_frames(model, self.decoder)
            self.decoder.augment(model)

    def fit_to_frames(self, model: ov.Model, decoder: BottomUpDecoder) -> None:
        """A bottom-up network at the frames' aspect ratio (a dynamic input, e.g. an ONNX export, is fixed too)."""
        if input_layout(model, self.model.spec) != "NCHW":
            raise DemoError(f"{self.model.name} has an NHWC input", "pose models here take NCHW inputs")
        shape = model.input(0).get_partial_shape()
        static = shape[2].is_static and shape[3].is_static
        input_size = self.values.input_size
        if static and not self.frame_size and not input_size:
            return
        model_hw = (shape[2].get_length(), shape[3].get_length()) if static else (DYNAMIC_INPUT_SIDE,) * 2
        h, w = input_shape_for(model_hw, self.frame_size, input_size, decoder.size_mode, decoder.stride)
        if static and (h, w) == model_hw:
            return
        try:
            model.reshape({model.input(0): ov.PartialShape([1, shape[1].get_length(), h, w])})
        except Exception as e:
            raise DemoError(f"cannot reshape {self.model.name} to {w}x{h}",
                            f"{str(e).splitlines()[0]}; try another --input-size") from None

    def postprocess(self, outputs: ModelOutputs | None, frame: Frame) -> Result:
        assert outputs is not None  # (pose infers every frame it is given)
        h, w = frame.image.shape[:2]
        return Result(shown(self.decoder.decode(outputs, (w, h)), self.kp_threshold,
                            isinstance(self.decoder, BottomUpDecoder)))


class TopDownPose(PoseFamily):
    """A person detector is the main model, and the pose model (a second model, `TopDownReader`) runs on every
    person's crop, all crops of a frame in one batch on its own requests; a person's box and confidence are the
    detector's."""

    def __init__(self, detector: ResolvedModel, opts, *, pose_model: ResolvedModel, pose_ov_model: ov.Model):
        """`pose_ov_model` is the pose model `create` read."""
        super().__init__(detector, opts)
        self.pose_model, self.pose_ov_model = pose_model, pose_ov_model
        self.pose: SecondModel | None = None

    def start(self, ctx: RunContext) -> None:
        reader = TopDownReader(self.pose_model, self.kp_threshold, self.timer)
        self.pose = SecondModel(reader, ctx.config, ov_model=self.pose_ov_model)
        self.stages = [self.pose.object_stage()]
        self.pose_ov_model = None  # compiled: the graph is not needed any more

    def prepare(self, model: ov.Model) -> None:
        self.detector = Detector(model, self.model, threshold=self.values.threshold,
                                 classes=people_of(self.model.spec.labels), family=self.name)

    def postprocess(self, outputs: ModelOutputs | None, frame: Frame) -> Result:
        assert outputs is not None  # (pose infers every frame it is given)
        h, w = frame.image.shape[:2]
        found = self.detector(outputs, (w, h))
        # the people; their keypoints come from the pose stage (its reader's defaults: none shown until then)
        return Result(Detections(found.xyxy, found.confidence, np.zeros(len(found), np.int32), names=PERSON))

    def finish(self) -> None:
        if self.pose is not None:
            self.pose.wait_all()
