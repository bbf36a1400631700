"""`make bench`: ovdemo text (PP-OCRv5 det + rec) on a video with many words, recognizing every frame's words
in batches against one crop at a time, beside raw OpenVINO async throughput of the detector alone.

Not a test: it prints numbers. Same device and hint for all; the video is car-detection.mp4 with 16 known
words rendered onto each of its first 60 frames (lossless-ish MJPG, 768x432).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np
import openvino as ov
import openvino.properties.hint as hints

sys.path.insert(0, str(Path(__file__).resolve().parent))
from test_text_scenes import Sign, render  # noqa: E402

DEVICE = os.environ.get("BENCH_DEVICE", "CPU")
FRAMES = 60
WORDS = ["OpenVINO", "camera", "Station", "exit", "parking", "Bakery", "Hello", "world",
         "Platform", "Tickets", "video", "spotting", "north", "Coffee", "open", "Museum"]


def words_video(source: Path, out: Path) -> int:
    """The first FRAMES frames of `source` with 16 words each (4x4 grid, sizes and angles varying)."""
    cap = cv2.VideoCapture(str(source))
    writer = cv2.VideoWriter(str(out), cv2.VideoWriter_fourcc(*"MJPG"), 12.5, (768, 432))
    rng = np.random.default_rng(0)
    count = 0
    for _ in range(FRAMES):
        ok, frame = cap.read()
        if not ok:
            break
        for i, word in enumerate(rng.permutation(WORDS)):
            centre = (100 + 190 * (i % 4) + rng.uniform(-10, 10), 60 + 105 * (i // 4) + rng.uniform(-5, 5))
            render(frame, Sign(str(word), centre, rng.uniform(0.6, 0.9), rng.uniform(-12, 12)))
        writer.write(frame)
        count += 1
    writer.release()
    return count


def raw_detector_throughput(onnx: Path, size: tuple[int, int], seconds: float = 10.0) -> float:
    core = ov.Core()
    model = core.read_model(str(onnx))
    model.reshape([1, 3, size[1], size[0]])
    compiled = core.compile_model(model, DEVICE, {hints.performance_mode: hints.PerformanceMode.THROUGHPUT})
    queue = ov.AsyncInferQueue(compiled, 0)
    data = np.random.default_rng(0).standard_normal((1, 3, size[1], size[0])).astype(np.float32)
    for _ in range(len(queue)):
        queue.start_async({0: data})
    queue.wait_all()
    count, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        queue.start_async({0: data})
        count += 1
    queue.wait_all()
    return count / (time.perf_counter() - start)


def ovdemo_text(video: Path, det: Path, tmp: str, *extra: str) -> tuple[dict, float]:
    metrics, jsonl = Path(tmp) / "metrics.json", Path(tmp) / "words.jsonl"
    args = [sys.executable, "-m", "ovdemo", "text", "-m", str(det), "-i", str(video), "-d", DEVICE,
            "--hint", "throughput", "--no-show", "--metrics-json", str(metrics), "--json", str(jsonl), *extra]
    subprocess.run(args, check=True, capture_output=True)
    records = [json.loads(line) for line in jsonl.read_text().splitlines()]
    words = sum(len(r["words"]) for r in records) / max(len(records), 1)
    return json.loads(metrics.read_text()), words


def main() -> None:
    models_dir = Path(os.environ.get("OVDEMO_MODELS_DIR", "../shared/models"))
    videos_dir = Path(os.environ.get("OVDEMO_SAMPLES_DIR", "../shared/videos"))
    det = models_dir / "ppocrv5" / "onnx" / "ppocrv5_det.onnx"
    source = videos_dir / "car-detection.mp4"
    if not det.is_file() or not source.is_file():
        sys.exit(f"bench needs {det} and {source}: set OVDEMO_MODELS_DIR and OVDEMO_SAMPLES_DIR")
    with tempfile.TemporaryDirectory() as tmp:
        video = Path(tmp) / "words.avi"
        frames = words_video(source, video)
        print(f"PP-OCRv5 det + rec on {DEVICE}, throughput hint, {frames} frames 768x432 with 16 words each")
        raw = raw_detector_throughput(det, (768, 416))
        batched, words_b = ovdemo_text(video, det, tmp)
        single, words_s = ovdemo_text(video, det, tmp, "--rec-batch", "1")
    rows = [("raw OpenVINO async, detector only", raw, ""),
            ("ovdemo text, batched recognition", batched["fps"],
             f"recognize {batched['stages_ms']['recognize']:.0f} ms/frame, {words_b:.1f} words/frame"),
            ("ovdemo text --rec-batch 1", single["fps"],
             f"recognize {single['stages_ms']['recognize']:.0f} ms/frame, {words_s:.1f} words/frame")]
    print(f"{'measurement':36} {'FPS':>7} {'ratio':>6}")
    for name, fps, note in rows:
        print(f"{name:36} {fps:7.1f} {fps / raw:6.2f}  {note}")
    print("stage means (ms), batched run:", json.dumps(batched["stages_ms"]))


if __name__ == "__main__":
    main()
