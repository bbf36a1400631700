"""`ovdemo pose`: multi-person (OpenPose, associative embedding) and top-down single-person pose estimation."""

from __future__ import annotations

import colorsys
import dataclasses
import math
import time
from dataclasses import dataclass, field

import click
import cv2
import numpy as np
import openvino as ov

from ovdemo.common.capture import Frame
from ovdemo.common.draw import Style, draw_box
from ovdemo.common.errors import DemoError
from ovdemo.common.inference import ModelOutputs, input_layout, read_model
from ovdemo.common.models import ResolvedModel, resolve_from_options
from ovdemo.common.options import PipelineOptions, model_option, pipeline_options
from ovdemo.common.pipeline import RunContext, run
from ovdemo.common.stages import Stage, crops

from .detect import DetectTask
from .pose_decoders import DECODERS, SKELETON, Poses, TopDownDecoder, choose_decoder, person_scores

DEFAULT_MODEL = "human-pose-estimation-0001"
DEFAULT_DETECTOR = "person-detection-0202"
DEFAULT_THRESHOLD = 0.4  # bottom-up: the mean score of a person's keypoints found
DYNAMIC_INPUT_SIDE = 512  # target size of a network whose input size is dynamic, unless --tsize says


def _rainbow(n: int) -> list[tuple[int, int, int]]:
    colors = []
    for i in range(n):
        r, g, b = colorsys.hsv_to_rgb(i / n, 0.9, 1.0)
        colors.append((int(b * 255), int(g * 255), int(r * 255)))
    return colors


LIMB_COLORS = _rainbow(len(SKELETON))  # one colour per limb, the same for every person


def draw_poses(image: np.ndarray, poses: Poses, style: Style, kp_threshold: float) -> None:
    """Skeletons: each limb in its own colour between keypoints shown at `kp_threshold`, keypoints as dots."""
    shown = poses.visible(kp_threshold)
    radius = max(2, style.thickness + 1)
    for i in range(len(poses)):
        if poses.boxes is not None:
            draw_box(image, poses.boxes[i], (200, 200, 200), style,
                     f"{poses.person_scores[i]:.2f}" if style.confidence else None)
        points = np.rint(poses.keypoints[i]).astype(np.int32)
        for (a, b), color in zip(SKELETON, LIMB_COLORS, strict=True):
            if shown[i, a] and shown[i, b]:
                cv2.line(image, tuple(points[a]), tuple(points[b]), color, style.thickness + 1, cv2.LINE_AA)
        for j in np.nonzero(shown[i])[0]:
            cv2.circle(image, tuple(points[j]), radius, (255, 255, 255), cv2.FILLED, cv2.LINE_AA)
            cv2.circle(image, tuple(points[j]), radius, (40, 40, 40), 1, cv2.LINE_AA)


def raw_lines(poses: Poses, kp_threshold: float) -> list[str]:
    return [f"person {p['score']:.3f} [{', '.join(f'{v:.0f}' for v in p['bbox'] or [])}] "
            f"{sum(v is not None for v in p['keypoints'].values())} keypoints" for p in poses.people(kp_threshold)]


def with_original_normalisation(resolved: ResolvedModel) -> ResolvedModel:
    """Open Model Zoo's converted IRs take BGR 0..255 with normalisation built in; the same model exported to
    ONNX from its source framework does not: use the spec's `original_*` colour order, mean and scale then."""
    spec = resolved.spec
    if spec is None or resolved.path.suffix.lower() != ".onnx" or "original_mean" not in spec.params:
        return resolved
    original = dataclasses.replace(spec, color=spec.params.get("original_color", spec.color),
                                   mean=tuple(spec.params["original_mean"]),
                                   scale=tuple(spec.params.get("original_scale", (1.0, 1.0, 1.0))))
    return dataclasses.replace(resolved, spec=original)


def input_shape_for(model_hw: tuple[int, int], frame_size: tuple[int, int] | None, tsize: int | None,
                    mode: str, divisor: int) -> tuple[int, int]:
    """(h, w) of the network for frames of `frame_size` (w, h): the frame's aspect ratio at the target size
    (`mode` height: the input height; short: the shorter side), rounded up to the network's stride."""
    h0, w0 = model_hw
    fw, fh = frame_size if frame_size else (w0, h0)
    if mode == "height":
        h = tsize or h0
        w = h * fw / fh
    else:
        target = tsize or min(h0, w0)
        h, w = (target, target * fw / fh) if fw >= fh else (target * fh / fw, target)
    return math.ceil(h / divisor) * divisor, math.ceil(w / divisor) * divisor


class PoseOutput:
    """What both kinds of pose task show and write: skeletons, keypoints above `kp_threshold`."""

    kp_threshold: float

    def draw(self, image: np.ndarray, result: Poses, style: Style) -> None:
        draw_poses(image, result, style, self.kp_threshold)

    def record(self, result: Poses) -> dict:
        return {"people": result.people(self.kp_threshold)}

    def raw_lines(self, result: Poses) -> list[str]:
        return raw_lines(result, self.kp_threshold)


@dataclass
class BottomUpPoseTask(PoseOutput):
    """OpenPose and associative-embedding models: one pass over the whole frame finds every person."""

    model: ResolvedModel
    decoder_kind: str
    tsize: int | None = None
    threshold: float = DEFAULT_THRESHOLD
    kp_threshold: float = 0.1
    family: str = "pose"
    stage_ms: dict[str, float] = field(default_factory=dict)
    frame_size: tuple[int, int] | None = None

    def start(self, ctx: RunContext) -> None:
        self.frame_size = ctx.frame_size

    def prepare(self, model: ov.Model) -> None:
        spec = self.model.spec
        self.decoder = DECODERS[self.decoder_kind](model, spec.params if spec else None)
        if input_layout(model, spec) != "NCHW":
            raise DemoError(f"{self.model.name} has an NHWC input", "pose models here take NCHW inputs")
        shape = model.input(0).get_partial_shape()
        static = shape[2].is_static and shape[3].is_static
        if not static or self.frame_size or self.tsize:
            # a dynamic input (e.g. an ONNX export) is fixed here too, to the frame's aspect at the stride
            model_hw = ((shape[2].get_length(), shape[3].get_length()) if static
                        else (self.tsize or DYNAMIC_INPUT_SIDE,) * 2)
            h, w = input_shape_for(model_hw, self.frame_size, self.tsize, self.decoder.size_mode, self.decoder.stride)
            if not static or (h, w) != model_hw:
                try:
                    model.reshape({model.input(0): ov.PartialShape([1, shape[1].get_length(), h, w])})
                except Exception as e:
                    raise DemoError(f"cannot reshape {self.model.name} to {w}x{h}",
                                    f"{str(e).splitlines()[0]}; try another --tsize") from None
        self.decoder.augment(model)

    def postprocess(self, outputs: ModelOutputs, frame: Frame) -> Poses:
        h, w = frame.image.shape[:2]
        return self.decoder.decode(outputs, (w, h), self.threshold, self.stage_ms)


@dataclass
class TopDownPoseTask(PoseOutput):
    """A person detector (the pipeline's main model) and a single-person model run on every person's crop,
    all crops of a frame in one batch on the pose model's own requests."""

    model: ResolvedModel  # the person detector
    pose_model: ResolvedModel
    threshold: float | None = None  # the detector's confidence threshold
    kp_threshold: float = 0.1
    family: str = "pose"
    stage_ms: dict[str, float] = field(default_factory=dict)

    def __post_init__(self):
        spec = self.model.spec
        names = spec.labels if spec else None
        # multi-class detectors: keep their people only
        classes = ("person",) if names and "person" in names and len(set(names) - {"background"}) > 1 else ()
        self.detector = DetectTask(self.model, threshold=self.threshold, classes=classes)

    def _check(self, model: ov.Model) -> None:
        self.decoder = TopDownDecoder(model, self.pose_model.spec.params if self.pose_model.spec else None)

    def start(self, ctx: RunContext) -> None:
        self.stage = Stage(self.pose_model, ctx.config, check=self._check)

    def prepare(self, model: ov.Model) -> None:
        self.detector.prepare(model)

    def postprocess(self, outputs: ModelOutputs, frame: Frame) -> Poses:
        people = self.detector.postprocess(outputs, frame)
        if not len(people):
            return Poses.empty()
        t0 = time.perf_counter()
        regions = self.decoder.crop_boxes(people.boxes)
        batch = crops(frame.image, regions, self.stage.input_size or self.decoder.input_size)
        t1 = time.perf_counter()
        heatmaps = self.stage(batch).get(self.decoder.heatmaps_name)
        t2 = time.perf_counter()
        keypoints, scores = self.decoder.decode(heatmaps, regions)
        t3 = time.perf_counter()
        self.stage_ms.update(crops=(t1 - t0) * 1000.0, pose_infer=(t2 - t1) * 1000.0, keypoints=(t3 - t2) * 1000.0)
        return Poses(keypoints, scores, person_scores(scores), people.boxes)

    def finish(self) -> None:
        stage = getattr(self, "stage", None)
        if stage is not None:
            stage.wait_all()


@click.command(name="pose")
@model_option(DEFAULT_MODEL, "Pose model: human-pose-estimation-0001 (OpenPose), human-pose-estimation-0005/6/7 or "
                             "higher-hrnet-w32-human-pose-estimation (associative embedding), "
                             "single-human-pose-estimation-0001 (top-down, with --detector); a name or a path.")
@click.option("--detector", metavar="NAME|PATH",
              help=f"Person detector for top-down models [default: {DEFAULT_DETECTOR}].")
@click.option("--arch", type=click.Choice(sorted(DECODERS)), help="Decoder, for models ovdemo does not know.")
@click.option("--tsize", type=click.IntRange(min=16), metavar="N",
              help="Bottom-up models: network input height (OpenPose) or shorter side (associative embedding); "
                   "the width follows the input's aspect ratio [default: the model's].")
@click.option("-t", "--threshold", type=click.FloatRange(0, 1),
              help=f"Bottom-up: a person's mean keypoint score [default: {DEFAULT_THRESHOLD}]; "
                   "top-down: the detector's confidence [default: the detector's].")
@click.option("--kp-threshold", type=click.FloatRange(0, 1), default=0.1, show_default=True,
              help="Keypoints below this confidence are neither drawn nor written to the JSON.")
@pipeline_options
def command(model, detector, arch, tsize, threshold, kp_threshold, **kwargs):
    """Estimate human poses (17 COCO keypoints per person) in video, images, cameras or streams."""
    opts = PipelineOptions.take(kwargs)
    resolved = with_original_normalisation(resolve_from_options(model, opts))
    # the model's kind decides the flags that apply: check both before any output file exists
    spec = resolved.spec
    decoder_cls = choose_decoder(ov_model := read_model(resolved.path), resolved.name,
                                 spec.decoder if spec else None, arch)
    decoder_cls(ov_model, spec.params if spec else None)  # raises when the outputs do not fit
    kind = decoder_cls.kind
    if kind == TopDownDecoder.kind:
        if tsize:
            raise DemoError("--tsize is for bottom-up models",
                            f"{resolved.name} is top-down: it sees each person's crop at its own size")
        person_detector = resolve_from_options(detector or DEFAULT_DETECTOR, opts)
        task = TopDownPoseTask(person_detector, resolved, threshold=threshold, kp_threshold=kp_threshold)
    else:
        if detector:
            raise DemoError("--detector is for top-down models",
                            f"{resolved.name} finds people by itself; e.g. -m single-human-pose-estimation-0001")
        task = BottomUpPoseTask(resolved, kind, tsize=tsize,
                                threshold=DEFAULT_THRESHOLD if threshold is None else threshold,
                                kp_threshold=kp_threshold)
    return run(task, opts)
