"""Soak benchmark (`make soak`, not a unit test): does a long run keep its memory flat?

Runs `ovdemo <family>` on a short video replayed with --loop for a fixed number of frames, writing the annotated
video and JSON lines (to stdout, where this script counts the frames), and samples the process's resident memory
every SOAK_EVERY frames. Prints the samples and the slope of a straight line fitted to them after the warm-up:
it must stay under 1 MB per 100,000 frames.

Environment: SOAK_FRAMES (100000), SOAK_EVERY (2000), SOAK_WARMUP (10000), SOAK_FAMILY (detect), SOAK_MODEL (a
model of that family; default: a tiny synthetic detector, so that 100,000 frames take minutes, not hours),
SOAK_ARGS (more flags, e.g. "--track"). Real models come from OVDEMO_MODELS_DIR as usual.
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/: synthetic.py
from synthetic import brightness_probe  # noqa: E402

LIMIT_MB_PER_100K = 1.0


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


def clip(path: Path, frames: int = 50, size=(320, 180)) -> Path:
    """A short video of a moving bright square on a dark ramp, written by ovdemo's own encoder."""
    from ovdemo.common.io.video import open_encoder

    encoder = open_encoder(path, ".mp4", 25.0, size, print)
    for k in range(frames):
        image = np.tile(np.linspace(0, 120, size[0], dtype=np.uint8)[None, :, None], (size[1], 1, 3))
        x = 10 + 4 * k
        cv2.rectangle(image, (x, 40), (x + 60, 140), (230, 230, 230), -1)
        encoder.write(image)
    encoder.close()
    return path


def slope_per_100k(samples: list[tuple[int, float]]) -> float:
    frames, mb = np.array(samples, np.float64).T
    return float(np.polyfit(frames, mb, 1)[0] * 100_000)


def main() -> int:
    work = Path(tempfile.mkdtemp(prefix="ovdemo-soak-"))
    try:
        return soak(work)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def soak(work: Path) -> int:
    total = int(os.environ.get("SOAK_FRAMES", 100_000))
    every = int(os.environ.get("SOAK_EVERY", 2000))
    warmup = int(os.environ.get("SOAK_WARMUP", 10_000))
    family = os.environ.get("SOAK_FAMILY", "detect")
    model = os.environ.get("SOAK_MODEL") or str(brightness_probe(work / "probe.xml"))
    video = clip(work / "loop.mp4")
    command = [sys.executable, "-m", "ovdemo", family, "-m", model, "-i", str(video), "--loop",
               "--max-frames", str(total), "--no-show", "--json", "-", "-o", str(work / "out.mp4"),
               *shlex.split(os.environ.get("SOAK_ARGS", ""))]
    print(f"soak: {shlex.join(command)}", flush=True)
    started = time.monotonic()
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, bufsize=1)
    samples: list[tuple[int, float]] = []
    count = 0
    for _ in proc.stdout:
        count += 1
        if count % every == 0:
            samples.append((count, rss_mb(proc.pid)))
            if count % (every * 5) == 0:
                print(f"  {count:>7} frames  {samples[-1][1]:7.1f} MB  {count / (time.monotonic() - started):6.0f} FPS",
                      flush=True)
    _, stderr = proc.communicate()
    if proc.returncode != 0 or count != total:
        print(f"soak: the run ended with code {proc.returncode} after {count} frames\n{stderr}", file=sys.stderr)
        return 1
    kept = [s for s in samples if s[0] > warmup]
    slope = slope_per_100k(kept)
    growth = kept[-1][1] - kept[0][1]
    print(f"soak: {count} frames in {time.monotonic() - started:.0f} s; resident memory {kept[0][1]:.1f} MB after "
          f"warm-up ({warmup} frames), {kept[-1][1]:.1f} MB at the end ({growth:+.1f} MB)")
    print(f"soak: slope {slope:+.3f} MB per 100,000 frames (limit {LIMIT_MB_PER_100K} MB): "
          f"{'flat' if slope < LIMIT_MB_PER_100K else 'GROWING'}")
    return 0 if slope < LIMIT_MB_PER_100K else 1


if __name__ == "__main__":
    sys.exit(main())
