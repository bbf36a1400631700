"""The command line's consumer of a pipeline: `Runner` draws, writes, shows, prints JSON lines and the summary
(`launch.run` starts it, or --workers' processes each run one)."""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Collection
from contextlib import contextmanager, suppress

import cv2
import numpy as np
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeRemainingColumn

from ..console import console, warn
from ..draw import Style, draw_status, status_rect
from ..errors import DemoError
from ..io.capture import InputSpec
from ..io.output import JsonLines, VideoOutput, detach_stdout, per_stream, write_json_file
from ..io.records import frame_record, raw_lines
from ..io.serve import LiveView, live_numbers
from ..io.streams import Stream, resolve_inputs
from ..io.window import Mosaic, Window
from ..options import Options
from .family import Family
from .interrupt import DEFER, FRAMES, RAISE, STOP
from .metrics import Metrics, StreamFigures
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
    """The command line's consumer of a pipeline: draws, writes, shows, prints, and sums up. With several
    streams: a file per stream where the name has {stream}, a mosaic in the window, a summary row per stream."""

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
        self.window = Window(f"ovdemo {family.name}")
        self.mosaic = Mosaic([s.name for s in self.sources]) if len(self.sources) > 1 else None
        self.videos: list[VideoOutput | None] = []
        self.jsons: list[JsonLines | None] = []
        self.live: LiveView | None = None  # --serve
        self._shown = shown_style(opts)
        self._styles: dict[tuple[int, int], Style] = {}

    def run(self) -> int:
        """Set up, emit every frame, finish the outputs. Ctrl+C or SIGTERM during set-up ends the run at once
        (nothing is written yet); during the frames it stops the loop between two frames, and every output is
        finished and moved into place as on any other ending."""
        opts = self.opts
        self._open_writers()
        self.live = LiveView(opts.serve) if opts.get("serve") is not None else None  # ("": refused, named)
        pipeline = self.pipeline
        frames = iter(pipeline)
        exit_code, error = 0, None
        with self.stop.handling():
            try:
                with self.stop.phase_of(RAISE):
                    first = next(frames, None)  # set-up runs here: errors surface before anything is written
                for stream in pipeline.streams:
                    if stream.source is not None and self.videos[stream.index] is not None:
                        self.videos[stream.index].fps = stream.source.fps
                for metrics in self.stream_metrics:
                    metrics.started = self.metrics.started
                console.print(pipeline.header())
                if self.live:
                    console.print(f"serving the annotated stream and live metrics on {self.live.url}")
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

    def _open_writers(self) -> None:
        """The video and JSON lines writers of each stream this process runs."""
        opts, count, mine = self.opts, len(self.sources), self.pipeline.mine
        self.videos = per_stream(opts.output, count, lambda path: VideoOutput(path, 30.0, warn=warn), mine)
        self.jsons = per_stream(opts.json, count, JsonLines, mine)

    def _emit(self, item: Decoded, progress) -> bool:
        """Draw, write and show one frame. Returns True when the user asked to quit."""
        opts, frame, result = self.opts, item.frame, item.result
        stream = self.pipeline.streams[frame.stream]
        video, jsonl = self.videos[stream.index], self.jsons[stream.index]
        t1 = time.perf_counter()
        image = frame.image
        if video or self.show or self.live:
            style = self.style(image).for_image(image)  # a fresh caption layout for this frame
            # a still image has no frame rate to show: the readout is for video
            source = stream.source
            still = source.total == 1 and not source.live and not self.opts.loop
            status = [] if still else [f"FPS {self.stream_metrics[stream.index].live_fps():.1f}",  # its own
                                       f"latency {(t1 - frame.captured) * 1000.0:.0f} ms"]
            corner = status_rect(status, style, (image.shape[1], image.shape[0]), result.objects.xyxy)
            if status:
                style.layout.reserve(corner)  # captions keep clear of the readout
            self.pipeline.draw(image, result, style, stream.index)
            if status:
                draw_status(image, status, style, corner)
        shown = self.mosaic.put(stream.index, image) if self.mosaic and (self.show or self.live) else image
        t2 = time.perf_counter()
        # the family's steps timed while drawing (e.g. segment's mask blend) belong to this frame
        timings = {**item.timings, "render": (t2 - t1) * 1000.0, **self.pipeline.family.timer.take()}
        if video:
            video.write(image)
        quit_requested = self._show(shown) if self.show else False
        t3 = time.perf_counter()
        timings["write"] = (t3 - t2) * 1000.0
        latency_ms = (t3 - frame.captured) * 1000.0
        if jsonl or opts.raw:
            size = (frame.image.shape[1], frame.image.shape[0])
            record = frame_record(frame.index, frame.timestamp, stream.name, size, result,
                                  {**timings, "latency": latency_ms}, stream=stream.index)
            if jsonl:
                jsonl.write(record)
            if opts.raw:
                print("\n".join(raw_lines(record, with_stream=self.pipeline.several)), flush=True)
        self.metrics.record(timings, latency_ms)
        if self.stream_metrics[stream.index] is not self.metrics:
            self.stream_metrics[stream.index].record(timings, latency_ms)
        if self.live:
            self.live.publish(shown, live_numbers(self.metrics, result, stream.name,
                                                  self.pipeline.family.model.name))
        if progress is not None:
            progress.update(self._progress_task, advance=1,
                            status=f"{self.metrics.live_fps():5.1f} FPS  dropped {self.metrics.dropped}")
        return quit_requested

    def style(self, image: np.ndarray) -> Style:
        """The drawing style for frames of this size (streams of several sizes keep one each)."""
        size = image.shape[:2]
        if size not in self._styles:
            self._styles[size] = Style.for_frame(image.shape[1], image.shape[0], self._shown)
        return self._styles[size]

    def _show(self, image: np.ndarray) -> bool:
        try:
            return self.window.show(image)
        except cv2.error:
            warn("this OpenCV build cannot open windows; continuing without one (use --no-show)")
            self.show = False
            return False

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
        """Finish every output (moved into place) and print the summary. Runs on every exit path after set-up
        began; returns what failed (each output is still tried, and the summary still printed)."""
        problems = []
        writers = [w for w in dict.fromkeys([*self.videos, *self.jsons]) if w is not None]  # shared ones once
        for writer in writers:
            try:
                writer.close()
            except DemoError as e:
                problems.append(e)
        if self.live:
            self.live.close()
        if self.show:
            with suppress(cv2.error):
                self.window.close()
        if not self.pipeline.streams or not hasattr(self.pipeline, "queue"):
            return problems  # set-up failed: nothing ran, nothing to sum up
        for stream in self.pipeline.streams:
            if stream.damage is not None:
                warn(stream.damage.text(stream.name))
        videos = [v for v in dict.fromkeys(self.videos) if v is not None]
        for video in videos:
            if video.fitted:
                self.metrics.fitted += video.fitted
                warn(f"{video.fitted} frame(s) of another size were fitted into the video's "
                     f"{video.size[0]}x{video.size[1]} (letterboxed)")
        self.metrics.streams = [self._stream_row(s) for s in self.pipeline.streams if not s.elsewhere]
        return problems + self._report()

    def _report(self) -> list[DemoError]:
        return report(self.metrics, self.opts)

    def _stream_row(self, stream: Stream) -> StreamFigures:
        return StreamFigures(stream.index, stream.name, self.stream_metrics[stream.index],
                             stream.reader.dropped if stream.reader else 0, stream.damage,
                             None if stream.failure is None else str(stream.failure))


def report(metrics: Metrics, opts: Options) -> list[DemoError]:
    """The summary printed, and written to --metrics-json; returns what could not be written."""
    metrics.print_summary(console)
    if opts.metrics_json:
        try:
            write_json_file(opts.metrics_json, metrics.summary(), "metrics file")
        except DemoError as e:
            return [e]
    return []
