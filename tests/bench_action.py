"""`make bench`: ovdemo action end to end against raw OpenVINO async throughput of its main model, side by side.

Not a test: it prints numbers. Two runs, same device and throughput hint for every measurement:
  1. person-detection-action-recognition-0005 (real) on preview-classroom.gif, looped to 300 frames;
  2. the encoder/decoder path: no action-recognition-0001 encoder is on disk here, so the synthetic pair of
     tests/test_action.py (the real stage names and shapes: [1,3,224,224] -> [1,512,1,1], [1,16,512] -> [1,400];
     a near-free encoder) on 96x64 PNG frames, looped to 300 frames. Its raw encoder figure shows the
     pipeline's own ceiling (capture, crop, decoder every frame, JSON-free render), not a real encoder's speed;
  3. a clip model: no asl-recognition-0004 is on disk here either, so the synthetic one of tests/test_action_clip.py
     ([1,3,16,224,224] -> [1,100], near-free) on asl-hungry.mkv (640x480, 30 FPS) looped to 300 frames: every 2nd
     frame is prepared (15 FPS sampling) and the clip model runs on each, 150 clips. Its raw figure is clips/s.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from bench_detect import DEVICE, raw_throughput
from test_action import build_composite, write_frames
from test_action_clip import build_clip_model

DETECTOR = "person-detection-action-recognition-0005"


def action_fps(models_dir: Path, *args: str) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        metrics = Path(tmp) / "metrics.json"
        cmd = [sys.executable, "-m", "ovdemo", "action", *args, "--models-dir", str(models_dir), "--offline",
               "-d", DEVICE, "--hint", "throughput", "--no-show", "--loop", "--max-frames", "300",
               "--metrics-json", str(metrics)]
        subprocess.run(cmd, check=True, capture_output=True)
        return json.loads(metrics.read_text())


def report(title: str, raw: float, nireq: int, run: dict, raw_label: str = "raw OpenVINO async (main model)") -> None:
    print(title)
    print(f"  {raw_label:34} {raw:7.1f} FPS  {nireq} requests")
    print(f"  {'ovdemo action end to end':34} {run['fps']:7.1f} FPS  ratio {run['fps'] / raw:.2f}  "
          f"latency p50 {run['latency_ms']['p50']:.0f} ms")
    print("  stage means (ms):", json.dumps(run["stages_ms"]))


def main() -> None:
    models_dir = Path(os.environ.get("OVDEMO_MODELS_DIR", "../shared/models"))
    videos_dir = Path(os.environ.get("OVDEMO_SAMPLES_DIR", "../shared/videos"))
    xml = models_dir / DETECTOR / "FP16" / f"{DETECTOR}.xml"
    video = videos_dir / "preview-classroom.gif"
    if not xml.is_file() or not video.is_file():
        sys.exit(f"bench needs {xml} and {video}: set OVDEMO_MODELS_DIR and OVDEMO_SAMPLES_DIR")
    raw, nireq = raw_throughput(xml, seconds=10.0)
    run = action_fps(models_dir, "-m", DETECTOR, "-i", str(video))
    report(f"{DETECTOR} FP16 on {DEVICE}, {video.name} (480x270) looped to 300 frames", raw, nireq, run)

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        build_composite(root / "models")
        write_frames(root / "frames")
        encoder = root / "models" / "action-recognition-0001-encoder" / "FP16" / "action-recognition-0001-encoder.xml"
        raw, nireq = raw_throughput(encoder, seconds=5.0)
        run = action_fps(root / "models", "-m", "action-recognition-0001", "-i", str(root / "frames" / "f_%04d.png"))
    report("synthetic action-recognition-0001 encoder/decoder (near-free encoder), 96x64 PNG frames, 300 frames",
           raw, nireq, run)

    with tempfile.TemporaryDirectory() as tmp:
        name = "asl-recognition-0004"
        clip = build_clip_model(Path(tmp) / name / "FP16" / f"{name}.xml", "input", [1, 3, 16, 224, 224], "output",
                                100, "NCTHW")
        raw, nireq = raw_throughput(clip, seconds=5.0)
        run = action_fps(Path(tmp), "-m", name, "-i", str(videos_dir / "asl-hungry.mkv"))
    report(f"synthetic {name} clip model (near-free), asl-hungry.mkv (640x480) looped to 300 frames, 150 clips",
           raw, nireq, run, raw_label="raw OpenVINO async (clip model)")


if __name__ == "__main__":
    main()
