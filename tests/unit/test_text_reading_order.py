"""`ovdemo text` lists words in reading order: lines top to bottom, words left to right, also on a page a few
degrees askew, where a line drops by more than the line spacing from one end to the other."""

from __future__ import annotations

import re

import cv2
import numpy as np
import pytest
from conftest import model_path
from helpers import read_jsonl, run_ovdemo
from test_text_real import PAGE_LINES

import ovdemo
from ovdemo.demos.text.order import reading_order

# the lines read by eye, then the code line at the foot of the page, which the frame cuts through
PAGE_WORDS = [word for line, _ in PAGE_LINES for word in line.split()] + [">>>", "markers", "="]


def in_page_order(read: list[str]) -> bool:
    """The words read that are words of the page come in the page's order (each later than the one before)."""
    position = 0
    for word in read:
        if word not in PAGE_WORDS:
            continue
        if word not in PAGE_WORDS[position:]:
            return False
        position += PAGE_WORDS[position:].index(word) + 1
    return True


def test_page_order_check_refuses_lines_bottom_up_and_words_shuffled():
    assert in_page_order(["Let", "us", "first", "markers", "the", "coins", "background.", "These", "markers"])
    assert not in_page_order(["background.", "These", "markers", "Let", "us", "first"])
    assert not in_page_order(["markers", "first", "Let"])


# --- on word boxes made up here: three lines of four words, tilted, given in a shuffled order

def line_words(tilt_deg: float, upright: bool) -> tuple[np.ndarray, list[tuple[int, int]]]:
    """Quads of 3 lines x 4 words (60x14 px, 20 px apart along the line, lines 22 px apart) turned by
    `tilt_deg` about the page's top-left, shuffled; with each quad's (line, word). `upright`: each quad
    replaced by its axis-aligned box, as an upright-box detector gives."""
    angle = np.radians(tilt_deg)
    turn = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    quads, labels = [], []
    for line in range(3):
        for word in range(4):
            x, y = 20 + 80 * word, 20 + 22 * line
            quad = np.array([[x, y], [x + 60, y], [x + 60, y + 14], [x, y + 14]], np.float64) @ turn.T
            if upright:
                (x1, y1), (x2, y2) = quad.min(axis=0), quad.max(axis=0)
                quad = np.array([[x1, y1], [x2, y1], [x2, y2], [x1, y2]])
            quads.append(quad)
            labels.append((line, word))
    shuffle = np.random.default_rng(7).permutation(len(quads))
    return np.array(quads)[shuffle], [labels[i] for i in shuffle]


@pytest.mark.parametrize(("tilt", "upright"), [(0, False), (6, False), (-6, False), (20, False), (-20, False),
                                               (0, True), (6, True), (-6, True)])
def test_words_of_tilted_lines_read_line_by_line(tilt, upright):
    """Words of a turned detector carry their angle; upright boxes of tilted lines only their places, which
    stay unambiguous while a word's box rises above its neighbour's by less than half its height."""
    quads, labels = line_words(tilt, upright)
    assert [labels[i] for i in reading_order(quads)] == [(line, word) for line in range(3) for word in range(4)]


def test_one_word_or_none_is_in_order():
    assert reading_order(np.zeros((0, 4, 2))).tolist() == []
    assert reading_order(np.zeros((1, 4, 2))).tolist() == [0]


# --- on the scanned page, with real detectors

def askew(image: np.ndarray, degrees: float) -> np.ndarray:
    """The page turned by `degrees` (counter-clockwise) on a white sheet large enough to hold it."""
    h, w = image.shape[:2]
    turn = cv2.getRotationMatrix2D((w / 2, h / 2), degrees, 1.0)
    cos, sin = abs(turn[0, 0]), abs(turn[0, 1])
    size = (int(w * cos + h * sin), int(w * sin + h * cos))
    turn[:, 2] += ((size[0] - w) / 2, (size[1] - h) / 2)
    return cv2.warpAffine(image, turn, size, flags=cv2.INTER_CUBIC, borderValue=(255, 255, 255))


@pytest.mark.slow  # real models end to end: `make quick` leaves it out
def test_page_words_come_in_reading_order_in_the_json_and_raw(ppocr, models_dir, images_dir, tmp_path):
    xml = model_path(models_dir, "horizontal-text-detection-0001", "FP16-INT8")
    result = run_ovdemo("text", "-m", xml, "--recognizer-model", ppocr / "ppocrv5_rec.onnx", "-i",
                        images_dir / "page.png", "--json", tmp_path / "t.jsonl", "--raw", "--no-show",
                        env={"OVDEMO_MODELS_DIR": str(models_dir)})
    assert result.returncode == 0, result.stderr
    (record,) = read_jsonl(tmp_path / "t.jsonl")
    read = [word["text"] for word in record["objects"]]
    assert sum(word in PAGE_WORDS for word in read) >= 15 and in_page_order(read), read
    raw = re.findall(r"^  text \(0\) .* '(.*)' [\d.]+$", result.stdout, re.MULTILINE)
    assert raw == read, result.stdout


@pytest.mark.slow  # real models end to end: `make quick` leaves it out
@pytest.mark.parametrize("detector", ["ppocrv5_det", "horizontal-text-detection-0001"])
def test_page_askew_reads_line_by_line(detector, ppocr, models_dir, images_dir, monkeypatch):
    """Turned 4 degrees either way, a line of the page drops 27 px from end to end; lines are 17 px apart."""
    monkeypatch.setenv("OVDEMO_MODELS_DIR", str(models_dir))
    model = ppocr / "ppocrv5_det.onnx" if detector == "ppocrv5_det" else \
        model_path(models_dir, detector, "FP16-INT8")
    predictor = ovdemo.load(str(model), family="text", recognizer_model=str(ppocr / "ppocrv5_rec.onnx"))
    page = cv2.imread(str(images_dir / "page.png"))
    for degrees in (4, -4):
        read = [text for found in predictor(askew(page, degrees)).objects.data["text"] for text in found.split()]
        assert sum(word in PAGE_WORDS for word in read) >= 15 and in_page_order(read), (degrees, read)
    predictor.close()
