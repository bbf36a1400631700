"""`ovdemo action`: per-person actions on a real classroom clip, and encoder/decoder windows on synthetic
models with the real models' input/output shapes whose outputs encode a known action sequence."""

from __future__ import annotations

import cv2
import numpy as np
import openvino as ov
import openvino.opset13 as ops
import pytest
from conftest import model_path
from helpers import iou, one_line_error, read_jsonl, read_video, run_ovdemo

from ovdemo.common.models.specs import ASSETS

SCHEMA = ASSETS / "schema" / "frame.schema.json"


def valid_records(path) -> list[dict]:
    """The JSON lines of a run, each checked against the schema every family writes."""
    jsonschema = pytest.importorskip("jsonschema")
    import json

    validator = jsonschema.Draft202012Validator(json.loads(SCHEMA.read_text()))
    records = read_jsonl(path)
    for record in records:
        validator.validate(record)
    return records

# --- per-person actions: person-detection-action-recognition-0005 on preview-classroom.gif (480x270, 45 frames)
# The four students, marked by hand on frames 0, 22 and 44 (viewed at 2x): all seated behind desks, the same
# places throughout. Boxes cover what is visible (head to desk); x1, y1, x2, y2 in pixels.
STUDENTS = {
    "front left": (50, 140, 116, 222),
    "back left": (111, 122, 156, 176),
    "back centre": (216, 121, 262, 176),
    "front right": (287, 141, 350, 230),
}
CHECKED_FRAMES = (0, 22, 44)


@pytest.fixture(scope="module")
def classroom(models_dir, videos_dir, tmp_path_factory):
    model_path(models_dir, "person-detection-action-recognition-0005")
    out = tmp_path_factory.mktemp("classroom")
    result = run_ovdemo("action", "-m", "person-detection-action-recognition-0005",
                        "-i", videos_dir / "preview-classroom.gif", "--no-show", "--json", out / "a.jsonl",
                        "--output", out / "a.mp4", "--track", env={"OVDEMO_MODELS_DIR": str(models_dir)})
    assert result.returncode == 0, result.stderr
    return {r["frame"]: r for r in valid_records(out / "a.jsonl")}, out / "a.mp4"


def _match(people: list[dict], truth) -> dict | None:
    best = max(people, key=lambda p: iou(truth, p["bbox"]), default=None)
    return best if best is not None and iou(truth, best["bbox"]) >= 0.4 else None


def test_seated_students_are_found_and_labelled_sitting(classroom):
    records, _ = classroom
    assert len(records) == 45
    for index in CHECKED_FRAMES:
        people = records[index]["objects"]
        assert len(people) == len(STUDENTS), people  # nobody missed, nothing else taken for a person
        for where, truth in STUDENTS.items():
            person = _match(people, truth)
            assert person is not None, f"frame {index}: the {where} student is not found in {people}"
            assert (person["label"], person["label_id"]) == ("person", 0)
            action = person["attributes"]["action"]
            assert action["label"] == "sitting", f"frame {index}: the {where} student: {person}"
            assert action["label_id"] == 0
            assert len(action["scores"]) == 3
            assert set(action["scores"]) == {"sitting", "standing", "raising hand"}
            assert abs(sum(action["scores"].values()) - 1.0) < 2e-3  # the whole distribution
            assert action["confidence"] == action["scores"]["sitting"]


def test_each_student_keeps_one_track_id(classroom):
    records, _ = classroom
    for where, truth in STUDENTS.items():
        seen = [_match(r["objects"], truth) for r in records.values()]
        # tentative for the first two frames (--min-hits 3): no id until confirmed (issue 26)
        assert all("id" not in p for p in seen[:2]), seen[:2]
        ids = {p["id"] for p in seen[2:]}
        assert len(ids) == 1, f"the {where} student changed track id: {ids}"
    first = {_match(records[2]["objects"], t)["id"] for t in STUDENTS.values()}
    assert first == {1, 2, 3, 4}  # ids are given on confirmation: no gaps


def test_without_track_the_same_people_have_no_ids(classroom, models_dir, videos_dir, tmp_path):
    """Tracking is off by default, as in every family (--no-track, the old way to turn it off, is a no-op)."""
    records, _ = classroom
    out = tmp_path / "untracked.jsonl"
    result = run_ovdemo("action", "-m", "person-detection-action-recognition-0005", "-i",
                        videos_dir / "preview-classroom.gif", "--max-frames", 3, "--no-show", "--no-track",
                        "--json", out, env={"OVDEMO_MODELS_DIR": str(models_dir)})
    assert result.returncode == 0, result.stderr
    for record in valid_records(out):
        tracked = records[record["frame"]]["objects"]
        assert len(record["objects"]) == len(tracked) == len(STUDENTS)
        for person in record["objects"]:
            assert "id" not in person and "track_state" not in person
            twin = _match(tracked, person["bbox"])
            assert twin["bbox"] == person["bbox"] and twin["attributes"] == person["attributes"]


def test_per_person_smoothing_needs_track(models_dir, videos_dir):
    result = run_ovdemo("action", "-m", "person-detection-action-recognition-0005", "-i",
                        videos_dir / "preview-classroom.gif", "--smooth", 2, "--no-show",
                        env={"OVDEMO_MODELS_DIR": str(models_dir)})
    assert result.returncode == 2
    assert "--track" in one_line_error(result)


def test_smoothing_keeps_each_tracks_action_until_k_predictions_agree(tmp_path):
    """--smooth 2 per track id: a label shows once two fresh predictions of that track agree; predicted rows
    (the detector missed the person) show the track's label without counting."""
    from ovdemo.common.io.capture import Frame
    from ovdemo.common.results import Detections, Result
    from ovdemo.demos.action.decoders import action_attributes
    from ovdemo.demos.action.people import PeopleAction

    names = ("sitting", "standing", "raising hand")
    labels = tmp_path / "actions.txt"
    labels.write_text("\n".join(names) + "\n", encoding="utf-8")
    opts = PeopleAction.build_options({"labels": str(labels), "threshold": 0.3, "smooth": 2, "track": True})
    mode = PeopleAction(None, opts)
    assert mode.names == names
    frame = Frame(0, np.zeros((100, 100, 3), np.uint8), 0.0, 0.0, 0.0)
    # per frame: (track id, state, raw action) rows; track 7 goes 0 0 1 (missed: 1) 0 1 1 2, track 9 2 2 0 2
    # (until track 9 ends)
    frames = [[(7, "tentative", 0), (9, "tentative", 2)], [(7, "tentative", 0), (9, "tentative", 2)],
              [(7, "confirmed", 1), (9, "confirmed", 0)], [(7, "predicted", 1), (9, "confirmed", 2)],
              [(7, "confirmed", 0)], [(7, "confirmed", 1)], [(7, "confirmed", 1)], [(7, "confirmed", 2)]]
    shown_7, shown_9 = [], []
    for rows in frames:
        raw = np.array([r[2] for r in rows])
        probs = np.full((len(rows), 3), 0.1, np.float32)
        probs[np.arange(len(rows)), raw] = 0.8
        people = Detections(np.tile([10, 10, 50, 90], (len(rows), 1)), np.ones(len(rows)), np.zeros(len(rows)),
                            [r[0] for r in rows], data={"track_state": [r[1] for r in rows],
                                                        "attributes": action_attributes(probs, raw, names)})
        out = mode.after_tracking(Result(people), frame).objects
        for track_id, attributes in zip(out.tracker_id, out.data["attributes"], strict=True):
            action = attributes["action"]
            assert action["label"] == names[action["label_id"]]
            assert action["confidence"] == action["scores"][action["label"]]
            (shown_7 if track_id == 7 else shown_9).append(action["label_id"])
    assert shown_7 == [0, 0, 0, 0, 0, 0, 1, 1]
    assert shown_9 == [2, 2, 2, 2]
    assert set(mode.smoothers[frame]) == {7}  # an ended track's smoother goes with it


def test_labels_are_drawn_on_the_video(classroom, videos_dir):
    _, video = classroom
    frames = read_video(video)
    assert len(frames) == 45
    source = read_video(videos_dir / "preview-classroom.gif")[0]
    x1, y1, x2, _ = STUDENTS["front right"]
    # the caption sits just above the box top: the drawn frame differs from the source there
    region = (slice(max(y1 - 20, 0), y1 + 6), slice(x1, x2))
    assert np.abs(frames[0][region].astype(int) - source[region].astype(int)).mean() > 20


# --- encoder/decoder: synthetic models with action-recognition-0001's stage names and shapes
# encoder "0" [1,3,224,224] -> [1,512,1,1]: a one-hot at index brightness/10 (the mean of what it sees);
# decoder "0" [1,16,512] -> [1,400]: 10 x how many frames of the window carry each class, so the top action
# is the window's majority class and every probability is known.
SEGMENTS = [(5, 30), (12, 30), (3, 30)]  # (class, frames): a known action sequence
FRAME_W, FRAME_H = 96, 64  # centre crop: x 16..80; the sides are white, so a missing crop changes the class


def _named(node, name):
    node.output(0).get_tensor().set_names({name})
    return node


def build_composite(root):
    x = ops.parameter([1, 3, 224, 224], ov.Type.f32, name="0")
    level = ops.divide(ops.reduce_mean(x, ops.constant(np.array([0, 1, 2, 3], np.int64)), keep_dims=False),
                       ops.constant(np.float32(10)))
    distance = ops.subtract(ops.constant(np.arange(512, dtype=np.float32)), level)
    onehot = ops.exp(ops.multiply(ops.multiply(distance, distance), ops.constant(np.float32(-50))))
    embedding = ops.reshape(onehot, ops.constant(np.array([1, 512, 1, 1], np.int64)), False)
    encoder = ov.Model([ops.result(_named(embedding, "embedding"))], [x], "encoder")
    window = ops.parameter([1, 16, 512], ov.Type.f32, name="0")
    counts = ops.reduce_sum(ops.slice(window, ops.constant(np.array([0, 0, 0], np.int64)),
                                      ops.constant(np.array([1, 16, 400], np.int64)),
                                      ops.constant(np.array([1, 1, 1], np.int64))),
                            ops.constant(np.array([1], np.int64)), keep_dims=False)
    logits = ops.multiply(counts, ops.constant(np.float32(10)))
    decoder = ov.Model([ops.result(_named(logits, "logits"))], [window], "decoder")
    for model, name in ((encoder, "action-recognition-0001-encoder"), (decoder, "action-recognition-0001-decoder")):
        (root / name / "FP16").mkdir(parents=True)
        ov.save_model(model, str(root / name / "FP16" / f"{name}.xml"))
    return root


def write_frames(folder):
    folder.mkdir()
    classes = [c for c, n in SEGMENTS for _ in range(n)]
    for i, c in enumerate(classes):
        frame = np.full((FRAME_H, FRAME_W, 3), 255, np.uint8)
        frame[:, 16:80] = 10 * c
        cv2.imwrite(str(folder / f"f_{i:04d}.png"), frame)
    return classes


@pytest.fixture(scope="module")
def composite(tmp_path_factory):
    root = tmp_path_factory.mktemp("composite")
    build_composite(root / "models")
    classes = write_frames(root / "frames")
    return root, classes


def expected_windows(classes, window, stride):
    """Independently: the frames where the decoder runs, and each window's class counts."""
    out = {}
    for f in range(window - 1, len(classes), stride):
        counts = {}
        for c in classes[f - window + 1:f + 1]:
            counts[c] = counts.get(c, 0) + 1
        out[f] = counts
    return out


def expected_probs(counts):
    logits = np.zeros(400)
    for c, n in counts.items():
        logits[c] = 10 * n
    e = np.exp(logits - logits.max())
    return e / e.sum()


KINETICS = {5: "archery", 12: "balloon blowing", 3: "applauding"}  # ids 3, 5, 12 of the public Kinetics-400 list


def run_composite(composite, *flags):
    root, _ = composite
    out = root / f"run{'_'.join(flags)}.jsonl"
    result = run_ovdemo("action", "-m", "action-recognition-0001", "-i", root / "frames" / "f_%04d.png",
                        "--models-dir", root / "models", "--offline", "--no-show", "--json", out, *flags)
    assert result.returncode == 0, result.stderr
    return valid_records(out)


def test_window_stride_labels_and_smoothing(composite):
    _, classes = composite
    records = run_composite(composite, "--stride", "5", "--smooth", "2", "--top-k", "2")
    assert [r["frame"] for r in records] == list(range(len(classes)))
    windows = expected_windows(classes, 16, 5)
    ran = {r["frame"]: r["window"] for r in records if r["window"] is not None}
    assert sorted(ran) == sorted(windows) == list(range(15, 90, 5))
    majority_history = []
    for f, counts in windows.items():
        got = ran[f]
        assert got["frames"] == [f - 15, f]
        majority = max(counts, key=counts.get)
        majority_history.append((f, majority))
        assert got["top_k"][0]["label"] == KINETICS[majority] and got["top_k"][0]["label_id"] == majority
        probs = expected_probs(counts)
        assert abs(got["top_k"][0]["confidence"] - probs[majority]) < 1e-3
        if len(counts) > 1:  # the minority class of a window that straddles two actions comes second
            minority = min(counts, key=counts.get)
            assert got["top_k"][1]["label_id"] == minority
            assert abs(got["top_k"][1]["confidence"] - probs[minority]) < 1e-3
    # --smooth 2: the shown label changes once two predictions in a row agree on a new one
    expected_label, shown = None, {}
    for i, (f, majority) in enumerate(majority_history):
        if i > 0 and majority_history[i - 1][1] == majority:
            expected_label = majority
        shown[f] = expected_label
    current = None
    for r in records:
        current = shown.get(r["frame"], current)
        action = r["action"]
        if current is None:
            assert action is None, r
        else:
            assert action["label_id"] == current and action["label"] == KINETICS[current], r
    # the switches happen where an independent reading of the sequence puts them
    first = {r["action"]["label"]: r["frame"] for r in reversed(records) if r["action"]}
    assert first == {"archery": 20, "balloon blowing": 45, "applauding": 75}


def test_every_frame_decodes_without_stride_or_smoothing(composite):
    _, classes = composite
    records = run_composite(composite)
    windows = expected_windows(classes, 16, 1)
    for r in records:
        if r["frame"] < 15:
            assert r["window"] is None and r["action"] is None
        else:
            counts = windows[r["frame"]]
            majority = max(counts, key=counts.get)
            if sorted(counts.values()) == [8, 8]:
                assert {t["label_id"] for t in r["window"]["top_k"][:2]} == set(counts)  # a tie: both lead
                continue
            assert r["window"]["top_k"][0]["label_id"] == majority
            assert r["action"]["label_id"] == majority  # no smoothing: the latest prediction
            assert len(r["window"]["top_k"]) == 3


def test_infer_every_keeps_the_action_between_windows(composite):
    """--infer-every 2: the encoder sees every 2nd frame, so 16 embeddings span 31 frames; the frames between
    keep the action shown and classify no window."""
    records = run_composite(composite, "--infer-every", "2")
    for r in records:
        f = r["frame"]
        assert r["inferred"] == (f % 2 == 0), r
        if f < 30:
            assert r["action"] is None and r["window"] is None, r
        elif f % 2 == 0:
            assert r["window"]["frames"] == [f - 30, f]
            assert r["action"]["label_id"] == r["window"]["top_k"][0]["label_id"]  # no smoothing: the latest
        else:
            assert r["window"] is None and r["action"] == records[f - 1]["action"], r


def test_per_frame_averaging_with_seq(composite, tmp_path):
    """--seq N: the encoder's own outputs averaged over N frames (OMZ's en-mean); here with 512 classes."""
    root, classes = composite
    encoder = root / "models" / "action-recognition-0001-encoder" / "FP16" / "action-recognition-0001-encoder.xml"
    labels = tmp_path / "labels.txt"
    labels.write_text("".join(f"class {i}\n" for i in range(512)))
    out = tmp_path / "m.jsonl"
    result = run_ovdemo("action", "-m", encoder, "--seq", 4, "--labels", labels, "-i",
                        root / "frames" / "f_%04d.png", "--max-frames", 40, "--no-show", "--json", out)
    assert result.returncode == 0, result.stderr
    records = valid_records(out)
    for r in records[3:]:
        f = r["frame"]
        window = classes[f - 3:f + 1]
        majority = max(set(window), key=window.count)
        assert r["window"]["frames"] == [f - 3, f]
        if window.count(majority) == 2 and len(set(window)) == 2:
            continue  # a 2-2 tie: either class may come first
        assert r["window"]["top_k"][0]["label"] == f"class {majority}", r
    assert records[32]["window"]["top_k"][0]["label"] == "class 12"  # frames 29..32: 1 of class 5, 3 of 12


def test_encoder_without_decoder_is_a_one_line_error(composite):
    root, _ = composite
    encoder = root / "models" / "action-recognition-0001-encoder" / "FP16" / "action-recognition-0001-encoder.xml"
    result = run_ovdemo("action", "-m", encoder, "-i", root / "frames" / "f_%04d.png", "--no-show")
    assert result.returncode != 0
    assert "--decoder-model" in one_line_error(result)


def test_decoder_of_another_size_is_refused(composite, tmp_path):
    root, _ = composite
    window = ops.parameter([1, 16, 256], ov.Type.f32, name="0")
    other = ov.Model([ops.result(ops.reduce_sum(window, ops.constant(np.array([1], np.int64)), False))], [window])
    ov.save_model(other, str(tmp_path / "other.xml"))
    encoder = root / "models" / "action-recognition-0001-encoder" / "FP16" / "action-recognition-0001-encoder.xml"
    out = tmp_path / "o.jsonl"
    result = run_ovdemo("action", "-m", encoder, "--decoder-model", tmp_path / "other.xml", "-i",
                        root / "frames" / "f_%04d.png", "--no-show", "--json", out)
    assert result.returncode != 0
    line = one_line_error(result)
    assert "512" in line and "256" in line


def test_detector_flags_refused_for_clip_models(composite):
    root, _ = composite
    result = run_ovdemo("action", "-m", "action-recognition-0001", "--models-dir", root / "models", "--offline",
                        "-i", root / "frames" / "f_%04d.png", "--no-show", "--action-threshold", "0.5")
    assert result.returncode != 0
    assert "per-person" in one_line_error(result)


def test_centre_crop_inside_openvino_for_a_fixed_frame_size(composite, tmp_path):
    """One image has one size: the centre crop is compiled into the model (the sequence test crops per frame)."""
    root, _ = composite
    encoder = root / "models" / "action-recognition-0001-encoder" / "FP16" / "action-recognition-0001-encoder.xml"
    labels = tmp_path / "labels.txt"
    labels.write_text("".join(f"class {i}\n" for i in range(512)))
    out = tmp_path / "one.jsonl"
    result = run_ovdemo("action", "-m", encoder, "--seq", 1, "--labels", labels, "-i",
                        root / "frames" / "f_0040.png", "--no-show", "--json", out)
    assert result.returncode == 0, result.stderr
    # frame 40 is class 12 (brightness 120) inside white sides: uncropped it would read (2*120 + 255) / 3 -> 16
    assert valid_records(out)[0]["window"]["top_k"][0]["label"] == "class 12"


def test_tf_layout_detector_decodes_generated_priors():
    """person-detection-action-recognition-0006's layout (no prior output; priors from its two heads): one
    confident candidate with zero offsets decodes to its own prior box, with its anchor map's action."""
    from ovdemo.common.engine.family import DecoderSetup
    from ovdemo.common.engine.inference import ModelOutputs
    from ovdemo.common.models.specs import find_spec
    from ovdemo.demos.action.decoders import DECODERS, TfActionDecoder

    shapes = {"ActionNet/out_detection_loc": [1, 8550, 4], "ActionNet/out_detection_conf": [1, 8550, 2],
              "ActionNet/action_heads/out_head_1_anchor_1": [1, 50, 85, 6]}
    shapes.update({f"ActionNet/action_heads/out_head_2_anchor_{a}": [1, 25, 43, 6] for a in range(1, 5)})
    image = ops.parameter([1, 400, 680, 3], ov.Type.f32, name="input")
    results = [ops.result(_named(ops.constant(np.zeros(s, np.float32)), n)) for n, s in shapes.items()]
    model = ov.Model(results, [image])
    assert [name for name, d in DECODERS.items() if d.fits(model)] == ["tf-actions"]
    spec = find_spec("person-detection-action-recognition-0006")
    decoder = TfActionDecoder(model, DecoderSetup(spec, 0.5, spec.labels, (680, 400)))
    arrays = {n: np.zeros(s, np.float32) for n, s in shapes.items()}
    # head 2 (stride 16), cell row 10 col 20, third anchor (63.31 x 142.60 px): prior index 50*85 + cell*4 + 2
    p = 50 * 85 + (10 * 43 + 20) * 4 + 2
    arrays["ActionNet/out_detection_conf"][0, :, 0] = 1.0
    arrays["ActionNet/out_detection_conf"][0, p] = [0.1, 0.9]
    arrays["ActionNet/action_heads/out_head_2_anchor_3"][0, 10, 20, 4] = 1.0  # "turned around"
    outputs = ModelOutputs([(frozenset({n}), a) for n, a in arrays.items()])
    boxes, scores, probs = decoder.candidates(outputs)
    cx, cy, w, h = 20.5 * 16, 10.5 * 16, 63.31491832, 142.595732
    expected = [(cx - w / 2) / 680, (cy - h / 2) / 400, (cx + w / 2) / 680, (cy + h / 2) / 400]
    assert boxes.shape == (1, 4) and np.allclose(boxes[0], expected, atol=1e-5)
    assert int(probs[0].argmax()) == 4 and probs[0, 4] > 0.99
    # decoded in a frame of the input's size: one person at the prior, turned around
    people = decoder.decode(outputs, (680, 400))
    assert people.labels == ["person"] and np.allclose(people.confidence, [0.9])
    assert np.allclose(people.xyxy[0], np.array(expected) * [680, 400, 680, 400], atol=1e-3)
    action = people.data["attributes"][0]["action"]
    assert (action["label"], action["label_id"]) == ("turned around", 4) and action["confidence"] > 0.99
