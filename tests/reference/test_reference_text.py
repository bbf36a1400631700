"""`ovdemo text`'s words on real images against the plain models.

PP-OCRv5: the det model at batch 1 in f32 (every shape static: `StaticAt`) on the frame scaled as PaddleOCR
scales it (sides multiples of 32,
at most 960; in float, as ovdemo's graph resizes it), normalised with ImageNet's mean and deviation in
OpenCV's channel order, then DB post-processing: binarise at 0.3, each region's minimum-area rectangle, kept
when the mean probability inside the region reaches 0.6, grown on every side by area x 1.5 / perimeter. Each
word is straightened by a perspective warp to its own size, scaled to height 48, given alone to the rec model
and read by greedy CTC (class 0 blank, class i the dictionary's line i).

horizontal-text-detection-0001: its boxes [N,5] in input pixels, scaled to the frame. This INT8 model moves
with its input's last bits: frames resized by OpenCV and by OpenVINO (0.004 levels apart) give word boxes of
the page at IoU 0.87 and scores across the threshold, and the CPU's INT8 kernels for throughput streams round
differently from one latency stream's (a word box of a video frame moves 3.6 px). So the reference feeds it
the frame resized as ovdemo's graph resizes it (the same taps and weights, reference.bilinear_resized), and
ovdemo runs it on one latency stream, as the plain model runs.

Both run in f32 and at the CPU's default precision (reference.py). At the default the reference is the plain
models at that precision; a word whose reference reading or box changes between f32 and the default (the
reference's own precision noise, and for the INT8 detector also on its input rounded to that precision) may
differ from ovdemo's too, and so may the count of words by the number of such words.
"""

from __future__ import annotations

import math

import cv2
import numpy as np
import pytest
from conftest import model_path
from helpers import iou
from reference import (
    PRECISIONS,
    StaticAt,
    bilinear_resized,
    in_default_precision,
    infer,
    input_size,
    ovdemo_precision,
    plain_model,
)
from test_reference_detect import matches, slack
from test_text_scenes import SCENES, make_frames

import ovdemo

pytestmark = pytest.mark.slow  # real models end to end: `make quick` leaves it out

MEAN = np.array([123.675, 116.28, 103.53], np.float32)
STD = np.array([58.395, 57.12, 57.375], np.float32)
MIN_IOU = 0.95  # ovdemo clips words to the frame; the reference does not


@pytest.fixture(scope="module")
def images(images_dir, videos_dir, tmp_path_factory) -> list[np.ndarray]:
    """The scanned page, and two video frames with words rendered at several sizes and angles."""
    folder = tmp_path_factory.mktemp("scenes")
    make_frames(videos_dir / "car-detection.mp4", folder, SCENES[:2])
    return [cv2.imread(str(images_dir / "page.png"))] + [cv2.imread(str(p)) for p in sorted(folder.glob("*.png"))]


def db_map(det, frame: np.ndarray, same_pixels: bool = False) -> np.ndarray:
    """PaddleOCR's DB probability map of the frame. `same_pixels`: the frame resized as ovdemo's graph resizes
    it (at bf16 the model turns inputs a hundredth of a level apart into visibly different maps, as INT8 models
    do)."""
    fh, fw = frame.shape[:2]
    ratio = min(1.0, 960 / max(fw, fh))
    w, h = (max(32, int(round(side * ratio / 32)) * 32) for side in (fw, fh))
    resized = bilinear_resized(frame, (w, h))[0].transpose(1, 2, 0) if same_pixels else \
        cv2.resize(frame.astype(np.float32), (w, h), interpolation=cv2.INTER_LINEAR)
    x = (resized - MEAN) / STD
    return infer(det, np.ascontiguousarray(x.transpose(2, 0, 1)[np.newaxis]))["fetch_name_0"][0, 0]


def db_words(det, frame: np.ndarray, same_pixels: bool = False) -> list[np.ndarray]:
    """PaddleOCR's DB detection, as quads (4, 2) in frame pixels."""
    prob = db_map(det, frame, same_pixels)
    (fh, fw), (h, w) = frame.shape[:2], prob.shape
    contours, _ = cv2.findContours((prob > 0.3).astype(np.uint8), cv2.RETR_LIST, cv2.CHAIN_APPROX_SIMPLE)
    quads = []
    for contour in contours:
        centre, (rw, rh), angle = cv2.minAreaRect(contour)
        inside = np.zeros(prob.shape, np.uint8)
        cv2.fillPoly(inside, [contour.reshape(-1, 2)], 1)
        if min(rw, rh) < 3 or prob[inside > 0].mean() < 0.6:
            continue
        grow = rw * rh * 1.5 / (2 * (rw + rh))
        if min(rw, rh) + 2 * grow >= 5:
            quads.append(cv2.boxPoints((centre, (rw + 2 * grow, rh + 2 * grow), angle)) * [fw / w, fh / h])
    return quads


def ctc_read(rec, keys: list[str], frame: np.ndarray, quad: np.ndarray) -> str:
    """The word under `quad`, straightened and read alone."""
    sums, diffs = quad.sum(axis=1), np.diff(quad, axis=1).ravel()
    corners = np.float32([quad[sums.argmin()], quad[diffs.argmin()], quad[sums.argmax()], quad[diffs.argmax()]])
    w = int(max(np.linalg.norm(corners[0] - corners[1]), np.linalg.norm(corners[3] - corners[2])))
    h = int(max(np.linalg.norm(corners[0] - corners[3]), np.linalg.norm(corners[1] - corners[2])))
    straight = np.float32([[0, 0], [w, 0], [w, h], [0, h]])
    word = cv2.warpPerspective(frame, cv2.getPerspectiveTransform(corners, straight), (w, h),
                               flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    word = cv2.resize(word, (math.ceil(48 * w / h), 48), interpolation=cv2.INTER_LINEAR)
    x = (word.astype(np.float32) / 127.5 - 1).transpose(2, 0, 1)[np.newaxis]
    best = infer(rec, np.ascontiguousarray(x))["fetch_name_0"][0].argmax(axis=1)
    kept = (best != 0) & np.r_[True, best[1:] != best[:-1]]
    return "".join(keys[i] for i in best[kept])


def disagreements(want: list[np.ndarray], got_boxes, got_texts: list[str], read) -> list[tuple]:
    """The reference words (quads) with no word in `got` at IoU >= MIN_IOU reading the same."""
    missing = []
    for quad in want:
        overlaps = [iou([*quad.min(axis=0), *quad.max(axis=0)], box) for box in got_boxes]
        best = int(np.argmax(overlaps)) if overlaps else -1
        text = read(quad)
        if best < 0 or overlaps[best] < MIN_IOU or got_texts[best] != text:
            missing.append((quad.round().tolist(), text, got_texts[best] if best >= 0 else None))
    return missing


@pytest.mark.parametrize("precision", PRECISIONS)
def test_ppocr_words_equal_the_plain_models(precision, ppocr, images, models_dir, monkeypatch):
    """In f32 every word is the reference's. At the default precision this DB model's map moves so much with the
    precision (0.5% of the page's pixels cross the binarisation between bf16 and f32) that words merge or
    split either way: there ovdemo may miss no more of the reference's words than twice as many as the reference
    misses of its own f32 self's (and at least one). ovdemo's graph rounds the normalised frame once, as this
    model's first convolution does (tests/unit/test_resize.py), so no rounding of the input is allowed for."""
    det, rec = StaticAt(ppocr / "ppocrv5_det.onnx", precision), StaticAt(ppocr / "ppocrv5_rec.onnx", precision)
    det32, rec32 = StaticAt(ppocr / "ppocrv5_det.onnx"), StaticAt(ppocr / "ppocrv5_rec.onnx")
    keys = (ppocr / "ppocr_keys_v5.txt").read_text(encoding="utf-8").split("\n")[:-1]
    monkeypatch.setenv("OVDEMO_MODELS_DIR", str(models_dir))
    predictor = ovdemo.load(str(ppocr / "ppocrv5_det.onnx"), family="text", infer_precision=ovdemo_precision(precision))
    read = 0
    for image in images:
        words = predictor(image).objects
        same_pixels = precision != "f32"
        want = db_words(det, image, same_pixels)
        missing = disagreements(want, words.xyxy, list(words.data["text"]),
                                lambda q: ctc_read(rec, keys, image, q))  # noqa: B023
        allowed = 0
        if precision != "f32":
            exact = db_words(det32, image, same_pixels)
            own = disagreements(want, [[*q.min(axis=0), *q.max(axis=0)] for q in exact],
                                [ctc_read(rec32, keys, image, q) for q in exact],
                                lambda q: ctc_read(rec, keys, image, q))  # noqa: B023
            allowed = max(2 * len(own), 1)
            print(f"{len(want)} words: ovdemo misses {len(missing)}, the f32 reference {len(own)}")
        assert len(missing) <= allowed, missing
        assert abs(len(words) - len(want)) <= allowed, (len(words), len(want))
        read += sum(len(ctc_read(rec, keys, image, q)) > 0 for q in want)
    predictor.close()
    assert read >= 15, read  # the images show words to compare on


def word_boxes(compiled, frame: np.ndarray, threshold: float, rounded: bool = False):
    """horizontal-text-detection-0001's boxes [N,5] (x1, y1, x2, y2, score in input pixels) at or above the
    threshold, in frame pixels; with their scores and class 0. `rounded`: its input rounded to the CPU's
    default precision."""
    w, h = input_size(compiled)
    x = bilinear_resized(frame, (w, h))
    boxes = infer(compiled, in_default_precision(x) if rounded else x)["boxes"].reshape(-1, 5)
    boxes = boxes[boxes[:, 4] >= threshold]
    fh, fw = frame.shape[:2]
    return boxes[:, :4] * [fw / w, fh / h, fw / w, fh / h], boxes[:, 4], np.zeros(len(boxes), int)


@pytest.mark.parametrize("precision", PRECISIONS)
def test_horizontal_text_boxes_equal_the_plain_model(precision, ppocr, images, models_dir, monkeypatch):
    xml = model_path(models_dir, "horizontal-text-detection-0001", "FP16-INT8")
    compiled, exact = plain_model(xml, precision), plain_model(xml)
    monkeypatch.setenv("OVDEMO_MODELS_DIR", str(models_dir))
    predictor = ovdemo.load(str(xml), family="text", recognizer_model=str(ppocr / "ppocrv5_rec.onnx"),
                            threshold=0.5, infer_precision=ovdemo_precision(precision), hint="latency")
    found = 0
    for image in images[:2]:  # the page's faint words and a frame's clear ones
        words = predictor(image).objects
        want = word_boxes(compiled, image, 0.5)
        moved = (0.0, 0.0)
        if precision != "f32":  # the reference's own movement from f32, and on its input rounded
            moved = tuple(max(pair) for pair in zip(slack(want, word_boxes(exact, image, 0.4)),
                                                     slack(want, word_boxes(compiled, image, 0.4, rounded=True)),
                                                     strict=True))
        assert not matches(words.xyxy, words.confidence, words.class_id, *want, 0.5, moved)
        found += len(want[0])
    predictor.close()
    assert found >= 20, found  # 20 on the page at this threshold
