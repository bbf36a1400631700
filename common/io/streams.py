"""Several inputs in one run (`-i` given more than once): each read on its own thread, their frames interleaved
through the pipeline's one request queue, and everything kept between frames kept per stream.

A stream is one input: its index (the order of `-i` on the command line, from 0), its source, its reader
thread, and the pipeline's state that belongs to it (the tracker with its lines and zones, the last result
--infer-every carries over). A stream that cannot be opened, or fails while it is read, ends alone: the
others run to their end and the run reports it then (a single input fails as it always did).
"""

from __future__ import annotations

import threading
from collections.abc import Collection, Sequence
from dataclasses import dataclass

from ..errors import DemoError
from ..results import Result
from ..tracking.tracker import Tracking
from .capture import FILE_BUFFER, Frame, FrameReader, InputDamage, InputSpec, Source, open_source, resolve_input


def input_list(given: str | Sequence[str]) -> list[str]:
    """-i as a list: the command line gives a tuple, the Python API a string or a list."""
    items = [given] if isinstance(given, str) else [str(g) for g in given]
    if not items:
        raise DemoError("no input given", "pass -i SOURCE (several times for several streams)")
    return items


def resolve_inputs(given: str | Sequence[str], offline: bool = False) -> list[InputSpec]:
    """Every -i resolved before anything is opened (files known, samples fetched)."""
    return [resolve_input(item, offline) for item in input_list(given)]


@dataclass
class Stream:
    """One input of the run and what the pipeline keeps for it."""

    index: int
    spec: InputSpec
    source: Source | None = None  # None: it could not be opened (see `error`)
    reader: FrameReader | None = None
    error: DemoError | None = None  # why it could not be opened
    tracking: Tracking | None = None  # --track: ids, lines, zones and MOT file of its own
    last: Result | None = None  # its latest result of a frame the main model saw (--infer-every)
    elsewhere: bool = False  # run by another process of the command (--workers): not opened here

    @property
    def name(self) -> str:
        return self.source.name if self.source is not None else self.spec.name

    @property
    def failure(self) -> DemoError | None:
        """Why the stream ended early: it did not open, or its reader failed."""
        if self.error is not None:
            return self.error
        return self.reader.error if self.reader is not None else None

    @property
    def damage(self) -> InputDamage | None:
        return self.reader.damage if self.reader is not None else None


def open_streams(specs: Sequence[InputSpec], offline: bool = False,
                 mine: Collection[int] | None = None) -> list[Stream]:
    """Open every input (of those in `mine`, when this process runs only some of them: the others are kept,
    unopened, under their numbers). One input that cannot be opened is the run's error, as always; among
    several, it is that stream's failure (reported at the end) unless none opens."""
    streams = []
    for index, spec in enumerate(specs):
        if mine is not None and index not in mine:
            streams.append(Stream(index, spec, elsewhere=True))
            continue
        try:
            streams.append(Stream(index, spec, open_source(spec, offline)))
        except DemoError as e:
            if len(specs) == 1:
                raise
            streams.append(Stream(index, spec, error=e))
    if all(s.source is None for s in streams if not s.elsewhere):
        raise failures_error(streams, "none of them could be opened")
    return streams


def common_frame_size(streams: Sequence[Stream]) -> tuple[int, int] | None:
    """The frame size every open stream promises, when they agree: the main model compiles for it (None: one
    model for frames of any size)."""
    sizes = {s.source.frame_size for s in streams if s.source is not None}
    return sizes.pop() if len(sizes) == 1 else None


def failures_error(streams: Sequence[Stream], hint: str = "the other streams ran to their end") -> DemoError:
    """One line naming every stream that failed and why."""
    failed = [s for s in streams if s.failure is not None]
    if len(streams) == 1:
        return failed[0].failure
    text = "; ".join(f"stream {s.index} ({s.spec.name}) failed: {s.failure}" for s in failed)
    return DemoError(text, hint)


class Readers:
    """The reader threads of every open stream, seen by the pipeline as one source of frames. Frames are taken
    from the streams in turn (each stream's own in order), so none waits behind another. Call the methods that
    read the buffers with `wakeup` held."""

    def __init__(self, streams: Sequence[Stream], wakeup: threading.Condition, loop: bool, limit: int | None,
                 room: threading.Condition | None = None, realtime: bool = False):
        self.streams = [s for s in streams if s.source is not None]
        # files read ahead into a buffer each; several streams share what one would hold, so the frames waiting
        # (and so the latency from capture to output) do not grow with the number of streams
        files = None if len(self.streams) == 1 else max(2, FILE_BUFFER // len(self.streams))
        for s in self.streams:
            s.reader = FrameReader(s.source, wakeup, loop=loop, limit=limit, stream=s.index,
                                   capacity=None if s.source.live else files, room=room, realtime=realtime)
        self._turn = 0

    def start(self) -> None:
        for s in self.streams:
            s.reader.start()

    def stop(self) -> None:
        for s in self.streams:
            s.reader.stop()

    @property
    def buffered(self) -> bool:
        return any(s.reader.buffer for s in self.streams)

    @property
    def finished(self) -> bool:
        return all(s.reader.finished for s in self.streams)

    @property
    def dropped(self) -> int:
        return sum(s.reader.dropped for s in self.streams)

    def take(self) -> Frame | None:
        """The next frame of the next stream (in turn) that has one buffered."""
        count = len(self.streams)
        for step in range(count):
            stream = self.streams[(self._turn + step) % count]
            if stream.reader.buffer:
                self._turn = (self._turn + step + 1) % count
                return stream.reader.take()
        return None
