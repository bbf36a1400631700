"""The one loop every family runs: capture thread -> async infer queue -> in-order decode -> (tracking).

`Pipeline` is a generator of decoded frames: iterate it for `Decoded(frame, result, timings)` in input
order. `runner.Runner` is its command-line consumer (draw, write, show, JSON lines, the summary; `launch.run` starts
it, or --workers' processes); the Python API's `stream` is another.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Collection, Generator, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field

import cv2
import numpy as np
import openvino as ov

from ..errors import DemoError
from ..io.capture import Frame, ImageListSource, InputSpec
from ..io.streams import (
    Readers,
    Stream,
    common_frame_size,
    failures_error,
    open_streams,
    resolve_inputs,
)
from ..models.attributes import AttributeModel
from ..models.resolve import resolve_from_options
from ..options import CACHE_DIR_ENV, Options, realtime_files
from ..results import Result
from ..tracking.tracker import Tracking
from .family import Family, RunContext
from .inference import (
    InferenceConfig,
    InferQueue,
    cancel_remote,
    check_device,
    compile_model,
    embed_preprocessing,
    execution_devices,
    first_error_line,
    server_timings,
)
from .interrupt import StopRequest
from .metrics import Metrics
from .processor import FrameProcessor
from .stages import FrameJobs


class Interrupted(Exception):
    pass


STOP_POLL_S = 1.0  # the loop's longest wait between two looks at what it waits on (each of them notifies)



def prepare_family(family: Family, opts: Options, frame_size: tuple[int, int] | None, fps: tuple[float, ...],
                   live: bool) -> tuple[ov.CompiledModel, str]:
    """Run a family's set-up hooks and compile its main model for frames of `frame_size` (None: any size).
    Returns the compiled model and the performance hint used."""
    hint = opts.hint
    if hint == "auto":
        hint = "latency" if live else "throughput"
    precision = None if opts.infer_precision == "auto" else opts.infer_precision
    cache_dir = opts.cache_dir or os.environ.get(CACHE_DIR_ENV) or None  # here, so the Python API reads it too
    config = InferenceConfig(device=opts.device, hint=None if hint == "none" else hint, nireq=opts.nireq,
                             nstreams=opts.nstreams, nthreads=opts.nthreads, cache_dir=cache_dir,
                             precision=precision)
    stage_config = InferenceConfig(device=opts.device, hint=config.hint, nthreads=opts.nthreads,
                                   nstreams=stage_streams(config), cache_dir=cache_dir, precision=precision)
    family.start(RunContext(stage_config, frame_size, fps, live, opts))
    model = family.load_model()
    family.prepare(model)
    Tracking.check(opts, family.name, family.boxes)  # after prepare: a family may learn it has no boxes
    family.stages = [*family.stages, *classifiers(family, opts, stage_config)]
    crop = family.input_crop(frame_size) if frame_size else None
    return compile_model(embed_preprocessing(model, family.model.spec, frame_size, crop), config), hint


def stage_streams(config: InferenceConfig) -> str | None:
    """Second stages on the CPU under the throughput hint get a stream on every core this process may use (and
    so, RequestPool's default, two requests per core): a stage's models are small, its items come a few per
    frame, and each request on one thread of its own finishes without waiting on the others' threads, while the
    main model's streams share the same cores. With the hint's own choice, re-identification kept frames waiting
    195 ms each on a 16-core machine (issue 22), at a tenth of its raw throughput. On 2 cores both choices are
    the same (2 streams). --nstreams and --nthreads leave the hint's choice alone (None)."""
    if config.hint != "throughput" or config.device.upper() != "CPU" or config.nstreams or config.nthreads:
        return None
    return str(len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1)


def classifiers(family: Family, opts: Options, config: InferenceConfig) -> list:
    """The `--classify` models, as stages on the family's objects."""
    refs = opts.get("classify") or ()
    if refs and not family.boxes:
        raise DemoError(f"--classify runs on objects with boxes, and this {family.name} model gives none",
                        "drop --classify")
    stages = []
    for n, ref in enumerate(refs, 1):
        model = AttributeModel(resolve_from_options(ref, opts), config)
        model.objects_of(family.object_names())
        stages.append(model.object_stage("classify" if len(refs) == 1 else f"classify {n}"))
    return stages


@dataclass
class Decoded:
    """One frame out of the pipeline, in input order."""

    frame: Frame
    result: Result
    timings: dict[str, float]  # ms per stage so far: decode, preprocess, infer, postprocess, the family's own


@dataclass
class InFlight:
    """A frame between capture and emission."""

    frame: Frame
    skip: str | None
    image: np.ndarray | None  # the array the main model reads, kept alive until it has answered
    prep_ms: float
    seq: int = -1
    jobs: FrameJobs | None = None  # its second stages, once decoded

    @property
    def decoded(self) -> FrameJobs:
        """Its second stages, for the loop's steps after decoding (polling, emitting), which come only then."""
        assert self.jobs is not None, "a frame's second stages are read before it was decoded"
        return self.jobs
    timings: dict[str, float] = field(default_factory=dict)


class Pipeline:
    """Sources -> async requests -> results in order. Iterate it; it cleans up when iteration ends.

    With several inputs (streams) every stream is read on its own thread and their frames share the main
    model's requests and every stage's: one sequence in, each stream's frames out in its own order."""

    def __init__(self, family: Family, opts: Options, stop: StopRequest | None = None,
                 sources: list[InputSpec] | None = None, mine: Collection[int] | None = None):
        self.family, self.opts = family, opts
        self.stop = stop  # None: nothing asks this pipeline to stop (the Python API)
        self.inputs = sources  # -i as resolved before set-up (None: resolved here)
        self.mine = mine  # the streams this process runs, by number (None: all; --workers: its share)
        self.metrics = Metrics()
        self.streams: list[Stream] = []

    # -- set-up: everything that can fail on bad input fails here, before any output file exists
    def setup(self) -> None:
        check_device(self.opts.device)
        offline = bool(self.opts.get("offline"))
        self.streams = open_streams(self.inputs or resolve_inputs(self.opts.input, offline), offline, self.mine)
        opened = [s.source for s in self.streams if s.source is not None]
        self.source = opened[0]  # the first stream that opened
        fps = tuple((s.source or self.source).fps for s in self.streams)
        # streams of one frame size share a model compiled for it; of several sizes, one model for any size
        # (resizing inside OpenVINO either way)
        self.frame_size = common_frame_size(self.streams)
        self.compiled, self.hint = prepare_family(self.family, self.opts, self.frame_size, fps,
                                                  any(src.live for src in opened))
        self.metrics.device = execution_devices(self.compiled)
        if self.opts.get("track"):
            for stream in self.streams:
                if stream.source is not None:
                    stream.tracking = Tracking(self.opts, stream.source.fps, self.family.tracker_reid_threshold)
        self.processor = FrameProcessor(self.family, self.opts.infer_every, [s.tracking for s in self.streams])

    @property
    def several(self) -> bool:
        return len(self.streams) > 1

    def header(self) -> str:
        note = self.family.model.fallback
        head = (f"[bold]{self.family.name}[/]: {self.family.model.describe()} on {self.metrics.device} "
                f"({self.hint}, {self.queue.size} requests)")
        if not self.several:
            head += f" | {self._describe(self.source)}"
        else:
            shape = "one size" if self.frame_size else "various sizes: one model for any size"
            head += f" | {len(self.streams)} streams ({shape})"
            for stream in (s for s in self.streams if not s.elsewhere):
                what = self._describe(stream.source) if stream.source else f"{stream.name}: {stream.error}"
                head += f"\n  stream {stream.index}: {what}"
        return head + (f"\nnote: {note}" if note else "")  # what the user asked for is not there: said, not alarmed

    def _describe(self, src) -> str:
        size = src.frame_size
        shape = f"{size[0]}x{size[1]}" if size else "various sizes"
        if isinstance(src, ImageListSource):  # images have no frame rate: theirs only times a sequence of them
            return (f"{src.name} {shape}, one image" if src.total == 1 else
                    f"{src.name} {shape}, {src.total} images timed at {src.fps:g} FPS")
        return f"{src.name} {shape} @ {src.fps:g} FPS"

    def start(self) -> None:
        # one lock, two conditions: the loop waits on `wakeup`, the readers on `room` (space in their buffers), so
        # neither is woken for what only the other waits on
        lock = threading.RLock()
        self.wakeup = threading.Condition(lock)
        self.reader = Readers(self.streams, self.wakeup, loop=self.opts.loop, limit=self.opts.max_frames,
                              room=threading.Condition(lock), realtime=realtime_files(self.opts))
        self.queue = InferQueue(self.compiled, self.opts.nireq, self.wakeup)
        self._stage_event = False  # a second-stage request finished since the loop last looked
        for stage in self.family.stages:
            stage.stage.listeners.append(self._notify)

    def __iter__(self) -> Generator[Decoded, None, None]:  # (a generator: the runner closes it to stop early)
        self.setup()
        self.start()
        cpu_start = time.thread_time()  # the frames' share of this thread: its consumer's work included
        process_start = time.process_time()  # every thread of the process, decoders' and OpenVINO's too
        try:
            self.metrics.start()
            self.reader.start()
            with self._stop_wakes():
                yield from self._loop()
        finally:
            self.metrics.cpu["main"].add(time.thread_time() - cpu_start)
            self.metrics.cpu["process"].add(time.process_time() - process_start)
            self.shutdown()
        if any(s.failure is not None for s in self.streams):
            raise failures_error(self.streams)

    def _loop(self) -> Iterator[Decoded]:
        """Frames go through four steps, each in input order: submitted to the main model; decoded as soon as
        the main model's answer is there (the family's postprocess, then its second stages start, all of them
        at once); polled as stage requests finish (answers applied, stages that waited on them started);
        emitted once every stage of the frame has answered. So the main model of frame k+2, the re-id of
        frame k+1 and the landmarks of frame k can all be in flight together."""
        reader, queue, wakeup = self.reader, self.queue, self.wakeup
        frames: dict[int, InFlight] = {}
        next_submit = next_decode = next_emit = 0
        staged = bool(self.family.stages)
        # bound on frames between capture and emission: the main model's requests, and a few more to keep
        # the second stages busy
        window = max(2 * queue.size, 4) + (queue.size + 2 if staged else 0)
        while True:
            action = None
            with wakeup:  # (what needs the lock is done here, while it is held: no second round trip for it)
                while action is None:
                    if self.stop is not None and self.stop.requested:
                        raise Interrupted()
                    if queue.error is not None and next_emit >= queue.failed_seq:  # the frames before it are out
                        raise DemoError("inference failed", first_error_line(queue.error)) from queue.error
                    if next_decode < next_submit and (frames[next_decode].skip or queue.ready(next_decode)):
                        action = "decode"
                        state = frames[next_decode]
                        answer = None if state.skip else queue.pop(next_decode)
                    elif self._stage_event:
                        self._stage_event = False
                        action = "poll"
                    elif next_emit < next_decode and frames[next_emit].decoded.done:
                        action = "emit"
                    elif queue.can_submit() and next_submit - next_emit < window and reader.buffered:
                        action = "submit"
                        frame = reader.take()
                        assert frame is not None  # reader.buffered (checked under this lock): a frame is there
                        skip = self.processor.skip(frame)
                        if skip is None:
                            queue.in_flight += 1
                    elif reader.finished and not reader.buffered and next_submit == next_emit:
                        return
                    else:
                        # everything it waits on notifies (a stop request too, see `_stop_wakes`): the time-out
                        # is a safety net only, and waking for nothing costs CPU on slow frames
                        wakeup.wait(STOP_POLL_S)
            if action == "submit":
                assert frame is not None  # taken above, with action set to "submit"
                frames[next_submit] = self._submit(next_submit, frame, skip)
                next_submit += 1
            elif action == "decode":
                self._decode(state, answer)
                next_decode += 1
            elif action == "poll":
                for seq in range(next_emit, next_decode):
                    frames[seq].decoded.poll()
            else:  # emit
                self.metrics.dropped = reader.dropped  # (as of the frame going out: the progress line shows it)
                yield self._emit(frames.pop(next_emit))
                next_emit += 1

    def _submit(self, seq: int, frame: Frame, skip: str | None) -> InFlight:
        t0 = time.perf_counter()
        image = frame.image
        if self.frame_size and (image.shape[1], image.shape[0]) != self.frame_size:
            image = cv2.resize(image, self.frame_size)  # a stream changed size: keep the compiled shape
        elif not self.frame_size:  # frames of many sizes: crop each
            box = self.family.input_crop((image.shape[1], image.shape[0]))
            if box is not None:
                image = np.ascontiguousarray(image[box[1]:box[3], box[0]:box[2]])
        # OpenVINO reads the submitted array in place (no copy): it must outlive the request, even when it is
        # a resized or cropped copy of the frame
        state = InFlight(frame, skip, image, (time.perf_counter() - t0) * 1000.0, seq)
        if skip is None:  # (counted in flight by the loop, under its lock)
            self.queue.submit(seq, image)
        return state

    def _decode(self, state: InFlight, answer: tuple | None) -> None:
        """The family's postprocess (in frame order), then its second stages start. `answer`: the main model's
        (outputs, infer ms), None for a frame it skipped."""
        outputs = None
        if answer is not None:
            outputs, state.timings["infer"] = answer
        state.image = None  # the request is done with it
        t0 = time.perf_counter()
        state.jobs = self.processor.decode(state.frame, outputs, state.skip)
        state.timings["postprocess"] = (time.perf_counter() - t0) * 1000.0
        state.timings.update(self.family.timer.take())

    def _emit(self, state: InFlight) -> Decoded:
        """Stage answers applied in frame order, the family's completion, tracking: the frame as it goes out."""
        frame, jobs = state.frame, state.decoded
        t0 = time.perf_counter()
        result = self.processor.finish(jobs, state.skip)
        timings = {"decode": frame.decode_ms, "preprocess": state.prep_ms, "infer": 0.0, **state.timings,
                   **jobs.timings, **self.family.timer.take()}
        timings["postprocess"] += (time.perf_counter() - t0) * 1000.0  # both halves: decoding and completing
        return Decoded(frame, result, timings)

    @contextmanager
    def _stop_wakes(self):
        """For as long as the loop runs, a stop request wakes it: the signal handler (which may take no lock) writes
        to a pipe, and a thread waiting on the pipe notifies the loop's condition."""
        if self.stop is None:
            yield
            return
        read_end, write_end = os.pipe()

        def relay() -> None:
            while os.read(read_end, 1) == b"s":
                with self.wakeup:
                    self.wakeup.notify_all()

        thread = threading.Thread(target=relay, name="ovdemo-stop", daemon=True)
        thread.start()
        try:
            with self.stop.waking(lambda: os.write(write_end, b"s")):
                yield
        finally:
            os.write(write_end, b"q")  # the relay ends
            thread.join(timeout=5)
            os.close(read_end)
            os.close(write_end)

    def _notify(self) -> None:
        with self.wakeup:
            self._stage_event = True
            self.wakeup.notify_all()

    def shutdown(self) -> None:
        """Stop reading, let requests in flight complete (a server's are cancelled after a signal), let the family
        flush. Runs on every exit path."""
        compiled = [getattr(self, "compiled", None), *(s.stage.compiled for s in self.family.stages)]
        if self.stop is not None and self.stop.requested:
            with suppress(Exception):
                cancel_remote(compiled)
        with suppress(Exception):
            self.reader.stop()
        with suppress(Exception):
            self.queue.wait_all()
        for stage in self.family.stages:  # (an interrupted run may leave a backlog of a stage's work)
            with suppress(Exception):
                stage.stage.wait_all()
        with suppress(Exception):  # the server models' network and server times, for the summary
            self.metrics.remote = server_timings(compiled)
        try:
            self.family.finish()
        finally:
            self.metrics.dropped = self.reader.dropped
            self.metrics.cpu["capture"].add(sum(reader.cpu_s for reader in self.reader.readers))
            self.metrics.cpu["requests"].add(self.queue.cpu_s + sum(s.stage.cpu_s for s in self.family.stages))
            for stream in self.streams:
                self._sum_up(stream)

    def _sum_up(self, stream: Stream) -> None:
        """A stream's damage and its tracker's counts into the metrics."""
        damage, tracking = stream.damage, stream.tracking
        if damage is not None and self.metrics.input_damage is None:
            self.metrics.input_damage = damage
        if tracking is not None and tracking.counter:
            prefix = f"stream {stream.index} " if self.several else ""
            self.metrics.notes += [prefix + note for note in tracking.counter.totals_text()]
