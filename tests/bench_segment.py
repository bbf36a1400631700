"""`make bench`: ovdemo segment against raw OpenVINO async throughput of the same model, side by side.

Not a test: it prints numbers. Same device and hint for all three measurements:
  1. raw OpenVINO: AsyncInferQueue at the optimal number of requests, random input, no pipeline
     (bench_detect's measurement, reused);
  2. `ovdemo segment` end to end (capture thread, preprocessing, argmax, resize to the frame) headless, no output;
  3. the same while recording --output out.mp4: adds the palette blend and legend (the `blend` step) and encoding.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from bench_detect import DEVICE, raw_throughput

MODEL = "road-segmentation-adas-0001"


def ovdemo_fps(video: Path, models_dir: Path, *extra: str) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        metrics = Path(tmp) / "metrics.json"
        args = [sys.executable, "-m", "ovdemo", "segment", "-m", MODEL, "-i", str(video), "--models-dir",
                str(models_dir), "-d", DEVICE, "--hint", "throughput", "--no-show", "--metrics-json", str(metrics)]
        args += [a.replace("{tmp}", tmp) for a in extra]
        subprocess.run(args, check=True, capture_output=True)
        return json.loads(metrics.read_text())


def main() -> None:
    models_dir = Path(os.environ.get("OVDEMO_MODELS_DIR", "../shared/models"))
    videos_dir = Path(os.environ.get("OVDEMO_SAMPLES_DIR", "../shared/videos"))
    xml = models_dir / MODEL / "FP16" / f"{MODEL}.xml"
    video = videos_dir / "car-detection.mp4"
    if not xml.is_file() or not video.is_file():
        sys.exit(f"bench needs {xml} and {video}: set OVDEMO_MODELS_DIR and OVDEMO_SAMPLES_DIR")
    print(f"{MODEL} FP16 on {DEVICE}, throughput hint, input {video.name} (377 frames, 768x432)")
    raw, nireq = raw_throughput(xml)
    plain = ovdemo_fps(video, models_dir)
    recording = ovdemo_fps(video, models_dir, "--output", "{tmp}/out.mp4")
    rows = [("raw OpenVINO async", raw, f"{nireq} requests"),
            ("ovdemo segment, no output", plain["fps"], f"latency p50 {plain['latency_ms']['p50']:.0f} ms"),
            ("ovdemo segment --output out.mp4", recording["fps"],
             f"latency p50 {recording['latency_ms']['p50']:.0f} ms")]
    print(f"{'measurement':34} {'FPS':>7} {'ratio':>6}")
    for name, fps, note in rows:
        print(f"{name:34} {fps:7.1f} {fps / raw:6.2f}  {note}")
    stages = recording["stages_ms"]
    print(f"blend step (palette blend of the class map, recording run): {stages['blend']:.2f} ms per frame; "
          f"render (blend + legend + status): {stages['render']:.2f} ms; postprocess (resize to frame): "
          f"{stages['postprocess']:.2f} ms")
    print("stage means (ms), recording run:", json.dumps(stages))


if __name__ == "__main__":
    main()
