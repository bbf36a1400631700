"""`make bench`: ovdemo pose (human-pose-estimation-0001, OpenPose decoding) against raw OpenVINO async
throughput of the same model, side by side, plus the mean time of each decoding step.

Not a test: it prints numbers. people-detection.264 is 768x432, so the network keeps its own 456x256 input
and the raw and end-to-end numbers run the same network.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from bench_detect import DEVICE, raw_throughput

MODEL = "human-pose-estimation-0001"
PRECISION = "FP16-INT8"


def ovdemo_pose(video: Path, models_dir: Path, *extra: str) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        metrics = Path(tmp) / "metrics.json"
        args = [sys.executable, "-m", "ovdemo", "pose", "-m", MODEL, "--precision", PRECISION, "-i", str(video),
                "--models-dir", str(models_dir), "-d", DEVICE, "--hint", "throughput", "--no-show",
                "--metrics-json", str(metrics)]
        args += [a.replace("{tmp}", tmp) for a in extra]
        subprocess.run(args, check=True, capture_output=True)
        return json.loads(metrics.read_text())


def main() -> None:
    models_dir = Path(os.environ.get("OVDEMO_MODELS_DIR", "../shared/models"))
    videos_dir = Path(os.environ.get("OVDEMO_SAMPLES_DIR", "../shared/videos"))
    xml = models_dir / MODEL / PRECISION / f"{MODEL}.xml"
    video = videos_dir / "people-detection.264"
    if not xml.is_file() or not video.is_file():
        sys.exit(f"bench needs {xml} and {video}: set OVDEMO_MODELS_DIR and OVDEMO_SAMPLES_DIR")
    print(f"{MODEL} {PRECISION} on {DEVICE}, throughput hint, input {video.name} (596 frames, 768x432)")
    raw, nireq = raw_throughput(xml)
    plain = ovdemo_pose(video, models_dir)
    recording = ovdemo_pose(video, models_dir, "--output", "{tmp}/out.mp4")
    rows = [("raw OpenVINO async", raw, f"{nireq} requests"),
            ("ovdemo pose, no output", plain["fps"], f"latency p50 {plain['latency_ms']['p50']:.0f} ms"),
            ("ovdemo pose --output out.mp4", recording["fps"], f"latency p50 {recording['latency_ms']['p50']:.0f} ms")]
    print(f"{'measurement':34} {'FPS':>7} {'ratio':>6}")
    for name, fps, note in rows:
        print(f"{name:34} {fps:7.1f} {fps / raw:6.2f}  {note}")
    stages = plain["stages_ms"]
    print(f"OpenPose decoding, mean per frame: peaks {stages['peaks']:.2f} ms, grouping {stages['grouping']:.2f} ms")
    print("stage means (ms), no-output run:", json.dumps(stages))


if __name__ == "__main__":
    main()
