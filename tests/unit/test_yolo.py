"""Ultralytics YOLO exports: each head's exact contract built as a small OpenVINO model in a folder shaped like
`yolo export format=openvino`'s (tests/synthetic_yolo.py), whose known outputs must land at known pixels of a
768x432 frame through Ultralytics' letterbox, run by the real command line; the letterbox itself against
Ultralytics' own (OpenCV resize, grey 114 border); and the metadata.yaml reader."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import time
import urllib.request

import cv2
import numpy as np
import openvino as ov
import openvino.opset13 as ops
import pytest
from conftest import model_path
from helpers import one_line_error, read_jsonl, run_ovdemo
from synthetic_yolo import (
    FRAME,
    NAMES,
    SIZE,
    anchor_rows,
    box_row,
    detect_export,
    metadata_yaml,
    save_export,
    to_input,
)

import ovdemo
from ovdemo.common.engine.inference import InferenceConfig, compile_model, embed_preprocessing
from ovdemo.common.models.ultralytics import parse_metadata, yolo_spec

BOX_TOL = 3.0  # pixels (the bound; the encoded boxes come back within the JSON's 0.1 rounding)


@pytest.fixture
def frame(tmp_path):
    path = tmp_path / "frame.png"
    assert cv2.imwrite(str(path), np.random.default_rng(0).integers(0, 256, (FRAME[1], FRAME[0], 3), np.uint8))
    return path


def run_json(family: str, model, frame, *args) -> dict:
    out = frame.parent / f"{family}.jsonl"
    result = run_ovdemo(family, "-m", model, "-i", frame, "--json", out, "--no-show", *args)
    assert result.returncode == 0, result.stderr
    records = read_jsonl(out)
    assert records[0]["image"] == {"width": FRAME[0], "height": FRAME[1]}
    return records[0]


def test_metadata_as_ultralytics_writes_it():
    meta = parse_metadata(metadata_yaml("pose", NAMES, kpt_shape=(17, 3)))
    assert meta["task"] == "pose" and meta["stride"] == 32 and meta["imgsz"] == [640, 640]
    assert meta["names"] == NAMES  # ids as ints, 'yes' unquoted to the string
    assert meta["kpt_shape"] == [17, 3] and meta["args"]["dynamic"] is False
    assert meta["description"].endswith("coco.yaml and fine-tuned")  # a folded long line joined again
    assert meta["date"] == "2025-09-26T22:02:00.992660"
    spec = yolo_spec("m", meta)
    assert spec.family == "pose" and spec.labels == ("person", "bicycle", "car", "yes") and spec.color == "RGB"


@pytest.mark.parametrize("size, fixed", [(FRAME, True), ((300, 500), False), ((SIZE, SIZE), False)])
def test_letterbox_is_ultralytics(size, fixed):
    """The model sees exactly what Ultralytics' LetterBox gives it: RGB, 0-1, resized to fit with OpenCV's
    INTER_LINEAR (down or up), centred on grey 114; with the frame size fixed in the model or left dynamic."""
    images = ops.parameter([1, 3, SIZE, SIZE], np.float32, name="images")
    model = ov.Model([ops.result(ops.multiply(images, np.float32(1)))], [images], "echo")
    frame = cv2.GaussianBlur(np.random.default_rng(1).integers(0, 256, (size[1], size[0], 3), np.uint8), (5, 5), 0)
    spec = yolo_spec("echo", {"task": "detect"})
    compiled = compile_model(embed_preprocessing(model, spec, size if fixed else None),
                             InferenceConfig(precision="f32"))
    seen = compiled(frame[None])[0][0].transpose(1, 2, 0)
    scale = min(SIZE / size[0], SIZE / size[1])
    w, h = round(size[0] * scale), round(size[1] * scale)
    top, left = round((SIZE - h) / 2 - 0.1), round((SIZE - w) / 2 - 0.1)
    resized = cv2.resize(frame, (w, h), interpolation=cv2.INTER_LINEAR)
    expected = cv2.copyMakeBorder(resized, top, SIZE - h - top, left, SIZE - w - left, cv2.BORDER_CONSTANT,
                                  value=(114, 114, 114))[..., ::-1] / 255.0
    assert np.abs(seen - expected).max() < 2 / 255  # OpenCV's and OpenVINO's bilinear weights round apart


def test_detect_folder_box_and_name(tmp_path, frame):
    """`ovdemo detect -m FOLDER`: the box at its frame pixels, its name from metadata.yaml, NMS per class."""
    export = detect_export(tmp_path, [([200, 100, 300, 350], 3, 0.9), ([500, 200, 700, 420], 2, 0.6),
                                      ([205, 105, 300, 350], 3, 0.5), ([500, 200, 700, 420], 0, 0.4)])
    objects = run_json("detect", export, frame)["objects"]
    summary = [(o["label"], o["bbox"]) for o in objects]
    assert [(o["label"], o["label_id"]) for o in objects] == [("yes", 3), ("car", 2), ("person", 0)], summary
    assert objects[0]["bbox"] == pytest.approx([200, 100, 300, 350], abs=BOX_TOL)
    assert objects[1]["bbox"] == pytest.approx([500, 200, 700, 420], abs=BOX_TOL)
    assert objects[0]["confidence"] == pytest.approx(0.9, abs=1e-4)
    agnostic = run_json("detect", export / "yolo11n.xml", frame, "--agnostic-nms")["objects"]
    assert [o["label"] for o in agnostic] == ["yes", "car"]  # the person box under the car's goes


def test_plain_file_needs_arch_and_labels(tmp_path, frame):
    """No metadata.yaml: --arch yolov8 brings Ultralytics' preprocessing, --labels the names."""
    export = detect_export(tmp_path, [([200, 100, 300, 350], 1, 0.8)], metadata=False)
    labels = tmp_path / "labels.txt"
    labels.write_text("walker\nbike\n")
    objects = run_json("detect", export / "yolo11n.xml", frame, "--arch", "yolov8", "--labels", labels)["objects"]
    assert [o["label"] for o in objects] == ["bike"]
    assert objects[0]["bbox"] == pytest.approx([200, 100, 300, 350], abs=BOX_TOL)


def test_plain_file_read_by_its_outputs(tmp_path, frame):
    """No metadata and no --arch: the outputs say YOLOv8, and `models info` says what ovdemo took it for."""
    export = detect_export(tmp_path, [([200, 100, 300, 350], 1, 0.8)], metadata=False)
    objects = run_json("detect", export / "yolo11n.xml", frame)["objects"]
    assert [o["label"] for o in objects] == ["#1"] and objects[0]["bbox"] == pytest.approx([200, 100, 300, 350],
                                                                                           abs=BOX_TOL)
    info = run_ovdemo("models", "info", export / "yolo11n.xml")
    assert info.returncode == 0, info.stderr
    assert "runs in:    ovdemo detect" in info.stdout and "decoder:    yolov8" in info.stdout
    assert "letterboxed, centred on grey 114" in info.stdout and "RGB, 0-1" in info.stdout


def test_load_finds_the_family_from_the_task(tmp_path):
    """`ovdemo.load(FOLDER)`: metadata.yaml's task picks the family; keypoints come back from Python too."""
    points = np.array([[300 + 5 * j, 80 + 15 * j] for j in range(17)], np.float64)
    kp = np.concatenate([to_input(points), np.full((17, 1), 0.9)], axis=1)
    out = anchor_rows(56, {5000: box_row([280, 60, 400, 350]) + [0.8] + kp.ravel().tolist()})
    export = save_export(tmp_path, "yolo11n-pose", "pose", {"output0": out}, names={0: "person"})
    predictor = ovdemo.load(str(export))
    assert predictor.name == "pose"
    result = predictor(np.zeros((FRAME[1], FRAME[0], 3), np.uint8))
    assert result.objects.data["keypoints"][0, 0, :2] == pytest.approx([300, 80], abs=1)


def test_end_to_end_head(tmp_path, frame):
    rows = np.zeros((1, 300, 6), np.float32)
    (x1, y1), (x2, y2) = to_input([[100, 50], [260, 400]])
    rows[0, 0] = [x1, y1, x2, y2, 0.85, 2]
    rows[0, 1] = [x1, y1, x2, y2, 0.1, 1]  # below the threshold
    export = save_export(tmp_path, "yolov10n", "detect", {"output0": rows})
    objects = run_json("detect", export, frame)["objects"]
    assert [(o["label"], o["confidence"]) for o in objects] == [("car", 0.85)]
    assert objects[0]["bbox"] == pytest.approx([100, 50, 260, 400], abs=BOX_TOL)


def test_obb_quad(tmp_path, frame):
    """An oriented box: its corners as `quad` in frame pixels, its box their extent."""
    cx, cy, w, h = box_row([300, 150, 420, 230])
    angle = np.pi / 6
    out = anchor_rows(4 + 2 + 1, {700: [cx, cy, w, h, 0.0, 0.9, angle]})
    export = save_export(tmp_path, "yolo11n-obb", "obb", {"output0": out}, names={0: "plane", 1: "ship"})
    obj = run_json("detect", export, frame)["objects"][0]
    assert obj["label"] == "ship"
    c, s = np.cos(angle), np.sin(angle)
    centre = np.array([360.0, 190.0])
    half_w, half_h = np.array([c, s]) * 60, np.array([-s, c]) * 40  # frame pixels: the box is 120 x 80
    expected = [centre - half_w - half_h, centre + half_w - half_h, centre + half_w + half_h,
                centre - half_w + half_h]
    assert np.abs(np.array(obj["quad"]) - expected).max() <= BOX_TOL, obj["quad"]
    assert obj["bbox"] == pytest.approx([*np.min(expected, 0), *np.max(expected, 0)], abs=BOX_TOL)


def test_segment_mask_in_its_box(tmp_path, frame):
    """A mask from prototype 0 (on where the input's x < 250, i.e. frame x < 300) times coefficient 1: cropped
    to its box [200, 100, 400, 300], it fills the box's left half."""
    out = anchor_rows(4 + 4 + 32, {900: box_row([200, 100, 400, 300]) + [0.0, 0.0, 0.95, 0.0] + [1.0] + [0.0] * 31})
    protos = np.full((1, 32, SIZE // 4, SIZE // 4), -20.0, np.float32)
    edge = to_input([[300, 0]])[0, 0] / 4  # frame x 300 in prototype cells
    protos[0, 0, :, : int(round(edge))] = 20.0
    export = save_export(tmp_path, "yolo11n-seg", "segment", {"output0": out, "output1": protos})
    obj = run_json("segment", export, frame)["objects"][0]
    assert obj["label"] == "car" and obj["bbox"] == pytest.approx([200, 100, 400, 300], abs=BOX_TOL)
    xs = np.concatenate([np.array(p)[:, 0] for p in obj["polygons"]])
    assert xs.min() == pytest.approx(200, abs=BOX_TOL) and xs.max() == pytest.approx(300, abs=BOX_TOL)
    assert obj["area"] == pytest.approx(100 * 200, rel=0.05)


def test_pose_keypoints(tmp_path, frame):
    points = np.array([[300 + 5 * j, 80 + 15 * j] for j in range(17)], np.float64)
    kp = np.concatenate([to_input(points), np.full((17, 1), 0.9)], axis=1)
    kp[3, 2] = 0.01  # not visible: not written
    out = anchor_rows(56, {5000: box_row([280, 60, 400, 350]) + [0.8] + kp.ravel().tolist()})
    export = save_export(tmp_path, "yolo11n-pose", "pose", {"output0": out}, names={0: "person"},
                         kpt_shape=(17, 3))
    obj = run_json("pose", export, frame)["objects"][0]
    assert obj["bbox"] == pytest.approx([280, 60, 400, 350], abs=BOX_TOL)
    found = obj["keypoints"]
    assert found["left_ear"] is None
    assert found["nose"][:2] == pytest.approx([300, 80], abs=1) and found["right_ankle"][:2] == pytest.approx(
        [380, 320], abs=1)


def test_classify(tmp_path, frame):
    probs = np.array([[0.1, 0.7, 0.15, 0.05]], np.float32)
    export = save_export(tmp_path, "yolo11n-cls", "classify", {"output0": probs}, size=224)
    record = run_json("action", export, frame)
    assert record["action"] == {"label": "bicycle", "label_id": 1, "confidence": pytest.approx(0.7, abs=1e-3)}


def test_another_task_names_its_command(tmp_path, frame):
    export = save_export(tmp_path, "yolo11n-pose", "pose", {"output0": anchor_rows(56, {})}, names={0: "person"})
    result = run_ovdemo("detect", "-m", export, "-i", frame, "--no-show")
    assert result.returncode == 2
    assert "ovdemo pose" in one_line_error(result)


def test_ultralytics_name_says_export(frame):
    result = run_ovdemo("detect", "-m", "yolov8n", "-i", frame, "--no-show", env={"OVDEMO_OFFLINE": "1"})
    line = one_line_error(result)
    assert "yolo export model=yolov8n.pt format=openvino" in line and "yolof" not in line


def moving_box_export(tmp_path):
    """A detector whose one person box moves right as the frame gets brighter: cx = 100 + 400 * mean(input)."""
    images = ops.parameter([1, 3, SIZE, SIZE], np.float32, name="images")
    images.output(0).get_tensor().set_names({"images"})
    mean = ops.reduce_mean(images, np.arange(4, dtype=np.int64), keep_dims=False)
    cx = ops.add(ops.multiply(mean, np.float32(400)), np.float32(100))
    base = anchor_rows(5, {4000: [0.0, 300.0, 60.0, 120.0, 0.9]})
    mask = np.zeros_like(base)
    mask[0, 0, 4000] = 1
    out = ops.add(ops.constant(base), ops.multiply(ops.constant(mask), cx))
    out.output(0).get_tensor().set_names({"output0"})
    export = tmp_path / "mover_openvino_model"
    export.mkdir()
    ov.save_model(ov.Model([ops.result(out)], [images], "mover"), export / "mover.xml", compress_to_fp16=False)
    (export / "metadata.yaml").write_text(metadata_yaml("detect", {0: "person"}))
    return export


def test_track_and_count_a_yolo_folder(tmp_path):
    """`ovdemo track --line` on a YOLO folder: the person keeps one id and crosses the line once."""
    video = tmp_path / "brighter.avi"
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"MJPG"), 10, FRAME)
    for g in np.linspace(0, 255, 30):
        writer.write(np.full((FRAME[1], FRAME[0], 3), int(g), np.uint8))
    writer.release()
    out = tmp_path / "track.jsonl"
    result = run_ovdemo("track", "-m", moving_box_export(tmp_path), "-i", video, "--reid-model", "none",
                        "--line", "350,0,350,432", "--json", out, "--no-show")
    assert result.returncode == 0, result.stderr
    records = read_jsonl(out)
    ids = {o.get("id") for r in records for o in r["objects"] if "id" in o}
    events = [e for r in records for e in r.get("events", [])]
    assert len(ids) == 1 and [e["type"] for e in events] == ["line_cross"], (ids, events)
    line = records[-1]["counts"]["lines"][0]
    assert sum(line["in"].values()) + sum(line["out"].values()) == 1, line


def test_classify_option_on_yolo_cars(tmp_path, frame, models_dir):
    """`--classify`: a vehicle-attribute model runs on a YOLO detector's "car" (a COCO name from metadata.yaml)."""
    model_path(models_dir, "vehicle-attributes-recognition-barrier-0039")
    export = detect_export(tmp_path, [([400, 150, 600, 350], 2, 0.9), ([100, 100, 200, 380], 0, 0.8)])
    objects = run_json("detect", export, frame, "--classify", "vehicle-attributes-recognition-barrier-0039",
                       "--models-dir", models_dir, "--offline")["objects"]
    by_label = {o["label"]: o for o in objects}
    assert {"color", "type"} <= set(by_label["car"]["attributes"]), by_label
    assert "attributes" not in by_label["person"]  # the model applies to vehicles only


def test_serve_shows_yolo_detections(tmp_path, frame):
    """`--serve` on a YOLO folder: the page's numbers count its objects, and the served frame has its box drawn."""
    export = detect_export(tmp_path, [([200, 100, 300, 350], 3, 0.9)])
    proc = subprocess.Popen([sys.executable, "-m", "ovdemo", "detect", "-m", str(export), "-i", str(frame), "--loop",
                             "--serve", "127.0.0.1:0", "--no-show"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            text=True)
    try:
        url = None
        for line in proc.stderr:
            match = re.search(r"on (http://\S+/)", line)
            if match:
                url = match[1]
                break
        assert url, "no URL printed"
        deadline = time.monotonic() + 60
        while True:
            with urllib.request.urlopen(url + "metrics.json", timeout=10) as answer:
                metrics = json.load(answer)
            if metrics.get("frames", 0) >= 2 or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        with urllib.request.urlopen(url + "frame.jpg", timeout=10) as answer:
            shown = cv2.imdecode(np.frombuffer(answer.read(), np.uint8), cv2.IMREAD_COLOR)
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=60)
    assert metrics["frames"] >= 2 and metrics["model"] == "yolo11n", metrics
    plain = cv2.imread(str(frame))
    changed = np.abs(shown.astype(int) - plain.astype(int)).max(axis=2) > 60
    assert changed[100:350, 198:203].mean() > 0.5  # the box's left edge is drawn where the box is


def test_missing_export_folder_says_how_to_make_it(frame):
    result = run_ovdemo("detect", "-m", "yolo11n_openvino_model/", "-i", frame, "--no-show")
    line = one_line_error(result)
    assert "Ultralytics export" in line and "yolo export model=yolo11n.pt format=openvino" in line
