"""`ovdemo face` pieces with known answers: a synthetic facial-landmarks-35-adas-0002, alignment, matching,
gallery naming and enrolment."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import openvino as ov
import openvino.opset13 as ops
import pytest
from conftest import model_path
from helpers import one_line_error, read_jsonl, run_ovdemo

from ovdemo.common.engine.family import RunContext
from ovdemo.common.engine.inference import InferenceConfig
from ovdemo.common.engine.stages import crop, crops, expand_boxes
from ovdemo.common.errors import DemoError
from ovdemo.common.results import Detections
from ovdemo.demos.face.family import FaceFamily
from ovdemo.demos.face.gallery import (
    REFERENCE_POINTS,
    UNKNOWN,
    Gallery,
    align,
    cosine_distances,
    five_points,
    gallery_photos,
    similarity_transform,
)

# 35 landmarks at known places of the crop (normalised x, y); the last point's x carries the crop's mean
# brightness so the test can tell which region of the frame the model was given.
PATTERN = np.stack([np.linspace(0.1, 0.9, 35), np.linspace(0.8, 0.2, 35)], axis=1).astype(np.float32)


def landmarks_35(path, size=60):
    """facial-landmarks-35-adas-0002's real I/O: input `data` [1,3,60,60], output `align_fc3` [1,70]."""
    data = ops.parameter([1, 3, size, size], ov.Type.f32, name="data")
    mean = ops.reduce_mean(data, ops.constant(np.array([1, 2, 3], np.int64)), keep_dims=True)  # [1,1,1,1]
    brightness = ops.reshape(ops.multiply(mean, ops.constant(np.float32(1 / 255))),
                             ops.constant(np.array([1, 1], np.int64)), False)
    head = ops.constant(PATTERN.reshape(1, 70)[:, :68])
    tail_y = ops.constant(PATTERN.reshape(1, 70)[:, 69:])
    out = ops.concat([head, brightness, tail_y], axis=1)
    out.output(0).get_tensor().set_names({"align_fc3"})
    ov.save_model(ov.Model([ops.result(out)], [data], "facial-landmarks-35-adas-0002"), str(path))
    return path


def test_35_point_landmarks_are_read_inside_their_face_region(models_dir, images_dir, tmp_path):
    model_path(models_dir, "face-detection-retail-0004")
    folder = tmp_path / "facial-landmarks-35-adas-0002" / "FP16"
    folder.mkdir(parents=True)
    synthetic = landmarks_35(folder / "facial-landmarks-35-adas-0002.xml")
    result = run_ovdemo("face", "-i", images_dir / "astronaut.png", "--landmarks-model", synthetic,
                        "--json", tmp_path / "f.jsonl", "--no-show", env={"OVDEMO_MODELS_DIR": str(models_dir)})
    assert result.returncode == 0, result.stderr
    (face,) = read_jsonl(tmp_path / "f.jsonl")[0]["objects"]
    points = np.array(face["landmarks"])
    assert points.shape == (35, 2)
    # the spec's region for this model: the face box made square and grown by 1.2 (interactive_face_detection_demo)
    roi = expand_boxes(np.array([face["bbox"]]), 1.2, square=True)[0]
    expected = roi[:2] + PATTERN * (roi[2:] - roi[:2])
    np.testing.assert_allclose(points[:34], expected[:34], atol=0.6)
    image = cv2.imread(str(images_dir / "astronaut.png"))
    brightness = crop(image, roi, (60, 60)).astype(np.float32).mean() / 255
    assert points[34, 0] == pytest.approx(roi[0] + brightness * (roi[2] - roi[0]), abs=1.0)


def thumbnail_reid(path):
    """face-reidentification-retail-0095's real I/O (input `0` [1,3,128,128], output `658` [1,256,1,1]) whose
    'embedding' is the green channel of its input averaged over 8x8 blocks: it shows what the model was given."""
    data = ops.parameter([1, 3, 128, 128], ov.Type.f32, name="0")
    green = ops.slice(data, ops.constant(np.array([1], np.int64)), ops.constant(np.array([2], np.int64)),
                      ops.constant(np.array([1], np.int64)), ops.constant(np.array([1], np.int64)))
    pooled = ops.avg_pool(green, [8, 8], [0, 0], [0, 0], [8, 8], exclude_pad=True)
    out = ops.reshape(pooled, ops.constant(np.array([-1, 256, 1, 1], np.int64)), False)
    out.output(0).get_tensor().set_names({"658"})
    ov.save_model(ov.Model([ops.result(out)], [data], "thumbnail-reid"), str(path))
    return path


def test_faces_are_aligned_on_their_landmarks_before_the_embedding(models_dir, images_dir, tmp_path):
    model_path(models_dir, "face-detection-retail-0004")
    model_path(models_dir, "landmarks-regression-retail-0009")
    # the Python API's way in: keywords instead of flags; a gallery (empty, --enroll) turns re-identification on
    opts = FaceFamily.build_options({"model": "face-detection-retail-0004", "input": "-", "models_dir": models_dir,
                                     "offline": True, "reid_model": str(thumbnail_reid(tmp_path / "reid.xml")),
                                     "gallery": tmp_path / "gallery", "enroll": True})
    family = FaceFamily.create(opts)
    family.start(RunContext(InferenceConfig(hint="latency"), None, (30.0,), False, family.opts))
    image = cv2.imread(str(images_dir / "astronaut.png"))
    rotated = cv2.warpAffine(image, cv2.getRotationMatrix2D((225, 117), 30, 1.0), (512, 512))
    box = np.array([[170, 60, 280, 180]], np.float32)  # the face, by looking (it turned about its centre)
    faces = family.analyse(rotated, Detections(box, np.ones(1, np.float32), np.ones(1, np.int32)))
    assert "embedding" not in faces.data  # the tracker's key: face embeddings are not for its person thresholds
    given = faces.data["face_embedding"].reshape(16, 16)

    def pooled(batch):
        return batch[0, :, :, 1].astype(np.float32).reshape(16, 8, 16, 8).mean(axis=(1, 3))

    aligned = pooled(align(rotated, five_points(faces.data["landmarks"]), (128, 128)))
    np.testing.assert_allclose(given, aligned, atol=1.0)
    assert np.abs(given - pooled(crops(rotated, expand_boxes(box, 1.15), (128, 128)))).mean() > 10


def test_match_threshold_is_a_hidden_alias_of_reid_threshold_on_the_old_half_scale():
    from ovdemo.cli import cli

    command = cli.commands["face"]
    old = command.make_context("face", ["-i", "x.png", "--match-threshold", "0.3"])
    assert FaceFamily.build_options(old.params, cli=True).reid_threshold == pytest.approx(0.6)
    new = command.make_context("face", ["-i", "x.png", "--reid-threshold", "0.45"])
    assert FaceFamily.build_options(new.params, cli=True).reid_threshold == pytest.approx(0.45)
    assert "--match-threshold" not in command.get_help(command.make_context("face", ["-i", "x.png"]))


def test_reid_threshold_defaults_to_the_face_reid_models_spec(models_dir, tmp_path):
    for name in ("face-detection-retail-0004", "landmarks-regression-retail-0009", "face-reidentification-retail-0095"):
        model_path(models_dir, name)
    base = {"input": "-", "models_dir": models_dir, "offline": True, "gallery": tmp_path / "g", "enroll": True}
    assert FaceFamily.create(FaceFamily.build_options(base)).match_threshold == pytest.approx(0.6)
    given = FaceFamily.create(FaceFamily.build_options({**base, "reid_threshold": 0.4}))
    assert given.match_threshold == pytest.approx(0.4)
    with pytest.raises(DemoError, match="out of range"):
        FaceFamily.create(FaceFamily.build_options({**base, "reid_threshold": 3.0}))


def test_face_accepts_face_detectors_and_leaves_other_detectors_to_detect(models_dir):
    from ovdemo.common.engine.inference import read_model
    from ovdemo.common.models.resolve import ResolvedModel
    from ovdemo.common.models.specs import find_spec

    def accepts(name, spec, precision="FP16"):
        model = read_model(model_path(models_dir, name, precision))
        return FaceFamily.accepts(model, ResolvedModel(Path(name), name, spec).spec)

    assert accepts("face-detection-retail-0004", find_spec("face-detection-retail-0004"))
    assert accepts("face-detection-0200", find_spec("face-detection-0200"))
    assert not accepts("person-detection-0202", find_spec("person-detection-0202"))
    assert not accepts("face-detection-retail-0004", None)  # an SSD of unknown classes is detect's
    assert not accepts("human-pose-estimation-0001", find_spec("human-pose-estimation-0001"), "FP16-INT8")


def test_landmarks_model_with_the_wrong_outputs_fails_in_one_line(models_dir, images_dir, tmp_path):
    head_pose = model_path(models_dir, "head-pose-estimation-adas-0001")
    result = run_ovdemo("face", "-i", images_dir / "astronaut.png", "--landmarks-model", head_pose,
                        "--json", tmp_path / "f.jsonl", "--no-show", env={"OVDEMO_MODELS_DIR": str(models_dir)})
    assert result.returncode != 0
    line = one_line_error(result)
    assert "head-pose-estimation-adas-0001" in line and "landmarks" in line and "angle_y_fc" in line, line


def test_five_points_of_35_landmarks_are_eye_centres_nose_tip_and_mouth_corners():
    landmarks = np.arange(35 * 2, dtype=np.float32).reshape(1, 35, 2)
    five = five_points(landmarks)[0]
    np.testing.assert_allclose(five[0], landmarks[0, 0:2].mean(axis=0))
    np.testing.assert_allclose(five[1], landmarks[0, 2:4].mean(axis=0))
    np.testing.assert_allclose(five[2:], landmarks[0, [4, 8, 9]])


def test_similarity_transform_recovers_rotation_scale_and_shift():
    angle, scale, shift = np.radians(20), 1.7, np.array([12.0, -5.0])
    rotation = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    src = np.random.default_rng(1).uniform(0, 100, (5, 2))
    dst = scale * src @ rotation.T + shift
    matrix = similarity_transform(src, dst)
    np.testing.assert_allclose(matrix[:, :2], scale * rotation, atol=1e-9)
    np.testing.assert_allclose(matrix[:, 2], shift, atol=1e-9)


def test_alignment_puts_the_landmarks_on_the_reference_points():
    # five white dots in a tilted, scaled face: after alignment they sit where the reid model wants them
    image = np.zeros((300, 400, 3), np.uint8)
    angle = np.radians(-25)
    rotation = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    points = (REFERENCE_POINTS * 90) @ rotation.T + (150, 80)
    for x, y in points:
        cv2.circle(image, (int(round(x)), int(round(y))), 3, (255, 255, 255), cv2.FILLED)
    (face,) = align(image, points[None], (128, 128))
    for x, y in REFERENCE_POINTS * 128:
        assert face[int(round(y)), int(round(x))].min() == 255
    assert face.mean() < 20  # only the dots: nothing else of the frame came along


def unit(angles_deg):
    a = np.radians(np.asarray(angles_deg, np.float64))
    return np.stack([np.cos(a), np.sin(a)], axis=1)


def test_cosine_distance_is_one_minus_cosine():
    d = cosine_distances(unit([0]), unit([0, 90, 180]))
    np.testing.assert_allclose(d, [[0.0, 1.0, 2.0]], atol=1e-9)


def test_matching_never_gives_two_faces_one_identity(tmp_path):
    gallery = Gallery(tmp_path)
    gallery.add("ann", unit([0])[0])
    gallery.add("bob", unit([60])[0])
    gallery.add("bob", unit([40])[0])  # bob's nearest photo decides his distance
    # both faces are nearest to ann; together they are best explained as ann and bob
    faces = unit([5, 12])
    match = gallery.match(faces, threshold=0.6)
    assert match.identities == ["ann", "bob"]
    np.testing.assert_allclose(match.distances, cosine_distances(faces, unit([0, 40]))[[0, 1], [0, 1]], atol=1e-6)
    # a third face cannot take anyone's identity; a far face is Unknown
    match = gallery.match(unit([1, 38, 3, 180]), threshold=0.6)
    assert match.identities == ["ann", "bob", UNKNOWN, UNKNOWN]
    assert match.distances[3] == pytest.approx(cosine_distances(unit([180]), unit([60]))[0, 0], abs=1e-6)
    assert gallery.match(unit([20]), threshold=0.02).identities == [UNKNOWN]


def test_gallery_names_come_from_files_and_folders(tmp_path):
    for name in ("alice-1.jpg", "alice-2.png", "bob.jpg", "unknown-3.jpg", "unknown-12.jpg", "notes.txt",
                 "carol/holiday.jpg", "carol/badge-7.jpg", ".hidden.jpg"):
        (tmp_path / name).parent.mkdir(exist_ok=True)
        (tmp_path / name).write_bytes(b"")
    names = sorted((n, p.name) for n, p in gallery_photos(tmp_path))
    assert names == [("alice", "alice-1.jpg"), ("alice", "alice-2.png"), ("bob", "bob.jpg"),
                     ("carol", "badge-7.jpg"), ("carol", "holiday.jpg"),
                     ("unknown-12", "unknown-12.jpg"), ("unknown-3", "unknown-3.jpg")]


def test_enrol_writes_the_next_unknown_whole(tmp_path):
    (tmp_path / "unknown-2.jpg").write_bytes(b"x")
    gallery = Gallery(tmp_path)
    face = np.full((40, 30, 3), 128, np.uint8)
    box, points = np.array([2, 2, 28, 38], np.float32), np.full((5, 2), 15, np.float32)
    assert gallery.enroll(face, unit([0])[0], box, points) == "unknown-3"
    assert gallery.enroll(face, unit([90])[0], box, points) == "unknown-4"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["unknown-2.jpg", "unknown-3.jpg", "unknown-4.jpg"]
    assert cv2.imread(str(tmp_path / "unknown-4.jpg")).shape == (40, 30, 3)
    assert gallery.match(unit([88]), 0.2).identities == ["unknown-4"]
