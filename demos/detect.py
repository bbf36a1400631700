"""`ovdemo detect`: object detection with any Open Model Zoo detector (SSD, boxes+labels, TF OD API, YOLO)."""

from __future__ import annotations

from dataclasses import dataclass, field

import click
import numpy as np
import openvino as ov
from ovdemo.common.capture import Frame
from ovdemo.common.draw import Style, draw_detections
from ovdemo.common.errors import DemoError
from ovdemo.common.inference import ModelOutputs, input_layout, model_input_size
from ovdemo.common.models import ResolvedModel, resolve_from_options
from ovdemo.common.options import PipelineOptions, model_option, pipeline_options
from ovdemo.common.pipeline import run
from ovdemo.common.results import Detections, clip_boxes
from ovdemo.common.specs import load_labels

from .detect_decoders import DECODERS, Decoder, choose_decoder

DEFAULT_MODEL = "person-detection-0202"


@dataclass
class DetectTask:
    model: ResolvedModel
    threshold: float | None = None
    labels: tuple[str, ...] | None = None  # --labels overrides the spec's
    classes: tuple[str, ...] = ()  # --classes filter, by name
    arch: str | None = None
    family: str = "detect"
    decoder: Decoder | None = field(default=None, init=False)

    def prepare(self, model: ov.Model) -> None:
        spec = self.model.spec
        self.names = self.labels or (spec.labels if spec else None)
        self.single_class = bool(spec and spec.params.get("single_class")) and not self.labels
        self.score_threshold = self.threshold if self.threshold is not None else (spec.threshold if spec else 0.5)
        input_size = model_input_size(model, input_layout(model, spec)) if model.inputs else None
        self.decoder = choose_decoder(model, spec, self.arch)(model, spec, input_size)
        self.keep_ids = None
        if self.classes:
            if not self.names:
                raise DemoError("--classes needs class names", "pass --labels FILE for this model")
            unknown = [c for c in self.classes if c not in self.names]
            if unknown:
                raise DemoError(f"unknown class(es) {', '.join(unknown)} for {self.model.name}",
                                f"known: {', '.join(n for n in self.names if n != 'background')}")
            self.keep_ids = np.array([i for i, n in enumerate(self.names) if n in self.classes], np.int32)

    def postprocess(self, outputs: ModelOutputs, frame: Frame) -> Detections:
        found = self.decoder.decode(outputs, self.score_threshold)
        h, w = frame.image.shape[:2]
        labels = np.zeros_like(found.labels) if self.single_class else found.labels
        result = Detections(clip_boxes(found.boxes * np.array([w, h, w, h], np.float32), w, h),
                            found.scores.astype(np.float32), labels.astype(np.int32), self.names)
        if self.keep_ids is not None:
            result = result[np.isin(result.labels, self.keep_ids)]
        # drop boxes that collapsed to nothing after clipping to the frame
        sizes = result.boxes[:, 2:] - result.boxes[:, :2]
        return result[(sizes > 1).all(axis=1)] if len(result) else result

    def draw(self, image: np.ndarray, result: Detections, style: Style) -> None:
        draw_detections(image, result, style)

    def record(self, result: Detections) -> dict:
        return {"objects": result.objects()}

    def raw_lines(self, result: Detections) -> list[str]:
        return [f"{o['label']} ({o['label_id']}) {o['confidence']:.3f} "
                f"[{', '.join(f'{v:.0f}' for v in o['bbox'])}]" for o in result.objects()]


@click.command(name="detect")
@model_option(DEFAULT_MODEL, "Detector: an Open Model Zoo name or a .xml/.onnx/.pb path.")
@click.option("-t", "--threshold", type=click.FloatRange(0, 1),
              help="Confidence threshold [default: the model's, else 0.5].")
@click.option("--labels", "labels_file", type=click.Path(dir_okay=False),
              help="Class names, one per line, by class id.")
@click.option("--classes", help="Keep only these classes, comma-separated (e.g. person,car).")
@click.option("--arch", type=click.Choice(sorted(DECODERS)), help="Output decoder, for models ovdemo does not know.")
@pipeline_options
def command(model, threshold, labels_file, classes, arch, **kwargs):
    """Detect objects in video, images, cameras or streams."""
    opts = PipelineOptions.take(kwargs)
    resolved = resolve_from_options(model, opts)
    task = DetectTask(
        model=resolved,
        threshold=threshold,
        labels=load_labels(labels_file) if labels_file else None,
        classes=tuple(c.strip() for c in classes.split(",") if c.strip()) if classes else (),
        arch=arch,
    )
    return run(task, opts)
