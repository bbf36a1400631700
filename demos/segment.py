"""`ovdemo segment`: semantic segmentation (class maps) and instance segmentation (Mask R-CNN, YOLACT)."""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass, field

import click
import cv2
import numpy as np
import openvino as ov

from ovdemo.common.capture import Frame
from ovdemo.common.draw import Style
from ovdemo.common.errors import DemoError
from ovdemo.common.inference import ModelOutputs, input_layout, model_input_size
from ovdemo.common.models import ResolvedModel, resolve_from_options
from ovdemo.common.options import PipelineOptions, model_option, pipeline_options
from ovdemo.common.pipeline import run
from ovdemo.common.specs import load_labels

from .segment_decoders import DECODERS, ClassMap, Decoder, Instances, choose_decoder
from .segment_draw import (
    background_ids,
    blend_class_map,
    blend_instances,
    build_palette,
    draw_instance_captions,
    draw_legend,
    legend_entries,
    parse_colors,
)
from .segment_track import InstanceTracker

DEFAULT_MODEL = "road-segmentation-adas-0001"
POLYGON_TOLERANCE = 1.0  # pixels: approxPolyDP keeps the outline within this of the mask's edge


def mask_polygons(mask: np.ndarray, origin) -> list[list[list[int]]]:
    """The outlines of a box-local mask's parts in frame pixels, largest part first."""
    contours, _ = cv2.findContours(mask.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    contours = sorted(contours, key=cv2.contourArea, reverse=True)
    polygons = []
    for contour in contours:
        points = cv2.approxPolyDP(contour, POLYGON_TOLERANCE, True).reshape(-1, 2) + np.asarray(origin)
        if len(points) >= 3:
            polygons.append(points.astype(int).tolist())
    return polygons


@dataclass
class SegmentTask:
    model: ResolvedModel
    threshold: float | None = None
    labels: tuple[str, ...] | None = None  # --labels overrides the spec's
    colors: list[tuple[int, int, int]] | None = None  # --colors overrides the spec's (BGR)
    opacity: float = 0.5
    only_masks: bool = False
    show_boxes: bool = False
    show_scores: bool = False
    track: bool = False
    arch: str | None = None
    family: str = "segment"
    decoder: Decoder | None = field(default=None, init=False)
    stage_ms: dict[str, float] = field(default_factory=dict, init=False)

    def prepare(self, model: ov.Model) -> None:
        spec = self.model.spec
        if spec and spec.family not in (None, "segment") and not self.arch:
            # a detector's [1,1,N,7] output would otherwise pass for a tiny class map
            raise DemoError(f"{self.model.name} is a {spec.family} model, not a segmentation model",
                            f"run it with `ovdemo {spec.family}`, or pass --arch to force a segmentation decoder")
        self.names = self.labels or (spec.labels if spec else None)
        self.score_threshold = self.threshold if self.threshold is not None else (spec.threshold if spec else 0.5)
        input_size = model_input_size(model, input_layout(model, spec)) if model.inputs else None
        self.decoder = choose_decoder(model, spec, self.arch)(model, spec, input_size)
        colors = self.colors
        if colors is None and spec and spec.params.get("colors"):
            spec_colors = spec.params["colors"]
            colors = parse_colors(spec_colors) if isinstance(spec_colors, str) else \
                [(int(b), int(g), int(r)) for r, g, b in spec_colors]
        self.palette = build_palette(colors)
        self.background = background_ids(self.names)
        self.tracker = InstanceTracker() if self.track and not self.decoder.semantic else None

    def postprocess(self, outputs: ModelOutputs, frame: Frame) -> ClassMap | Instances:
        h, w = frame.image.shape[:2]
        if self.decoder.semantic:
            return self.decoder.decode(outputs, (w, h), self.names)
        found = self.decoder.decode(outputs, (w, h), self.score_threshold, self.names)
        if self.tracker is not None:
            self.tracker.update(found)
        return found

    def draw(self, image: np.ndarray, result: ClassMap | Instances, style: Style) -> None:
        started = time.perf_counter()
        if isinstance(result, ClassMap):
            blend_class_map(image, result, self.palette, self.background, self.opacity, self.only_masks)
        else:
            blend_instances(image, result, self.opacity, self.only_masks)
        self.stage_ms["blend"] = (time.perf_counter() - started) * 1000.0
        if isinstance(result, ClassMap):
            draw_legend(image, legend_entries(result, self.palette, self.background, result.shares()), style)
        else:
            draw_instance_captions(image, result, dataclasses.replace(style, confidence=self.show_scores),
                                   self.show_boxes)

    def record(self, result: ClassMap | Instances) -> dict:
        if isinstance(result, ClassMap):
            return {"classes": [{"label": result.label_name(i), "label_id": i, "share": round(share, 5)}
                                for i, share in sorted(result.shares().items())]}
        objects = result.detections().objects()
        for i, obj in enumerate(objects):
            if result.ids[i] >= 0:
                obj["id"] = int(result.ids[i])
            obj["area"] = int(result.masks[i].sum())
            obj["polygons"] = mask_polygons(result.masks[i], result.origins[i])
        return {"objects": objects}

    def raw_lines(self, result: ClassMap | Instances) -> list[str]:
        record = self.record(result)
        if isinstance(result, ClassMap):
            return [f"{c['label']} ({c['label_id']}) {c['share'] * 100:.2f}%" for c in record["classes"]]
        return [f"{o['label']} ({o['label_id']}) {o['confidence']:.3f} [{', '.join(f'{v:.0f}' for v in o['bbox'])}]"
                f" {o['area']} px" + (f" id {o['id']}" if "id" in o else "") for o in record["objects"]]


@click.command(name="segment")
@model_option(DEFAULT_MODEL, "Segmentation model: an Open Model Zoo name or a .xml/.onnx path.")
@click.option("-t", "--threshold", type=click.FloatRange(0, 1),
              help="Instance confidence threshold [default: the model's, else 0.5].")
@click.option("--labels", "labels_file", type=click.Path(dir_okay=False),
              help="Class names, one per line, by class id.")
@click.option("--colors", "colors_file", type=click.Path(dir_okay=False),
              help="Class colours, one R G B per line by class id, e.g. (128, 64, 128) or #804080.")
@click.option("--opacity", type=click.FloatRange(0, 1), default=0.5, show_default=True,
              help="How strongly masks cover the frame.")
@click.option("--only-masks", is_flag=True, help="Draw the masks alone, on black.")
@click.option("--show-boxes", is_flag=True, help="Instance models: draw each instance's box.")
@click.option("--show-scores", is_flag=True, help="Instance models: print each instance's score.")
@click.option("--track", is_flag=True, help="Instance models: keep each instance's id and colour across frames.")
@click.option("--arch", type=click.Choice(sorted(DECODERS)), help="Output decoder, for models ovdemo does not know.")
@pipeline_options
def command(model, threshold, labels_file, colors_file, opacity, only_masks, show_boxes, show_scores, track, arch,
            **kwargs):
    """Segment video: class maps (semantic) or per-object masks (instance)."""
    opts = PipelineOptions.take(kwargs)
    labels = load_labels(labels_file) if labels_file else None
    colors = parse_colors(colors_file) if colors_file else None
    resolved = resolve_from_options(model, opts)
    task = SegmentTask(model=resolved, threshold=threshold, labels=labels, colors=colors, opacity=opacity,
                       only_masks=only_masks, show_boxes=show_boxes, show_scores=show_scores, track=track, arch=arch)
    return run(task, opts)
