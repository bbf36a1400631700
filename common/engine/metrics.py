"""Timing every stage of every frame, and the summary a run ends with."""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from rich.console import Console, JustifyMethod
from rich.table import Table

if TYPE_CHECKING:  # metrics only names the type: importing capture (OpenCV, the catalog) would cost every importer
    from ..io.capture import InputDamage

STAGES = ("decode", "preprocess", "infer", "postprocess", "render", "write")


class StageTimer:
    """Per-frame times of a family's own steps (`with timer("reid"): ...`), merged into the frame's timings
    by the pipeline: the one way a family reports what its steps cost."""

    def __init__(self) -> None:
        self._ms: dict[str, float] = {}

    @contextmanager
    def __call__(self, name: str) -> Iterator[None]:
        started = time.perf_counter()
        try:
            yield
        finally:
            self.add(name, (time.perf_counter() - started) * 1000.0)

    def add(self, name: str, ms: float) -> None:
        self._ms[name] = self._ms.get(name, 0.0) + ms

    def take(self) -> dict[str, float]:
        """This frame's times, emptying the timer for the next frame."""
        taken, self._ms = self._ms, {}
        return taken


class Histogram:
    """Percentiles of a stream of positive numbers in fixed memory: counts in log-spaced bins, each 0.5% wide,
    from 0.01 to 10^6 (ms), so a run of a week keeps as many numbers as a run of a second."""

    LOW, HIGH, BINS = 1e-2, 1e6, 4000

    def __init__(self) -> None:
        self.counts = np.zeros(self.BINS + 2, np.int64)  # with one bin below LOW and one above HIGH
        self._scale = self.BINS / math.log(self.HIGH / self.LOW)
        self.count = 0
        self.total = 0.0
        self.low, self.high = math.inf, -math.inf

    def add(self, value: float) -> None:
        if value < self.LOW:
            k = 0
        elif value >= self.HIGH:
            k = self.BINS + 1
        else:
            k = 1 + int(math.log(value / self.LOW) * self._scale)
        self.counts[k] += 1
        self.count += 1
        self.total += value
        self.low, self.high = min(self.low, value), max(self.high, value)

    @property
    def mean(self) -> float:
        return self.total / self.count if self.count else 0.0

    def percentile(self, q: float) -> float:
        """The q-th percentile (0..100) as numpy's linear method gives it, to within a bin's width."""
        if not self.count:
            return 0.0
        rank = q / 100 * (self.count - 1)
        cumulative = np.cumsum(self.counts)
        lo, hi = (self._value(int(np.searchsorted(cumulative, r, side="right"))) for r in (math.floor(rank),
                                                                                          math.ceil(rank)))
        return lo + (rank - math.floor(rank)) * (hi - lo)

    def absorb(self, other: Histogram) -> None:
        """Another histogram's numbers added to these."""
        self.counts += other.counts
        self.count += other.count
        self.total += other.total
        self.low, self.high = min(self.low, other.low), max(self.high, other.high)

    def _value(self, k: int) -> float:
        """The geometric middle of bin k, within the values seen."""
        if k == 0:
            return self.low
        if k > self.BINS:
            return self.high
        return min(max(self.LOW * math.exp((k - 0.5) / self._scale), self.low), self.high)


class ThreadCpu:
    """CPU time of the threads doing one kind of work (the pipeline's own thread, the capture threads, the request
    waiters), each adding its own: Python reads only the calling thread's clock (`time.thread_time`). What these
    threads spend per frame is the pipeline's own cost, the part a bigger machine does not shrink."""

    def __init__(self) -> None:
        self.seconds = 0.0
        self._lock = threading.Lock()

    def add(self, seconds: float) -> None:
        with self._lock:
            self.seconds += seconds

    def __getstate__(self) -> dict:  # a --workers worker sends its figures to the command's process
        return {"seconds": self.seconds}

    def __setstate__(self, state: dict) -> None:
        self.seconds, self._lock = state["seconds"], threading.Lock()


# the pipeline's threads, and the whole process: besides them, OpenVINO's inference threads and the decoder's own
# (FFmpeg decodes a video on threads of its own: the capture thread's figure is only its part)
THREAD_ROLES = ("main", "capture", "requests", "process")
RECENT = 30  # frames the live figures (FPS, a browser view's stage times) are taken over


class Metrics:
    """A run's figures, kept in bounded space whatever its length: running sums for the means, a fixed
    histogram for the latency percentiles."""

    def __init__(self) -> None:
        self.stage_ms: dict[str, list[float]] = {s: [0.0, 0] for s in STAGES}  # stage -> [total ms, frames]
        self.latency = Histogram()
        self.frames = 0
        self.dropped = 0
        self.fitted = 0  # frames of another size fitted into the output video
        self.input_damage: InputDamage | None = None  # a file input that gave fewer frames than it promised
        self.device = "?"
        self.interrupted = False
        self.started: float | None = None
        self.finished: float | None = None
        self.notes: list[str] = []  # the run's own totals (line and zone counts), shown with the summary
        self.streams: list[StreamFigures] = []  # one row per input, set when the run ends
        self.remote: list[dict] = []  # per model on a server: requests, round trip, server and network ms
        self.cpu = {role: ThreadCpu() for role in THREAD_ROLES}
        self._recent: deque[float] = deque(maxlen=RECENT)  # completion times for the live FPS
        self.recent_timings: deque[tuple[dict[str, float], float]] = deque(maxlen=RECENT)  # for live views

    def start(self) -> None:
        self.started = time.perf_counter()

    def record(self, timings: dict[str, float], latency_ms: float) -> None:
        for stage, ms in timings.items():
            sums = self.stage_ms.setdefault(stage, [0.0, 0])  # families add their own steps
            sums[0] += ms
            sums[1] += 1
        self.latency.add(latency_ms)
        self.recent_timings.append((timings, latency_ms))
        self.frames += 1
        now = time.perf_counter()
        self._recent.append(now)
        self.finished = now

    def absorb(self, other: Metrics) -> None:
        """Another process's figures of the same command (--workers) added to these: frames, stage times and
        latencies summed, the wall time spanning both, stream rows in stream order."""
        for stage, (total, n) in other.stage_ms.items():
            sums = self.stage_ms.setdefault(stage, [0.0, 0])
            sums[0] += total
            sums[1] += n
        self.latency.absorb(other.latency)
        self.frames += other.frames
        self.dropped += other.dropped
        self.fitted += other.fitted
        self.input_damage = self.input_damage or other.input_damage
        self.device = other.device if self.device == "?" else self.device
        self.interrupted = self.interrupted or other.interrupted
        starts = [t for t in (self.started, other.started) if t is not None]  # (one clock for every process)
        ends = [t for t in (self.finished, other.finished) if t is not None]
        self.started, self.finished = min(starts, default=None), max(ends, default=None)
        self.notes += other.notes
        self.streams = sorted([*self.streams, *other.streams], key=lambda row: row.index)
        self.remote += other.remote
        for role, cpu in other.cpu.items():
            self.cpu[role].add(cpu.seconds)

    @property
    def wall_s(self) -> float:
        if self.started is None:
            return 0.0
        return (self.finished or time.perf_counter()) - self.started

    @property
    def fps(self) -> float:
        return self.frames / self.wall_s if self.wall_s > 0 else 0.0

    def live_fps(self) -> float:
        if len(self._recent) < 2:
            return 0.0
        span = self._recent[-1] - self._recent[0]
        return (len(self._recent) - 1) / span if span > 0 else 0.0

    def summary(self) -> dict:
        lat = self.latency
        damage = self.input_damage
        return {
            "frames": self.frames,
            "wall_s": round(self.wall_s, 3),
            "fps": round(self.fps, 2),
            "latency_ms": {
                "mean": round(lat.mean, 2),
                "p50": round(lat.percentile(50), 2),
                "p95": round(lat.percentile(95), 2),
            },
            "stages_ms": {s: round(total / n, 3) if n else None for s, (total, n) in self.stage_ms.items()},
            "cpu_ms_per_frame": {role: round(cpu.seconds * 1000.0 / self.frames, 3) if self.frames else None
                                 for role, cpu in self.cpu.items()},
            "dropped": self.dropped,
            "fitted": self.fitted,
            "input_complete": damage is None,
            **({"input_damage": {"frames_read": damage.read, "frames_expected": damage.expected,
                                 "first_bad_frame": damage.first_bad, "what": damage.what}} if damage else {}),
            "device": self.device,
            "interrupted": self.interrupted,
            **({"notes": self.notes} if self.notes else {}),
            **({"streams": [row.summary() for row in self.streams]} if self.streams else {}),
            **({"remote": self.remote} if self.remote else {}),
        }

    def print_summary(self, console: Console) -> None:
        s = self.summary()
        table = Table(title="ovdemo summary", show_header=False, title_justify="left")
        table.add_column("metric", style="bold")
        table.add_column("value", justify="right")
        table.add_row("frames", str(s["frames"]) + (" (interrupted)" if s["interrupted"] else ""))
        lat = s["latency_ms"]
        if s["frames"] > 1:
            table.add_row("wall time", f"{s['wall_s']:.2f} s")
            table.add_row("throughput", f"{s['fps']:.1f} FPS")
            table.add_row("latency mean / p50 / p95", f"{lat['mean']:.1f} / {lat['p50']:.1f} / {lat['p95']:.1f} ms")
        else:  # one frame (an image): its latency is the figure; a rate of one frame says nothing
            table.add_row("latency", f"{lat['mean']:.1f} ms")
        for stage, ms in s["stages_ms"].items():
            if ms is not None:  # (a stage no frame went through is no row)
                table.add_row(f"  {stage}", f"{ms:.2f} ms")
        if s["frames"] > 1 or s["dropped"]:
            table.add_row("frames dropped", str(s["dropped"]))
        if s["fitted"]:
            table.add_row("frames fitted (letterboxed)", str(s["fitted"]))
        if not s["input_complete"]:
            d = s["input_damage"]
            table.add_row("input incomplete", f"{d['frames_read']} of {d['frames_expected']} frames, first bad at "
                          f"{d['first_bad_frame']}")
        table.add_row("device", s["device"])
        for row in self.remote:
            table.add_row(f"{row['name']} on the server", f"{row['requests']} requests")  # (its URL: the header's)
            if row["round_trip_ms"] is not None:
                table.add_row("  round trip", f"{row['round_trip_ms']:.2f} ms")
            if row["server_ms"] is not None:
                table.add_row("  on the server / network and client", f"{row['server_ms']:.2f} / "
                              f"{row['network_ms']:.2f} ms")
        for note in self.notes:
            name, _, value = note.partition(": ")
            table.add_row(name, value)
        console.print(table)
        if len(self.streams) > 1:
            console.print(streams_table(self.streams, s))


@dataclass
class StreamFigures:
    """One input's row of the summary: its own frames, throughput and latency, and how it ended."""

    index: int
    source: str
    metrics: Metrics
    dropped: int
    damage: InputDamage | None
    failure: str | None  # why it ended early (it did not open, or its reader failed)

    def summary(self) -> dict:
        m, lat, damage = self.metrics, self.metrics.latency, self.damage
        return {
            "stream": self.index, "source": self.source, "frames": m.frames, "fps": round(m.fps, 2),
            "latency_ms": {"mean": round(lat.mean, 2), "p50": round(lat.percentile(50), 2),
                           "p95": round(lat.percentile(95), 2)},
            "dropped": self.dropped, "input_complete": damage is None,
            **({"input_damage": {"frames_read": damage.read, "frames_expected": damage.expected,
                                 "first_bad_frame": damage.first_bad, "what": damage.what}} if damage else {}),
            "failed": self.failure,
        }


def streams_table(rows: list[StreamFigures], total: dict) -> Table:
    """Several streams: a row each, then the total."""
    table = Table(title="per stream (latency in ms; sources in full in the header)", title_justify="left")
    columns: tuple[tuple[str, JustifyMethod], ...] = (
        ("stream", "right"), ("source", "left"), ("frames", "right"), ("FPS", "right"), ("p50", "right"),
        ("p95", "right"), ("dropped", "right"), ("ended", "left"))
    for name, justify in columns:
        # no cell wraps: a narrow terminal cuts a long source name short (…) rather than fold it over rows
        table.add_column(name, justify=justify, no_wrap=True, overflow="ellipsis")
    for row in rows:
        s = row.summary()
        ended = "failed" if s["failed"] else "incomplete" if not s["input_complete"] else "ok"
        table.add_row(str(s["stream"]), short_source(s["source"]), str(s["frames"]), f"{s['fps']:.1f}",
                      f"{s['latency_ms']['p50']:.0f}", f"{s['latency_ms']['p95']:.0f}", str(s["dropped"]), ended)
    lat = total["latency_ms"]
    table.add_row("all", "", str(total["frames"]), f"{total['fps']:.1f}", f"{lat['p50']:.0f}", f"{lat['p95']:.0f}",
                  str(total["dropped"]), "", style="bold")
    return table


def short_source(source: str) -> str:
    """A stream's source as its row names it: a path or a URL by its last part (the header names it whole)."""
    return source.rstrip("/").rsplit("/", 1)[-1] or source
