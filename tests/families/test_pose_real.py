"""`ovdemo pose` with the real human-pose-estimation-0001 (FP16-INT8) on real photos and video frames, checked
against person-detection-0202's boxes and against positions read off the images by eye."""

from __future__ import annotations

import cv2
import numpy as np
import openvino as ov
import pytest
from conftest import model_path
from helpers import read_jsonl, read_video, run_ovdemo
from test_pose_decoders import valid_records

from ovdemo.common.engine.family import RunContext
from ovdemo.common.engine.inference import InferenceConfig
from ovdemo.demos.pose.family import BottomUpPose, LegacyTsize, PoseFamily, input_shape_for

# Frames with people, chosen by looking at them: everyone upright and in plain view.
FRAMES = {
    "preview-worker-zone-detection.gif": (20, 40, 60),
    "one-by-one-person-detection.mp4": (100, 300, 1100),
    "people-detection.264": (200, 360),
}
MARGIN = 0.15  # of the box's size, around a detector's box
# Keypoints drawn and checked: above the network's guesses for hidden joints (in people-detection.264 frame 360
# the middle woman's right arm is hidden behind the man in front; the network puts her wrist, at 0.21, on him).
SHOWN = ("--kp-threshold", 0.3)


@pytest.fixture(scope="module")
def frames(videos_dir, tmp_path_factory):
    """The chosen frames in one folder; names sort in the order listed."""
    folder = tmp_path_factory.mktemp("frames")
    names = []
    for video, wanted in FRAMES.items():
        cap = cv2.VideoCapture(str(videos_dir / video))
        index, left = 0, set(wanted)
        while left:
            ok, image = cap.read()
            assert ok, f"{video} ended before frame {max(left)}"
            if index in left:
                name = f"{len(names):02d}_{video.split('.')[0]}_{index}.png"
                cv2.imwrite(str(folder / name), image)
                names.append(name)
                left.discard(index)
            index += 1
    return folder, names


def run_both(source, out, env, *pose_args):
    pose = run_ovdemo("pose", "-i", source, "--json", out / "pose.jsonl", "--no-show", *pose_args, env=env)
    assert pose.returncode == 0, pose.stderr
    detect = run_ovdemo("detect", "-m", "person-detection-0202", "-i", source, "--json", out / "det.jsonl",
                        "--no-show", env=env)
    assert detect.returncode == 0, detect.stderr
    return valid_records(out / "pose.jsonl"), read_jsonl(out / "det.jsonl")


def visible(person: dict) -> dict[str, tuple[float, float]]:
    return {k: (v[0], v[1]) for k, v in person["keypoints"].items() if v is not None}


def inside(points, box, margin=MARGIN) -> bool:
    x1, y1, x2, y2 = box
    mx, my = (x2 - x1) * margin, (y2 - y1) * margin
    return all(x1 - mx <= x <= x2 + mx and y1 - my <= y <= y2 + my for x, y in points)


def check_frame(pose_record: dict, det_record: dict) -> None:
    """Every detected person has its own skeleton inside their box, every skeleton belongs to a detected
    person, and the skeletons stand upright."""
    boxes = [o["bbox"] for o in det_record["objects"]]
    people = [visible(p) for p in pose_record["objects"]]
    assert len(people) == len(boxes), (people, boxes)
    unmatched = list(range(len(people)))
    for box in boxes:
        owners = [i for i in unmatched if len(people[i]) >= 3 and inside(people[i].values(), box)]
        assert owners, f"no skeleton inside {box}: {people}"
        # the skeleton covering most of the box is this person's
        best = max(owners, key=lambda i: len(people[i]))
        unmatched.remove(best)
        check_anatomy(people[best])


def check_anatomy(points: dict[str, tuple[float, float]]) -> None:
    def mean_y(*names):
        ys = [points[n][1] for n in names if n in points]
        return sum(ys) / len(ys) if ys else None

    shoulders, hips = mean_y("left_shoulder", "right_shoulder"), mean_y("left_hip", "right_hip")
    assert shoulders is not None, points
    if hips is not None:
        assert shoulders < hips, points
    for name in ("nose", "left_eye", "right_eye"):
        if name in points:
            assert points[name][1] < shoulders, (name, points)
    for knee, hip in (("left_knee", "left_hip"), ("right_knee", "right_hip")):
        if knee in points and hip in points:
            assert points[hip][1] < points[knee][1], points


def test_skeletons_on_people_found_by_the_detector(frames, models_dir, tmp_path):
    folder, names = frames
    env = {"OVDEMO_MODELS_DIR": str(models_dir)}
    poses, detections = run_both(folder, tmp_path, env, *SHOWN)
    assert len(poses) == len(names) == len(detections)
    for pose, det in zip(poses, detections, strict=True):
        assert pose["frame"] == det["frame"] and det["objects"]
        check_frame(pose, det)
    # the JSON a user parses: COCO names, [x, y, score] or null, a person score and a box
    person = poses[0]["objects"][0]
    assert list(person["keypoints"])[:3] == ["nose", "left_eye", "right_eye"] and len(person["keypoints"]) == 17
    assert 0 < person["confidence"] <= 1 and len(person["bbox"]) == 4
    assert {"peaks", "grouping"} <= set(poses[0]["timings_ms"])


def test_astronaut_face_and_shoulders_where_they_are(images_dir, models_dir, tmp_path):
    """astronaut.png (512x512, facing the camera, from the waist up; person-detection-0202 misses her at 0.5):
    by eye, the tip of the nose is at (223, 125) and the eyes at (203, 101) and (245, 101); her right shoulder
    is on the image's left."""
    pose = run_ovdemo("pose", "-i", images_dir / "astronaut.png", "--json", tmp_path / "p.jsonl", "--no-show",
                      env={"OVDEMO_MODELS_DIR": str(models_dir)})
    assert pose.returncode == 0, pose.stderr
    people = valid_records(tmp_path / "p.jsonl")[0]["objects"]
    assert len(people) == 1
    points = visible(people[0])
    assert np.hypot(points["nose"][0] - 223, points["nose"][1] - 125) < 8
    assert np.hypot(points["right_eye"][0] - 203, points["right_eye"][1] - 101) < 8
    assert np.hypot(points["left_eye"][0] - 245, points["left_eye"][1] - 101) < 8
    assert points["right_shoulder"][0] < points["nose"][0] < points["left_shoulder"][0]
    assert points["right_ear"][0] < points["right_eye"][0] < points["left_eye"][0] < points["left_ear"][0]
    check_anatomy(points)


def test_wide_video_at_a_larger_input_size(models_dir, videos_dir, tmp_path):
    """The worker clip (480x270) with the network reshaped to 328x576: skeletons still fit every detected
    person, in every frame; the annotated video has every frame."""
    video = videos_dir / "preview-worker-zone-detection.gif"
    poses, detections = run_both(video, tmp_path, {"OVDEMO_MODELS_DIR": str(models_dir)}, "--input-size", 576, *SHOWN,
                                 "--output", tmp_path / "out.mp4", "--max-frames", 40)
    assert len(poses) == 40
    with_people = [(pose, det) for pose, det in zip(poses, detections[:40], strict=True) if det["objects"]]
    assert len(with_people) >= 35  # the worker walks in from the bottom edge
    for pose, det in with_people:
        check_frame(pose, det)
    frames = read_video(tmp_path / "out.mp4")
    assert len(frames) == 40 and frames[0].shape == (270, 480, 3)


@pytest.mark.parametrize(("frame_size", "input_size", "expected"), [
    ((768, 432), None, (256, 456)), ((512, 512), None, (256, 256)),
    ((480, 270), LegacyTsize(320), (320, 576)),  # the old --tsize: OpenPose's input height
    ((480, 270), 576, (328, 576)),  # --input-size: the longer side; 324 rounds up to the stride
])
def test_openpose_network_follows_the_frame(models_dir, frame_size, input_size, expected):
    """prepare() reshapes the real network to the frame's aspect ratio and adds the peak max-pool output."""
    xml = model_path(models_dir, "human-pose-estimation-0001", "FP16-INT8")
    opts = PoseFamily.build_options({"model": str(xml), "input": "x", "input_size": input_size})
    family = PoseFamily.create(opts)
    assert family.model.name == "human-pose-estimation-0001" and isinstance(family, BottomUpPose)
    family.start(RunContext(InferenceConfig(), frame_size, (25.0,), False, opts))
    model = family.load_model()
    family.prepare(model)
    assert list(model.input(0).get_shape()) == [1, 3, *expected]
    shapes = {next(iter(o.get_names())): list(o.get_shape()) for o in model.outputs}
    assert shapes["pooled_heatmaps"] == [1, 19, expected[0] // 8, expected[1] // 8]
    assert isinstance(model, ov.Model)


def test_input_shape_for_associative_embedding():
    assert input_shape_for((288, 288), (768, 432), None, "short", 32) == (288, 512)
    assert input_shape_for((288, 288), (432, 768), None, "short", 32) == (512, 288)
    assert input_shape_for((288, 288), None, 352, "short", 32) == (352, 352)
    # --input-size is the longer side whatever the mode; the old --tsize was the shorter side here
    assert input_shape_for((288, 288), (768, 432), 512, "short", 32) == (288, 512)
    assert input_shape_for((288, 288), (432, 768), LegacyTsize(288), "short", 32) == (512, 288)


def test_track_keeps_one_id_on_the_walking_person(models_dir, videos_dir, tmp_path):
    """--track with --infer-every 2 on one-by-one-person-detection.mp4: nobody for the first 64 frames, then one
    woman walking in: one id, confirmed from her third detection, and on the frames the network skips her
    skeleton moves with her predicted box; the annotated video has every frame."""
    out = tmp_path / "pose.jsonl"
    result = run_ovdemo("pose", "-i", videos_dir / "one-by-one-person-detection.mp4", "--precision", "FP16-INT8",
                        "--track", "--infer-every", 2, "--max-frames", 100, "--json", out, "--output",
                        tmp_path / "out.mp4", "--no-show", env={"OVDEMO_MODELS_DIR": str(models_dir)})
    assert result.returncode == 0, result.stderr
    records = valid_records(out)
    assert len(records) == 100 and not any(r["objects"] for r in records[:60])
    tracked = [r for r in records if r["objects"]]
    assert {o.get("id") for r in tracked for o in r["objects"]} == {None, 1}  # tentative: no id yet (issue 26)
    late = [r for r in records if r["frame"] >= 70]
    assert all(len(r["objects"]) == 1 and r["objects"][0]["track_state"] == "confirmed" for r in late)
    for before, after in zip(late, late[1:], strict=False):
        if after["inferred"]:
            continue
        a, b = before["objects"][0], after["objects"][0]
        # the Kalman prediction's box: the skeleton moves with its centre
        shift = (np.add(b["bbox"][:2], b["bbox"][2:]) - np.add(a["bbox"][:2], a["bbox"][2:])) / 2
        for name, point in a["keypoints"].items():
            moved = b["keypoints"][name]
            assert (point is None) == (moved is None)
            if point is not None:
                assert moved[:2] == pytest.approx(np.add(point[:2], shift), abs=0.2)
                assert inside([moved[:2]], b["bbox"])
    assert len(read_video(tmp_path / "out.mp4")) == 100
