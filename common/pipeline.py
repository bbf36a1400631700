"""The one loop every family runs: capture thread -> async infer queue -> in-order decode -> (tracking).

`Pipeline` is a generator of decoded frames: iterate it for `Decoded(frame, result, timings)` in input
order. `run` is its command-line consumer (draw, write, show, JSON lines, the summary); the Python API's
`stream` is another.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, replace

import cv2
import numpy as np
import openvino as ov
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeRemainingColumn

from .capture import Frame, FrameReader, InputSpec, open_source, resolve_input
from .console import console, warn
from .draw import Style, draw_status
from .errors import DemoError
from .family import Family, RunContext
from .inference import (
    InferenceConfig,
    InferQueue,
    ModelOutputs,
    check_device,
    compile_model,
    embed_preprocessing,
    execution_devices,
    first_error_line,
)
from .interrupt import DEFER, FRAMES, RAISE, STOP, StopRequest
from .metrics import Metrics
from .options import Options
from .output import JsonLines, RunOutputs, VideoOutput, write_json_file
from .records import frame_record, raw_lines
from .results import Result
from .tracking import Tracking

EXIT_INTERRUPTED = 130
STALL_CHECK_S = 2.0  # no request finished for this long: check whether one failed silently


class Interrupted(Exception):
    pass


def display_available() -> bool:
    if sys.platform.startswith("linux"):
        return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))
    return True


def prepare_family(family: Family, opts: Options, frame_size: tuple[int, int] | None, fps: float, live: bool
                   ) -> tuple[ov.CompiledModel, str]:
    """Run a family's set-up hooks and compile its main model for frames of `frame_size` (None: any size).
    Returns the compiled model and the performance hint used."""
    hint = opts.hint
    if hint == "auto":
        hint = "latency" if live else "throughput"
    precision = None if opts.infer_precision == "auto" else opts.infer_precision
    config = InferenceConfig(device=opts.device, hint=None if hint == "none" else hint, nireq=opts.nireq,
                             nstreams=opts.nstreams, nthreads=opts.nthreads, cache_dir=opts.cache_dir,
                             precision=precision)
    stage_config = InferenceConfig(device=opts.device, hint=config.hint, nthreads=opts.nthreads,
                                   cache_dir=opts.cache_dir, precision=precision)
    family.start(RunContext(stage_config, frame_size, fps, live, opts))
    model = family.load_model()
    family.prepare(model)
    Tracking.check(opts, family.name, family.boxes)  # after prepare: a family may learn it has no boxes
    crop = family.input_crop(frame_size) if frame_size else None
    return compile_model(embed_preprocessing(model, family.model.spec, frame_size, crop), config), hint


@dataclass
class Decoded:
    """One frame out of the pipeline, in input order."""

    frame: Frame
    result: Result
    timings: dict[str, float]  # ms per stage so far: decode, preprocess, infer, postprocess, the family's own


# Frames the main model skips: the family's own choice (it decodes them itself) or --infer-every's
# (the pipeline carries the last results over).
FAMILY_SKIP, EVERY_SKIP = "family", "every"


class Pipeline:
    """Source -> async requests -> results in order. Iterate it; it cleans up when iteration ends."""

    def __init__(self, family: Family, opts: Options, stop: StopRequest | None = None,
                 source: InputSpec | None = None):
        self.family, self.opts = family, opts
        self.stop = stop  # None: nothing asks this pipeline to stop (the Python API)
        self.input = source  # -i as resolved before set-up (None: resolved here)
        self.metrics = Metrics()
        self.tracking: Tracking | None = None

    # -- set-up: everything that can fail on bad input fails here, before any output file exists
    def setup(self) -> None:
        check_device(self.opts.device)
        self.source = open_source(self.input or self.opts.input)
        self.frame_size = self.source.frame_size
        self.compiled, self.hint = prepare_family(self.family, self.opts, self.frame_size, self.source.fps,
                                                  self.source.live)
        self.metrics.device = execution_devices(self.compiled)
        if self.opts.get("track"):
            self.tracking = Tracking(self.opts, self.source.fps, self.family.tracker_reid_threshold)

    def header(self) -> str:
        src, size = self.source, self.frame_size
        shape = f"{size[0]}x{size[1]}" if size else "various sizes"
        return (f"[bold]{self.family.name}[/]: {self.family.model.name} on {self.metrics.device} "
                f"({self.hint}, {self.queue.size} requests) | {src.name} {shape} @ {src.fps:g} FPS")

    def start(self) -> None:
        self.wakeup = threading.Condition()
        self.reader = FrameReader(self.source, self.wakeup, loop=self.opts.loop, limit=self.opts.max_frames)
        self.queue = InferQueue(self.compiled, self.opts.nireq, self.wakeup)
        self._last: Result | None = None  # the latest result of a frame the main model saw

    def __iter__(self) -> Iterator[Decoded]:
        self.setup()
        self.start()
        try:
            self.metrics.start()
            self.reader.start()
            yield from self._loop()
        finally:
            self.shutdown()
        if self.reader.error is not None:
            raise self.reader.error

    def _skip_kind(self, index: int) -> str | None:
        if not self.family.needs_inference(index):
            return FAMILY_SKIP
        if index % self.opts.infer_every:
            return EVERY_SKIP
        return None

    def _loop(self) -> Iterator[Decoded]:
        reader, queue, wakeup = self.reader, self.queue, self.wakeup
        # frame, preprocessing time, and the array submitted: OpenVINO reads it in place (no copy), so it must
        # outlive the request even when it is a resized or cropped copy of the frame
        in_flight: dict[int, tuple[Frame, float, np.ndarray]] = {}
        skipped: dict[int, str] = {}
        next_submit = next_emit = 0
        window = max(2 * queue.size, 4)  # bound on finished-but-not-yet-emitted results
        while True:
            stalled = False
            with wakeup:
                while True:
                    if self.stop is not None and self.stop.requested:
                        raise Interrupted()
                    if queue.error is not None:
                        raise DemoError("inference failed", first_error_line(queue.error)) from queue.error
                    if next_emit in skipped:
                        kind = skipped.pop(next_emit)
                        outputs, infer_ms, frame = None, 0.0, None
                        break
                    if queue.ready(next_emit):
                        outputs, infer_ms = queue.pop(next_emit)
                        kind, frame = None, None
                        break
                    if queue.can_submit() and next_submit - next_emit < window:
                        frame = reader.take()
                        if frame is not None:
                            skip = self._skip_kind(frame.index)
                            if skip is None:
                                queue.in_flight += 1
                            else:
                                skipped[next_submit] = skip
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
                elif not self.frame_size:  # frames of many sizes: crop each
                    box = self.family.input_crop((image.shape[1], image.shape[0]))
                    if box is not None:
                        image = np.ascontiguousarray(image[box[1]:box[3], box[0]:box[2]])
                prep_ms = (time.perf_counter() - t0) * 1000.0
                in_flight[next_submit] = (frame, prep_ms, image)
                if next_submit not in skipped:
                    try:
                        queue.submit(next_submit, image)
                    except Exception as e:  # a request that failed earlier can surface here
                        raise DemoError("inference failed", first_error_line(e)) from e
                next_submit += 1
            else:
                done, prep_ms, _ = in_flight.pop(next_emit)
                next_emit += 1
                yield self._decode(done, outputs, kind, prep_ms, infer_ms)

    def _decode(self, frame: Frame, outputs: ModelOutputs | None, skip: str | None, prep_ms: float,
                infer_ms: float) -> Decoded:
        t0 = time.perf_counter()
        if skip == EVERY_SKIP:
            last = self._last if self._last is not None else Result()  # (a Result without objects is falsy)
            # with a tracker the objects come from its predictions; otherwise the last ones stand, and so does
            # a clip's action, but its window was classified on an earlier frame
            clip = None if last.classification is None else replace(last.classification, predicted=False)
            result = replace(last, objects=last.objects[[]] if self.tracking else last.objects, inferred=False,
                             classification=clip, events=[])
        else:
            result = self.family.postprocess(outputs, frame)
            if outputs is None:
                result.inferred = False
            else:
                self._last = result
        if self.tracking is not None:
            with self.family.timer("tracker"):
                result.objects, result.events, result.counts = self.tracking.update(
                    result.objects, frame.index, frame.timestamp, inferred=skip is None)
            result = self.family.after_tracking(result, frame)
        timings = {"decode": frame.decode_ms, "preprocess": prep_ms, "infer": infer_ms,
                   "postprocess": (time.perf_counter() - t0) * 1000.0, **self.family.timer.take()}
        return Decoded(frame, result, timings)

    def shutdown(self) -> None:
        """Stop reading, let requests in flight complete, let the family flush. Runs on every exit path."""
        with suppress(Exception):
            self.reader.stop()
        with suppress(Exception):
            self.queue.wait_all()
        try:
            self.family.finish()
        finally:
            if self.tracking is not None:
                self.tracking.close()
            self.metrics.dropped = self.reader.dropped
            self.metrics.input_damage = self.reader.damage
            if self.tracking is not None and self.tracking.counter:
                self.metrics.notes = self.tracking.counter.totals_text()

    def draw(self, image: np.ndarray, result: Result, style: Style) -> None:
        """The family's drawing, with tracking's zones, lines and trails around it."""
        if self.tracking is not None:
            self.tracking.draw_regions(image, style)
            Tracking.draw_trails(image, result.objects, style)
        self.family.draw(image, result, style)


def shown_style(opts: Options) -> Style:
    """What the options say to show (families without these flags show everything)."""
    return Style(labels=opts.get("show_labels", True), confidence=opts.get("show_conf", True),
                 boxes=opts.get("show_boxes", True))


class Runner:
    """The command line's consumer of a pipeline: draws, writes, shows, prints, and sums up."""

    def __init__(self, family: Family, opts: Options, source: InputSpec | None = None):
        self.opts = opts
        self.stop = STOP
        self.pipeline = Pipeline(family, opts, self.stop, source)
        self.metrics = self.pipeline.metrics
        self.show = not opts.no_show and display_available()
        self.video: VideoOutput | None = None
        self.jsonl: JsonLines | None = None
        self._shown = shown_style(opts)
        self._style_for: tuple[int, int] | None = None

    def run(self) -> int:
        """Set up, emit every frame, finish the outputs. Ctrl+C or SIGTERM during set-up ends the run at once
        (nothing is written yet); during the frames it stops the loop between two frames, and every output is
        finished and moved into place as on any other ending."""
        opts = self.opts
        self.video = VideoOutput(opts.output, 30.0, warn=warn) if opts.output else None
        self.jsonl = JsonLines(opts.json) if opts.json else None
        pipeline = self.pipeline
        frames = iter(pipeline)
        exit_code, error = 0, None
        with self.stop.handling():
            try:
                with self.stop.phase_of(RAISE):
                    first = next(frames, None)  # set-up runs here: errors surface before anything is written
                if self.video:
                    self.video.fps = pipeline.source.fps
                console.print(pipeline.header())
                with self.stop.phase_of(FRAMES), self._progress() as progress:
                    item = first
                    while item is not None:
                        if self._emit(item, progress):
                            raise Interrupted()  # the user closed the window
                        item = next(frames, None)
            except (Interrupted, KeyboardInterrupt):
                self.metrics.interrupted = True
                exit_code = EXIT_INTERRUPTED
                with suppress(Exception):
                    frames.close()
            except BrokenPipeError:  # the reader of standard output left (`-r | head`): end quietly
                _detach_stdout()
                with suppress(Exception):
                    frames.close()
            except DemoError as e:
                error = e
                with suppress(Exception):
                    frames.close()
            finally:
                self.stop.phase = DEFER  # finishing the outputs is not to be cut short
                problems = self._finish()
        if error is not None or problems:
            raise error or problems[0]
        return EXIT_INTERRUPTED if self.stop.requested else exit_code

    def _emit(self, item: Decoded, progress) -> bool:
        """Draw, write and show one frame. Returns True when the user asked to quit."""
        opts, frame, result = self.opts, item.frame, item.result
        t1 = time.perf_counter()
        image = frame.image
        if self.video or self.show:
            style = self.style(image)
            self.pipeline.draw(image, result, style)
            lat = (t1 - frame.captured) * 1000.0
            draw_status(image, [f"FPS {self.metrics.live_fps():.1f}", f"latency {lat:.0f} ms"], style)
        t2 = time.perf_counter()
        # the family's steps timed while drawing (e.g. segment's mask blend) belong to this frame
        timings = {**item.timings, "render": (t2 - t1) * 1000.0, **self.pipeline.family.timer.take()}
        if self.video:
            self.video.write(image)
        quit_requested = self._show(image) if self.show else False
        t3 = time.perf_counter()
        timings["write"] = (t3 - t2) * 1000.0
        latency_ms = (t3 - frame.captured) * 1000.0
        if self.jsonl or opts.raw:
            size = (frame.image.shape[1], frame.image.shape[0])
            record = frame_record(frame.index, frame.timestamp, self.pipeline.source.name, size, result,
                                  {**timings, "latency": latency_ms})
            if self.jsonl:
                self.jsonl.write(record)
            if opts.raw:
                print("\n".join(raw_lines(record)), flush=True)
        self.metrics.record(timings, latency_ms)
        if progress is not None:
            progress.update(self._progress_task, advance=1,
                            status=f"{self.metrics.live_fps():5.1f} FPS  dropped {self.metrics.dropped}")
        return quit_requested

    def style(self, image: np.ndarray) -> Style:
        if self._style_for != image.shape[:2]:
            self._style_for = image.shape[:2]
            self._style = Style.for_frame(image.shape[1], image.shape[0], self._shown)
        return self._style

    def _show(self, image: np.ndarray) -> bool:
        try:
            cv2.imshow(f"ovdemo {self.pipeline.family.name}", image)
            key = cv2.waitKey(1) & 0xFF
        except cv2.error:
            warn("this OpenCV build cannot open windows; continuing without one (use --no-show)")
            self.show = False
            return False
        return key in (ord("q"), ord("Q"), 27)

    @contextmanager
    def _progress(self):
        if not console.is_terminal:
            yield None
            return
        source = self.pipeline.source
        total = None
        if not source.live and not self.opts.loop:
            total = source.total
            if self.opts.max_frames:
                total = min(total, self.opts.max_frames) if total else None
        columns = [SpinnerColumn(), TextColumn("{task.description}"), BarColumn(),
                   TextColumn("{task.completed} frames"), TextColumn("{task.fields[status]}")]
        if total:
            columns.append(TimeRemainingColumn())
        with Progress(*columns, console=console, transient=True) as progress:
            self._progress_task = progress.add_task(source.name, total=total, status="")
            yield progress

    def _finish(self) -> list[DemoError]:
        """Finish every output (moved into place) and print the summary. Runs on every exit path after set-up
        began; returns what failed (each output is still tried, and the summary still printed)."""
        problems = []
        for writer in (self.video, self.jsonl):
            if writer is not None:
                try:
                    writer.close()
                except DemoError as e:
                    problems.append(e)
        if self.show:
            with suppress(cv2.error):
                cv2.destroyAllWindows()
        source = getattr(self.pipeline, "source", None)
        if source is None or not hasattr(self.pipeline, "queue"):
            return problems  # set-up failed: nothing ran, nothing to sum up
        if self.metrics.input_damage is not None:
            warn(self.metrics.input_damage.text(source.name))
        if self.video is not None and self.video.fitted:
            self.metrics.fitted = self.video.fitted
            warn(f"{self.video.fitted} frame(s) of another size were fitted into the video's "
                 f"{self.video.size[0]}x{self.video.size[1]} (letterboxed)")
        self.metrics.print_summary(console)
        if self.opts.metrics_json:
            try:
                write_json_file(self.opts.metrics_json, self.metrics.summary(), "metrics file")
            except DemoError as e:
                problems.append(e)
        return problems


def _detach_stdout() -> None:
    """Point standard output at /dev/null, so that Python's flush at exit meets no closed pipe either."""
    with suppress(OSError, ValueError):
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())


def run(family: Family | type[Family], opts: Options) -> int:
    """The command line's run: -i resolved and every output claimed (refused when it is an input or another
    output, locked against other runs) before the family is built from its class (models resolved, perhaps
    downloaded) and set up; the claims are released when the run ends, however it ends."""
    source = resolve_input(opts.input)
    with RunOutputs(opts, source, warn).claimed_for_run():
        if isinstance(family, type):
            family = family.create(opts)
            opts = family.opts
        return Runner(family, opts, source).run()
