"""`make bench`: ovdemo text (horizontal-text-detection-0001 + the PP-OCRv5 recognizer) on a video with many words,
against its ceiling, recognizing every frame's words in batches of four (the default) and of up to 32.

Not a test: it prints numbers. Same device and hint for all; the video is car-detection.mp4 with 16 known
words rendered onto each of its first 60 frames (lossless-ish MJPG, 768x432). The ceiling: the detector's raw
time per frame plus the recognizer's raw time per word, one at a time at the median word width, times the words
per frame.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import benchlib
import cv2
import numpy as np
from test_text_scenes import Sign, render

DETECTOR = "horizontal-text-detection-0001"
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


def word_width(records: list[dict], height: int = 48) -> int:
    """The median width of a word's crop at the model's height, in steps of 32 (as the pipeline pads it)."""
    widths = [-(-int(np.ceil(height * np.linalg.norm(np.subtract(q[1], q[0])) /
                             max(np.linalg.norm(np.subtract(q[3], q[0])), 1))) // 32) * 32
              for record in records for q in (o["quad"] for o in record["objects"])]
    return int(np.median(widths)) if widths else 128


def main() -> None:
    det = benchlib.model_xml(DETECTOR)
    rec = benchlib.models_dir() / "ppocrv5" / "onnx" / "ppocrv5_rec.onnx"
    keys = rec.parent / "ppocr_keys_v5.txt"
    source = benchlib.videos_dir() / "car-detection.mp4"
    benchlib.require_files(det, rec, keys, source)
    with tempfile.TemporaryDirectory() as tmp:
        video = Path(tmp) / "words.avi"
        frames = words_video(source, video)
        print(f"{DETECTOR} ({det.parent.name}) + PP-OCRv5 rec on {benchlib.DEVICE}, throughput hint, {frames} frames "
              "768x432 with 16 words each")
        raw = benchlib.raw_throughput(det, seconds=10.0)
        args = ("-m", DETECTOR, "--models-dir", str(benchlib.models_dir()), "--recognizer-model", str(rec),
                "--alphabet", str(keys), "-i", str(video))
        batched = benchlib.run_end_to_end("text", *args, json_records=True)
        wide = benchlib.run_end_to_end("text", *args, "--rec-batch", "32", json_records=True)
    words = benchlib.items_per_frame(batched)
    width = word_width(batched.records)
    per_word = benchlib.raw_item_ms(rec, input_shape=(1, 3, 48, width))
    ceiling = benchlib.ceiling_fps(raw, [(per_word, words)])
    benchlib.print_ceiling_table("raw OpenVINO async, detector", raw, ceiling,
                                 [f"recognizer: {per_word:.2f} ms per word (one at a time, median width {width}) x "
                                  f"{words:.2f} words per frame"],
                                 [("ovdemo text (words in fours)", batched),
                                  ("ovdemo text --rec-batch 32", wide)])
    benchlib.print_stage_means("batched run", batched)


if __name__ == "__main__":
    main()
