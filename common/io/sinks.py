"""Where a run's frames go: each output of the command line is a sink, and the runner holds a list of them.

A sink is told three things, in this order:
- `open(streams)`: once, when set-up is done and the first frame is ready (the streams are open: their names and
  frame rates are known). A run whose set-up failed never opens its sinks, but still closes them.
- `write(out)`: every frame, in input order (`Emitted`: the frame, its result, its stream, its timings, the
  annotated picture, its JSON record).
- `close(interrupted)`: once, on every ending (Ctrl+C included); returns what could not be finished, as
  DemoErrors, so that every other sink is still closed.

The files a sink writes are claimed when the sink is made (before set-up: a run that cannot write its outputs
fails before any model loads) and go through `output.py`'s writers, which write aside and move into place.

`SINKS` lists how each is made from a run (its options): the runner makes every one that the options ask for.
docs/writing-a-sink.md adds one.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from contextlib import suppress
from functools import cached_property

import cv2
import numpy as np

from ..console import warn
from ..engine.metrics import Metrics, StreamFigures
from ..errors import DemoError
from ..results import Result
from .capture import Frame
from .output import JsonLines, MotWriter, VideoOutput, per_stream
from .records import frame_record, raw_lines
from .serve import LiveView, live_numbers
from .streams import Stream
from .window import Window


class Emitted:
    """One frame as the sinks get it. `image` is the frame as drawn (when a sink `draws`); `screen` is what a
    screen shows (several streams: the mosaic of them); `record` is its JSON line, made once for every sink that
    reads it. `timings` and `latency_ms` are final for the sinks that are not `timed`."""

    def __init__(self, frame: Frame, result: Result, stream: Stream, timings: dict[str, float], several: bool,
                 screen: Callable[[], np.ndarray]):
        self.frame, self.result, self.stream, self.timings = frame, result, stream, timings
        self.several = several
        self.latency_ms = 0.0
        self._screen = screen

    @property
    def image(self) -> np.ndarray:
        return self.frame.image

    @cached_property
    def screen(self) -> np.ndarray:
        return self._screen()

    @cached_property
    def record(self) -> dict:
        frame = self.frame
        size = (frame.image.shape[1], frame.image.shape[0])
        return frame_record(frame.index, frame.timestamp, self.stream.name, size, self.result,
                            {**self.timings, "latency": self.latency_ms}, stream=self.stream.index)


class Sink:
    """The protocol every output follows (each method has a do-nothing default).

    `draws`: the sink needs the frame annotated (the runner draws only when one does). `timed`: its writing is
    part of the frame's `write` time and comes before the frame's record is made (the video, the window);
    the others are written after, with the frame's timings final. `ended_by_user`: the user asked the run to end
    through this sink (q or Esc in the window): a normal end."""

    draws = False
    timed = False
    ended_by_user = False

    def open(self, streams: list[Stream]) -> None:
        pass

    def write(self, out: Emitted) -> None:
        pass

    def close(self, interrupted: bool) -> list[DemoError]:
        return []


def close_all(writers: list) -> list[DemoError]:
    """Close each writer once (a writer several streams share is in the list once per stream)."""
    problems = []
    for writer in dict.fromkeys(w for w in writers if w is not None):
        try:
            writer.close()
        except DemoError as e:
            problems.append(e)
    return problems


class VideoSink(Sink):
    """-o: the annotated frames in a video, a numbered image pattern or one image (per stream with {stream})."""

    draws = timed = True

    def __init__(self, path: str, count: int, mine: Collection[int] | None, metrics: Metrics):
        self.videos: list[VideoOutput | None] = per_stream(path, count, lambda p: VideoOutput(p, 30.0, warn=warn),
                                                           mine)
        self.metrics = metrics

    def open(self, streams: list[Stream]) -> None:
        for stream in streams:  # the video plays at its source's rate
            video = self.videos[stream.index]
            if stream.source is not None and video is not None:
                video.fps = stream.source.fps

    def write(self, out: Emitted) -> None:
        video = self.videos[out.stream.index]
        if video is not None:
            video.write(out.image)

    def close(self, interrupted: bool) -> list[DemoError]:
        problems = close_all(self.videos)
        for video in dict.fromkeys(v for v in self.videos if v is not None):
            if video.fitted:  # (counted before the summary: the metrics sink closes last)
                assert video.size is not None  # a fitted frame came after the first, which set the size
                self.metrics.fitted += video.fitted
                warn(f"{video.fitted} frame(s) of another size were fitted into the video's "
                     f"{video.size[0]}x{video.size[1]} (letterboxed)")
        return problems


class WindowSink(Sink):
    """The window on the screen (several streams: a mosaic); q, Esc or its close button end the run."""

    draws = timed = True

    def __init__(self, title: str):
        self.window = Window(title)
        self.shown = True

    def write(self, out: Emitted) -> None:
        if not self.shown:
            return
        try:
            self.ended_by_user = self.window.show(out.screen)
        except cv2.error:
            warn("this OpenCV build cannot open windows; continuing without one (use --no-show)")
            self.shown = False

    def close(self, interrupted: bool) -> list[DemoError]:
        if self.shown:
            with suppress(cv2.error):
                self.window.close()
        return []


class JsonLinesSink(Sink):
    """--json: a record per frame, in one file (each record names its stream) or one per stream ({stream});
    `writers` may be any object with write(record) and close() per stream (--workers sends them to its parent)."""

    def __init__(self, writers: list):
        self.writers = writers

    @classmethod
    def files(cls, path: str, count: int, mine: Collection[int] | None) -> JsonLinesSink:
        return cls(per_stream(path, count, JsonLines, mine))

    def write(self, out: Emitted) -> None:
        writer = self.writers[out.stream.index]
        if writer is not None:
            writer.write(out.record)

    def close(self, interrupted: bool) -> list[DemoError]:
        return close_all(self.writers)


class RawLinesSink(Sink):
    """-r: each frame's record as plain lines on standard output."""

    def write(self, out: Emitted) -> None:
        print("\n".join(raw_lines(out.record, with_stream=out.several)), flush=True)


class MotSink(Sink):
    """--mot: each tracked stream's confirmed tracks in MOTChallenge rows, read from the frame's tracked objects."""

    def __init__(self, path: str, count: int, mine: Collection[int] | None):
        self.writers: list[MotWriter | None] = per_stream(path, count, MotWriter, mine)

    def write(self, out: Emitted) -> None:
        writer = self.writers[out.stream.index]
        if writer is not None and out.stream.tracking is not None:
            writer.write(out.frame.index, out.result.objects)

    def close(self, interrupted: bool) -> list[DemoError]:
        return close_all(self.writers)


class LiveViewSink(Sink):
    """--serve: the newest annotated frame (the mosaic with several streams) and live numbers over HTTP."""

    draws = True

    def __init__(self, address: str, metrics: Metrics, model: str):
        self.live = LiveView(address)  # the port is taken now: a busy one fails before set-up
        self.metrics, self.model = metrics, model

    @property
    def url(self) -> str:
        return self.live.url

    def write(self, out: Emitted) -> None:  # after the metrics sink: its numbers include this frame
        self.live.publish(out.screen, live_numbers(self.metrics, out.result, out.stream.name, self.model))

    def close(self, interrupted: bool) -> list[DemoError]:
        self.live.close()
        return []


class MetricsSink(Sink):
    """Every frame's timings into the run's figures (and its stream's, with several); at the end the stream
    rows and the summary, printed and written to --metrics-json by `report` (which returns what it could not
    write). Closes last: the other sinks' figures (frames fitted into a video) are in by then."""

    def __init__(self, metrics: Metrics, stream_metrics: list[Metrics], pipeline,
                 report: Callable[[], list[DemoError]]):
        self.metrics, self.stream_metrics, self.pipeline, self.report = metrics, stream_metrics, pipeline, report

    def write(self, out: Emitted) -> None:
        self.metrics.record(out.timings, out.latency_ms)
        own = self.stream_metrics[out.stream.index]
        if own is not self.metrics:
            own.record(out.timings, out.latency_ms)

    def close(self, interrupted: bool) -> list[DemoError]:
        pipeline = self.pipeline
        if not pipeline.streams or not hasattr(pipeline, "queue"):
            return []  # set-up failed: nothing ran, nothing to sum up
        for stream in pipeline.streams:
            if stream.damage is not None:
                warn(stream.damage.text(stream.name))
        self.metrics.streams = [self._row(s) for s in pipeline.streams if not s.elsewhere]
        return self.report()

    def _row(self, stream: Stream) -> StreamFigures:
        return StreamFigures(stream.index, stream.name, self.stream_metrics[stream.index],
                             stream.reader.dropped if stream.reader else 0, stream.damage,
                             None if stream.failure is None else str(stream.failure))


# -- how each sink is made from a run (`runner.Runner`: its options, its streams, its figures); None: not asked for


def video_sink(run) -> Sink | None:
    opts = run.opts
    return VideoSink(opts.output, len(run.sources), run.pipeline.mine, run.metrics) if opts.output else None


def window_sink(run) -> Sink | None:
    return WindowSink(run.window_title) if run.show else None


def json_lines_sink(run) -> Sink | None:
    opts = run.opts
    return JsonLinesSink.files(opts.json, len(run.sources), run.pipeline.mine) if opts.json else None


def raw_lines_sink(run) -> Sink | None:
    return RawLinesSink() if run.opts.raw else None


def mot_sink(run) -> Sink | None:
    path = run.opts.get("mot")
    return MotSink(path, len(run.sources), run.pipeline.mine) if path else None


def metrics_sink(run) -> Sink:
    return MetricsSink(run.metrics, run.stream_metrics, run.pipeline, run.report_figures)


def live_view_sink(run) -> Sink | None:
    address = run.opts.get("serve")  # ("": refused, named)
    return None if address is None else LiveViewSink(address, run.metrics, run.pipeline.family.model.name)


# the order each frame reaches them: the drawn ones whose writing is the frame's `write` time, then the records,
# the figures, and the live view last (its numbers include the frame)
SINKS: list[Callable[..., Sink | None]] = [video_sink, window_sink, json_lines_sink, raw_lines_sink, mot_sink,
                                           metrics_sink, live_view_sink]
