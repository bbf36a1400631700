"""`ovdemo pose` decoders on synthetic models with the real models' input/output names and shapes.

The synthetic networks really look at the image: joint j of every person is painted in its own colour (G, B)
and a person's identity in R; a heatmap is how well a spot matches a joint's colour and a tag is the spot's R.
The truth is where the test painted the joints, so every stage (preprocessing, crops, decoding, grouping,
mapping back to the frame) is checked against positions the decoders never saw.
"""

from __future__ import annotations

import json

import cv2
import numpy as np
import openvino as ov
import openvino.opset13 as ops
import pytest
from conftest import REPO
from helpers import one_line_error, read_jsonl, run_ovdemo
from synthetic import _named

from ovdemo.common.engine.family import DecoderSetup
from ovdemo.common.engine.runtime import ModelOutputs
from ovdemo.common.models.specs import ModelSpec
from ovdemo.common.results import COCO_KEYPOINTS
from ovdemo.demos.pose.decoders import (
    OPENPOSE_LIMBS,
    OPENPOSE_PAF_X,
    OPENPOSE_TO_COCO,
    OpenPoseDecoder,
    peak_cells,
    refine_peaks,
    refine_peaks_in,
)

JOINT_G = [15 * (j + 1) for j in range(17)]  # G + B = 255 for every joint colour: blends with black match none
SIGMA = 6.0


def joint_color(j: int, person_code: int) -> tuple[int, int, int]:
    return 255 - JOINT_G[j], JOINT_G[j], person_code  # BGR


def colour_heatmaps(image, pool: int):
    """[1,17,H/pool,W/pool]: per joint, how well each spot's (B, G) matches the joint's colour."""
    bg = ops.unsqueeze(ops.slice(image, np.array([0]), np.array([2]), np.array([1]), np.array([1])), np.int64(1))
    refs = np.array([[255 - g, g] for g in JOINT_G], np.float32).reshape(1, 17, 2, 1, 1)
    diff = ops.subtract(bg, ops.constant(refs))
    dist2 = ops.reduce_sum(ops.multiply(diff, diff), np.int64(2), keep_dims=False)
    match = ops.exp(ops.multiply(dist2, ops.constant(np.float32(-1 / (2 * SIGMA**2)))))
    return ops.avg_pool(match, [pool, pool], [0, 0], [0, 0], [pool, pool], exclude_pad=True)


def ae_model(path, size=288):
    """human-pose-estimation-0005's interface: `image` [1,3,288,288] in, `heatmaps` [1,17,144,144] (non-maxima
    negated, as the real IR does) and `embeddings` [1,17,144,144,1] = R / 60 out."""
    image = ops.parameter([1, 3, size, size], ov.Type.f32, name="image")
    heat = colour_heatmaps(image, 2)
    pooled = ops.max_pool(heat, [1, 1], [1, 1], [1, 1], [1, 1], [3, 3]).output(0)
    heat = ops.select(ops.equal(heat, pooled), heat, ops.negative(heat))
    red = ops.slice(image, np.array([2]), np.array([3]), np.array([1]), np.array([1]))
    tag = ops.multiply(ops.avg_pool(red, [2, 2], [0, 0], [0, 0], [2, 2], exclude_pad=True),
                       ops.constant(np.float32(1 / 60)))
    tags = ops.unsqueeze(ops.multiply(tag, ops.constant(np.ones((1, 17, 1, 1), np.float32))), np.int64(4))
    model = ov.Model([ops.result(_named(heat, "heatmaps")), ops.result(_named(tags, "embeddings"))], [image], "ae")
    ov.save_model(model, str(path))
    return path


def topdown_model(path):
    """single-human-pose-estimation-0001's interface: `data` [1,3,384,288] in, `heatmaps` [1,17,48,36] out."""
    data = ops.parameter([1, 3, 384, 288], ov.Type.f32, name="data")
    model = ov.Model([ops.result(_named(colour_heatmaps(data, 8), "heatmaps"))], [data], "top-down")
    ov.save_model(model, str(path))
    return path


def box_detector(path, boxes):
    """An SSD-style detector (`detection_out` [1,1,N+1,7]) that always finds `boxes` (normalised x1y1x2y2)."""
    data = ops.parameter([1, 3, 64, 64], ov.Type.f32, name="data")
    rows = [[0, 1, 0.95, *b] for b in boxes] + [[-1, 0, 0, 0, 0, 0, 0]]
    table = np.array(rows, np.float32).reshape(1, 1, len(rows), 7)
    zero = ops.multiply(ops.reduce_mean(data, np.array([0, 1, 2, 3]), keep_dims=False), np.float32(0))
    out = ops.add(ops.constant(table), zero)
    ov.save_model(ov.Model([ops.result(_named(out, "detection_out"))], [data], "boxes"), str(path))
    return path


def valid_records(path) -> list[dict]:
    """The JSON lines of a run, each checked against the schema file."""
    jsonschema = pytest.importorskip("jsonschema")
    schema = json.loads((REPO / "assets" / "schema" / "frame.schema.json").read_text())
    records = read_jsonl(path)
    for record in records:
        jsonschema.validate(record, schema)
    return records


def by_name(person: dict) -> dict:
    return {k: v for k, v in person["keypoints"].items() if v is not None}


def test_refine_peaks_recovers_a_gaussian_centre():
    ys, xs = np.mgrid[0:20, 0:30]
    heatmap = np.exp(-((xs - 12.3) ** 2 + (ys - 7.8) ** 2) / (2 * 1.5**2)).astype(np.float32)
    rx, ry = refine_peaks(heatmap, np.array([12]), np.array([8]))
    assert rx[0] == pytest.approx(12.3, abs=1e-3) and ry[0] == pytest.approx(7.8, abs=1e-3)


def test_peaks_of_every_channel_at_once_strongest_first_a_flat_top_counted_once():
    ys, xs = np.mgrid[0:20, 0:30]

    def blob(x, y, height):
        return height * np.exp(-((xs - x) ** 2 + (ys - y) ** 2) / (2 * 1.5**2))

    heatmaps = np.zeros((3, 20, 30), np.float32)
    heatmaps[0] = blob(5, 5, 0.6) + blob(20, 12, 0.9)  # two peaks, the second stronger
    heatmaps[1, 8, 10:12] = 0.7  # a flat top over two neighbouring cells (quantised outputs): one peak, its first
    heatmaps[1, 15, 25] = 0.5
    # channel 2: nothing above the threshold
    channels, px, py = peak_cells(heatmaps, None, 3, 0.1)
    assert channels.tolist() == [0, 0, 1, 1]
    assert list(zip(px.tolist(), py.tolist(), strict=True)) == [(20, 12), (5, 5), (10, 8), (25, 15)]
    # sub-pixel refinement of all of them at once is each channel's own
    rx, ry = refine_peaks_in(heatmaps, channels, px, py)
    for k, channel in enumerate(channels):
        alone = refine_peaks(heatmaps[channel], px[k:k + 1], py[k:k + 1])
        assert (rx[k], ry[k]) == (alone[0][0], alone[1][0])


def test_associative_embedding_groups_interleaved_people_by_tag(tmp_path):
    """Three people whose joints are scattered over the same area (no spatial grouping could separate them):
    one whole, one with the even joints only, one with the odd ones only, so a joint can only start a new
    person when its tag is too far from everyone's. Each comes back with exactly the painted keypoints."""
    rng = np.random.default_rng(7)
    people = ((60, range(17)), (150, range(0, 17, 2)), (240, range(1, 17, 2)))  # R codes: tags 1, 2.5 and 4
    cells = rng.permutation([(x, y) for x in range(4, 140, 4) for y in range(4, 140, 4)])[: 17 * 3]
    image = np.zeros((288, 288, 3), np.uint8)
    truth = []
    for p, (code, joints) in enumerate(people):
        person = {}
        for j in joints:
            cx, cy = cells[p * 17 + j]
            image[2 * cy:2 * cy + 2, 2 * cx:2 * cx + 2] = joint_color(j, code)
            person[COCO_KEYPOINTS[j]] = (2 * cx + 0.5, 2 * cy + 0.5)  # the painted square's centre
        truth.append(person)
    cv2.imwrite(str(tmp_path / "people.png"), image)
    xml = ae_model(tmp_path / "human-pose-estimation-0005.xml")
    result = run_ovdemo("pose", "-m", xml, "-i", tmp_path / "people.png", "--json", tmp_path / "p.jsonl",
                        "--no-show")
    assert result.returncode == 0, result.stderr
    found = sorted((by_name(p) for p in valid_records(tmp_path / "p.jsonl")[0]["objects"]), key=len, reverse=True)
    assert len(found) == 3
    for got, want in zip(found, truth, strict=True):  # 17, 9 and 8 keypoints
        assert set(got) == set(want)
        for name, (x, y) in want.items():
            assert got[name][:2] == pytest.approx([x, y], abs=0.01), name
            assert got[name][2] == pytest.approx(1.0, abs=0.01)


def test_top_down_finds_each_detected_persons_joints(tmp_path):
    """Two people boxed by a detector; the first box's crop reaches past the frame's edge. Each joint comes
    back where it was painted, to within half a heatmap cell of its crop."""
    rng = np.random.default_rng(3)
    w, h = 640, 480
    boxes = [(60, 40, 260, 440), (380, 100, 560, 400)]
    image = np.zeros((h, w, 3), np.uint8)
    truth = []
    for x1, y1, x2, y2 in boxes:
        person = {}
        spots = rng.permutation([(x, y) for x in range(x1 + 10, x2 - 10, 22) for y in range(y1 + 10, y2 - 10, 22)])
        for j in range(17):
            x, y = spots[j]
            cv2.circle(image, (int(x), int(y)), 6, joint_color(j, 0), cv2.FILLED)
            person[COCO_KEYPOINTS[j]] = (float(x), float(y))
        truth.append(person)
    cv2.imwrite(str(tmp_path / "people.png"), image)
    pose = topdown_model(tmp_path / "single-human-pose-estimation-0001.xml")
    detector = box_detector(tmp_path / "boxes.xml", [(x1 / w, y1 / h, x2 / w, y2 / h) for x1, y1, x2, y2 in boxes])
    result = run_ovdemo("pose", "-m", pose, "--detector-model", detector, "-i", tmp_path / "people.png",
                        "--json", tmp_path / "p.jsonl", "--no-show")
    assert result.returncode == 0, result.stderr
    people = valid_records(tmp_path / "p.jsonl")[0]["objects"]
    assert len(people) == 2
    for person, box in zip(people, boxes, strict=True):
        assert person["bbox"] == pytest.approx(box, abs=0.2)
    for person, want, (x1, y1, x2, y2) in zip(people, truth, boxes, strict=True):
        got = by_name(person)
        assert set(got) == set(COCO_KEYPOINTS)
        crop_height = max(y2 - y1, (x2 - x1) / 0.75) * 1.25
        cell = crop_height / 48
        for name, (x, y) in want.items():
            assert abs(got[name][0] - x) <= cell / 2 and abs(got[name][1] - y) <= cell / 2, (name, got[name], x, y)
        assert np.mean([v[2] for v in got.values()]) > 0.3  # the person's mean keypoint score
        assert person["confidence"] == pytest.approx(0.95, abs=0.01) and person["label"] == "person"  # the detector's


def paint_openpose(people: list[dict[int, tuple[float, float]]], size=(57, 32)):
    """Heatmaps [19,H,W] with a Gaussian per keypoint and fields [38,H,W] holding each limb's unit vector
    on the cells within half a cell of the segment, as OpenPose is trained."""
    w, h = size
    heat = np.zeros((19, h, w), np.float32)
    pafs = np.zeros((38, h, w), np.float32)
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    for person in people:
        for j, (x, y) in person.items():
            heat[j] = np.maximum(heat[j], np.exp(-((xs - x) ** 2 + (ys - y) ** 2) / (2 * 0.8**2)))
        for (a, b), px in zip(OPENPOSE_LIMBS, OPENPOSE_PAF_X, strict=True):
            if a not in person or b not in person:
                continue
            pa, pb = np.array(person[a]), np.array(person[b])
            length = np.linalg.norm(pb - pa)
            unit = (pb - pa) / length
            along = (xs - pa[0]) * unit[0] + (ys - pa[1]) * unit[1]
            across = np.abs((xs - pa[0]) * unit[1] - (ys - pa[1]) * unit[0])
            on = (along >= -0.5) & (along <= length + 0.5) & (across <= 0.7)
            pafs[px][on], pafs[px + 1][on] = unit[0], unit[1]
    return heat, pafs


def standing(x0: float, y0: float) -> dict[int, tuple[float, float]]:
    """An OpenPose-18 skeleton seen from the front, neck at (x0, y0), in heatmap cells."""
    offsets = {0: (0, -3), 1: (0, 0), 2: (-3, 0), 3: (-4, 4), 4: (-4, 8), 5: (3, 0), 6: (4, 4), 7: (4, 8),
               8: (-2, 9), 9: (-2, 14), 10: (-2, 19), 11: (2, 9), 12: (2, 14), 13: (2, 19), 14: (-1, -4),
               15: (1, -4), 16: (-2, -3.5), 17: (2, -3.5)}
    return {j: (x0 + dx + 0.2, y0 + dy + 0.3) for j, (dx, dy) in offsets.items()}


def _outputs(**arrays) -> ModelOutputs:
    return ModelOutputs([(frozenset({name}), array) for name, array in arrays.items()])


def test_openpose_groups_by_affinity_fields_not_distance():
    """Two people side by side, close enough that the first one's right hand is nearer the second one's
    elbow than to its own: the fields, not proximity, decide. Keypoints come back at the painted positions."""
    people = [standing(12, 8), standing(22, 8)]
    people[0][4] = (17.2, 10.3)  # first person's right wrist: nearer the second one's right elbow than its own
    heat, pafs = paint_openpose(people)
    fields, heatmaps = (ops.parameter([1, c, 32, 57], ov.Type.f32) for c in (38, 19))
    model = ov.Model([ops.result(_named(ops.relu(fields), "Mconv7_stage2_L1")),
                      ops.result(_named(ops.relu(heatmaps), "Mconv7_stage2_L2"))], [fields, heatmaps])
    decoder = OpenPoseDecoder(model, DecoderSetup(ModelSpec(), threshold=0.1))
    poses = decoder.decode(_outputs(Mconv7_stage2_L2=heat[None], Mconv7_stage2_L1=pafs[None]), (57 * 8, 32 * 8))
    assert len(poses) == 2 and "grouping" in decoder.timer.take()
    keypoints = poses.data["keypoints"]
    order = np.argsort(keypoints[:, 0, 0])  # by nose x
    for p, person in zip(order, people, strict=True):
        for coco, op in enumerate(OPENPOSE_TO_COCO):
            x, y = person[op]
            assert keypoints[p, coco, :2] == pytest.approx([(x + 0.5) * 8 - 0.5, (y + 0.5) * 8 - 0.5], abs=0.3)
            assert keypoints[p, coco, 2] > 0.9


def test_flags_that_do_not_fit_the_model_fail_before_any_output(tmp_path, models_dir):
    out = tmp_path / "out.mp4"
    image = tmp_path / "black.png"
    cv2.imwrite(str(image), np.zeros((64, 64, 3), np.uint8))
    env = {"OVDEMO_MODELS_DIR": str(models_dir), "OVDEMO_OFFLINE": "1"}
    # the old spellings (--detector, --tsize) still parse, as hidden aliases of the new ones
    result = run_ovdemo("pose", "--detector", "person-detection-0202", "-i", image, "-o", out, "--no-show", env=env)
    assert result.returncode == 2
    assert "--detector-model is for top-down models" in one_line_error(result)
    xml = topdown_model(tmp_path / "single-human-pose-estimation-0001.xml")
    result = run_ovdemo("pose", "-m", xml, "--tsize", 256, "-i", image, "-o", out, "--no-show", env=env)
    assert "--input-size is for bottom-up models" in one_line_error(result)
    result = run_ovdemo("pose", "-m", xml, "--input-size", 256, "-i", image, "-o", out, "--no-show", env=env)
    assert "--input-size is for bottom-up models" in one_line_error(result)
    detector = box_detector(tmp_path / "boxes.xml", [(0.1, 0.1, 0.5, 0.9)])
    result = run_ovdemo("pose", "-m", detector, "-i", image, "-o", out, "--no-show", env=env)
    line = one_line_error(result)
    assert "do not fit the pose demo" in line and "detection_out" in line
    result = run_ovdemo("pose", "-m", detector, "--arch", "openpose", "-i", image, "-o", out, "--no-show", env=env)
    assert "do not fit the openpose decoder" in one_line_error(result)
    assert not out.exists()
