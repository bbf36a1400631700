"""`make bench`: several ovdemo processes on one machine. Target: two processes with `--nthreads 1` run together
at 1.7x or more of one alone (on 2 cores).

Not a test: it prints numbers. Every process runs `detect` on person-detection-0202 over FRAMES frames
(BENCH_PROCS_FRAMES) of people-detection.264, looped, headless, no output; a process's figure is its own FPS
(--metrics-json), processes run together add theirs up. Rows, taken in turn BENCH_ROUNDS times (medians):
  1. one process, --nthreads 1, alone;
  2. two such processes at once, on the cores their mask gives them (neither owns the machine, so neither pins
     its thread: left to OpenVINO's default, both would pin onto the first core);
  3. one alone on one core (--cpus), and two at once, each given its own core with --cpus;
  4. two streams in one process, and the same two streams in --workers 2 (each worker on half the cores).
With N cores and more, the same rows show whether N processes scale (BENCH_PROCS=N sets how many run together).
Each row also gives the CPU per frame of a process (--metrics-json's cpu_ms_per_frame: the whole process, which
counts OpenVINO's inference thread and FFmpeg's decoding threads, then the pipeline's main, capture and request
threads) and the cores the row kept busy. One process alone that keeps C cores busy bounds N processes on K cores
at K / C times one alone: the last line prints that bound, so a row short of 1.7x says whether the cores ran out
(the process does more than inference: decoding alone is some 3 ms of CPU a frame here) or something else held it.
One process of one inference thread takes about 26 ms of CPU a frame in all its threads (about 1.05 cores at
its 41 FPS on an idle core pair here), so two fit on 2 cores; on a machine other work shares, every row moves
with that work (the ranges printed say how much).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import NamedTuple

import benchlib

from ovdemo.common.engine.cpus import describe, split

MODEL = "person-detection-0202"
VIDEO = "people-detection.264"
FRAMES = int(os.environ.get("BENCH_PROCS_FRAMES", "300"))
CORES = sorted(os.sched_getaffinity(0))
PROCS = int(os.environ.get("BENCH_PROCS", "2"))


class Together(NamedTuple):
    fps: float  # the processes' FPS added up
    cpu_ms: dict[str, float]  # CPU per frame by role (--metrics-json's cpu_ms_per_frame), mean over the processes
    cores: float  # cores the processes kept busy together: each one's whole-process CPU per frame times its FPS


def together(*flag_sets: tuple[str, ...]) -> Together:
    """Processes started at once, one per flag set: their FPS added up, and their CPU."""
    with tempfile.TemporaryDirectory() as tmp:
        runs = []
        for n, flags in enumerate(flag_sets):
            metrics = Path(tmp) / f"metrics{n}.json"
            cmd = [sys.executable, "-m", "ovdemo", "detect", "-m", MODEL, "--models-dir", str(benchlib.models_dir()),
                   "-d", benchlib.DEVICE, "--hint", "throughput", "--no-show", "--loop", "--max-frames", str(FRAMES),
                   "--metrics-json", str(metrics), *flags]
            runs.append((cmd, metrics, subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                                         text=True)))
        total, cores, cpus = 0.0, 0.0, []
        for cmd, metrics, proc in runs:
            _, stderr = proc.communicate()
            if proc.returncode != 0:
                sys.exit(f"{' '.join(cmd)} failed ({proc.returncode}):\n{stderr.strip()}")
            figures = json.loads(metrics.read_text())
            cpu = {role: ms or 0.0 for role, ms in figures["cpu_ms_per_frame"].items()}
            total += figures["fps"]
            cores += cpu.get("process", 0.0) * figures["fps"] / 1000.0
            cpus.append(cpu)
        return Together(total, {role: sum(c[role] for c in cpus) / len(cpus) for role in cpus[0]}, cores)


def main() -> None:
    video = benchlib.videos_dir() / VIDEO
    benchlib.require_files(benchlib.model_xml(MODEL), video)
    one = ("-i", str(video), "--nthreads", "1")
    shares = [describe(share) for share in split(CORES, PROCS)] if len(CORES) >= PROCS else []
    rows = [("1 process, --nthreads 1", lambda: together(one)),
            (f"{PROCS} processes, --nthreads 1, at once", lambda: together(*[one] * PROCS))]
    if shares:
        rows += [(f"1 process, --nthreads 1, --cpus {shares[0]}", lambda: together((*one, "--cpus", shares[0]))),
                 (f"{PROCS} processes, --nthreads 1, --cpus {' / '.join(shares)}",
                  lambda: together(*[(*one, "--cpus", share) for share in shares]))]
    streams = ("-i", str(video), "-i", str(video))
    rows += [("2 streams, 1 process", lambda: together(streams)),
             ("2 streams, --workers 2", lambda: together((*streams, "--workers", "2")))]
    print(f"\n{MODEL} on {VIDEO} ({FRAMES} frames a process; {len(CORES)} cores): processes side by side")
    figures = benchlib.side_by_side(*(measure for _, measure in rows))
    width = max(len(label) for label, _ in rows)
    print(f"{'measurement':{width}} {'FPS':>7} {'x one':>6} {'cores':>5}  CPU ms per frame of a process: whole "
          f"process (inference, FFmpeg's decoding threads...), main, capture, requests")
    for (label, _), run in zip(rows, figures, strict=True):
        cpu = run.cpu_ms
        print(f"{label:{width}} {run.fps:7.1f} {run.fps / figures[0].fps:6.2f} {run.cores:5.2f}  "
              f"{cpu.get('process', 0.0):.2f}, {cpu['main']:.2f}, {cpu['capture']:.2f}, {cpu['requests']:.2f}")
    # processes that each keep more than one core busy alone cannot all run at full speed on the cores there are
    alone = figures[0]
    if alone.cores > 0:
        bound = min(PROCS, len(CORES) / alone.cores)
        print(f"one process alone keeps {alone.cores:.2f} cores busy ({alone.cpu_ms.get('process', 0.0):.1f} ms of "
              f"CPU a frame at {alone.fps:.1f} FPS): {PROCS} at once on {len(CORES)} cores can reach at most "
              f"{bound:.2f}x one alone")


if __name__ == "__main__":
    main()
