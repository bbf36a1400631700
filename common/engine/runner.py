"""The command line's consumer of a pipeline: `Runner` draws each frame and hands it to the run's sinks (video,
window, JSON lines, raw lines, MOT, metrics, live view: `sinks.py`), then sums up (`launch.run` starts it, or
--workers' processes each run one)."""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Collection
from contextlib import contextmanager, suppress

import numpy as np
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeRemainingColumn

from ..annotators import Annotator, annotate, scene_annotators
from ..console import console
from ..draw import Style, draw_status, status_rect
from ..errors import DemoError
from ..io.capture import InputSpec
from ..io.output import detach_stdout, write_json_file
from ..io.sinks import SINKS, Emitted, LiveViewSink, Sink
from ..io.streams import Stream, resolve_inputs
from ..io.window import Mosaic
from ..options import Options
from ..results import Result
from .family import Family
from .interrupt import DEFER, FRAMES, RAISE, STOP
from .metrics import Metrics
from .pipeline import Decoded, Interrupted, Pipeline


def display_available() -> bool:
    if sys.platform.startswith("linux"):
        return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))
    return True


def shown_style(opts: Options) -> Style:
    """What the options say to show (families without these flags show everything)."""
    return Style(labels=opts.get("show_labels", True), confidence=opts.get("show_conf", True),
                 boxes=opts.get("show_boxes", True))


class Runner:
    """The command line's consumer of a pipeline: draws each frame (the stream's annotators and the FPS readout)
    when a sink shows it, and hands it to every sink in turn. With several streams: a file per stream where the
    name has {stream}, a mosaic in the window, a summary row per stream."""

    def __init__(self, family: Family, opts: Options, sources: list[InputSpec] | None = None,
                 mine: Collection[int] | None = None):
        self.opts = opts
        self.stop = STOP
        self.sources = sources or resolve_inputs(opts.input, offline=bool(opts.get("offline")))
        self.pipeline = Pipeline(family, opts, self.stop, self.sources, mine)
        self.metrics = self.pipeline.metrics
        # a stream's own figures (its summary row, its FPS readout); one stream's are the run's, recorded once
        self.stream_metrics = [self.metrics] if len(self.sources) == 1 else [Metrics() for _ in self.sources]
        self.show = not opts.no_show and display_available()
        self.window_title = f"ovdemo {family.name}"
        self.mosaic = Mosaic([s.name for s in self.sources]) if len(self.sources) > 1 else None
        self.sinks: list[Sink] = []
        self._shown = shown_style(opts)
        self._styles: dict[tuple[int, int], Style] = {}
        self._annotators: dict[int, list[Annotator]] = {}  # a stream's, made on its first frame drawn

    def run(self) -> int:
        """Set up, emit every frame, close the sinks. Ctrl+C or SIGTERM during set-up ends the run at once
        (nothing is written yet); during the frames it stops the loop between two frames, and every sink is
        closed (its files moved into place) as on any other ending."""
        self.sinks = self._sinks()
        pipeline = self.pipeline
        frames = iter(pipeline)
        exit_code, error = 0, None
        with self.stop.handling():
            try:
                with self.stop.phase_of(RAISE):
                    first = next(frames, None)  # set-up runs here: errors surface before anything is written
                for sink in self.sinks:
                    sink.open(pipeline.streams)
                for metrics in self.stream_metrics:
                    metrics.started = self.metrics.started
                console.print(pipeline.header())
                for sink in self.sinks:
                    if isinstance(sink, LiveViewSink):
                        console.print(f"serving the annotated stream and live metrics on {sink.url}")
                with self.stop.phase_of(FRAMES), self._progress() as progress:
                    item = first
                    while item is not None:
                        if self._emit(item, progress):  # q, Esc or the close button: a normal end, exit 0
                            frames.close()
                            break
                        item = next(frames, None)
            except (Interrupted, KeyboardInterrupt):
                self.metrics.interrupted = True
                exit_code = self.stop.exit_code
                with suppress(Exception):
                    frames.close()
            except BrokenPipeError:  # the reader of standard output left (`-r | head`): end quietly
                detach_stdout()
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
        return self.stop.exit_code if self.stop.requested else exit_code

    def _sinks(self) -> list[Sink]:
        """The run's outputs, one per option given (in the order each frame reaches them). Their files are
        claimed now, before set-up; when one cannot be made, those made before it are closed (their claims
        released) before the error goes on."""
        made: list[Sink] = []
        try:
            for make in self.sink_makers():
                sink = make(self)
                if sink is not None:
                    made.append(sink)
        except BaseException:
            for sink in made:
                with suppress(Exception):
                    sink.close(False)
            raise
        return made

    def sink_makers(self) -> list:
        """How each sink is made from this run (`sinks.SINKS`)."""
        return SINKS

    def _emit(self, item: Decoded, progress) -> bool:
        """One frame drawn (when a sink shows it) and given to every sink. Returns True when the user asked to
        quit."""
        frame, result = item.frame, item.result
        stream = self.pipeline.streams[frame.stream]
        t1 = time.perf_counter()
        if any(sink.draws for sink in self.sinks):
            self._draw(frame.image, result, stream, t1 - frame.captured)
        t2 = time.perf_counter()
        # the family's steps timed while drawing (e.g. segment's mask blend) belong to this frame
        timings = {**item.timings, "render": (t2 - t1) * 1000.0, **self.pipeline.family.timer.take()}
        mosaic = self.mosaic
        screen = (lambda: mosaic.put(stream.index, frame.image)) if mosaic is not None else (lambda: frame.image)
        out = Emitted(frame, result, stream, timings, self.pipeline.several, screen)
        for sink in self.sinks:
            if sink.timed:
                sink.write(out)
        t3 = time.perf_counter()
        timings["write"] = (t3 - t2) * 1000.0
        out.latency_ms = (t3 - frame.captured) * 1000.0
        for sink in self.sinks:
            if not sink.timed:
                sink.write(out)
        if progress is not None:
            progress.update(self._progress_task, advance=1,
                            status=f"{self.metrics.live_fps():5.1f} FPS  dropped {self.metrics.dropped}")
        return any(sink.ended_by_user for sink in self.sinks)

    def _draw(self, image: np.ndarray, result: Result, stream: Stream, latency_s: float) -> None:
        """The stream's annotators, and the FPS / latency readout in the corner they cover least."""
        style = self.style(image).for_image(image)  # a fresh caption layout for this frame
        # a still image has no frame rate to show: the readout is for video
        source = stream.source
        assert source is not None  # only a stream that opened yields frames to draw
        still = source.total == 1 and not source.live and not self.opts.loop
        status = [] if still else [f"FPS {self.stream_metrics[stream.index].live_fps():.1f}",  # its own
                                   f"latency {latency_s * 1000.0:.0f} ms"]
        corner = status_rect(status, style, (image.shape[1], image.shape[0]), result.objects.xyxy)
        if status:
            assert style.layout is not None  # for_image above gave the style this frame's layout
            style.layout.reserve(corner)  # captions keep clear of the readout
        if stream.index not in self._annotators:
            self._annotators[stream.index] = scene_annotators(self.pipeline.family, stream.tracking)
        annotate(image, result, style, self._annotators[stream.index])
        if status:
            draw_status(image, status, style, corner)

    def style(self, image: np.ndarray) -> Style:
        """The drawing style for frames of this size (streams of several sizes keep one each)."""
        size = image.shape[:2]
        if size not in self._styles:
            self._styles[size] = Style.for_frame(image.shape[1], image.shape[0], self._shown)
        return self._styles[size]

    @contextmanager
    def _progress(self):
        if not console.is_terminal:
            yield None
            return
        sources = [s.source for s in self.pipeline.streams if s.source is not None]
        total = None
        if not any(src.live for src in sources) and not self.opts.loop and all(src.total for src in sources):
            limit = self.opts.max_frames
            total = sum(min(src.total, limit) if limit else src.total for src in sources)
        columns = [SpinnerColumn(), TextColumn("{task.description}"), BarColumn(),
                   TextColumn("{task.completed} frames"), TextColumn("{task.fields[status]}")]
        if total:
            columns.append(TimeRemainingColumn())
        name = sources[0].name if len(self.pipeline.streams) == 1 else f"{len(self.pipeline.streams)} streams"
        with Progress(*columns, console=console, transient=True) as progress:
            self._progress_task = progress.add_task(name, total=total, status="")
            yield progress

    def _finish(self) -> list[DemoError]:
        """Close every sink (files moved into place; the metrics sink last prints the summary). Runs on every exit
        path after set-up began; returns what failed (each sink is still closed, the summary still printed)."""
        problems = []
        for sink in self.sinks:
            problems += sink.close(self.metrics.interrupted)
        return problems

    def report_figures(self) -> list[DemoError]:
        """The summary, printed and written to --metrics-json (the metrics sink calls it when it closes)."""
        return report(self.metrics, self.opts)


def report(metrics: Metrics, opts: Options) -> list[DemoError]:
    """The summary printed, and written to --metrics-json; returns what could not be written."""
    metrics.print_summary(console)
    if opts.metrics_json:
        try:
            write_json_file(opts.metrics_json, metrics.summary(), "metrics file")
        except DemoError as e:
            return [e]
    return []
