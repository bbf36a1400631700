"""`make bench`: ovdemo track, detector on every frame against --infer-every 3, beside raw OpenVINO throughput.

Not a test: it prints numbers, all measured in one run on the same device with the throughput hint:
  1. raw OpenVINO async throughput of the detector and of the re-identification model (batch 1, random input);
  2. `ovdemo track` end to end on the first 600 frames of one-by-one-person-detection.mp4, headless, every
     frame and --infer-every 3;
  3. MOTA/IDF1 of both on the synthetic re-entry scene of tests/test_track_scenes.py (py-motmetrics).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from bench_detect import DEVICE, raw_throughput
from test_track_scenes import SCENES, VIDEO, read_mot, render, score

DETECTOR = "person-detection-0202"
REID = "person-reidentification-retail-0277"
FRAMES = 600


def track(source: Path, models_dir: Path, tmp: Path, *extra: str) -> dict:
    metrics = tmp / "metrics.json"
    args = [sys.executable, "-m", "ovdemo", "track", "-m", DETECTOR, "--reid", REID, "-i", str(source),
            "--models-dir", str(models_dir), "--offline", "-d", DEVICE, "--hint", "throughput", "--no-show",
            "--metrics-json", str(metrics), *extra]
    subprocess.run(args, check=True, capture_output=True)
    return json.loads(metrics.read_text())


def main() -> None:
    models_dir = Path(os.environ.get("OVDEMO_MODELS_DIR", "../shared/models"))
    videos_dir = Path(os.environ.get("OVDEMO_SAMPLES_DIR", "../shared/videos"))
    xml = {name: models_dir / name / "FP16" / f"{name}.xml" for name in (DETECTOR, REID)}
    video = videos_dir / VIDEO
    if not all(p.is_file() for p in [*xml.values(), video]):
        sys.exit(f"bench needs {', '.join(map(str, xml.values()))} and {video}: set OVDEMO_MODELS_DIR and "
                 "OVDEMO_SAMPLES_DIR")
    print(f"{DETECTOR} + {REID} FP16 on {DEVICE}, throughput hint, {VIDEO} (first {FRAMES} frames, 768x432)")
    raw_det, nireq = raw_throughput(xml[DETECTOR])
    raw_reid, reid_nireq = raw_throughput(xml[REID], seconds=5.0)
    scene = SCENES["reentry"]
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        every = track(video, models_dir, tmp, "--max-frames", str(FRAMES))
        third = track(video, models_dir, tmp, "--max-frames", str(FRAMES), "--infer-every", "3")
        gt = render(scene, video, tmp / "scene")
        quality = {}
        for name, extra in (("every frame", []), ("--infer-every 3", ["--infer-every", "3"])):
            mot = tmp / "mot.txt"
            track(tmp / "scene" / "frame_%04d.png", models_dir, tmp, "--mot", str(mot), *extra)
            quality[name] = score(gt, read_mot(mot), scene.frames)
    rows = [("raw OpenVINO async, detector", raw_det, f"{nireq} requests"),
            ("raw OpenVINO async, reid (1 crop)", raw_reid, f"{reid_nireq} requests"),
            ("ovdemo track, every frame", every["fps"], f"latency p50 {every['latency_ms']['p50']:.0f} ms"),
            ("ovdemo track --infer-every 3", third["fps"], f"latency p50 {third['latency_ms']['p50']:.0f} ms")]
    print(f"{'measurement':36} {'FPS':>7} {'ratio to raw detector':>22}")
    for name, fps, note in rows:
        print(f"{name:36} {fps:7.1f} {fps / raw_det:22.2f}  {note}")
    print("stage means (ms), every frame:", json.dumps(every["stages_ms"]))
    print("stage means (ms), --infer-every 3:", json.dumps(third["stages_ms"]))
    print(f"synthetic '{scene.name}' scene ({scene.frames} frames), py-motmetrics:")
    for name, s in quality.items():
        print(f"  {name:16} MOTA {s['mota']:.3f}  IDF1 {s['idf1']:.3f}  ID switches {s['id_switches']}")


if __name__ == "__main__":
    main()
