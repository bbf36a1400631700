"""`ovdemo face`'s per-face answers on real frames against the plain models: each face region cut as Open
Model Zoo's demos cut it (landmarks: the box grown by 1.15 about its centre, face_recognition_demo's
-exp_r_fd; age/gender, emotions, head pose: a square of the box's longer side grown by 1.2,
interactive_face_detection_demo's -bb_enlarge_coef), resized by OpenCV, given to the unchanged model at batch
1 (in f32, and at the CPU's default precision: see reference.py), and read as the model documents say. The face
boxes are ovdemo's (its detectors have their own reference test); what is checked is everything after them."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from conftest import model_path
from reference import (
    PRECISIONS,
    cosine,
    cut,
    infer,
    input_size,
    nchw,
    noise,
    ovdemo_precision,
    plain_model,
    video_frames,
)

import ovdemo

pytestmark = pytest.mark.slow  # real video end to end: `make quick` leaves it out

# (video, frames): one large face turning its head at 1080p; three faces, two walking, two turning at 480x270
FRAMES = [
    ("pointer-demo.mp4", (0, 150, 300, 450, 570)),
    ("preview-face-demographics-walking-and-pause.gif", (5, 30)),
    ("preview-face-demographics-walking.gif", (30,)),
    ("preview-head-pose-face-detection-female-and-male.gif", (10, 30, 50)),
]
STAGES = {"landmarks": ("landmarks-regression-retail-0009", "FP16"),
          "age-gender": ("age-gender-recognition-retail-0013", "FP16-INT8"),
          "emotions": ("emotions-recognition-retail-0003", "FP16-INT8"),
          "head-pose": ("head-pose-estimation-adas-0001", "FP16"),
          "reid": ("face-reidentification-retail-0095", "FP16")}
# face-reidentification-retail-0095's documented eye centres, nose tip and mouth corners in a 96x112 face
REID_POINTS = np.array([(30.2946, 51.6963), (65.5318, 51.5014), (48.0252, 71.7366), (33.5493, 92.3655),
                        (62.7299, 92.2041)]) / (96.0, 112.0)
LANDMARK_PX = 1.0  # the bar: a dot off by more than a pixel is a wrong answer
# the same f32 model on the same pixels: only the order of float sums differs
AGE_YEARS, PROBABILITY, DEGREES, MIN_COSINE = 0.05, 0.002, 0.05, 0.9999
# at the default precision, whatever the reference's own noise: bf16 CPUs once put these 16-70 px off
LANDMARK_PX_DEFAULT = 4.0


def region(box, scale: float, square: bool = False) -> np.ndarray:
    """The whole-pixel region a model sees: the box grown about its centre (square first when asked)."""
    box = np.asarray(box, np.float64)
    centre, size = (box[:2] + box[2:]) / 2, box[2:] - box[:2]
    if square:
        size = np.full(2, size.max())
    return np.round(np.concatenate([centre - size * scale / 2, centre + size * scale / 2]))


def inside(roi, frame) -> bool:
    return roi[0] >= 0 and roi[1] >= 0 and roi[2] <= frame.shape[1] and roi[3] <= frame.shape[0]


def similarity(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """The least-squares rotation + uniform scale + shift taking points src onto dst, as a 2x3 matrix:
    x' = a x - b y + tx, y' = b x + a y + ty solved as one linear system."""
    rows = [[x, -y, 1, 0] for x, y in src] + [[y, x, 0, 1] for x, y in src]
    a, b, tx, ty = np.linalg.lstsq(np.array(rows, np.float64), np.concatenate([dst[:, 0], dst[:, 1]]),
                                   rcond=None)[0]
    return np.array([[a, -b, tx], [b, a, ty]])


def reference_face(models: dict, frame: np.ndarray, box) -> dict | None:
    """What the plain models say of the face in `box`; None when a region reaches past the frame (Open Model
    Zoo clips such regions, ovdemo pads them: no one reference)."""
    near, square = region(box, 1.15), region(box, 1.2, square=True)
    if not inside(near, frame) or not inside(square, frame):
        return None
    landmarks_model = models["landmarks"]
    points = infer(landmarks_model, nchw(cut(frame, near), input_size(landmarks_model)))["95"].reshape(5, 2)
    points = near[:2] + points * (near[2:] - near[:2])  # normalised to the region cut
    square_crop = cut(frame, square)
    age_gender = infer(models["age-gender"], nchw(square_crop, input_size(models["age-gender"])))
    emotions = infer(models["emotions"], nchw(square_crop, input_size(models["emotions"])))["prob_emotion"]
    pose = infer(models["head-pose"], nchw(square_crop, input_size(models["head-pose"])))
    size = input_size(models["reid"])
    aligned = cv2.warpAffine(frame, similarity(points, REID_POINTS * size), size, flags=cv2.INTER_LINEAR)
    return {"landmarks": points, "age": float(age_gender["age_conv3"].ravel()[0]) * 100,
            "male": float(age_gender["prob"].ravel()[1]), "emotions": emotions.ravel(),
            "head_pose": [float(pose[f"angle_{a}_fc"].ravel()[0]) for a in "ypr"],
            "embedding": infer(models["reid"], nchw(aligned))["658"].ravel()}


def models(models_dir, precision: str) -> dict:
    return {kind: plain_model(model_path(models_dir, name, file_precision), precision)
            for kind, (name, file_precision) in STAGES.items()}


@pytest.mark.parametrize("precision", PRECISIONS)
def test_every_face_stage_equals_the_plain_model(precision, models_dir, videos_dir, tmp_path, monkeypatch):
    monkeypatch.setenv("OVDEMO_MODELS_DIR", str(models_dir))
    predictor = ovdemo.load("face-detection-retail-0004", family="face", offline=True,
                            infer_precision=ovdemo_precision(precision),
                            age_gender=True, emotions=True, head_pose=True, gallery=str(tmp_path), enroll=True)
    reference, exact = models(models_dir, precision), models(models_dir, "f32")
    compared, worst = 0, 0.0
    for video, indices in FRAMES:
        for index, frame in video_frames(videos_dir / video, indices).items():
            faces = predictor(frame).objects
            for i in range(len(faces)):
                want = reference_face(reference, frame, faces.xyxy[i])
                if want is None:
                    continue
                # the reference's own distance from f32 on this face (0 in the f32 run)
                f32 = want if precision == "f32" else reference_face(exact, frame, faces.xyxy[i])
                slack = {k: 2 * noise(want[k], f32[k]) for k in ("landmarks", "age", "male", "emotions", "head_pose")}
                where = (video, index, np.round(faces.xyxy[i]).tolist())
                off = np.abs(faces.data["landmarks"][i] - want["landmarks"]).max()
                worst = max(worst, off)
                assert off <= min(LANDMARK_PX + slack["landmarks"].max(), LANDMARK_PX_DEFAULT), \
                    (where, faces.data["landmarks"][i].round(1), want["landmarks"].round(1))
                attributes = faces.data["attributes"][i]
                assert attributes["age"]["value"] == pytest.approx(want["age"], abs=AGE_YEARS + slack["age"]), where
                male = attributes["gender"]["confidence"] if attributes["gender"]["label"] == "male" \
                    else 1 - attributes["gender"]["confidence"]
                assert male == pytest.approx(want["male"], abs=PROBABILITY + slack["male"]), where
                scores = np.array(list(attributes["emotion"]["scores"].values()))
                assert np.all(np.abs(scores - want["emotions"]) <= PROBABILITY + slack["emotions"]), where
                if precision == "f32" or np.ptp(np.sort(want["emotions"])[-2:]) > 2 * slack["emotions"].max():
                    assert attributes["emotion"]["label_id"] == int(want["emotions"].argmax()), where
                pose = faces.data["head_pose"][i]  # {yaw, pitch, roll}, as in the JSON (issue 26)
                assert np.all(np.abs(np.array([pose[k] for k in ("yaw", "pitch", "roll")]) - want["head_pose"])
                              <= DEGREES + slack["head_pose"]), where
                # the embedding of a face aligned on landmarks that moved by the noise above
                min_cosine = MIN_COSINE - 2 * (1 - cosine(want["embedding"], f32["embedding"]))
                assert cosine(faces.data["face_embedding"][i], want["embedding"]) >= min_cosine, where
                compared += 1
    predictor.close()
    assert compared >= 12, compared  # every frame's faces but those whose region leaves the frame
    print(f"{compared} faces; landmarks at most {worst:.3f} px from the reference")
