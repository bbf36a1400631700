"""`ovdemo detect` on real Open Model Zoo models and real footage from ../shared."""

from __future__ import annotations

import cv2
import pytest
from conftest import model_path
from helpers import iou, read_jsonl, run_ovdemo

pytestmark = pytest.mark.slow  # real video end to end: `make quick` leaves it out

# People in people-detection.264, located by looking at the frames (x1, y1, x2, y2 in pixels of 768x432).
PEOPLE = {
    200: [(190, 125, 290, 410), (300, 135, 400, 400)],
    360: [(195, 95, 310, 385), (380, 145, 460, 380), (445, 165, 585, 430)],
    375: [(135, 55, 255, 270), (445, 90, 525, 250), (515, 110, 635, 325)],
    390: [(5, 65, 130, 250), (575, 88, 640, 235), (620, 108, 735, 295)],
}
EMPTY_FRAMES = (0, 100)  # the empty room
# Frames where every person is in plain view (no one half hidden behind another): all detectors must agree.
AGREEMENT_FRAMES = (360, 390)


def boxes(record: dict, label: str = "person") -> list[list[float]]:
    return [o["bbox"] for o in record["objects"] if o["label"] == label]


def assert_finds(found: list, expected: list, min_iou: float = 0.5) -> None:
    for truth in expected:
        best = max((iou(truth, box) for box in found), default=0.0)
        assert best >= min_iou, f"no detection matches {truth}: found {found}"


@pytest.fixture(scope="module")
def people_run(models_dir, videos_dir, tmp_path_factory):
    """person-detection-0202 on the first 400 frames of the video, resolved by name from the models folder."""
    out = tmp_path_factory.mktemp("people")
    result = run_ovdemo("detect", "-m", "person-detection-0202", "-i", videos_dir / "people-detection.264",
                        "--max-frames", 400, "--json", out / "d.jsonl", "--no-show",
                        env={"OVDEMO_MODELS_DIR": str(models_dir)})
    assert result.returncode == 0, result.stderr
    return {r["frame"]: r for r in read_jsonl(out / "d.jsonl")}


def test_person_detection_0202_finds_the_people(people_run):
    assert sorted(people_run) == list(range(400))  # every frame, in order
    for frame, expected in PEOPLE.items():
        found = boxes(people_run[frame])
        assert len(found) == len(expected), (frame, found)
        assert_finds(found, expected)
    for frame in EMPTY_FRAMES:
        assert people_run[frame]["objects"] == []
    record = people_run[200]
    assert record["image"] == {"width": 768, "height": 432}
    assert record["timestamp"] == pytest.approx(200 / 25.0)
    assert record["objects"][0]["label_id"] == 0 and 0.5 <= record["objects"][0]["confidence"] <= 1.0
    assert set(record["timings_ms"]) >= {"decode", "preprocess", "infer", "postprocess", "render", "write", "latency"}


@pytest.fixture(scope="module")
def chosen_frames(videos_dir, tmp_path_factory):
    """The chosen frames of the video as PNG files, named by frame number."""
    folder = tmp_path_factory.mktemp("frames")
    wanted = set(PEOPLE) | set(EMPTY_FRAMES)
    cap = cv2.VideoCapture(str(videos_dir / "people-detection.264"))
    index = 0
    while wanted:
        ok, image = cap.read()
        assert ok, "video ended early"
        if index in wanted:
            cv2.imwrite(str(folder / f"frame_{index:03d}.png"), image)
            wanted.discard(index)
        index += 1
    return folder


@pytest.mark.parametrize("name", ["person-detection-retail-0013", "pedestrian-detection-adas-0002"])
def test_other_person_detectors_agree_with_0202(name, models_dir, chosen_frames, people_run, tmp_path):
    xml = model_path(models_dir, name)
    result = run_ovdemo("detect", "-m", xml, "-i", chosen_frames, "--json", tmp_path / "d.jsonl", "--no-show")
    assert result.returncode == 0, result.stderr
    records = read_jsonl(tmp_path / "d.jsonl")
    frames = sorted(int(p.stem.split("_")[1]) for p in chosen_frames.iterdir())  # folder order = frame order
    assert len(records) == len(frames)
    for record, frame in zip(records, frames, strict=True):
        if frame in AGREEMENT_FRAMES:
            assert len(boxes(record)) == len(boxes(people_run[frame])), (frame, record["objects"])
            assert_finds(boxes(record), boxes(people_run[frame]))
            assert all(o["label"] == "person" for o in record["objects"])


def test_ssdlite_tensorflow_graph_finds_the_astronaut_not_the_cat(models_dir, images_dir, tmp_path):
    pb = models_dir / "ssdlite_mobilenet_v2" / "tf" / "frozen_inference_graph.pb"
    if not pb.is_file():
        pytest.skip(f"{pb} not available")
    astronaut = run_ovdemo("detect", "-m", pb, "-i", images_dir / "astronaut.png", "--json", tmp_path / "a.jsonl",
                           "--no-show")
    assert astronaut.returncode == 0, astronaut.stderr
    (record,) = read_jsonl(tmp_path / "a.jsonl")
    people = [o for o in record["objects"] if o["label_id"] == 1]  # COCO id 1
    assert people and people[0]["label"] == "person"
    x1, y1, x2, y2 = people[0]["bbox"]
    assert x1 < 256 < x2 and y1 < 150 < y2  # she fills the middle of the 512x512 photo

    cat = run_ovdemo("detect", "-m", pb, "-i", images_dir / "chelsea.png", "--json", tmp_path / "c.jsonl", "--no-show")
    assert cat.returncode == 0, cat.stderr
    (record,) = read_jsonl(tmp_path / "c.jsonl")
    labels = {o["label"] for o in record["objects"]}
    assert "person" not in labels


@pytest.mark.parametrize(("image", "label", "where"), [
    ("astronaut.png", "person", (20, 60, 365, 512)),  # her, to the waist, left of the helmet
    ("coffee.png", "cup", (170, 18, 410, 305)),  # the cup with its handle, not the saucer
    ("chelsea.png", "cat", (0, 10, 425, 300)),
])
def test_yolo_fastest_names_what_it_finds(models_dir, images_dir, tmp_path, image, label, where):
    """A RegionYolo model by name: its COCO labels come from its spec."""
    model_path(models_dir, "yolo-fastest-1.1")
    result = run_ovdemo("detect", "-m", "yolo-fastest-1.1", "-i", images_dir / image, "--json", tmp_path / "y.jsonl",
                        "--no-show", "--infer-precision", "f32", env={"OVDEMO_MODELS_DIR": str(models_dir)})
    assert result.returncode == 0, result.stderr
    (record,) = read_jsonl(tmp_path / "y.jsonl")
    assert [o["label"] for o in record["objects"]] == [label]
    assert iou(record["objects"][0]["bbox"], where) > 0.7, record["objects"]


def test_person_detection_asl_has_people_without_a_labels_output(models_dir, images_dir, tmp_path):
    model_path(models_dir, "person-detection-asl-0001")
    result = run_ovdemo("detect", "-m", "person-detection-asl-0001", "-i", images_dir / "astronaut.png", "--json",
                        tmp_path / "p.jsonl", "--no-show", env={"OVDEMO_MODELS_DIR": str(models_dir)})
    assert result.returncode == 0, result.stderr
    (record,) = read_jsonl(tmp_path / "p.jsonl")
    (person,) = record["objects"]
    assert person["label"] == "person" and iou(person["bbox"], (20, 60, 365, 512)) > 0.6, person
