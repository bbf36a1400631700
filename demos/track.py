"""`ovdemo track`: people tracking with re-identification, counting lines, zones and dwell time.

The detector is decoded by `DetectTask`; every detection of a frame is cropped and sent to the
re-identification model as one batch (`ovdemo.common.stages.Stage`); the tracker (track_tracker.py) matches
them to tracks and the counter (track_counting.py) turns track moves into line and zone events.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import click
import cv2
import numpy as np
import openvino as ov

from ovdemo.common.capture import Frame
from ovdemo.common.draw import Style, color_for, draw_box, draw_label
from ovdemo.common.errors import DemoError
from ovdemo.common.inference import ModelOutputs, describe_ports
from ovdemo.common.models import ResolvedModel, resolve_from_options
from ovdemo.common.options import PipelineOptions, model_option, pipeline_options
from ovdemo.common.output import check_writable
from ovdemo.common.pipeline import RunContext, run
from ovdemo.common.stages import Stage, crops

from .detect import DetectTask
from .track_counting import ANCHORS, Counter, parse_points
from .track_tracker import State, Tracker, TrackerConfig

DEFAULT_DETECTOR = "person-detection-0202"
DEFAULT_REID = "person-reidentification-retail-0277"
EMBEDDING_NAMES = ("reid_embedding", "descriptor")


def check_reid_model(model: ov.Model) -> None:
    """One embedding per crop: a single (N, D) or (N, D, 1, 1) output."""
    outputs = model.outputs
    named = [o for o in outputs if o.get_names() & set(EMBEDDING_NAMES)]
    candidates = named or outputs
    shape = candidates[0].get_partial_shape() if len(candidates) == 1 else None
    fits = shape is not None and shape.rank.is_static and (
        shape.rank.get_length() == 2 or (shape.rank.get_length() == 4 and all(
            d.is_static and d.get_length() == 1 for d in list(shape)[2:])))
    if not fits:
        raise DemoError(f"the re-identification model has outputs {describe_ports(outputs)}",
                        "expected one embedding output (N, D) such as reid_embedding [1,256]")


def embeddings_from(outputs: ModelOutputs) -> np.ndarray:
    array = outputs.get(*EMBEDDING_NAMES)
    if array is None:
        array = next(iter(outputs))[1]
    return array.reshape(array.shape[0], -1).astype(np.float32)


@dataclass
class TrackView:
    """One track as this frame shows it."""

    id: int
    box: np.ndarray
    state: str
    label: int
    score: float
    trail: list[tuple[float, float]]
    dwell: float | None = None  # seconds in the zone it stands in, when any


@dataclass
class TrackResult:
    tracks: list[TrackView]
    events: list[dict]
    detected: bool  # the detector ran on this frame (else boxes are predictions)
    names: tuple[str, ...] | None
    counts: dict = field(default_factory=dict)

    def label_name(self, label: int) -> str:
        return self.names[label] if self.names and 0 <= label < len(self.names) else f"#{label}"


@dataclass
class TrackTask:
    detector: DetectTask
    reid: ResolvedModel | None
    tracker_config: TrackerConfig
    counter: Counter
    infer_every: int = 1
    reid_window_s: float = 10.0
    mot_path: Path | None = None
    family: str = "track"

    def __post_init__(self):
        self.model = self.detector.model
        self.stage: Stage | None = None
        self.stage_ms: dict[str, float] = {}
        self._mot: IO[str] | None = None
        self._last_index: int | None = None

    def start(self, ctx: RunContext) -> None:
        if self.reid is not None:
            self.stage = Stage(self.reid, ctx.config, check=check_reid_model)
        frames = max(1, round(self.reid_window_s * (ctx.fps or 30.0)))
        self.tracker = Tracker(TrackerConfig(**{**self.tracker_config.__dict__, "reid_window": frames}))

    def prepare(self, model: ov.Model) -> None:
        self.detector.prepare(model)

    def needs_inference(self, index: int) -> bool:
        return index % self.infer_every == 0

    def postprocess(self, outputs: ModelOutputs | None, frame: Frame) -> TrackResult:
        tracker = self.tracker
        steps = 1 if self._last_index is None else max(1, frame.index - self._last_index)
        self._last_index = frame.index
        for _ in range(steps):  # a live source that dropped frames: predict across the gap
            tracker.predict()
        if outputs is not None:
            detections = self.detector.postprocess(outputs, frame)
            embeddings = None
            if self.stage is not None:
                t0 = time.perf_counter()
                embeddings = np.zeros((0, 1), np.float32)
                if len(detections):
                    batch = crops(frame.image, detections.boxes, self.stage.input_size)
                    embeddings = embeddings_from(self.stage.submit(batch).wait())
                self.stage_ms["reid"] = (time.perf_counter() - t0) * 1000.0
            t0 = time.perf_counter()
            tracker.update(detections.boxes, detections.scores, detections.labels, embeddings)
            self.stage_ms["tracker"] = (time.perf_counter() - t0) * 1000.0
        tracker.record_trails()
        if tracker.merged:
            self.counter.merge(tracker.merged)
        events = self.counter.update(tracker.tracks, frame.timestamp, self._label_name) if self.counter else []
        dwell = {}
        for zone in self.counter.zones:
            dwell.update(self.counter.dwell(zone, frame.timestamp))
        views = [TrackView(t.id, t.box, t.state.value, t.label, t.score, list(t.trail), dwell.get(t.id))
                 for t in tracker.tracks if t.updated and t.state in (State.TENTATIVE, State.CONFIRMED)]
        result = TrackResult(views, events, outputs is not None, self.detector.names,
                             self.counter.summary(frame.timestamp))
        if self.mot_path is not None:
            self._write_mot(frame.index, result)
        return result

    def _label_name(self, label: int) -> str:
        names = self.detector.names
        return names[label] if names and 0 <= label < len(names) else f"#{label}"

    def _write_mot(self, index: int, result: TrackResult) -> None:
        if self._mot is None:  # opened with the first frame: a run that fails to start leaves no file
            self._mot = open(self.mot_path, "w", encoding="utf-8")  # noqa: SIM115 - closed in finish()
        for t in result.tracks:
            if t.state == State.CONFIRMED.value:
                x1, y1, x2, y2 = (float(v) for v in t.box)
                self._mot.write(f"{index + 1},{t.id},{x1:.2f},{y1:.2f},{x2 - x1:.2f},{y2 - y1:.2f},"
                                f"{t.score:.4f},-1,-1,-1\n")
        self._mot.flush()  # whole lines on disk after every frame: an interrupted run leaves a valid file

    def finish(self) -> None:
        if self._mot is not None:
            self._mot.close()
            self._mot = None

    def draw(self, image: np.ndarray, result: TrackResult, style: Style) -> None:
        for zone in self.counter.zones:
            pts = zone.polygon.astype(np.int32).reshape(-1, 1, 2)
            overlay = image.copy()
            cv2.fillPoly(overlay, [pts], (0, 200, 255))
            cv2.addWeighted(overlay, 0.15, image, 0.85, 0, dst=image)
            cv2.polylines(image, [pts], True, (0, 200, 255), style.thickness, cv2.LINE_AA)
            x, y = zone.polygon[:, 0].min(), zone.polygon[:, 1].max()  # bottom left: clear of heads and captions
            draw_label(image, f"zone {zone.index}: {zone.occupancy} now, in {zone.entries} out {zone.exits}",
                       int(x), int(y), (0, 200, 255), style)
        for line in self.counter.lines:
            p1, p2 = (tuple(int(v) for v in p) for p in (line.p1, line.p2))
            cv2.line(image, p1, p2, (255, 255, 0), style.thickness + 1, cv2.LINE_AA)
            # an arrow from the middle of the line towards its "in" side (the left, walking p1 -> p2)
            d = line.p2 - line.p1
            normal = np.array([d[1], -d[0]]) / max(np.hypot(*d), 1e-9)
            mid = (line.p1 + line.p2) / 2
            tip = mid + normal * 25
            cv2.arrowedLine(image, tuple(int(v) for v in mid), tuple(int(v) for v in tip), (255, 255, 0),
                            style.thickness, cv2.LINE_AA, tipLength=0.4)
            draw_label(image, f"line {line.index}: in {line.total('in')} out {line.total('out')}",
                       p1[0], p1[1] - 4, (255, 255, 0), style)
        for t in result.tracks:
            if t.state != State.CONFIRMED.value:
                continue
            color = color_for(t.id)
            if len(t.trail) > 1:
                cv2.polylines(image, [np.array(t.trail, np.int32).reshape(-1, 1, 2)], False, color,
                              style.thickness, cv2.LINE_AA)
            caption = f"#{t.id}" + (f" {result.label_name(t.label)}" if style.labels else "")
            if t.dwell is not None:
                caption += f" {t.dwell:.1f}s"
            draw_box(image, t.box, color, style, caption)

    def record(self, result: TrackResult) -> dict:
        tracks = [{"id": t.id, "bbox": [round(float(v), 1) for v in t.box], "state": t.state,
                   "label": result.label_name(t.label), "label_id": t.label, "confidence": round(t.score, 4),
                   **({"dwell_s": t.dwell} if t.dwell is not None else {})} for t in result.tracks]
        return {"detected": result.detected, "tracks": tracks, "events": result.events, **result.counts}

    def raw_lines(self, result: TrackResult) -> list[str]:
        lines = [f"#{t.id} {result.label_name(t.label)} {t.state} [{', '.join(f'{v:.0f}' for v in t.box)}]"
                 for t in result.tracks]
        return lines + [" ".join(f"{k}={v}" for k, v in e.items()) for e in result.events]


@click.command(name="track")
@model_option(DEFAULT_DETECTOR, "Person (or any object) detector: an Open Model Zoo name or a model path.")
@click.option("--reid", default=DEFAULT_REID, show_default=True, metavar="NAME|PATH|none",
              help="Re-identification model; 'none' tracks by motion only.")
@click.option("-t", "--threshold", type=click.FloatRange(0, 1),
              help="Detection confidence threshold [default: the detector's, else 0.5].")
@click.option("--classes", help="Track only these detector classes, comma-separated (e.g. person).")
@click.option("--infer-every", type=click.IntRange(min=1), default=1, show_default=True, metavar="N",
              help="Run the detector on every Nth frame; the tracker predicts the frames between.")
@click.option("--line", "lines", multiple=True, metavar="X1,Y1,X2,Y2",
              help="Counting line in pixels (repeatable). 'in' is crossing it from right to left walking "
                   "from its first point to its second: upwards for a line drawn left to right.")
@click.option("--zone", "zones", multiple=True, metavar="X1,Y1,X2,Y2,...",
              help="Polygon zone in pixels (repeatable): occupancy, entries, exits and dwell time.")
@click.option("--anchor", type=click.Choice(ANCHORS), default="bottom", show_default=True,
              help="The point of a box that crosses lines and stands in zones.")
@click.option("--mot", "mot_file", metavar="FILE",
              help="Write confirmed tracks in MOTChallenge format (frame,id,x,y,w,h,conf,-1,-1,-1).")
@click.option("--min-hits", type=click.IntRange(min=1), default=3, show_default=True,
              help="Detector frames in a row before a track is confirmed.")
@click.option("--reid-window", type=click.FloatRange(min=0), default=10.0, show_default=True, metavar="SECONDS",
              help="How long a lost track can be re-identified.")
@click.option("--reid-threshold", type=click.FloatRange(0, 2), default=TrackerConfig.max_reid, show_default=True,
              help="Largest cosine distance at which a lost track is re-identified.")
@pipeline_options
def command(model, reid, threshold, classes, infer_every, lines, zones, anchor, mot_file, min_hits, reid_window,
            reid_threshold, **kwargs):
    """Track people (or any detected objects) with re-identification; count lines and zones."""
    opts = PipelineOptions.take(kwargs)
    counter = Counter([parse_points(v, "--line", 2, 2) for v in lines],
                      [parse_points(v, "--zone", 3) for v in zones], anchor)
    mot_path = check_writable(mot_file, "MOT file") if mot_file else None
    detector = DetectTask(model=resolve_from_options(model, opts), threshold=threshold,
                          classes=tuple(c.strip() for c in classes.split(",") if c.strip()) if classes else ())
    reid_model = None if reid.lower() == "none" else resolve_from_options(reid, opts)
    task = TrackTask(detector, reid_model, TrackerConfig(min_hits=min_hits, max_reid=reid_threshold), counter,
                     infer_every=infer_every, reid_window_s=reid_window, mot_path=mot_path)
    return run(task, opts)
