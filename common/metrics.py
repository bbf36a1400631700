"""Timing every stage of every frame, and the summary a run ends with."""

from __future__ import annotations

import json
import time
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.table import Table

STAGES = ("decode", "preprocess", "infer", "postprocess", "render", "write")


class StageTimer:
    """Per-frame times of a family's own steps (`with timer("reid"): ...`), merged into the frame's timings
    by the pipeline: the one way a family reports what its steps cost."""

    def __init__(self):
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


class Metrics:
    def __init__(self):
        self.stage_ms: dict[str, list[float]] = {s: [] for s in STAGES}
        self.latency_ms: list[float] = []
        self.frames = 0
        self.dropped = 0
        self.device = "?"
        self.interrupted = False
        self.started: float | None = None
        self.finished: float | None = None
        self.notes: list[str] = []  # the run's own totals (line and zone counts), shown with the summary
        self._recent = deque(maxlen=30)  # completion times for the live FPS

    def start(self) -> None:
        self.started = time.perf_counter()

    def record(self, timings: dict[str, float], latency_ms: float) -> None:
        for stage, ms in timings.items():
            self.stage_ms.setdefault(stage, []).append(ms)  # families add their own steps
        self.latency_ms.append(latency_ms)
        self.frames += 1
        now = time.perf_counter()
        self._recent.append(now)
        self.finished = now

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
        lat = np.asarray(self.latency_ms) if self.latency_ms else np.zeros(1)
        return {
            "frames": self.frames,
            "wall_s": round(self.wall_s, 3),
            "fps": round(self.fps, 2),
            "latency_ms": {
                "mean": round(float(lat.mean()), 2),
                "p50": round(float(np.percentile(lat, 50)), 2),
                "p95": round(float(np.percentile(lat, 95)), 2),
            },
            "stages_ms": {s: round(float(np.mean(v)), 3) if v else None for s, v in self.stage_ms.items()},
            "dropped": self.dropped,
            "device": self.device,
            "interrupted": self.interrupted,
            **({"notes": self.notes} if self.notes else {}),
        }

    def print_summary(self, console: Console) -> None:
        s = self.summary()
        table = Table(title="ovdemo summary", show_header=False, title_justify="left")
        table.add_column("metric", style="bold")
        table.add_column("value", justify="right")
        table.add_row("frames", str(s["frames"]) + (" (interrupted)" if s["interrupted"] else ""))
        table.add_row("wall time", f"{s['wall_s']:.2f} s")
        table.add_row("throughput", f"{s['fps']:.1f} FPS")
        lat = s["latency_ms"]
        table.add_row("latency mean / p50 / p95", f"{lat['mean']:.1f} / {lat['p50']:.1f} / {lat['p95']:.1f} ms")
        for stage, ms in s["stages_ms"].items():
            table.add_row(f"  {stage}", "-" if ms is None else f"{ms:.2f} ms")
        table.add_row("frames dropped", str(s["dropped"]))
        table.add_row("device", s["device"])
        for note in self.notes:
            name, _, value = note.partition(": ")
            table.add_row(name, value)
        console.print(table)

    def write_json(self, path: Path) -> None:
        tmp = path.with_name(path.name + ".part")
        tmp.write_text(json.dumps(self.summary(), indent=2) + "\n", encoding="utf-8")
        tmp.replace(path)
