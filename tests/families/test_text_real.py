"""`ovdemo text` on real models from ../shared: PaddleOCR PP-OCRv5 det + rec and horizontal-text-detection-0001,
on the scanned page and on video frames with known words rendered onto them."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import model_path
from helpers import run_ovdemo
from test_text_scenes import SCENES, edit_distance, inside, make_frames, read_records

# The printed lines of page.png, read by eye (384x191 scan); y of each line's middle, in pixels.
PAGE_LINES = [
    ("Region-based segmentation", 23),
    ("Let us first determine markers of the coins and the", 57),
    ("background. These markers are pixels that we can label", 75),
    ("unambiguously as either object or background. Here,", 93),
    ("the markers are found at the two extreme parts of the", 110),
    ("histogram of grey values:", 127),
]
PAGE_WORDS = {w for line, _ in PAGE_LINES for w in line.split()}


def char_accuracy(pairs: list[tuple[str, str]]) -> float:
    """1 - total edit distance / total characters of the truth."""
    errors = sum(edit_distance(truth, read) for truth, read in pairs)
    return 1 - errors / sum(len(truth) for truth, _ in pairs)


def test_ppocr_reads_every_line_of_the_page(ppocr, images_dir, tmp_path):
    result = run_ovdemo("text", "-m", ppocr / "ppocrv5_det.onnx", "-i", images_dir / "page.png",
                        "--json", tmp_path / "t.jsonl", "--no-show")
    assert result.returncode == 0, result.stderr
    (record,) = read_records(tmp_path / "t.jsonl")
    words = record["objects"]
    for text, y in PAGE_LINES:
        best = min(words, key=lambda w: edit_distance(text, w["text"]))
        assert char_accuracy([(text, best["text"])]) >= 0.95, (text, best["text"])
        x1, y1, x2, y2 = best["bbox"]
        assert y1 < y < y2 and abs((y1 + y2) / 2 - y) <= 6, (text, best["bbox"])
        assert len(best["quad"]) == 4 and all(len(p) == 2 for p in best["quad"])
        assert 0.8 <= best["text_confidence"] <= 1.0 and 0.6 <= best["confidence"] <= 1.0
    assert char_accuracy([(t, min((w["text"] for w in words), key=lambda s: edit_distance(t, s)))
                          for t, _ in PAGE_LINES]) >= 0.98


def test_horizontal_detector_finds_the_page_words(ppocr, models_dir, images_dir, tmp_path):
    xml = model_path(models_dir, "horizontal-text-detection-0001", "FP16-INT8")
    result = run_ovdemo("text", "-m", xml, "--recognizer-model", ppocr / "ppocrv5_rec.onnx",
                        "-i", images_dir / "page.png", "--json", tmp_path / "t.jsonl", "--no-show")
    assert result.returncode == 0, result.stderr
    (record,) = read_records(tmp_path / "t.jsonl")
    read = [w["text"] for w in record["objects"]]
    found = PAGE_WORDS & set(read)
    assert len(found) >= 15, read  # word boxes at its default threshold: about half the page's 41 words
    for word in record["objects"]:
        if word["text"] in PAGE_WORDS:  # each read word sits on a line that holds it
            centre_y = (word["bbox"][1] + word["bbox"][3]) / 2
            assert any(word["text"] in line.split() and abs(centre_y - y) <= 9 for line, y in PAGE_LINES), word


@pytest.fixture(scope="module")
def scene(videos_dir, tmp_path_factory):
    folder = tmp_path_factory.mktemp("scene")
    return folder, make_frames(videos_dir / "car-detection.mp4", folder)


def spotted(records, truth, join: bool = False) -> list[tuple[str, str]]:
    """For every rendered sign, what was read in the word box whose centre falls inside it (None if none);
    `join`: every box inside it, left to right (a detector of single words splits "exit 42" in two)."""
    pairs = []
    for record, signs in zip(records, truth, strict=True):
        for text, corners in signs:
            centre = corners.mean(axis=0)
            grown = centre + (corners - centre) * 1.3
            hits = [w for w in record["objects"] if inside(np.mean(w["quad"], axis=0), grown)]
            if not hits:
                pairs.append((text, None))
            elif join:
                pairs.append((text, " ".join(w["text"] for w in sorted(hits, key=lambda w: w["bbox"][0]))))
            else:
                pairs.append((text, max(hits, key=lambda w: w["text_confidence"])["text"]))
    return pairs


def test_ppocr_spots_rendered_words_on_video_frames(ppocr, scene, tmp_path):
    folder, truth = scene
    result = run_ovdemo("text", "-m", ppocr / "ppocrv5_det.onnx", "-i", folder, "--json", tmp_path / "t.jsonl",
                        "--no-show")
    assert result.returncode == 0, result.stderr
    records = read_records(tmp_path / "t.jsonl")
    assert len(records) == len(SCENES)
    pairs = spotted(records, truth)
    assert all(read is not None for _, read in pairs), pairs  # every word's box found, at every angle
    assert char_accuracy(pairs) >= 0.95, pairs


def test_horizontal_detector_boxes_the_rendered_words(ppocr, models_dir, scene, tmp_path):
    folder, truth = scene
    xml = model_path(models_dir, "horizontal-text-detection-0001", "FP16-INT8")
    result = run_ovdemo("text", "-m", xml, "--recognizer-model", ppocr / "ppocrv5_rec.onnx", "-i", folder,
                        "--json", tmp_path / "t.jsonl", "--no-show")
    assert result.returncode == 0, result.stderr
    pairs = spotted(read_records(tmp_path / "t.jsonl"), truth, join=True)
    # upright boxes: words tilted up to 20 degrees are boxed; one word of twelve may be missed
    assert sum(read is not None for _, read in pairs) >= len(pairs) - 1, pairs
    level = [(t, r or "") for (t, r), sign in zip(pairs, [s for sc in SCENES for s in sc], strict=True)
             if sign.angle == 0]
    assert char_accuracy(level) >= 0.8, level
