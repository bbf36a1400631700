"""`ovdemo action` with clip models (a stack of frames in, one prediction out), on synthetic models with the real
models' input/output names and shapes whose output encodes a known answer that depends on frame order, colour
order and the centre crop, run through the real CLI on generated frames."""

from __future__ import annotations

import cv2
import numpy as np
import openvino as ov
import openvino.opset13 as ops
import pytest
from helpers import one_line_error, read_video, run_ovdemo
from test_action import valid_records

# The synthetic clip model reads channel 0 (R once frames are RGB) of the first and last frame of its clip and
# answers level = 50 + (R_last - R_first) / 10 as logits -2 (i - level)^2: the nearest class to the level
# wins, and every probability is known. Reversed frames, BGR frames or a wrong crop give other classes.
FRAME_W, FRAME_H = 96, 64
CROP = (20, 4, 76, 60)  # x1, y1, x2, y2: the centre square, 0.875 of the short side 64 (56 px)
SHARPNESS = 2.0


def _named(node, name):
    node.output(0).get_tensor().set_names({name})
    return node


def _frame_red_mean(clip, index, layout):
    """Mean of channel 0 of frame `index` of a [1,3,T,H,W] (NCTHW) or [1,T,H,W,3] (NTHWC) clip."""
    starts, ends = [0, 0, 0, 0, 0], [1, 1, 1, 1 << 20, 1 << 20]
    time_axis, channel_axis = (2, 1) if layout == "NCTHW" else (1, 4)
    starts[time_axis], ends[time_axis] = index, index + 1
    ends[channel_axis] = 1
    if layout == "NTHWC":
        ends[2] = ends[3] = 1 << 20
    part = ops.slice(clip, ops.constant(np.array(starts, np.int64)), ops.constant(np.array(ends, np.int64)),
                     ops.constant(np.ones(5, np.int64)))
    return ops.reduce_mean(part, ops.constant(np.arange(5, dtype=np.int64)), keep_dims=False)


def build_clip_model(path, input_name, shape, output_name, classes, layout, probabilities=False):
    clip = ops.parameter(shape, ov.Type.f32, name=input_name)
    frames = shape[2] if layout == "NCTHW" else shape[1]
    change = ops.subtract(_frame_red_mean(clip, frames - 1, layout), _frame_red_mean(clip, 0, layout))
    level = ops.add(ops.divide(change, ops.constant(np.float32(10))), ops.constant(np.float32(50)))
    distance = ops.subtract(ops.constant(np.arange(classes, dtype=np.float32)[np.newaxis]), level)
    logits = ops.multiply(ops.multiply(distance, distance), ops.constant(np.float32(-SHARPNESS)))
    out = ops.softmax(logits, 1) if probabilities else logits
    model = ov.Model([ops.result(_named(out, output_name))], [clip], path.stem)
    path.parent.mkdir(parents=True, exist_ok=True)
    ov.save_model(model, str(path))
    return path


def red_levels(count):
    """R inside the centre crop per frame: a step up at frame 40 and down at frame 80 (frame order matters)."""
    return np.array([40 if f < 40 else 140 if f < 80 else 60 for f in range(count)], np.int64)


def make_frame(red):
    frame = np.empty((FRAME_H, FRAME_W, 3), np.uint8)
    frame[:] = (255, 0, 255)  # BGR: outside the crop R is 255, so a frame seen whole reads brighter
    x1, y1, x2, y2 = CROP
    frame[y1:y2, x1:x2] = (255, 0, red)  # B stays 255: frames fed as BGR read no change at all
    return frame


def expected_windows(red, window, every, stride):
    """Independently: the frames where the clip model runs, the clip's first frame and its level."""
    sampled = list(range(0, len(red), every))
    out = {}
    for n in range(window - 1, len(sampled), stride):
        first, last = sampled[n - window + 1], sampled[n]
        out[last] = (first, 50 + (red[last] - red[first]) / 10)
    return out


def probabilities(level, classes):
    logits = -SHARPNESS * (np.arange(classes) - level) ** 2
    e = np.exp(logits - logits.max())
    return e / e.sum()


def smoothed(history, k):
    """Frame -> shown label after each prediction, for --smooth k: a label is shown once k in a row agree."""
    shown, current = {}, None
    for i, (frame, label) in enumerate(history):
        if i + 1 >= k and all(lab == label for _, lab in history[i + 1 - k:i + 1]):
            current = label
        shown[frame] = current
    return shown


@pytest.fixture(scope="module")
def asl(tmp_path_factory):
    """asl-recognition-0004's I/O: `input` [1,3,16,224,224] (B,C,T,H,W) -> [1,100] logits; frames as PNGs."""
    root = tmp_path_factory.mktemp("asl")
    build_clip_model(root / "models" / "asl-recognition-0004" / "FP16" / "asl-recognition-0004.xml", "input",
                     [1, 3, 16, 224, 224], "output", 100, "NCTHW")
    red = red_levels(120)
    (root / "frames").mkdir()
    for f, r in enumerate(red):
        cv2.imwrite(str(root / "frames" / f"f_{f:04d}.png"), make_frame(r))
    return root, red


def run_asl(asl, *flags):
    root, _ = asl
    out = root / f"run{'_'.join(map(str, flags))}.jsonl"
    result = run_ovdemo("action", "-m", "asl-recognition-0004", "--models-dir", root / "models", "--offline",
                        "-i", root / "frames" / "f_%04d.png", "--no-show", "--json", out, *flags)
    assert result.returncode == 0, result.stderr
    return valid_records(out)


def msasl_names():
    from ovdemo.common.models.specs import load_labels

    return load_labels("msasl_100.txt")


def test_asl_clip_window_stride_labels_and_smoothing(asl):
    """16 frames sampled at 15 FPS from a 30 FPS sequence (every 2nd frame), --stride 3 --smooth 2."""
    _, red = asl
    names = msasl_names()
    assert names[:3] == ("hello", "nice", "teacher") and len(names) == 100
    records = run_asl(asl, "--stride", "3", "--smooth", "2", "--top-k", "2")
    assert [r["frame"] for r in records] == list(range(120))
    windows = expected_windows(red, 16, 2, 3)
    ran = {r["frame"]: r["window"] for r in records if r["window"] is not None}
    assert sorted(ran) == sorted(windows) == list(range(30, 120, 6))
    history = []
    for f, (first, level) in windows.items():
        got = ran[f]
        assert got["frames"] == [first, f]
        assert abs(level - round(level)) != 0.5  # no ties in this sequence
        label = int(round(level))
        history.append((f, label))
        probs = probabilities(level, 100)
        top = got["top_k"]
        assert (top[0]["label_id"], top[0]["label"]) == (label, names[label]), (f, level, top)
        assert abs(top[0]["confidence"] - probs[label]) < 1e-3
        assert top[1]["label_id"] in (label - 1, label + 1)  # an integer level: its two neighbours tie
        assert abs(top[1]["confidence"] - probs[top[1]["label_id"]]) < 1e-3
    assert [label for _, label in history] == [50, 50, 60, 60, 60, 60, 60, 50, 50, 42, 42, 42, 42, 42, 50]
    shown, current = smoothed(history, 2), None
    for r in records:
        current = shown.get(r["frame"], current)
        if current is None:
            assert r["action"] is None, r
        else:
            assert (r["action"]["label_id"], r["action"]["label"]) == (current, names[current]), r
    # read off the sequence by hand: two predictions in a row agree on 50 at frame 36, on 60 (the step up,
    # windows 12..42 and 18..48) at 48, on 50 again at 78 and on 42 (the step down) at 90
    changes, current = [], None
    for r in records:
        label = r["action"]["label_id"] if r["action"] else None
        if label != current:
            changes.append((r["frame"], label))
            current = label
    assert changes == [(36, 50), (48, 60), (78, 50), (90, 42)]


def test_frames_between_samples_skip_the_per_frame_model(asl):
    records = run_asl(asl, "--max-frames", "40")
    for r in records:
        if r["frame"] % 2:
            assert r["timings_ms"]["infer"] == 0 and r["window"] is None, r
        else:
            assert r["timings_ms"]["infer"] > 0, r
    assert records[30]["window"]["frames"] == [0, 30] and records[36]["window"]["frames"] == [6, 36]


def test_clip_model_refuses_per_frame_flags(asl):
    root, _ = asl
    for flags in (("--seq", "8"), ("--decoder-model", "x.xml"), ("--decoder", "x.xml")):
        result = run_ovdemo("action", "-m", "asl-recognition-0004", "--models-dir", root / "models", "--offline",
                            "-i", root / "frames" / "f_%04d.png", "--no-show", *flags)
        assert result.returncode != 0
        assert "clip model" in one_line_error(result)


def test_clip_model_refuses_track(asl):
    """A clip's action is frame-level: no objects to track."""
    root, _ = asl
    out = root / "track.jsonl"
    result = run_ovdemo("action", "-m", "asl-recognition-0004", "--models-dir", root / "models", "--offline",
                        "-i", root / "frames" / "f_%04d.png", "--no-show", "--track", "--json", out)
    assert result.returncode == 2
    assert "--track" in one_line_error(result)
    assert not out.exists()


def test_clip_specs_match_the_catalog_and_label_lists():
    from ovdemo.common.models.catalog import models
    from ovdemo.common.models.specs import find_spec

    for name, classes in (("asl-recognition-0004", 100), ("common-sign-language-0002", 12)):
        spec = find_spec(name)
        assert spec.params["mode"] == "clip" and spec.color == "RGB" and len(spec.labels) == classes
        assert models()[name].inputs[0]["shape"][:2] == [1, 3]  # channels before frames: NCTHW
    assert find_spec("common-sign-language-0002").labels[6:8] == ("thumb up", "thumb down")
    assert find_spec("i3d-rgb-tf").labels[:2] == ("abseiling", "air drumming")


@pytest.fixture(scope="module")
def i3d(tmp_path_factory):
    """i3d-rgb-tf's I/O: `Placeholder` [1,79,224,224,3] (B,T,H,W,C) -> `Softmax` [1,400] probabilities; frames
    in a lossless 30 FPS video (one frame size: the crop runs inside OpenVINO)."""
    root = tmp_path_factory.mktemp("i3d")
    xml = build_clip_model(root / "i3d-rgb-tf" / "FP16" / "i3d-rgb-tf.xml", "Placeholder", [1, 79, 224, 224, 3],
                           "Softmax", 400, "NTHWC", probabilities=True)
    red = red_levels(120)
    video = root / "frames.avi"
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"MPNG"), 30, (FRAME_W, FRAME_H))
    for r in red:
        writer.write(make_frame(r))
    writer.release()
    frames = read_video(video)
    assert len(frames) == 120 and all(np.array_equal(f, make_frame(r)) for f, r in zip(frames, red, strict=True))
    return xml, video, red


def test_i3d_layout_every_frame_and_probabilities_kept(i3d, tmp_path):
    xml, video, red = i3d
    out = tmp_path / "i3d.jsonl"
    result = run_ovdemo("action", "-m", xml, "-i", video, "--stride", "10", "--no-show", "--json", out,
                        "--output", tmp_path / "i3d.mp4")
    assert result.returncode == 0, result.stderr
    records = valid_records(out)
    from ovdemo.common.models.specs import load_labels

    kinetics = load_labels("kinetics_400.txt")
    windows = expected_windows(red, 79, 1, 10)
    ran = {r["frame"]: r["window"] for r in records if r["window"] is not None}
    assert sorted(ran) == sorted(windows) == [78, 88, 98, 108, 118]
    levels = []
    for f, (first, level) in windows.items():
        label = int(round(level))
        levels.append(label)
        top = ran[f]["top_k"][0]
        assert ran[f]["frames"] == [first, f]
        assert (top["label_id"], top["label"]) == (label, kinetics[label])
        # the model's own probabilities, not a softmax of them
        assert abs(top["confidence"] - probabilities(level, 400)[label]) < 1e-3
    assert levels == [60, 52, 52, 52, 42]
    assert [r["action"]["label_id"] if r["action"] else None for r in records][77:80] == [None, 60, 60]
    drawn = read_video(tmp_path / "i3d.mp4")
    assert len(drawn) == 120


def test_each_stream_is_sampled_at_its_own_frame_rate(asl):
    """Two inputs at once: the 30 FPS frame sequence (every 2nd frame reaches the 15 FPS clip) and the same frames
    in a 15 FPS video (every frame does): each stream's windows are its own."""
    root, red = asl
    video = root / "fifteen.avi"  # FFV1: lossless, so the levels the model reads are the drawn ones
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"FFV1"), 15, (FRAME_W, FRAME_H))
    for r in red:
        writer.write(make_frame(r))
    writer.release()
    out = root / "streams.jsonl"
    result = run_ovdemo("action", "-m", "asl-recognition-0004", "--models-dir", root / "models", "--offline",
                        "-i", root / "frames" / "f_%04d.png", "-i", video, "--no-show", "--json", out,
                        "--stride", "3")
    assert result.returncode == 0, result.stderr
    records = valid_records(out)
    for stream, every in ((0, 2), (1, 1)):
        mine = [r for r in records if r["stream"] == stream]
        assert [r["frame"] for r in mine] == list(range(120))
        ran = {r["frame"]: r["window"]["frames"] for r in mine if r["window"] is not None}
        windows = expected_windows(red, 16, every, 3)
        assert ran == {last: [first, last] for last, (first, _) in windows.items()}, stream
        for last, (_, level) in windows.items():
            assert mine[last]["window"]["top_k"][0]["label_id"] == int(round(level)), (stream, last)
