"""RetinaFace in `ovdemo face`: faces with five landmarks straight from the detector, the letterbox resize, and
both output layouts.

The real model is retinaface-mnet25 (../shared): InsightFace's MobileNet-0.25 RetinaFace in exactly the I/O
contract of Open Model Zoo's retinaface-resnet50 (nine per-stride outputs). Ground truth was read off the images
by eye (zoomed crops with a pixel grid).
"""

from __future__ import annotations

import cv2
import numpy as np
import openvino as ov
import pytest
from conftest import model_path
from helpers import iou, read_jsonl, run_ovdemo

import ovdemo
from ovdemo.common.engine.family import DecoderSetup
from ovdemo.common.engine.inference import ModelOutputs
from ovdemo.common.models.detector import RetinaFaceDecoder
from ovdemo.common.models.letterbox import padded_size
from ovdemo.common.models.specs import find_spec

NAME = "retinaface-mnet25"
# astronaut.png (512x512): pupils, nose tip and mouth corners (left = the image's left)
ASTRONAUT = {"left_eye": (203.5, 101.0), "right_eye": (245.5, 102.5), "nose": (223.0, 127.0),
             "mouth_left": (203.0, 140.0), "mouth_right": (243.5, 141.0)}
ASTRONAUT_FACE = (175, 50, 275, 185)
LANDMARK_TOLERANCE = 5.0  # px, on a face about 90 px wide
# preview-face-demographics-walking-and-pause.gif (480x270): woman, man, woman, left to right
WALK_AND_PAUSE = {0: [(100, 95, 130, 140), (205, 80, 245, 135), (300, 95, 345, 155)],
                  40: [(55, 75, 105, 150), (195, 60, 255, 140), (345, 90, 400, 170)]}
GIF = "preview-face-demographics-walking-and-pause.gif"


@pytest.fixture(scope="module")
def only_retinaface(models_dir, tmp_path_factory):
    """A models folder holding RetinaFace alone: a run that needed a landmarks model would fail (offline)."""
    model_path(models_dir, NAME, "FP32")
    folder = tmp_path_factory.mktemp("models")
    (folder / NAME).symlink_to(models_dir / NAME)
    return {"OVDEMO_MODELS_DIR": str(folder), "OVDEMO_OFFLINE": "1"}


def face(env, tmp_path, *args) -> list[dict]:
    out = tmp_path / "faces.jsonl"
    result = run_ovdemo("face", *args, "--json", out, "--no-show", "--infer-precision", "f32", env=env)
    assert result.returncode == 0, result.stderr
    return read_jsonl(out)


def test_astronaut_one_face_with_its_landmarks_from_the_detector(only_retinaface, images_dir, tmp_path):
    (record,) = face(only_retinaface, tmp_path, "-m", NAME, "--precision", "FP32", "-i", images_dir / "astronaut.png")
    (found,) = record["objects"]
    assert found["label"] == "face" and found["confidence"] > 0.9
    assert iou(found["bbox"], ASTRONAUT_FACE) > 0.7, found["bbox"]
    for (part, want), got in zip(ASTRONAUT.items(), found["landmarks"], strict=True):
        assert np.hypot(got[0] - want[0], got[1] - want[1]) < LANDMARK_TOLERANCE, (part, got, want)


def test_no_face_on_the_cat(only_retinaface, images_dir, tmp_path):
    (record,) = face(only_retinaface, tmp_path, "-m", NAME, "-i", images_dir / "chelsea.png")
    assert record["objects"] == []


def test_letterbox_finds_the_three_faces_a_stretch_misses(only_retinaface, models_dir, videos_dir, tmp_path):
    records = face(only_retinaface, tmp_path, "-m", NAME, "-i", videos_dir / GIF)
    assert len(records) == 41 and all(len(r["objects"]) == 3 for r in records)
    for frame, expected in WALK_AND_PAUSE.items():
        found = [o["bbox"] for o in records[frame]["objects"]]
        for truth in expected:
            assert max(iou(truth, box) for box in found) > 0.5, (frame, truth, found)
        assert all(len(o["landmarks"]) == 5 for o in records[frame]["objects"])
    # the same network under another name has no spec: no letterbox, the 480x270 frame is stretched to 640x640
    plain = tmp_path / "plain"
    plain.mkdir()
    for suffix in (".xml", ".bin"):
        (plain / f"stretched{suffix}").symlink_to(models_dir / NAME / "FP32" / f"{NAME}{suffix}")
    stretched = face(only_retinaface, tmp_path, "-m", plain / "stretched.xml", "--arch", "retinaface",
                     "-i", videos_dir / GIF, "--max-frames", 1)
    assert len(stretched[0]["objects"]) == 1


def test_letterboxed_boxes_map_back_exactly(models_dir, videos_dir, monkeypatch):
    """A frame letterboxed inside the model gives the boxes of the same frame padded by hand."""
    monkeypatch.setenv("OVDEMO_MODELS_DIR", str(models_dir))
    model_path(models_dir, NAME, "FP32")
    cap = cv2.VideoCapture(str(videos_dir / GIF))
    ok, frame = cap.read()
    assert ok
    padded = np.zeros((480, 480, 3), np.uint8)
    padded[:270] = frame
    assert padded_size((480, 270), (640, 640)) == (480, 480)
    with ovdemo.load(NAME, precision="FP32", infer_precision="f32") as faces:
        inside = faces(frame).objects
        by_hand = faces(padded).objects
    assert len(inside) == len(by_hand) == 3
    order = np.argsort(inside.xyxy[:, 0]), np.argsort(by_hand.xyxy[:, 0])
    np.testing.assert_allclose(inside.xyxy[order[0]], by_hand.xyxy[order[1]], atol=0.05)
    np.testing.assert_allclose(inside.data["landmarks"][order[0]], by_hand.data["landmarks"][order[1]], atol=0.05)


def test_per_face_models_and_the_gallery_take_the_detectors_landmarks(models_dir, images_dir, tmp_path):
    model_path(models_dir, NAME, "FP32")
    gallery = tmp_path / "gallery"
    gallery.mkdir()
    cv2.imwrite(str(gallery / "astronaut-1.jpg"), cv2.imread(str(images_dir / "astronaut.png")))
    env = {"OVDEMO_MODELS_DIR": str(models_dir)}
    (record,) = face(env, tmp_path, "-m", NAME, "-i", images_dir / "astronaut.png", "--age-gender", "--emotions",
                     "--head-pose", "--gallery", gallery)
    (found,) = record["objects"]
    assert found["attributes"]["gender"]["label"] == "female" and found["attributes"]["emotion"]["label"] == "happy"
    assert abs(found["head_pose"]["yaw"]) < 15
    assert found["identity"]["name"] == "astronaut" and found["identity"]["distance"] < 0.3
    # an explicit --landmarks-model still wins: its points differ from the detector's, and still sit on the face
    (other,) = face(env, tmp_path, "-m", NAME, "-i", images_dir / "astronaut.png",
                    "--landmarks-model", "landmarks-regression-retail-0009")[0]["objects"]
    moved = np.hypot(*(np.array(other["landmarks"]) - np.array(found["landmarks"])).T)
    assert moved.max() > 1.0 and moved.max() < 15, moved


def test_python_api_gives_faces_with_landmarks(models_dir, images_dir, monkeypatch):
    monkeypatch.setenv("OVDEMO_MODELS_DIR", str(models_dir))
    model_path(models_dir, NAME, "FP32")
    with ovdemo.load(NAME, precision="FP32", infer_precision="f32") as faces:
        assert faces.name == "face"  # from its spec
        objects = faces(cv2.imread(str(images_dir / "astronaut.png"))).objects
    assert objects.data["landmarks"].shape == (1, 5, 2)
    np.testing.assert_allclose(objects.data["landmarks"][0], list(ASTRONAUT.values()), atol=LANDMARK_TOLERANCE)


def pytorch_layout_model() -> ov.Model:
    """A stand-in graph with the PyTorch port's three concatenated outputs over 640x640 priors."""
    image = ov.opset13.parameter([1, 3, 640, 640], ov.Type.f32, name="data")
    n = 16800  # priors of 640x640: (80*80 + 40*40 + 20*20) * 2
    outputs = []
    for name, width in (("face_rpn_bbox_pred", 4), ("face_rpn_cls_prob", 2), ("face_rpn_landmark_pred", 10)):
        constant = ov.opset13.constant(np.zeros((1, n, width), np.float32))
        result = ov.opset13.add(constant, ov.opset13.reduce_sum(image, [0, 1, 2, 3], keep_dims=False))
        result.output(0).set_names({name})
        outputs.append(result)
    return ov.Model(outputs, [image])


def test_pytorch_layout_decodes_priors_with_their_variances():
    """Faces written into the PyTorch layout by its published encoding (biubug6/Pytorch_Retinaface: priors of
    min sizes 16/32, 64/128, 256/512 at strides 8/16/32, row by row, offsets over 0.1 and 0.2 of the prior)."""
    model = pytorch_layout_model()
    decoder = RetinaFaceDecoder(model, DecoderSetup(find_spec("retinaface-resnet50-pytorch"), 0.5, ("face",),
                                                    (640, 640)))
    faces = [  # (prior index, box in input pixels, five landmarks)
        (2 * (10 * 80 + 20) + 1, (150.0, 60.0, 190.0, 110.0), [(160, 80), (180, 80), (170, 90), (162, 100),
                                                               (178, 100)]),
        (6400 * 2 + 2 * (3 * 40 + 30), (440.0, 30.0, 520.0, 120.0), [(460, 60), (500, 60), (480, 80), (465, 100),
                                                                      (495, 100)]),
    ]
    rows = {"face_rpn_bbox_pred": np.zeros((1, 16800, 4), np.float32),
            "face_rpn_cls_prob": np.tile(np.float32([1, 0]), (1, 16800, 1)),
            "face_rpn_landmark_pred": np.zeros((1, 16800, 10), np.float32)}
    for index, box, points in faces:
        stride, rest = (8, index) if index < 12800 else (16, index - 12800)
        cells, size_i = divmod(rest, 2)
        row, col = divmod(cells, 640 // stride)
        size = {8: (16, 32), 16: (64, 128)}[stride][size_i]
        cx, cy = (col + 0.5) * stride, (row + 0.5) * stride
        bx, by = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
        rows["face_rpn_bbox_pred"][0, index] = [(bx - cx) / (0.1 * size), (by - cy) / (0.1 * size),
                                                np.log((box[2] - box[0]) / size) / 0.2,
                                                np.log((box[3] - box[1]) / size) / 0.2]
        rows["face_rpn_cls_prob"][0, index] = [0.05, 0.95]
        rows["face_rpn_landmark_pred"][0, index] = [v for x, y in points
                                                    for v in ((x - cx) / (0.1 * size), (y - cy) / (0.1 * size))]
    outputs = ModelOutputs([(frozenset({k}), v) for k, v in rows.items()])
    found = decoder.decode(outputs, (1280, 1280))  # a square frame twice the input's size
    order = np.argsort(found.xyxy[:, 0])
    assert len(found) == 2
    np.testing.assert_allclose(found.xyxy[order], [np.array(b) * 2 for _, b, _ in faces], atol=0.01)
    np.testing.assert_allclose(found.data["landmarks"][order], [np.array(p) * 2 for _, _, p in faces], atol=0.01)
    np.testing.assert_allclose(found.confidence, 0.95, atol=1e-6)
