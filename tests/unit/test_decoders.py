"""Every detection decoder, proven end to end on small synthetic OpenVINO models.

Each model has the real Open Model Zoo model's input and output names and shapes (see
/work/notes/detection_models.md and ../shared/MANIFEST.md) and outputs constants that encode known boxes.
It is saved under the Open Model Zoo name (which gives it that model's spec) and run through the real
command line, `ovdemo detect -m model.xml -i frame.png --json out.jsonl --no-show`; the JSON lines must hold
the encoded boxes in frame pixels, with the right label names, ids and confidences.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import openvino as ov
import openvino.opset13 as ops
import pytest

from ovdemo.cli import main

FRAME_W, FRAME_H = 640, 480  # the test image; every model input is a different size, so boxes must be scaled
TOL = 0.6  # pixels: JSON rounds boxes to 0.1

TINY_YOLO_V2_ANCHORS = [1.08, 1.19, 3.42, 4.41, 6.63, 11.38, 9.42, 5.11, 16.62, 10.52]  # grid cells
YOLO_V3_ANCHORS = [10, 13, 16, 30, 33, 23, 30, 61, 62, 45, 59, 119, 116, 90, 156, 198, 373, 326]  # input pixels


# ---------------------------------------------------------------------------------------------------------------
# Building models


def _input(name: str, shape: list[int], dtype=np.float32) -> ops.Parameter:
    param = ops.parameter(shape, dtype, name=name)
    param.output(0).get_tensor().set_names({name})
    return param


def _zero(param, dtype=np.float32):
    """0 * mean(input), as `dtype`: added to a constant, it keeps the input connected (and OpenVINO keeps it)."""
    x = param if param.get_element_type() == ov.Type.f32 else ops.convert(param, np.float32)
    rank = param.get_output_partial_shape(0).rank.get_length()
    zero = ops.multiply(ops.reduce_mean(x, np.arange(rank, dtype=np.int64)), np.float32(0))
    return zero if dtype == np.float32 else ops.convert(zero, dtype)


def _named(node, name: str):
    node.set_friendly_name(name)
    node.output(0).get_tensor().set_names({name})
    return node


def _const_output(param, name: str, value: np.ndarray):
    """An output `name` equal to `value` whatever the image."""
    return _named(ops.add(ops.constant(value), _zero(param, value.dtype)), name)


def _save(model: ov.Model, folder: Path, name: str) -> Path:
    path = folder / f"{name}.xml"
    ov.save_model(model, path, compress_to_fp16=False)  # keep the encoded values exact
    return path


def _logit(p: float) -> float:
    return float(np.log(p / (1.0 - p)))


def _sigmoid(x: float) -> float:
    return float(1.0 / (1.0 + np.exp(-x)))


# ---------------------------------------------------------------------------------------------------------------
# Running the command line


@pytest.fixture
def frame(tmp_path) -> Path:
    path = tmp_path / "frame.png"
    rng = np.random.default_rng(0)
    assert cv2.imwrite(str(path), rng.integers(0, 256, (FRAME_H, FRAME_W, 3), dtype=np.uint8))
    return path


def run_detect(model: Path, frame: Path, *args: str, capsys) -> tuple[int, list[dict], str]:
    """`ovdemo detect` in-process through the console-script entry point: exit code, objects, stderr."""
    out = frame.parent / "out.jsonl"
    out.unlink(missing_ok=True)
    with pytest.raises(SystemExit) as exit_info:
        main(["detect", "-m", str(model), "-i", str(frame), "--json", str(out), "--no-show", "--nireq", "1", *args])
    err = capsys.readouterr().err
    code = exit_info.value.code
    if code != 0:
        return code, [], err
    records = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(records) == 1, records
    assert records[0]["image"] == {"width": FRAME_W, "height": FRAME_H}
    return code, records[0]["objects"], err


def detect_ok(model: Path, frame: Path, *args: str, capsys) -> list[dict]:
    code, objects, err = run_detect(model, frame, *args, capsys=capsys)
    assert code == 0, err
    return objects


def to_pixels(box) -> list[float]:
    """x1, y1, x2, y2 normalised -> frame pixels."""
    return [box[0] * FRAME_W, box[1] * FRAME_H, box[2] * FRAME_W, box[3] * FRAME_H]


def assert_objects(objects: list[dict], expected: list[tuple[str, int, float, list[float]]], conf_tol=2e-4) -> None:
    """`expected`: (label, label_id, confidence, normalised x1 y1 x2 y2), compared best first."""
    got = sorted(objects, key=lambda o: -o["confidence"])
    want = sorted(expected, key=lambda e: -e[2])
    summary = [(o["label"], o["label_id"], o["confidence"], o["bbox"]) for o in got]
    assert len(got) == len(want), summary
    for obj, (label, label_id, conf, box) in zip(got, want, strict=True):
        assert (obj["label"], obj["label_id"]) == (label, label_id), summary
        assert obj["confidence"] == pytest.approx(conf, abs=conf_tol), summary
        assert obj["bbox"] == pytest.approx(to_pixels(box), abs=TOL), summary


# ---------------------------------------------------------------------------------------------------------------
# 1. SSD DetectionOutput [1,1,200,7]: face-detection-retail-0004 (label 1 = face)

SSD_ROWS = [
    # image_id, label, conf, x1, y1, x2, y2 (normalised)
    [0, 1, 0.91, 0.10, 0.20, 0.30, 0.50],
    [0, 1, 0.62, 0.50, 0.50, 0.75, 0.90],
    [0, 1, 0.30, 0.05, 0.60, 0.20, 0.95],  # below the default threshold 0.5
    [-1, 0, 0, 0, 0, 0, 0],  # end of detections
    [0, 1, 0.99, 0.60, 0.10, 0.90, 0.40],  # after the end: padding that must be ignored
    [0, 1, 0.97, 0.20, 0.20, 0.40, 0.40],
]


def build_ssd() -> ov.Model:
    data = _input("data", [1, 3, 300, 300])
    table = np.zeros((1, 1, 200, 7), np.float32)
    table[0, 0, : len(SSD_ROWS)] = SSD_ROWS
    return ov.Model([_const_output(data, "detection_out", table)], [data], "ssd")


@pytest.fixture
def ssd_model(tmp_path) -> Path:
    return _save(build_ssd(), tmp_path, "face-detection-retail-0004")


def test_ssd_detection_output(ssd_model, frame, capsys):
    objects = detect_ok(ssd_model, frame, capsys=capsys)
    assert_objects(objects, [("face", 1, 0.91, SSD_ROWS[0][3:]), ("face", 1, 0.62, SSD_ROWS[1][3:])])


def test_ssd_threshold_option(ssd_model, frame, capsys):
    objects = detect_ok(ssd_model, frame, "-t", "0.25", capsys=capsys)
    assert_objects(objects, [("face", 1, r[2], r[3:]) for r in SSD_ROWS[:3]])  # still nothing after the end row
    objects = detect_ok(ssd_model, frame, "-t", "0.7", capsys=capsys)
    assert_objects(objects, [("face", 1, 0.91, SSD_ROWS[0][3:])])
    assert detect_ok(ssd_model, frame, "-t", "1", capsys=capsys) == []


def test_ssd_labels_file_overrides_spec(ssd_model, frame, tmp_path, capsys):
    labels = tmp_path / "my_labels.txt"
    labels.write_text("nothing\nhuman face\n")
    objects = detect_ok(ssd_model, frame, "--labels", str(labels), capsys=capsys)
    assert_objects(objects, [("human face", 1, 0.91, SSD_ROWS[0][3:]), ("human face", 1, 0.62, SSD_ROWS[1][3:])])


# ---------------------------------------------------------------------------------------------------------------
# 2. boxes [N,5] in input pixels + labels [N]: person-detection-0203 and horizontal-text-detection-0001

PERSON_W, PERSON_H = 864, 480
PERSON_BOXES = [  # x1, y1, x2, y2 in the model's 864x480 input, conf
    [86.4, 48.0, 432.0, 384.0, 0.83],
    [432.0, 240.0, 777.6, 456.0, 0.64],
    [100.0, 100.0, 200.0, 200.0, 0.40],  # below threshold
]


def _normalised(box, w, h) -> list[float]:
    return [box[0] / w, box[1] / h, box[2] / w, box[3] / h]


def build_person_0203() -> ov.Model:
    image = _input("image", [1, 3, PERSON_H, PERSON_W])
    boxes = np.zeros((100, 5), np.float32)
    boxes[: len(PERSON_BOXES)] = PERSON_BOXES
    labels = np.zeros(100, np.int32)
    labels[: len(PERSON_BOXES)] = 1  # the README's "1 = person"
    # labels first: the decoder must find its outputs by name, not by position
    outputs = [_const_output(image, "labels", labels), _const_output(image, "boxes", boxes)]
    return ov.Model(outputs, [image], "atss")


@pytest.fixture
def person_0203(tmp_path) -> Path:
    return _save(build_person_0203(), tmp_path, "person-detection-0203")


def test_boxes_labels_scaled_from_input_pixels(person_0203, frame, capsys):
    objects = detect_ok(person_0203, frame, capsys=capsys)
    # single-class spec: whatever id the model emits, it is the spec's only class
    assert_objects(objects, [("person", 0, b[4], _normalised(b, PERSON_W, PERSON_H)) for b in PERSON_BOXES[:2]])


def test_boxes_labels_with_labels_file(person_0203, frame, tmp_path, capsys):
    labels = tmp_path / "labels.txt"
    labels.write_text("background\nperson\n")
    objects = detect_ok(person_0203, frame, "--labels", str(labels), "-t", "0.35", capsys=capsys)
    # a labels file replaces the single-class rule: ids are used as the model emits them
    assert_objects(objects, [("person", 1, b[4], _normalised(b, PERSON_W, PERSON_H)) for b in PERSON_BOXES])


TEXT_SIZE = 704
TEXT_BOXES = [[70.4, 140.8, 352.0, 211.2, 0.95], [400.0, 500.0, 690.0, 560.0, 0.55], [10.0, 10.0, 50.0, 30.0, 0.2]]


def build_text() -> ov.Model:
    """The real IR (2021.2) has five extra outputs and a dynamic number of boxes: [..100,5] and [..100]."""
    image = _input("image", [1, 3, TEXT_SIZE, TEXT_SIZE])
    rng = np.random.default_rng(1)
    extras = [_const_output(image, name, rng.random(n, dtype=np.float32)) for name, n in
              (("1078_1079.0", 1000), ("1141_1142.0", 1000), ("1204_1205.0", 484), ("1267_1268.0", 121),
               ("1330_1331.0", 36))]
    boxes = np.zeros((100, 5), np.float32)
    boxes[: len(TEXT_BOXES)] = TEXT_BOXES
    count = ops.add(ops.constant(np.array([len(TEXT_BOXES)], np.int64)), _zero(image, np.int64))

    def first_rows(name, value):  # value[:count], so the output's first dimension is dynamic (bounded by 100)
        return _named(ops.slice(ops.constant(value), np.array([0], np.int64), count, np.array([1], np.int64),
                                np.array([0], np.int64)), name)

    outputs = [*extras, first_rows("1469_1470.0", boxes[:, 4].copy()), first_rows("boxes", boxes),
               first_rows("labels", np.zeros(100, np.int32))]
    assert outputs[-2].get_output_partial_shape(0)[0].is_dynamic
    return ov.Model(outputs, [image], "fcos")


@pytest.fixture
def text_model(tmp_path) -> Path:
    return _save(build_text(), tmp_path, "horizontal-text-detection-0001")


def test_boxes_labels_among_extra_outputs(text_model, frame, capsys):
    objects = detect_ok(text_model, frame, capsys=capsys)
    assert_objects(objects, [("text", 0, b[4], _normalised(b, TEXT_SIZE, TEXT_SIZE)) for b in TEXT_BOXES[:2]])


# ---------------------------------------------------------------------------------------------------------------
# 3. TensorFlow Object Detection API: ssd_mobilenet_v2_coco (COCO ids 1..90 with the original gaps)

TF_DETECTIONS = [  # COCO id, score, ymin, xmin, ymax, xmax
    (1, 0.92, 0.20, 0.10, 0.90, 0.40),  # person
    (18, 0.81, 0.50, 0.50, 0.95, 0.80),  # dog
    (3, 0.74, 0.10, 0.60, 0.40, 0.95),  # car
    (44, 0.69, 0.60, 0.05, 0.80, 0.15),  # bottle: after the gaps at 12 (street sign), 26, 29, 30
    (90, 0.66, 0.05, 0.05, 0.15, 0.10),  # toothbrush: the last id
    (6, 0.30, 0.30, 0.30, 0.60, 0.60),  # bus, below threshold
    (2, 0.99, 0.30, 0.30, 0.60, 0.60),  # bicycle, beyond num_detections: must be ignored
]
TF_NUM = 6
COCO_NAMES = {1: "person", 18: "dog", 3: "car", 44: "bottle", 90: "toothbrush", 6: "bus"}


def build_tf() -> ov.Model:
    image = _input("image_tensor", [1, -1, -1, 3], np.uint8)
    boxes = np.zeros((1, 100, 4), np.float32)
    scores = np.zeros((1, 100), np.float32)
    classes = np.zeros((1, 100), np.float32)
    for i, (cls, score, *box) in enumerate(TF_DETECTIONS):
        boxes[0, i], scores[0, i], classes[0, i] = box, score, cls
    outputs = [_const_output(image, "detection_boxes", boxes), _const_output(image, "detection_scores", scores),
               _const_output(image, "detection_classes", classes),
               _const_output(image, "num_detections", np.array([TF_NUM], np.float32))]
    return ov.Model(outputs, [image], "tf-od")


@pytest.fixture
def tf_model(tmp_path) -> Path:
    return _save(build_tf(), tmp_path, "ssd_mobilenet_v2_coco")


def _tf_expected(*ids):
    return [(COCO_NAMES[c], c, s, [x1, y1, x2, y2]) for c, s, y1, x1, y2, x2 in TF_DETECTIONS[:TF_NUM] if c in ids]


def test_tf_object_detection_api(tf_model, frame, capsys):
    objects = detect_ok(tf_model, frame, capsys=capsys)
    assert_objects(objects, _tf_expected(1, 18, 3, 44, 90))
    objects = detect_ok(tf_model, frame, "-t", "0.1", capsys=capsys)
    assert_objects(objects, _tf_expected(1, 18, 3, 44, 90, 6))  # but never the one past num_detections
    assert detect_ok(tf_model, frame, "-t", "1", capsys=capsys) == []


def test_classes_filter(tf_model, frame, capsys):
    objects = detect_ok(tf_model, frame, "--classes", "person, dog,toothbrush", capsys=capsys)
    assert_objects(objects, _tf_expected(1, 18, 90))


def test_classes_filter_unknown_class(tf_model, frame, capsys):
    code, _, err = run_detect(tf_model, frame, "--classes", "person,unicorn", capsys=capsys)
    assert code == 2
    assert err.strip().startswith("error: unknown class(es) unicorn")
    assert not (frame.parent / "out.jsonl").exists()


@pytest.mark.parametrize("name, output_name", [
    ("ssd_mobilenet_v2_coco", "DetectionOutput"),
    ("ssdlite_mobilenet_v2", "detection_boxes"),
])
def test_tf_model_converted_to_detection_output(name, output_name, tmp_path, frame, capsys):
    """Open Model Zoo's converted IRs of the TF OD API models end in one DetectionOutput [1,1,100,7] (same COCO
    ids), not the frozen graph's four outputs: the spec names the graph's decoder, the outputs decide."""
    image = _input("image_tensor", [1, 3, 300, 300])
    table = np.zeros((1, 1, 100, 7), np.float32)
    rows = [[0, cls, score, x1, y1, x2, y2] for cls, score, y1, x1, y2, x2 in TF_DETECTIONS[:TF_NUM]] + [[-1] * 7]
    table[0, 0, : len(rows)] = rows
    model = ov.Model([_const_output(image, output_name, table)], [image], "converted")
    objects = detect_ok(_save(model, tmp_path, name), frame, capsys=capsys)
    assert_objects(objects, _tf_expected(1, 18, 3, 44, 90))


# ---------------------------------------------------------------------------------------------------------------
# 4. YOLO v2 through a real RegionYolo (do_softmax, 5 anchors, 20 VOC classes, flattened to [1,21125])

VOC = {"dog": 11, "person": 14, "car": 6}


def _v2_encode(logits, anchors, grid, anchor, box, cls, obj, cls_logit=8.0, classes=20):
    """Write logits for one object (centre-size box, normalised) at the cell holding its centre; returns
    (expected score, normalised x1 y1 x2 y2)."""
    cx, cy, w, h = box
    col, row = int(cx * grid), int(cy * grid)
    a, k = anchor, anchor * (5 + classes)
    logits[0, k + 0, row, col] = _logit(cx * grid - col)
    logits[0, k + 1, row, col] = _logit(cy * grid - row)
    logits[0, k + 2, row, col] = np.log(w * grid / anchors[a][0])
    logits[0, k + 3, row, col] = np.log(h * grid / anchors[a][1])
    logits[0, k + 4, row, col] = _logit(obj)
    logits[0, k + 5 + cls, row, col] = cls_logit
    prob = np.exp(cls_logit) / (np.exp(cls_logit) + classes - 1)  # softmax with the other logits at 0
    return obj * prob, [cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2]


@pytest.mark.parametrize("name, input_name, output_name, mask", [
    ("yolo-v2-tiny-ava-0001", "data", "RegionYolo", []),
    ("yolo-v1-tiny-tf", "input_1", "conv2d_9/BiasAdd/YoloRegion", [0, 1, 2, 3, 4]),
])
def test_yolo_v2_region(name, input_name, output_name, mask, tmp_path, frame, capsys):
    image = _input(input_name, [1, 416, 416, 3])
    logits = np.zeros((1, 125, 13, 13), np.float32)
    logits[0, 4::25] = -12.0  # no objectness anywhere else
    anchors = np.reshape(TINY_YOLO_V2_ANCHORS, (5, 2))
    s1, b1 = _v2_encode(logits, anchors, 13, 2, (0.52, 0.40, 0.30, 0.50), VOC["person"], 0.9)
    s2, b2 = _v2_encode(logits, anchors, 13, 0, (0.15, 0.80, 0.08, 0.12), VOC["dog"], 0.75)
    s3, _ = _v2_encode(logits, anchors, 13, 4, (0.80, 0.20, 0.50, 0.30), VOC["car"], 0.3)  # below threshold
    region = ops.region_yolo(ops.add(ops.constant(logits), _zero(image)), coords=4, classes=20, num=5,
                             do_softmax=True, mask=mask, axis=1, end_axis=3, anchors=TINY_YOLO_V2_ANCHORS)
    assert region.get_output_partial_shape(0) == ov.PartialShape([1, 21125])
    model = _save(ov.Model([_named(region, output_name)], [image], "yolo-v2"), tmp_path, name)
    objects = detect_ok(model, frame, capsys=capsys)
    assert_objects(objects, [("person", 14, s1, b1), ("dog", 11, s2, b2)], conf_tol=1e-3)
    assert s3 < 0.5


# ---------------------------------------------------------------------------------------------------------------
# 5. YOLO v3 through three RegionYolo ops with masks (sigmoid per class, anchors in input pixels)

COCO80 = {"person": 0, "car": 2, "dog": 16}
V3_HEADS = {13: [6, 7, 8], 26: [3, 4, 5], 52: [0, 1, 2]}


def _v3_encode(heads, grid, anchor, box, cls, obj, cls_p, cell=None):
    """Write logits for one object into the head of `grid` (in `cell`, default the one holding its centre)."""
    cx, cy, w, h = box
    col, row = (cell[1], cell[0]) if cell else (int(cx * grid), int(cy * grid))
    anchors = np.reshape(YOLO_V3_ANCHORS, (9, 2))[V3_HEADS[grid]]
    logits, k = heads[grid], anchor * 85
    logits[0, k + 0, row, col] = _logit(cx * grid - col)
    logits[0, k + 1, row, col] = _logit(cy * grid - row)
    logits[0, k + 2, row, col] = np.log(w * 416 / anchors[anchor][0])
    logits[0, k + 3, row, col] = np.log(h * 416 / anchors[anchor][1])
    logits[0, k + 4, row, col] = _logit(obj)
    logits[0, k + 5 + cls, row, col] = _logit(cls_p)
    return obj * cls_p, [cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2]


def yolo_v3_model(input_name: str, layer: str, legacy_fp16: bool = False) -> tuple[ov.Model, list]:
    """Three RegionYolo heads encoding a person, its weaker twin, an overlapping car and a dog; returns the model
    and the objects expected after NMS. `legacy_fp16`: each RegionYolo runs in f16 and a Convert to f32 named
    '<region>.0' feeds the output, as OpenVINO reads FP16 IRs of IR version 10."""
    image = _input(input_name, [1, 416, 416, 3])
    heads = {grid: np.full((1, 255, grid, grid), -12.0, np.float32) for grid in V3_HEADS}  # every sigmoid ~0
    person = (0.5 + 0.4 / 13, 0.5, 0.30, 0.60)  # centre in cell (6, 6) of the 13x13 grid
    s_person, b_person = _v3_encode(heads, 13, 1, person, COCO80["person"], 0.95, 0.95)
    # the same person again from the neighbouring cell (6, 7), a little weaker: NMS must drop it
    s_twin, b_twin = _v3_encode(heads, 13, 1, (7.1 / 13, 0.5, 0.31, 0.58), COCO80["person"], 0.85, 0.9, cell=(6, 7))
    # a car on the 26x26 grid overlapping the person (IoU ~0.8): another class, so NMS keeps both
    s_car, b_car = _v3_encode(heads, 26, 2, (0.53, 0.55, 0.28, 0.50), COCO80["car"], 0.9, 0.8)
    # a small dog on the 52x52 grid
    s_dog, b_dog = _v3_encode(heads, 52, 0, (0.2, 0.76, 0.10, 0.12), COCO80["dog"], 0.8, 0.9)
    assert s_twin > 0.5 and _iou(b_person, b_twin) > 0.5 and _iou(b_person, b_car) > 0.5
    dtype = np.float16 if legacy_fp16 else np.float32
    outputs = []
    for grid, number in ((13, 58), (26, 66), (52, 74)):
        logits = ops.add(ops.constant(heads[grid].astype(dtype)), _zero(image, dtype))
        region = ops.region_yolo(logits, coords=4, classes=80, num=9, do_softmax=False, mask=V3_HEADS[grid],
                                 axis=1, end_axis=3, anchors=YOLO_V3_ANCHORS)
        assert region.get_output_partial_shape(0) == ov.PartialShape([1, 255, grid, grid])
        name = f"conv2d_{number}/{layer}/YoloRegion"
        if legacy_fp16:
            region.set_friendly_name(name)
            outputs.append(_named(ops.convert(region, np.float32), f"{name}.0"))
        else:
            outputs.append(_named(region, name))
    expected = [("person", 0, s_person, b_person), ("car", 2, s_car, b_car), ("dog", 16, s_dog, b_dog)]
    return ov.Model(outputs, [image], "yolo-v3"), expected


@pytest.mark.parametrize("name, input_name, layer, legacy_fp16", [
    ("yolo-v3-tf", "input_1", "BiasAdd", False),
    ("person-vehicle-bike-detection-crossroad-yolov3-1020", "image_input", "Conv2D", False),
    ("yolo-v3-tf", "input_1", "BiasAdd", True),
])
def test_yolo_v3_regions_and_nms(name, input_name, layer, legacy_fp16, tmp_path, frame, capsys):
    model, expected = yolo_v3_model(input_name, layer, legacy_fp16)
    model = _save(model, tmp_path, name)
    objects = detect_ok(model, frame, capsys=capsys)
    assert_objects(objects, expected, conf_tol=2e-3)
    # NMS, not the threshold, removed the twin: a lower threshold does not bring it back
    objects = detect_ok(model, frame, "-t", "0.3", "--classes", "person", capsys=capsys)
    assert_objects(objects, expected[:1], conf_tol=2e-3)


def _iou(a, b) -> float:
    inter = max(0.0, min(a[2], b[2]) - max(a[0], b[0])) * max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter)


# ---------------------------------------------------------------------------------------------------------------
# Models ovdemo has no spec for: the decoder is chosen by what the outputs look like, ids shown as #id


def _unnamed(expected):
    return [(f"#{label_id}", label_id, conf, box) for _, label_id, conf, box in expected]


@pytest.mark.parametrize("family", ["ssd", "boxes-labels", "text", "tf-od", "yolo-v3"])
def test_decoder_chosen_by_outputs(family, tmp_path, frame, capsys):
    if family == "ssd":
        model, expected = build_ssd(), [("", 1, r[2], r[3:]) for r in SSD_ROWS[:2]]
    elif family == "boxes-labels":  # no spec, so no single-class rule: ids as the model emits them
        model = build_person_0203()
        expected = [("", 1, b[4], _normalised(b, PERSON_W, PERSON_H)) for b in PERSON_BOXES[:2]]
    elif family == "text":
        model = build_text()
        expected = [("", 0, b[4], _normalised(b, TEXT_SIZE, TEXT_SIZE)) for b in TEXT_BOXES[:2]]
    elif family == "tf-od":
        model, expected = build_tf(), _tf_expected(1, 18, 3, 44, 90)
    else:
        model, expected = yolo_v3_model("input_1", "BiasAdd")
    objects = detect_ok(_save(model, tmp_path, "my-own-detector"), frame, capsys=capsys)
    assert_objects(objects, _unnamed(expected), conf_tol=2e-3)


# ---------------------------------------------------------------------------------------------------------------
# 6. Outputs that fit no decoder: exit code 2, one line naming expected and actual outputs, no files left


@pytest.fixture
def classifier(tmp_path) -> ov.Model:
    data = _input("data", [1, 3, 224, 224])
    return ov.Model([_const_output(data, "prob", np.zeros((1, 10), np.float32))], [data], "classifier")


@pytest.mark.parametrize("name, args, expected", [
    ("mystery-net", [], "pass --arch"),
    ("face-detection-retail-0004", [], "DetectionOutput [1,1,N,7]"),  # the spec's decoder
    ("mystery-net", ["--arch", "tf-od"], "detection_boxes [1,N,4]"),
    ("mystery-net", ["--arch", "yolo"], "YOLO region outputs"),
    ("mystery-net", ["--arch", "ssd"], "DetectionOutput [1,1,N,7]"),
])
def test_outputs_fitting_no_decoder(name, args, expected, classifier, tmp_path, frame, capsys):
    model = _save(classifier, tmp_path, name)
    video = tmp_path / "annotated.mp4"
    code, _, err = run_detect(model, frame, "-o", str(video), *args, capsys=capsys)
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    assert expected in lines[0] and "prob [1,10]" in lines[0], err
    assert "Traceback" not in err
    assert not video.exists() and not (tmp_path / "out.jsonl").exists()


def test_outputs_fitting_no_decoder_from_the_shell(classifier, tmp_path, frame):
    """The installed `ovdemo` entry point, as a user runs it."""
    model = _save(classifier, tmp_path, "mystery-net")
    out = tmp_path / "out.jsonl"
    proc = subprocess.run([sys.executable, "-c", "from ovdemo.cli import main; main()", "detect", "-m", str(model),
                           "-i", str(frame), "--json", str(out), "--no-show"],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "prob [1,10]" in lines[0] and "expected" in lines[0], proc.stderr
    assert "Traceback" not in proc.stderr and proc.stdout == ""
    assert not out.exists()
