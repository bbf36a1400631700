"""`make bench`: ovdemo text (horizontal-text-detection-0001 + the PP-OCRv5 recognizer) on a video with many words,
against its ceiling, recognizing every frame's words in batches of four (the default) and of up to 32.

Not a test: it prints numbers. Same device and hint for all; the video is car-detection.mp4 with 16 known
words rendered onto each of its first 60 frames (lossless-ish MJPG, 768x432). The ceiling: the detector's raw
time per frame plus the recognizer's raw time per word, times the words per frame; the recognizer is timed
unchanged (its width dynamic) on the requests the stage really sent in the batched run: the same widths and
batch sizes, in turn.
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
REC_BATCH = 4  # ovdemo text's --rec-batch default
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


def request_shapes(records: list[dict], batch: int, height: int = 48) -> list[tuple[int, int, int, int]]:
    """The recognizer's requests of the run, rebuilt from its words: each word's crop at the model's height, its
    width in steps of 32, a frame's words of one width in requests of at most `batch` (as the stage sends them)."""
    shapes = []
    for record in records:
        steps: dict[int, int] = {}
        for quad in (np.asarray(o["quad"], float) for o in record["objects"]):
            w = max(np.linalg.norm(quad[1] - quad[0]), np.linalg.norm(quad[2] - quad[3]))
            h = max(np.linalg.norm(quad[3] - quad[0]), np.linalg.norm(quad[2] - quad[1]), 1.0)
            step = -(-int(np.ceil(height * w / h)) // 32) * 32
            steps[step] = steps.get(step, 0) + 1
        for step, count in sorted(steps.items()):
            shapes += [(min(batch, count - k), 3, height, step) for k in range(0, count, batch)]
    return shapes


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
        args = ("-m", DETECTOR, "--models-dir", str(benchlib.models_dir()), "--recognizer-model", str(rec),
                "--alphabet", str(keys), "-i", str(video))
        seen = {}

        def in_fours() -> benchlib.EndToEnd:
            run = benchlib.run_end_to_end("text", *args, json_records=True)
            seen["shapes"] = request_shapes(run.records, REC_BATCH)
            return run

        raw, batched, wide, per_word = benchlib.side_by_side(
            lambda: benchlib.raw_throughput(det, seconds=8.0), in_fours,
            lambda: benchlib.run_end_to_end("text", *args, "--rec-batch", "32"),
            lambda: benchlib.raw_mix_ms(rec, seen["shapes"]))
    words = benchlib.items_per_frame(batched)
    shapes = request_shapes(batched.records, REC_BATCH)
    ceiling = benchlib.ceiling_fps(raw, [(per_word, words)])
    widths = sorted({s[3] for s in shapes})
    benchlib.print_ceiling_table("raw OpenVINO async, detector", raw, ceiling,
                                 [f"recognizer: {per_word:.2f} ms per word (the run's {len(shapes)} requests: widths "
                                  f"{widths[0]}-{widths[-1]}, up to {REC_BATCH} words each) x {words:.2f} words "
                                  "per frame"],
                                 [("ovdemo text (words in fours)", batched),
                                  ("ovdemo text --rec-batch 32", wide)])
    benchlib.print_stage_means("batched run", batched)


if __name__ == "__main__":
    main()
