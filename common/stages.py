"""Second-stage models: a model run on regions of a frame (faces, people, words) or on features.

Every region of a frame goes out at once, as batches spread over the stage's own async requests, so a
frame with ten faces costs one round trip, not ten; several stages run side by side, and beside the
pipeline's main model, on OpenVINO's threads.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import openvino as ov

from .capture import Frame
from .errors import DemoError
from .inference import (
    InferenceConfig,
    ModelOutputs,
    add_preprocessing,
    compile_model,
    first_error_line,
    input_layout,
    read_model,
    request_pool,
    server_batch,
)
from .models import ResolvedModel
from .results import Detections, Result


@dataclass(frozen=True)
class StageInput:
    """Where a stage's image input sits and what size its crops must have."""

    name: str
    size: tuple[int, int] | None  # (width, height); None when the model's spatial size is dynamic


class Pending:
    """The outputs of one submitted batch, once every request that carries part of it has finished."""

    def __init__(self, parts: int):
        self._parts: list[ModelOutputs | None] = [None] * parts
        self._left = parts
        self._error: BaseException | None = None
        self._done = threading.Condition()
        self.submitted = time.perf_counter()
        self.infer_ms = 0.0  # the parts' requests, start to finish (the machine time this batch took)
        self.wait_ms = 0.0  # the parts' waits for a free request (a backlogged stage shows here, not above)

    @property
    def done(self) -> bool:
        return self._left == 0

    def _started(self) -> None:
        self.wait_ms += (time.perf_counter() - self.submitted) * 1000.0

    def _finish(self, index: int, outputs: ModelOutputs | None, infer_ms: float, error: BaseException | None) -> None:
        with self._done:
            self._parts[index] = outputs
            self._error = self._error or error
            self.infer_ms += infer_ms
            self._left -= 1
            if self._left == 0:
                self._done.notify_all()

    def wait(self) -> ModelOutputs:
        """Block until the whole batch is done; outputs are concatenated along the batch axis."""
        with self._done:
            self._done.wait_for(lambda: not self._left)  # every request calls back, a failed one with its error
        return self.outputs()

    def outputs(self) -> ModelOutputs:
        """The finished batch's outputs (raises the error of a failed part)."""
        if self._error is not None:
            raise DemoError("second-stage inference failed", first_error_line(self._error)) from self._error
        if len(self._parts) == 1:
            return self._parts[0]
        first = self._parts[0]
        return ModelOutputs([
            (names, np.concatenate([p.arrays[i][1] for p in self._parts], axis=0))
            for i, (names, _) in enumerate(first.arrays)
        ])


class Stage:
    """A compiled second-stage model with its own async requests.

    Image stages take u8 BGR crops (N, H, W, 3) already at the model's size (see `crops`); colour order
    (BGR to grey for one-channel models), layout and mean/scale run inside OpenVINO as for the main model.
    `ov_model` is the model when a family has read it already (e.g. to choose its mode): it is not read again.
    The batch dimension is made dynamic when the model allows it, so a batch is one request; models that
    only run at batch 1 get one request per crop instead, all in flight together. Non-image stages
    (`image=False`) take a dict of arrays.
    """

    def __init__(self, model: ResolvedModel, config: InferenceConfig, *, image: bool = True,
                 check: Callable[[ov.Model], None] | None = None, max_batch: int = 32, nireq: int = 0,
                 reshape: Mapping[str, list[int]] | None = None, any_size: bool = False,
                 ov_model: ov.Model | None = None):
        self.model = model
        self.image = image
        # a model its family already read (e.g. to tell what kind it is) is not read again; a copy of it is
        # shaped here, so the family's stays as it was
        base = ov_model.clone() if ov_model is not None else read_model(model.source)
        if check is not None:
            check(base)  # the family's output check: raises DemoError naming what it expected
        if reshape:
            base.reshape({k: ov.PartialShape(v) for k, v in reshape.items()})
        ov_model = base.clone()  # `base` stays as it is: the reference a dynamic batch is checked against
        if model.remote is not None:  # a server batches as its configuration says, never more
            max_batch = min(max_batch, server_batch(ov_model))
        dynamic = max_batch > 1 and self._make_batch_dynamic(ov_model)
        if not dynamic:  # one item per request: no dynamic batch, and no probe inference of a big model
            self._fix_batch(ov_model)
        if image:
            self.input = self._embed_preprocessing(ov_model)
            if self.input.size is None and not any_size:  # crops are cut at the model's size
                raise DemoError(f"{model.name} takes images of any size",
                                "this stage needs a model with a fixed input height and width")
        self.compiled = compile_model(ov_model, config)
        if dynamic and model.remote is None:  # (a server's batch is its own: nothing local to check)
            static = base
            self._fix_batch(static)
            if image:
                self._embed_preprocessing(static)
            static_compiled = compile_model(static, config)
            if not batch_agrees(self.model.path, self.compiled, static_compiled, reshape):
                # the graph accepts a dynamic batch but answers differently with it (or breaks on a batch
                # above 1): the unchanged model it is, one request per item
                self.compiled, dynamic = static_compiled, False
        self.max_batch = max_batch if dynamic else 1
        self._pool = request_pool(self.compiled, nireq, self._on_done)
        self._waiting: deque[tuple[dict, Pending, int]] = deque()  # parts no request was free for yet
        self._waiting_lock = threading.Lock()
        self.listeners: list[Callable[[], None]] = []  # told when a part finishes (the pipeline's wakeup)
        self.input_names = [p.get_any_name() for p in self.compiled.inputs]

    @staticmethod
    def _make_batch_dynamic(model: ov.Model) -> bool:
        shapes = {}
        for port in model.inputs:
            shape = port.get_partial_shape()
            if shape.rank.is_dynamic or shape.rank.get_length() < 2:
                return False
            if shape[0].is_dynamic:
                continue
            if shape[0].get_length() != 1:
                return False
            dims = list(shape)
            dims[0] = ov.Dimension(-1)
            shapes[port] = ov.PartialShape(dims)
        if not shapes:
            return True
        try:
            model.reshape(shapes)
            return True
        except Exception:  # a graph with batch 1 built into a Reshape: fall back to one request per item
            Stage._fix_batch(model)
            return False

    @staticmethod
    def _fix_batch(model: ov.Model) -> None:
        fixed = {}
        for port in model.inputs:
            if port.get_partial_shape().rank.is_dynamic:
                continue
            dims = list(port.get_partial_shape())
            if dims and dims[0].is_dynamic:
                dims[0] = ov.Dimension(1)
            fixed[port] = ov.PartialShape(dims)
        model.reshape(fixed)

    def _embed_preprocessing(self, model: ov.Model) -> StageInput:
        image_ports = [p for p in model.inputs if p.get_partial_shape().rank.get_length() == 4]
        if len(image_ports) != 1:
            raise DemoError(f"{self.model.name} has {len(image_ports)} image inputs",
                            "a second-stage image model needs exactly one 4-D input")
        port = image_ports[0]
        spec = self.model.spec
        layout = input_layout(model, spec) if len(model.inputs) == 1 else "NCHW"
        index = list(model.inputs).index(port)
        shape = port.get_partial_shape()
        h, w = (shape[2], shape[3]) if layout == "NCHW" else (shape[1], shape[2])
        size = (w.get_length(), h.get_length()) if h.is_static and w.is_static else None
        # a side the model fixes stays fixed in the tensor (a recognizer of height 48 and any width takes crops of
        # height 48): the batch check's probe, and any caller, then give it what the graph can take
        tensor_shape = [-1, h.get_length() if h.is_static else -1, w.get_length() if w.is_static else -1, 3]
        add_preprocessing(model, spec, index, layout, tensor_shape)  # crops come cut at the model's size
        return StageInput(port.get_any_name(), size)

    @property
    def input_size(self) -> tuple[int, int] | None:
        return self.input.size if self.image else None

    def submit(self, batch: np.ndarray | Mapping[str, np.ndarray]) -> Pending:
        """Start inference on a batch: (N, H, W, 3) u8 crops for image stages, else {input name: array}
        with the batch on axis 0. Never blocks: parts no request is free for start as requests finish.
        `Pending.wait()` (or `.done` then `.outputs()`) gives the outputs in batch order."""
        inputs = {self.input.name: batch} if self.image else dict(batch)
        n = len(next(iter(inputs.values())))
        if n == 0:
            raise ValueError("empty batch")
        starts = list(range(0, n, self.max_batch))
        pending = Pending(len(starts))
        with self._waiting_lock:
            for part, start in enumerate(starts):
                chunk = {k: np.ascontiguousarray(v[start:start + self.max_batch]) for k, v in inputs.items()}
                self._waiting.append((chunk, pending, part))
        self._pump()
        return pending

    def _pump(self) -> None:
        """Start waiting parts while requests are free."""
        while True:
            with self._waiting_lock:
                if not self._waiting:
                    return
                chunk, pending, part = self._waiting[0]
                if not self._pool.start(chunk, (pending, part)):
                    return
                pending._started()  # (under the lock: the request's answer is applied only after this)
                self._waiting.popleft()

    def __call__(self, batch: np.ndarray | Mapping[str, np.ndarray]) -> ModelOutputs:
        return self.submit(batch).wait()

    def _on_done(self, userdata, outputs: ModelOutputs | None, infer_ms: float, error) -> None:
        pending, part = userdata
        pending._finish(part, outputs, infer_ms, error)
        self._pump()  # the request just freed takes the next waiting part
        for listener in self.listeners:
            listener()

    @property
    def busy(self) -> bool:
        return bool(self._waiting) or self._pool.busy > 0

    def wait_all(self) -> None:
        self._pool.wait_all()


BATCH_CHECK_RTOL = 0.02  # of the largest output value: far below what a wrong kernel gives, above rounding
BATCH_CHECK_VERSION = 2  # part of a kept verdict's key: a changed probe checks every model again


def _probe(compiled: ov.CompiledModel, batch: int) -> dict:
    """Inputs of `batch` items that exercise the model: seeded noise (images u8, features float)."""
    rng = np.random.default_rng(1234)
    inputs = {}
    for port in compiled.inputs:
        shape = port.get_partial_shape()
        dims = [batch if i == 0 else (d.get_length() if d.is_static else 32) for i, d in enumerate(shape)]
        dtype = port.get_element_type().to_dtype()
        inputs[port.get_any_name()] = (rng.integers(0, 256, dims) if np.issubdtype(dtype, np.integer)
                                       else rng.standard_normal(dims)).astype(dtype)
    return inputs


def _verdicts_file() -> Path:
    return Path(os.environ.get("OVDEMO_HOME") or "~/.cache/ovdemo").expanduser() / "batch-checks.json"


def batch_agrees(path: Path, dynamic: ov.CompiledModel, static: ov.CompiledModel,
                 reshape: Mapping[str, list[int]] | None) -> bool:
    """Whether a model made batch-dynamic gives, at batch 1 and at batch 2, what the unchanged model gives for
    each item. Some graphs accept a dynamic batch and then compute something else with it (OpenVINO 2026.4
    gave landmarks-regression-retail-0009 other points at batch 1); some fail above batch 1. The verdict is
    kept per model file and OpenVINO version, so only a model's first run pays for the probe."""
    stat = Path(path).stat()
    key = (f"{Path(path).resolve()}|{stat.st_size}|{stat.st_mtime_ns}|{ov.__version__}|"
           f"{sorted((reshape or {}).items())}|check {BATCH_CHECK_VERSION}")
    store = _verdicts_file()
    with suppress(OSError, ValueError):
        verdicts = json.loads(store.read_text(encoding="utf-8"))
        if key in verdicts:
            return bool(verdicts[key])
    verdict = _compare_batches(dynamic, static)
    with suppress(OSError, ValueError):
        verdicts = json.loads(store.read_text(encoding="utf-8")) if store.exists() else {}
        verdicts[key] = verdict
        store.parent.mkdir(parents=True, exist_ok=True)
        part = store.with_name(f"{store.name}.{os.getpid()}.part")
        part.write_text(json.dumps(verdicts, indent=1), encoding="utf-8")
        part.replace(store)
    return verdict


def _compare_batches(dynamic: ov.CompiledModel, static: ov.CompiledModel) -> bool:
    pair = _probe(static, 2)
    try:
        as_batch = dynamic.create_infer_request().infer(pair)
        as_batch = [np.asarray(as_batch[o]) for o in dynamic.outputs]
        one = dynamic.create_infer_request().infer({k: v[:1] for k, v in pair.items()})
        one = [np.asarray(one[o]) for o in dynamic.outputs]
    except Exception:
        return False
    reference = static.create_infer_request()
    for item in (0, 1):
        ref = reference.infer({k: v[item:item + 1] for k, v in pair.items()})
        for out, (got_batch, got_one) in zip(static.outputs, zip(as_batch, one, strict=True), strict=True):
            want = np.asarray(ref[out]).astype(np.float64)
            tolerance = BATCH_CHECK_RTOL * max(float(np.abs(want).max()), 1e-3)
            candidates = [got_batch[item:item + 1]] + ([got_one] if item == 0 else [])
            if any(got.shape != want.shape or np.abs(got - want).max() > tolerance for got in candidates):
                return False
    return True


def crop(image: np.ndarray, box, size: tuple[int, int] | None = None) -> np.ndarray:
    """The part of `image` under `box` (x1, y1, x2, y2 in pixels; may reach past the frame, which is
    padded with black), resized to `size` (w, h) when given."""
    h, w = image.shape[:2]
    x1, y1, x2, y2 = np.rint(np.asarray(box, np.float64)).astype(np.int64).tolist()  # (halves to even, as round)
    x2, y2 = max(x2, x1 + 1), max(y2, y1 + 1)
    inner = image[max(y1, 0):min(y2, h), max(x1, 0):min(x2, w)]
    if (x1, y1, x2, y2) != (max(x1, 0), max(y1, 0), min(x2, w), min(y2, h)) or inner.size == 0:
        out = np.zeros((y2 - y1, x2 - x1, 3), image.dtype)
        if inner.size:
            out[max(-y1, 0):max(-y1, 0) + inner.shape[0], max(-x1, 0):max(-x1, 0) + inner.shape[1]] = inner
        inner = out
    if size is not None and (inner.shape[1], inner.shape[0]) != tuple(size):
        inner = cv2.resize(inner, tuple(size), interpolation=cv2.INTER_LINEAR)
    return inner


def crops(image: np.ndarray, boxes: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Every box of `boxes` (N, 4) cut from `image` and resized to `size` (w, h): a (N, h, w, 3) batch."""
    batch = np.empty((len(boxes), size[1], size[0], 3), image.dtype)
    for i, box in enumerate(boxes):
        batch[i] = crop(image, box, size)
    return batch


def expand_boxes(boxes: np.ndarray, scale: float = 1.0, square: bool = False,
                 shift: tuple[float, float] = (0.0, 0.0)) -> np.ndarray:
    """Grow boxes about their centre by `scale` (optionally to squares of the longer side first), moved
    by `shift` times their size: the region-of-interest expansion second-stage models were trained with."""
    boxes = np.asarray(boxes, np.float32).reshape(-1, 4)
    wh = boxes[:, 2:] - boxes[:, :2]
    centre = (boxes[:, :2] + boxes[:, 2:]) / 2 + wh * np.asarray(shift, np.float32)
    if square:
        wh = np.repeat(wh.max(axis=1, keepdims=True), 2, axis=1)
    half = wh * scale / 2
    return np.concatenate([centre - half, centre + half], axis=1)


# -- second stages the pipeline schedules: a family declares them, the pipeline runs them for every frame

Batch = np.ndarray | Mapping[str, np.ndarray]


@dataclass
class ObjectStage:
    """A model run on objects of every frame's result (faces, people, vehicles, words).

    `select` picks the objects it runs on (default: all), `batch` cuts their crops (default: each box grown by
    `roi_scale`, made square with `roi_square`, cut at the model's input size; it may also return a list of
    (indices, batch) groups, e.g. word crops grouped by width), `apply` writes its decoded outputs into the
    objects' data (once per group). `after` names another stage of the same frame whose answer the crops need
    (a face aligned on its landmarks): this one starts as soon as that one has been applied."""

    name: str
    stage: Stage
    apply: Callable[[Detections, np.ndarray, ModelOutputs], None]  # (the frame's objects, indices, outputs)
    select: Callable[[Detections], np.ndarray] | None = None
    batch: Callable[[np.ndarray, Detections, np.ndarray], Batch | list[tuple[np.ndarray, Batch]]] | None = None
    after: str | None = None
    roi_scale: float = 1.0
    roi_square: bool = False
    # fills the data this stage writes with "no answer yet" for every object of every frame, so a frame whose
    # objects it does not run on still carries the keys (the tracker merges objects of different frames)
    defaults: Callable[[Detections], None] | None = None

    def indices(self, objects: Detections) -> np.ndarray:
        return np.arange(len(objects)) if self.select is None else np.asarray(self.select(objects), np.int64)

    def inputs(self, image: np.ndarray, objects: Detections, indices: np.ndarray) -> list[tuple[np.ndarray, Batch]]:
        """The batches to run, each with the indices of the objects it holds."""
        if self.batch is not None:
            batches = self.batch(image, objects, indices)
            return batches if isinstance(batches, list) else [(indices, batches)]
        regions = expand_boxes(objects.xyxy[indices], self.roi_scale, self.roi_square)
        return [(indices, crops(image, regions, self.stage.input_size))]


@dataclass
class FrameStage:
    """A model run once per frame on something the frame's result carries (a window of per-frame features).

    `inputs` is called in frame order when the frame is decoded (None: nothing to run on this frame);
    `apply` in frame order when the frame is emitted, so stateful decoding (smoothing over predictions) sees
    the frames in order."""

    name: str
    stage: Stage
    inputs: Callable[[Result, Frame], Batch | None]
    apply: Callable[[Result, Frame, ModelOutputs], None]


class FrameJobs:
    """The stage work of one frame: every stage that can start starts at once; `poll` applies what has
    finished and starts what waited on it; `done` once all have finished. Used by the pipeline (polled as
    requests finish, several frames in flight) and by the Python API (waited on)."""

    def __init__(self, stages: list[ObjectStage | FrameStage], result: Result, frame: Frame):
        self.result, self.frame = result, frame
        self._object_stages = [s for s in stages if isinstance(s, ObjectStage)]
        self._jobs: list[tuple[ObjectStage | FrameStage, Pending, np.ndarray | None]] = []
        self._frame_outputs: list[tuple[FrameStage, ModelOutputs]] = []
        self._left: dict[str, int] = {}  # jobs of each object stage still to answer
        self.timings: dict[str, float] = {}
        # a failed request's error, raised when the frame is completed: polling runs ahead over later frames,
        # and the frames before a failed one must still go out whole
        self.error: DemoError | None = None
        for stage in stages:
            if isinstance(stage, ObjectStage) and stage.defaults is not None:
                stage.defaults(result.objects)
        for stage in stages:
            if isinstance(stage, FrameStage):
                batch = stage.inputs(result, frame)
                if batch is not None:
                    self._jobs.append((stage, stage.stage.submit(batch), None))
            elif stage.after is None:
                self._start(stage)

    def _start(self, stage: ObjectStage) -> None:
        objects = self.result.objects
        indices = stage.indices(objects)
        if not len(indices):
            self._started_after(stage)
            return
        for group, batch in stage.inputs(self.frame.image, objects, indices):
            self._jobs.append((stage, stage.stage.submit(batch), group))
            self._left[stage.name] = self._left.get(stage.name, 0) + 1

    def _started_after(self, stage: ObjectStage) -> None:
        """Every job of `stage` has answered (or it had none): the stages waiting on it start."""
        for waiting in self._object_stages:
            if waiting.after == stage.name:
                self._start(waiting)

    @property
    def done(self) -> bool:
        return not self._jobs

    def poll(self) -> bool:
        """Apply the finished jobs and start the stages that waited on them. True when nothing is left."""
        while True:
            finished = [job for job in self._jobs if job[1].done]
            if not finished:
                return not self._jobs
            self._jobs = [job for job in self._jobs if not job[1].done]
            for stage, pending, indices in finished:
                try:
                    outputs = pending.outputs()  # raises the error of a failed request
                except DemoError as error:
                    self.error, self._jobs = error, []  # the rest of this frame's jobs are abandoned
                    return True
                self.timings[stage.name] = self.timings.get(stage.name, 0.0) + pending.infer_ms
                wait = f"{stage.name} wait"
                self.timings[wait] = self.timings.get(wait, 0.0) + pending.wait_ms
                if isinstance(stage, FrameStage):
                    self._frame_outputs.append((stage, outputs))
                    continue
                stage.apply(self.result.objects, indices, outputs)
                self._left[stage.name] -= 1
                if not self._left[stage.name]:
                    self._started_after(stage)

    def wait(self) -> None:
        """Block until every job (and every job they start) has finished."""
        while not self.poll():
            for _, pending, _ in list(self._jobs):
                pending.wait()
        if self.error is not None:
            raise self.error

    def complete(self) -> None:
        """Apply the frame stages' outputs, in the order the family declared them (call in frame order)."""
        if self.error is not None:
            raise self.error
        for stage, outputs in self._frame_outputs:
            stage.apply(self.result, self.frame, outputs)
        self._frame_outputs = []
