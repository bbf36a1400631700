"""The one loop every demo runs: capture thread -> async infer queue -> in-order decode -> render -> write."""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import cv2
import numpy as np
import openvino as ov
from rich.console import Console
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeRemainingColumn

from .capture import Frame, FrameReader, open_source
from .draw import Style, draw_status
from .errors import DemoError
from .inference import (
    InferenceConfig,
    InferQueue,
    ModelOutputs,
    check_device,
    compile_model,
    embed_preprocessing,
    execution_devices,
    first_error_line,
    read_model,
)
from .metrics import Metrics
from .models import ResolvedModel
from .options import PipelineOptions
from .output import JsonLines, VideoOutput, check_writable

console = Console(stderr=True, highlight=False)
EXIT_INTERRUPTED = 130
STALL_CHECK_S = 2.0  # no request finished for this long: check whether one failed silently


@dataclass(frozen=True)
class RunContext:
    """What a task may need to know before its models compile: for its second stages (`ovdemo.common.stages`)
    and for shaping its main model to the source (e.g. reshaping to the frame's aspect ratio)."""

    config: InferenceConfig  # device, hint and cache for second-stage models
    frame_size: tuple[int, int] | None  # (w, h) when every frame has it
    fps: float
    live: bool
    opts: PipelineOptions


class Task(Protocol):
    """What a demo family plugs into the pipeline: its model's decoding and its drawing choices.

    Optional hooks, looked up with getattr so simple families leave them out:
      start(ctx: RunContext)         before `prepare`: compile second stages, read the frame size
      load_model() -> ov.Model       asked after `start`, instead of reading `model.path`: a main model the task
                                     builds (e.g. a per-frame identity that only runs the embedded preprocessing)
      needs_inference(index) -> bool False lets a frame skip the main model: postprocess gets outputs=None
      input_crop(size) -> box|None   the region (x1, y1, x2, y2) of a (w, h) frame the main model sees, asked
                                     after `prepare`: cropped inside OpenVINO before the resize when all frames
                                     share one size, else cut from each frame before it is submitted
      stage_ms: dict[str, float]     per-frame timings of the task's own steps, merged into the metrics
                                     (the task refills it in postprocess/draw; the pipeline empties it)
      finish()                       once, on every exit path, after the last frame: flush the task's files
    """

    family: str
    model: ResolvedModel

    def prepare(self, model: ov.Model) -> None:
        """Check the model's outputs fit (raise DemoError naming expected and actual) and read its geometry."""

    def postprocess(self, outputs: ModelOutputs, frame: Frame) -> Any: ...

    def draw(self, image: np.ndarray, result: Any, style: Style) -> None: ...

    def record(self, result: Any) -> dict:
        """The family's fields for the per-frame JSON record, e.g. {"objects": [...]}."""

    def raw_lines(self, result: Any) -> list[str]: ...


class Interrupted(Exception):
    pass


class StopRequest:
    """Ctrl+C and SIGTERM ask the loop to stop between frames, so no frame is ever half-written:
    outputs are finalised and the summary printed. A second Ctrl+C interrupts at once."""

    def __init__(self):
        self.requested = False

    def _handle(self, signum, frame):
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True

    @contextmanager
    def installed(self):
        previous = {}
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                previous[sig] = signal.signal(sig, self._handle)
        try:
            yield self
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)


def display_available() -> bool:
    if sys.platform.startswith("linux"):
        return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))
    return True


class Pipeline:
    def __init__(self, task: Task, opts: PipelineOptions):
        self.task, self.opts = task, opts
        self.metrics = Metrics()
        self.show = not opts.no_show and display_available()
        self.video: VideoOutput | None = None
        self.jsonl: JsonLines | None = None

    # -- set-up: everything that can fail on bad input fails here, before any output file exists
    def _setup(self) -> None:
        opts = self.opts
        if opts.metrics_json:
            check_writable(opts.metrics_json, "metrics file")
        check_device(opts.device)
        self.source = open_source(opts.input)
        self.video = VideoOutput(opts.output, self.source.fps, warn=self._warn) if opts.output else None
        if opts.json:
            self.jsonl = JsonLines(opts.json)
        self.frame_size = self.source.frame_size
        hint = opts.hint
        if hint == "auto":
            hint = "latency" if self.source.live else "throughput"
        config = InferenceConfig(device=opts.device, hint=None if hint == "none" else hint, nireq=opts.nireq,
                                 nstreams=opts.nstreams, nthreads=opts.nthreads, cache_dir=opts.cache_dir)
        start = getattr(self.task, "start", None)
        if start is not None:
            stage_config = InferenceConfig(device=opts.device, hint=config.hint, nthreads=opts.nthreads,
                                           cache_dir=opts.cache_dir)
            start(RunContext(stage_config, self.frame_size, self.source.fps, self.source.live, opts))
        load_model = getattr(self.task, "load_model", None)
        model = load_model() if load_model is not None else read_model(self.task.model.path)
        self.task.prepare(model)
        self.input_crop = getattr(self.task, "input_crop", None)
        crop = self.input_crop(self.frame_size) if self.input_crop and self.frame_size else None
        self.compiled = compile_model(embed_preprocessing(model, self.task.model.spec, self.frame_size, crop), config)
        self.metrics.device = execution_devices(self.compiled)
        self.hint = hint

    def _warn(self, message: str) -> None:
        console.print(f"[yellow]warning:[/] {message}")

    def run(self) -> int:
        self._setup()
        wakeup = threading.Condition()
        self.reader = FrameReader(self.source, wakeup, loop=self.opts.loop, limit=self.opts.max_frames)
        self.queue = InferQueue(self.compiled, self.opts.nireq, wakeup)
        src = self.source
        size = f"{self.frame_size[0]}x{self.frame_size[1]}" if self.frame_size else "various sizes"
        console.print(f"[bold]{self.task.family}[/]: {self.task.model.name} on {self.metrics.device} "
                      f"({self.hint}, {self.queue.size} requests) | {src.name} {size} @ {src.fps:g} FPS")
        exit_code = 0
        self.stop = StopRequest()
        with self.stop.installed(), self._progress() as progress:
            try:
                self.metrics.start()
                self.reader.start()
                self._loop(wakeup, progress)
            except (Interrupted, KeyboardInterrupt):
                self.metrics.interrupted = True
                exit_code = EXIT_INTERRUPTED
            finally:
                self._finish()
        if self.reader.error and exit_code == 0:
            raise self.reader.error
        return exit_code

    def _loop(self, wakeup: threading.Condition, progress) -> None:
        reader, queue = self.reader, self.queue
        # frame, preprocessing time, and the array submitted: OpenVINO reads it in place (no copy), so it must
        # outlive the request even when it is a resized or cropped copy of the frame
        in_flight: dict[int, tuple[Frame, float, np.ndarray]] = {}
        skipped: set[int] = set()  # frames the task let skip the main model
        needs_inference = getattr(self.task, "needs_inference", None)
        next_submit = next_emit = 0
        window = max(2 * queue.size, 4)  # bound on finished-but-not-yet-emitted results
        while True:
            stalled = False
            with wakeup:
                while True:
                    if self.stop.requested:
                        raise Interrupted()
                    if queue.error is not None:
                        raise DemoError("inference failed", first_error_line(queue.error)) from queue.error
                    if next_emit in skipped:
                        skipped.discard(next_emit)
                        outputs, infer_ms = None, 0.0
                        frame = None
                        break
                    if queue.ready(next_emit):
                        outputs, infer_ms = queue.pop(next_emit)
                        frame = None
                        break
                    if queue.can_submit() and next_submit - next_emit < window:
                        frame = reader.take()
                        if frame is not None:
                            if needs_inference is None or needs_inference(frame.index):
                                queue.in_flight += 1
                            else:
                                skipped.add(next_submit)
                            break
                    if reader.finished and not reader.buffer and next_submit == next_emit:
                        return
                    if queue.stalled(STALL_CHECK_S):
                        frame, stalled = None, True
                        break
                    wakeup.wait(0.1)
                self.metrics.dropped = reader.dropped
            if stalled:
                queue.surface_failure()  # sets queue.error if a request failed; else all have completed
                queue.last_event = time.perf_counter()
                continue
            if frame is not None:
                t0 = time.perf_counter()
                image = frame.image
                if self.frame_size and (image.shape[1], image.shape[0]) != self.frame_size:
                    image = cv2.resize(image, self.frame_size)  # a stream changed size: keep the compiled shape
                elif not self.frame_size and self.input_crop is not None:  # frames of many sizes: crop each
                    box = self.input_crop((image.shape[1], image.shape[0]))
                    if box is not None:
                        image = np.ascontiguousarray(image[box[1]:box[3], box[0]:box[2]])
                prep_ms = (time.perf_counter() - t0) * 1000.0
                in_flight[next_submit] = (frame, prep_ms, image)
                if next_submit not in skipped:
                    queue.submit(next_submit, image)
                next_submit += 1
            else:
                done, prep_ms, _ = in_flight.pop(next_emit)
                next_emit += 1
                if self._emit(done, outputs, prep_ms, infer_ms, progress):
                    raise Interrupted()  # the user closed the window

    def _emit(self, frame: Frame, outputs: ModelOutputs | None, prep_ms: float, infer_ms: float, progress) -> bool:
        """Decode, draw, write and show one frame. Returns True when the user asked to quit."""
        task, opts = self.task, self.opts
        t0 = time.perf_counter()
        result = task.postprocess(outputs, frame)
        t1 = time.perf_counter()
        image = frame.image
        if self.video or self.show:
            task.draw(image, result, self.style(image))
            lat = (t1 - frame.captured) * 1000.0
            draw_status(image, [f"FPS {self.metrics.live_fps():.1f}", f"latency {lat:.0f} ms"], self.style(image))
        t2 = time.perf_counter()
        timings = {"decode": frame.decode_ms, "preprocess": prep_ms, "infer": infer_ms,
                   "postprocess": (t1 - t0) * 1000.0, "render": (t2 - t1) * 1000.0}
        task_ms = getattr(task, "stage_ms", None)
        if task_ms:
            timings.update(task_ms)
            task_ms.clear()
        if self.video:
            self.video.write(image)
        quit_requested = False
        if self.show:
            quit_requested = self._show(image)
        t3 = time.perf_counter()
        timings["write"] = (t3 - t2) * 1000.0
        latency_ms = (t3 - frame.captured) * 1000.0
        if self.jsonl or opts.raw:
            record = {
                "frame": frame.index,
                "timestamp": round(frame.timestamp, 4),
                "source": self.source.name,
                "image": {"width": frame.image.shape[1], "height": frame.image.shape[0]},
                **task.record(result),
                "timings_ms": {k: round(v, 3) for k, v in timings.items()} | {"latency": round(latency_ms, 3)},
            }
            if self.jsonl:
                self.jsonl.write(record)
            if opts.raw:
                lines = task.raw_lines(result)
                print(f"frame {frame.index}: {len(lines)} result(s)" + "".join(f"\n  {ln}" for ln in lines),
                      flush=True)
        self.metrics.record(timings, latency_ms)
        if progress is not None:
            progress.update(self._progress_task, advance=1,
                            status=f"{self.metrics.live_fps():5.1f} FPS  dropped {self.metrics.dropped}")
        return quit_requested

    def style(self, image: np.ndarray) -> Style:
        if getattr(self, "_style_for", None) != image.shape[:2]:
            self._style_for = image.shape[:2]
            self._style = Style.for_frame(image.shape[1], image.shape[0])
        return self._style

    def _show(self, image: np.ndarray) -> bool:
        try:
            cv2.imshow(f"ovdemo {self.task.family}", image)
            key = cv2.waitKey(1) & 0xFF
        except cv2.error:
            self._warn("this OpenCV build cannot open windows; continuing without one (use --no-show)")
            self.show = False
            return False
        return key in (ord("q"), ord("Q"), 27)

    @contextmanager
    def _progress(self):
        if not console.is_terminal:
            yield None
            return
        total = None
        if not self.source.live and not self.opts.loop:
            total = self.source.total
            if self.opts.max_frames:
                total = min(total, self.opts.max_frames) if total else None
        columns = [SpinnerColumn(), TextColumn("{task.description}"), BarColumn(),
                   TextColumn("{task.completed} frames"), TextColumn("{task.fields[status]}")]
        if total:
            columns.append(TimeRemainingColumn())
        with Progress(*columns, console=console, transient=True) as progress:
            self._progress_task = progress.add_task(self.source.name, total=total, status="")
            yield progress

    def _finish(self) -> None:
        """Stop reading, let requests in flight complete, finalise every output. Runs on every exit path."""
        with suppress(Exception):
            self.reader.stop()
        with suppress(Exception):
            self.queue.wait_all()
        if self.video:
            self.video.close()
        if self.jsonl:
            self.jsonl.close()
        finish = getattr(self.task, "finish", None)
        if finish is not None:
            finish()
        if self.show:
            with suppress(cv2.error):
                cv2.destroyAllWindows()
        self.metrics.dropped = self.reader.dropped
        skipped = getattr(self.source, "skipped", [])
        if skipped:
            self._warn(f"skipped {len(skipped)} unreadable image(s), e.g. {skipped[0]}")
        self.metrics.print_summary(console)
        if self.opts.metrics_json:
            self.metrics.write_json(Path(self.opts.metrics_json))


def run(task: Task, opts: PipelineOptions) -> int:
    return Pipeline(task, opts).run()
