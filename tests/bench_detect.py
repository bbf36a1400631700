"""`make bench`: ovdemo detect against raw OpenVINO async throughput of the same model, side by side.

Not a test: it prints numbers. Same device and hint for all three measurements:
  1. raw OpenVINO: AsyncInferQueue at the optimal number of requests, random input, no pipeline;
  2. `ovdemo detect` end to end (capture thread, preprocessing, decode) headless, no output;
  3. the same while recording --output out.mp4.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import openvino as ov
import openvino.properties.hint as hints

MODEL = "person-detection-0202"
DEVICE = os.environ.get("BENCH_DEVICE", "CPU")


def raw_throughput(xml: Path, seconds: float = 15.0) -> tuple[float, int]:
    core = ov.Core()
    compiled = core.compile_model(str(xml), DEVICE, {hints.performance_mode: hints.PerformanceMode.THROUGHPUT})
    queue = ov.AsyncInferQueue(compiled, 0)
    data = np.random.default_rng(0).uniform(0, 255, tuple(compiled.input(0).shape)).astype(np.float32)
    for _ in range(len(queue)):  # warm-up
        queue.start_async({0: data})
    queue.wait_all()
    count, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        queue.start_async({0: data})
        count += 1
    queue.wait_all()
    return count / (time.perf_counter() - start), len(queue)


def ovdemo_fps(video: Path, models_dir: Path, *extra: str) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        metrics = Path(tmp) / "metrics.json"
        args = [sys.executable, "-m", "ovdemo", "detect", "-m", MODEL, "-i", str(video), "--models-dir",
                str(models_dir), "-d", DEVICE, "--hint", "throughput", "--no-show", "--metrics-json", str(metrics)]
        args += [a.replace("{tmp}", tmp) for a in extra]
        subprocess.run(args, check=True, capture_output=True)
        return json.loads(metrics.read_text())


def main() -> None:
    models_dir = Path(os.environ.get("OVDEMO_MODELS_DIR", "../shared/models"))
    videos_dir = Path(os.environ.get("OVDEMO_SAMPLES_DIR", "../shared/videos"))
    xml = models_dir / MODEL / "FP16" / f"{MODEL}.xml"
    video = videos_dir / "people-detection.264"
    if not xml.is_file() or not video.is_file():
        sys.exit(f"bench needs {xml} and {video}: set OVDEMO_MODELS_DIR and OVDEMO_SAMPLES_DIR")
    print(f"{MODEL} FP16 on {DEVICE}, throughput hint, input {video.name} (596 frames, 768x432)")
    raw, nireq = raw_throughput(xml)
    plain = ovdemo_fps(video, models_dir)
    recording = ovdemo_fps(video, models_dir, "--output", "{tmp}/out.mp4")
    rows = [("raw OpenVINO async", raw, f"{nireq} requests"),
            ("ovdemo detect, no output", plain["fps"], f"latency p50 {plain['latency_ms']['p50']:.0f} ms"),
            ("ovdemo detect --output out.mp4", recording["fps"],
             f"latency p50 {recording['latency_ms']['p50']:.0f} ms")]
    print(f"{'measurement':34} {'FPS':>7} {'ratio':>6}")
    for name, fps, note in rows:
        print(f"{name:34} {fps:7.1f} {fps / raw:6.2f}  {note}")
    print("stage means (ms), recording run:", json.dumps(recording["stages_ms"]))


if __name__ == "__main__":
    main()
