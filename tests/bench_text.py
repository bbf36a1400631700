"""`make bench`: ovdemo text (PP-OCRv5 det + rec) on a video with many words, recognizing every frame's words
in batches against one crop at a time, beside raw OpenVINO async throughput of the detector alone.

Not a test: it prints numbers. Same device and hint for all; the video is car-detection.mp4 with 16 known
words rendered onto each of its first 60 frames (lossless-ish MJPG, 768x432).
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import benchlib
import cv2
import numpy as np
from test_text_scenes import Sign, render

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


def recognition_note(run: benchlib.EndToEnd) -> str:
    words_per_frame = sum(len(record["objects"]) for record in run.records) / max(len(run.records), 1)
    return f"recognize {run.stages_ms['recognize']:.0f} ms/frame, {words_per_frame:.1f} words/frame"


def main() -> None:
    det = benchlib.models_dir() / "ppocrv5" / "onnx" / "ppocrv5_det.onnx"
    source = benchlib.videos_dir() / "car-detection.mp4"
    benchlib.require_files(det, source)
    with tempfile.TemporaryDirectory() as tmp:
        video = Path(tmp) / "words.avi"
        frames = words_video(source, video)
        print(f"PP-OCRv5 det + rec on {benchlib.DEVICE}, throughput hint, {frames} frames 768x432 with 16 words each")
        raw = benchlib.raw_throughput(det, seconds=10.0, input_shape=(1, 3, 416, 768))
        args = ("-m", str(det), "-i", str(video))
        batched = benchlib.run_end_to_end("text", *args, json_records=True)
        single = benchlib.run_end_to_end("text", *args, "--rec-batch", "1", json_records=True)
    benchlib.print_ratio_table("raw OpenVINO async, detector only", raw,
                      [("ovdemo text, batched recognition", batched), ("ovdemo text --rec-batch 1", single)],
                      note=recognition_note)
    benchlib.print_stage_means("batched run", batched)


if __name__ == "__main__":
    main()
