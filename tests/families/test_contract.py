"""The family contract: every family, run on real models and real input, writes JSON lines that validate against
assets/schema/frame.schema.json and keep the schema's invariants, with --raw lines derived from the same data."""

from __future__ import annotations

import json
import re
from pathlib import Path

import cv2
import jsonschema
import numpy as np
import pytest
from conftest import REPO
from helpers import read_jsonl, run_ovdemo
from synthetic_yolo import FRAME, anchor_rows, box_row, save_export, to_input

SCHEMA = json.loads((REPO / "assets" / "schema" / "frame.schema.json").read_text())
VALIDATOR = jsonschema.Draft202012Validator(SCHEMA)

# family -> (model files it needs, input, extra arguments, frames); every one a real model on real frames
RUNS = {
    "detect": (["person-detection-0202"], "videos/preview-people-detection.gif", [], 12),
    "detect-track": (["person-detection-0202"], "videos/one-by-one-person-detection.mp4",
                     ["--track", "--line", "0,300,768,300", "--zone", "300,0,768,0,768,432,300,432"], 120),
    "track": (["person-detection-0202", "person-reidentification-retail-0277"],
              "videos/one-by-one-person-detection.mp4", ["--line", "0,300,768,300", "--infer-every", "2"], 120),
    "face": (["face-detection-retail-0004", "landmarks-regression-retail-0009", "age-gender-recognition-retail-0013",
              "emotions-recognition-retail-0003", "head-pose-estimation-adas-0001"],
             "videos/preview-face-demographics-walking-and-pause.gif",
             ["--age-gender", "--emotions", "--head-pose", "--track"], 12),
    "pose": (["human-pose-estimation-0001"], "videos/preview-worker-zone-detection.gif", ["--track"], 10),
    "segment": (["road-segmentation-adas-0001"], "videos/car-detection.mp4", [], 4),
    "text": (["ppocrv5"], "images/page.png", [], 1),
    "action": (["person-detection-action-recognition-0005"], "videos/preview-classroom.gif", ["--track"], 10),
}
MODELS = {  # -m for each run
    "detect": "person-detection-0202", "detect-track": "person-detection-0202", "track": "person-detection-0202",
    "face": "face-detection-retail-0004", "pose": "human-pose-estimation-0001",
    "segment": "road-segmentation-adas-0001", "action": "person-detection-action-recognition-0005",
}


def run_family(name: str, models_dir: Path, shared: Path, tmp_path: Path) -> tuple[list[dict], str]:
    needs, source, extra, frames = RUNS[name]
    family = name.split("-")[0]
    if name == "text":
        det = shared / "models" / "ppocrv5" / "onnx" / "ppocrv5_det.onnx"
        if not det.is_file():
            pytest.skip(f"PP-OCRv5 is not in {models_dir}")
        model = [str(det), "--alphabet", str(det.parent / "ppocr_keys_v5.txt")]
    else:
        for needed in needs:  # any precision ovdemo falls back to will do
            if not any((models_dir / needed / p / f"{needed}.xml").is_file() for p in ("FP16", "FP16-INT8", "FP32")):
                pytest.skip(f"{needed} is not in {models_dir}")
        model = [MODELS[name]]
    path = shared / source
    if not path.exists():
        pytest.skip(f"{path} is not there")
    out = tmp_path / "out.jsonl"
    result = run_ovdemo(family, "-m", *model, "-i", path, "--models-dir", models_dir, "--offline", "--no-show",
                        "--precision", "FP16-INT8" if family == "pose" else "FP16", "--max-frames", frames,
                        "--json", out, "--raw", *extra)
    assert result.returncode == 0, result.stderr
    records = read_jsonl(out)
    assert len(records) == frames
    return records, result.stdout


@pytest.fixture(scope="module")
def shared(models_dir):
    return models_dir.parent


@pytest.mark.parametrize("name", sorted(RUNS))
def test_every_record_fits_the_schema_and_its_invariants(name, models_dir, shared, tmp_path):
    records, raw = run_family(name, models_dir, shared, tmp_path)
    tracked = "--track" in RUNS[name][2] or name == "track"
    seen_objects = 0
    for k, record in enumerate(records):
        VALIDATOR.validate(record)
        assert record["schema"] == 1 and record["frame"] == k
        width, height = record["image"]["width"], record["image"]["height"]
        for obj in record["objects"]:
            x1, y1, x2, y2 = obj["bbox"]
            assert 0 <= x1 <= x2 <= width and 0 <= y1 <= y2 <= height, obj
            # a track id is `id`, only with a tracker, and only once the track is confirmed (issue 26)
            assert ("id" in obj) == (tracked and obj.get("track_state") != "tentative"), obj
            assert ("track_state" in obj) == tracked, obj
        seen_objects += len(record["objects"])
    if name != "segment":  # a semantic model has no box-shaped results; every other run sees its things
        assert seen_objects > 0, name
    else:
        assert all(r["objects"] == [] and r["class_shares"] for r in records)
    # --raw: one header per frame counting exactly the objects listed under it, the same as the JSON
    blocks = re.split(r"^(?=frame \d+:)", raw, flags=re.M)
    headers = [b for b in blocks if b.startswith("frame ")]
    assert len(headers) == len(records)
    for block, record in zip(headers, records, strict=True):
        count = int(re.match(r"frame \d+: (\d+) object", block).group(1))
        assert count == len(record["objects"])
        object_lines = [ln for ln in block.splitlines()[1:] if re.match(r"  \S.* \(\d+\)( #\d+)? \d\.\d{3} \[", ln)]
        assert len(object_lines) == count, block


def test_family_specific_extras_use_the_shared_keys(models_dir, shared, tmp_path):
    """Faces carry landmarks, attributes and head pose under the schema's keys; counting carries its events."""
    records, _ = run_family("face", models_dir, shared, tmp_path)
    faces = [o for r in records for o in r["objects"]]
    assert faces and all(len(f["landmarks"]) == 5 and {"age", "gender", "emotion"} <= set(f["attributes"])
                         and set(f["head_pose"]) == {"yaw", "pitch", "roll"} for f in faces)
    records, _ = run_family("detect-track", models_dir, shared, tmp_path)
    assert all("counts" in r and "events" in r for r in records)


def test_yolo_heads_fit_the_schema(tmp_path):
    """Ultralytics heads (tests/synthetic_yolo.py) write the shared keys: an oriented box's `quad` (tracked, so its
    corners move with the track), masks' polygons, keypoints by COCO name, a classifier's frame-level action."""
    image = tmp_path / "frame.png"
    cv2.imwrite(str(image), np.zeros((FRAME[1], FRAME[0], 3), np.uint8))
    obb = anchor_rows(4 + 1 + 1, {700: [*box_row([300, 150, 420, 230]), 0.9, 0.5]})
    seg = anchor_rows(4 + 1 + 32, {900: [*box_row([200, 100, 400, 300]), 0.9, 5.0]})
    kp = np.concatenate([to_input([[300 + 5 * j, 80 + 15 * j] for j in range(17)]), np.full((17, 1), 0.9)], 1)
    pose = anchor_rows(56, {5000: [*box_row([280, 60, 400, 350]), 0.8, *kp.ravel()]})
    runs = {
        "detect": (save_export(tmp_path / "o", "obb", "obb", {"output0": obb}, {0: "ship"}), ["--track"], "quad"),
        "segment": (save_export(tmp_path / "s", "seg", "segment", {"output0": seg, "output1": np.ones(
            (1, 32, 160, 160), np.float32)}, {0: "car"}), [], "polygons"),
        "pose": (save_export(tmp_path / "p", "pose", "pose", {"output0": pose}, {0: "person"}), [], "keypoints"),
        "action": (save_export(tmp_path / "c", "cls", "classify", {"output0": np.array([[0.2, 0.8]], np.float32)},
                               {0: "cat", 1: "dog"}, size=224), [], None),
    }
    for family, (export, extra, key) in runs.items():
        out = tmp_path / f"{family}.jsonl"
        result = run_ovdemo(family, "-m", export, "-i", image, "--json", out, "--no-show", *extra)
        assert result.returncode == 0, result.stderr
        for record in read_jsonl(out):
            VALIDATOR.validate(record)
            if key:
                assert record["objects"] and all(key in o for o in record["objects"]), (family, record)
            else:
                assert record["action"]["label"] == "dog", record
