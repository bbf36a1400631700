"""Captions and readouts never cover each other: every caption of a frame is laid out inside the frame and clear
of the captions and the status readout placed before it (issue 15: overlays collided)."""

from __future__ import annotations

from itertools import combinations

import cv2
import numpy as np
import pytest
from conftest import model_path

import ovdemo
from ovdemo.common.draw import LabelLayout, Style, draw_label, draw_status, status_rect
from ovdemo.common.tracking.counting import Counter


def disjoint(rects) -> bool:
    return all(min(a[2], b[2]) <= max(a[0], b[0]) or min(a[3], b[3]) <= max(a[1], b[1])
               for a, b in combinations(rects, 2))


def inside(rects, width, height) -> bool:
    return all(0 <= x1 < x2 <= width and 0 <= y1 < y2 <= height for x1, y1, x2, y2 in rects)


def test_captions_anchored_at_one_point_are_stacked_apart():
    image = np.zeros((200, 300, 3), np.uint8)
    style = Style().for_image(image)
    for k in range(8):
        draw_label(image, f"person {k}", 5, 12, (0, 200, 0), style)  # all at the frame's top-left corner
    assert len(style.layout.taken) == 8
    assert disjoint(style.layout.taken) and inside(style.layout.taken, 300, 200)


def status_and_captions(image, family, result):
    """What the command line draws on a frame: the readout's corner reserved, the family's drawing, the readout."""
    style = Style.for_frame(image.shape[1], image.shape[0]).for_image(image)
    status = ["FPS 25.0", "latency 120 ms"]
    corner = status_rect(status, style, (image.shape[1], image.shape[0]), result.objects.xyxy)
    style.layout.reserve(corner)
    family.draw(image, result, style)
    draw_status(image, status, style, corner)
    return style.layout.taken


def test_box_captions_keep_clear_of_the_status_readout_on_a_still_image(models_dir, images_dir, monkeypatch):
    model_path(models_dir, "person-detection-0202")
    monkeypatch.setenv("OVDEMO_MODELS_DIR", str(models_dir))
    image = cv2.imread(str(images_dir / "astronaut.png"))
    predictor = ovdemo.load("person-detection-0202", threshold=0.1, offline=True)  # overlapping boxes at the top
    result = predictor(image)
    assert len(result.objects) >= 3 and (result.objects.xyxy[:, 1] < 40).sum() >= 2
    taken = status_and_captions(image, predictor.family, result)
    assert len(taken) == 1 + len(result.objects)  # the readout, then one caption per box
    assert disjoint(taken) and inside(taken, image.shape[1], image.shape[0])


def test_a_line_caption_and_a_zone_caption_at_one_place_do_not_cover_each_other():
    image = np.full((432, 768, 3), 230, np.uint8)  # a white wall
    zone = np.array([[100, 100], [400, 100], [400, 300], [100, 300]], np.float64)
    # the line starts at the zone's bottom left, where the zone's caption goes
    counter = Counter([np.array([[100.0, 300.0], [600.0, 300.0]])], [zone])
    style = Style.for_frame(768, 432).for_image(image)
    counter.draw(image, style)
    assert len(style.layout.taken) == 2 and disjoint(style.layout.taken)


def test_the_readout_takes_the_corner_with_fewest_objects():
    style = Style.for_frame(480, 270)
    people_on_the_left = np.array([[0, 0, 200, 270], [10, 20, 150, 260]], np.float32)
    x1, y1, _, _ = status_rect(["FPS 12.5"], style, (480, 270), people_on_the_left)
    assert x1 > 240 and y1 < 10  # top-right: clear of the people
    x1, y1, _, _ = status_rect(["FPS 12.5"], style, (480, 270), np.zeros((0, 4), np.float32))
    assert (x1, y1) == (4, 4)


def test_status_readout_reads_on_a_white_wall():
    image = np.full((270, 480, 3), 255, np.uint8)
    style = Style.for_frame(480, 270)
    draw_status(image, ["FPS 12.5", "latency 80 ms"], style)
    x1, y1, x2, y2 = status_rect(["FPS 12.5", "latency 80 ms"], style, (480, 270))
    backing = image[y1:y2, x1:x2]
    # dark backing behind white text: the contrast a reader needs, whatever the wall
    assert np.median(backing) < 100 and backing.max() == 255


def area(a, b) -> int:
    return max(0, min(a[2], b[2]) - max(a[0], b[0])) * max(0, min(a[3], b[3]) - max(a[1], b[1]))


def test_captions_on_a_dense_page_keep_off_each_other_and_off_other_lines(models_dir, images_dir):
    """page.png: 8 lines 17 px apart on a 191 px page, captions 16 px high. Not all can sit clear of every
    other line, but captions must not stack on each other and cover far less than captions put above their
    lines (the old drawing, which hid the line above)."""
    ppocr = models_dir / "ppocrv5" / "onnx"
    if not (ppocr / "ppocrv5_det.onnx").is_file():
        pytest.skip("PP-OCRv5 is not in the shared models")
    image = cv2.imread(str(images_dir / "page.png"))
    predictor = ovdemo.load(str(ppocr / "ppocrv5_det.onnx"), family="text", alphabet=str(ppocr / "ppocr_keys_v5.txt"))
    result = predictor(image)
    assert len(result.objects) >= 8
    taken = status_and_captions(image, predictor.family, result)
    read = [bool(text) for text in result.objects.data["text"]]  # a line read as nothing gets no caption
    assert len(taken) == 1 + sum(read) and inside(taken, image.shape[1], image.shape[0])
    captions, status = taken[1:], taken[0]
    assert all(area(c, status) == 0 for c in captions)
    stacked = sum(area(a, b) for a, b in combinations(captions, 2))
    assert stacked <= 0.05 * sum((c[2] - c[0]) * (c[3] - c[1]) for c in captions), stacked
    words = [tuple(int(round(v)) for v in box) for box in result.objects.xyxy]
    own = [w for w, r in zip(words, read, strict=True) if r]
    above = [(w[0], w[1] - (c[3] - c[1]), w[0] + c[2] - c[0], w[1]) for c, w in zip(captions, own, strict=True)]

    def covering(rects):
        return sum(area(c, w) for c, o in zip(rects, own, strict=True) for w in words if w != o)

    assert covering(captions) <= 0.6 * covering(above), (covering(captions), covering(above))


def test_layout_without_room_still_places_every_caption_inside_the_frame():
    layout = LabelLayout(100, 30)
    for _ in range(20):
        layout.place(60, 12, 0, 15)
    assert inside(layout.taken, 100, 30)
