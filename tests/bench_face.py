"""`make bench`: the face pipeline against raw OpenVINO async throughput of its detector, side by side.

Not a test: it prints numbers. Same device and hint for every measurement:
  1. raw OpenVINO: the face detector alone, AsyncInferQueue at the optimal number of requests, random input;
  2. `ovdemo face` end to end (capture thread, preprocessing, decode, per-face stages) headless, no output:
     detector + landmarks, then detector + landmarks + age-gender + head pose;
  3. the full pipeline on a clip with three faces in every frame (the per-face stages batch them).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from bench_detect import DEVICE, raw_throughput

DETECTOR = "face-detection-retail-0004"


def face_fps(video: Path, models_dir: Path, *extra: str) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        metrics = Path(tmp) / "metrics.json"
        args = [sys.executable, "-m", "ovdemo", "face", "-i", str(video), "--models-dir", str(models_dir),
                "-d", DEVICE, "--hint", "throughput", "--no-show", "--metrics-json", str(metrics), *extra]
        subprocess.run(args, check=True, capture_output=True)
        return json.loads(metrics.read_text())


def main() -> None:
    models_dir = Path(os.environ.get("OVDEMO_MODELS_DIR", "../shared/models"))
    videos_dir = Path(os.environ.get("OVDEMO_SAMPLES_DIR", "../shared/videos"))
    xml = models_dir / DETECTOR / "FP16" / f"{DETECTOR}.xml"
    video = videos_dir / "pointer-demo.mp4"
    group = videos_dir / "preview-face-demographics-walking-and-pause.gif"
    if not xml.is_file() or not video.is_file() or not group.is_file():
        sys.exit(f"bench needs {xml}, {video} and {group}: set OVDEMO_MODELS_DIR and OVDEMO_SAMPLES_DIR")
    print(f"{DETECTOR} FP16 on {DEVICE}, throughput hint; {video.name} (595 frames, 1920x1080, one face) and "
          f"{group.name} looped to 400 frames (480x270, three faces)")
    raw, nireq = raw_throughput(xml)
    attributes = ("--age-gender", "--head-pose")
    runs = [
        ("ovdemo face (landmarks), pointer-demo", face_fps(video, models_dir)),
        ("+ age-gender + head pose, pointer-demo", face_fps(video, models_dir, *attributes)),
        ("+ age-gender + head pose, 3 faces", face_fps(group, models_dir, *attributes, "--loop",
                                                      "--max-frames", "400")),
    ]
    print(f"{'measurement':40} {'FPS':>7} {'ratio':>6}")
    print(f"{'raw OpenVINO async, detector only':40} {raw:7.1f} {1.0:6.2f}  {nireq} requests")
    for name, metrics in runs:
        print(f"{name:40} {metrics['fps']:7.1f} {metrics['fps'] / raw:6.2f}  "
              f"latency p50 {metrics['latency_ms']['p50']:.0f} ms")
    for name, metrics in runs[1:]:
        print(f"stage means (ms), {name}:", json.dumps(metrics["stages_ms"]))


if __name__ == "__main__":
    main()
