"""Second-stage models (ovdemo.common.engine.stages) and the pipeline's optional task hooks."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import cv2
import numpy as np
import openvino as ov
import openvino.opset13 as ops
import pytest
from conftest import model_path
from synthetic import batch_sensitive, brightness_probe, fixed_size_only, wrong_from_batch

from ovdemo.common.engine.family import Family
from ovdemo.common.engine.inference import InferenceConfig, core
from ovdemo.common.engine.launch import run
from ovdemo.common.engine.pipeline import Pipeline
from ovdemo.common.engine.stages import ObjectStage, Stage, compiled_graph, crop, crops, expand_boxes
from ovdemo.common.errors import DemoError
from ovdemo.common.models.resolve import ResolvedModel
from ovdemo.common.models.specs import find_spec
from ovdemo.common.options import Options
from ovdemo.common.results import Detections, Result

CONFIG = InferenceConfig(hint="throughput")


def one_by_one(path, image, precision=None):
    """Reference: the plain model, one crop per synchronous call, preprocessing done by hand, at the machine's
    default precision or the one named."""
    compiled = core().compile_model(str(path), "CPU", {"INFERENCE_PRECISION_HINT": precision} if precision else {})
    shape = compiled.input(0).get_partial_shape()
    h, w = shape[2].get_length(), shape[3].get_length()
    x = cv2.resize(image, (w, h)).transpose(2, 0, 1)[np.newaxis].astype(np.float32)
    return {tuple(sorted(o.get_names())): v for o, v in compiled(x).items()}


@pytest.mark.parametrize("name", ["landmarks-regression-retail-0009", "person-reidentification-retail-0249"])
def test_a_batch_equals_the_crops_run_one_by_one(models_dir, images_dir, name):
    """Whatever path the stage takes on this CPU (batched, or one request per crop), every crop's answer is the
    unchanged model's at batch 1 at the run's precision, within that model's own distance from itself in f32."""
    path = model_path(models_dir, name)
    stage = Stage(ResolvedModel(path, name, find_spec(name)), CONFIG)
    image = cv2.imread(str(images_dir / "astronaut.png"))
    boxes = np.array([[150, 20, 300, 200], [0, 0, 120, 260], [200, 300, 500, 500], [-20, -30, 60, 90],
                      [180, 60, 280, 190]], np.float32)
    for count in (1, len(boxes)):  # a lone crop, and a batch that is split into checked sizes
        outputs = stage(crops(image, boxes[:count], stage.input_size))
        for i, box in enumerate(boxes[:count]):
            expected, exact = one_by_one(path, crop(image, box)), one_by_one(path, crop(image, box), "f32")
            for names, array in outputs:
                want = next(v for k, v in expected.items() if set(k) & names)
                noise = np.abs(want - next(v for k, v in exact.items() if set(k) & names)).max()
                assert array.shape[0] == count
                tolerance = 4 * noise + 2e-3 * np.abs(want).max()
                assert np.abs(array[i] - want[0]).max() <= tolerance, (count, i, np.abs(array[i] - want[0]).max())


def test_a_single_crop_runs_on_a_model_with_every_shape_static(models_dir):
    # a dynamic dimension anywhere (the preprocessing's tensor included) may select another kernel
    name = "landmarks-regression-retail-0009"
    stage = Stage(ResolvedModel(model_path(models_dir, name), name, find_spec(name)), CONFIG)
    assert all(port.get_partial_shape().is_static for port in stage.single.inputs)
    assert all(port.get_partial_shape().is_static for port in stage.single.outputs)
    assert stage.parts(1) == [(0, 1)]


def test_a_model_that_answers_differently_with_a_dynamic_batch_runs_unchanged(tmp_path):
    path = batch_sensitive(tmp_path / "batch-sensitive.xml")
    crops_ = np.stack([np.full((16, 16, 3), level, np.uint8) for level in (10, 90, 200)])
    for start in ("first", "second"):  # the second start reads the verdict kept for this file and version
        stage = Stage(ResolvedModel(path, "batch-sensitive", None), CONFIG)
        assert stage.max_batch == 1, start
        np.testing.assert_allclose(stage(crops_).get("mean")[:, 0], [10, 90, 200], atol=1e-3)
    verdicts = json.loads((Path(os.environ["OVDEMO_HOME"]) / "batch-checks.json").read_text())
    assert [v for k, v in verdicts.items() if "batch-sensitive" in k] == [[]]


def test_batches_go_out_only_in_the_sizes_that_were_checked(tmp_path):
    # right at batches of 2 and 3, wrong from 4 on: a batch of 7 goes out as 3 + 3 + 1, every answer right
    path = wrong_from_batch(tmp_path / "wrong-from-4.xml", first_wrong=4)
    stage = Stage(ResolvedModel(path, "wrong-from-4", None), CONFIG)
    assert stage.batch_sizes == (2, 3)
    assert stage.parts(7) == [(0, 3), (3, 3), (6, 1)]
    levels = [10, 40, 70, 100, 130, 160, 190]
    crops_ = np.stack([np.full((16, 16, 3), level, np.uint8) for level in levels])
    np.testing.assert_allclose(stage(crops_).get("mean")[:, 0], levels, atol=1e-3)


def test_a_verdict_is_kept_for_the_graph_it_was_found_on(tmp_path):
    """One model file does not always compile into one graph (a compiled-model cache entry once held another):
    a verdict kept for one graph is not taken for another of the same file, and is read again for its own."""
    path = wrong_from_batch(tmp_path / "wrong-from-4.xml", first_wrong=4)
    stage = Stage(ResolvedModel(path, "wrong-from-4", None), CONFIG)
    assert stage.batch_sizes == (2, 3)
    store = Path(os.environ["OVDEMO_HOME"]) / "batch-checks.json"
    (key, kept), = [(k, v) for k, v in json.loads(store.read_text()).items() if "wrong-from-4" in k]
    graph = compiled_graph(stage.batched)
    assert kept == [2, 3] and graph in key and graph != "?"
    # another graph's verdict (every size right), kept under the key that graph would have: checked again
    store.write_text(json.dumps({key.replace(graph, "0" * len(graph)): list(range(2, 9))}))
    assert Stage(ResolvedModel(path, "wrong-from-4", None), CONFIG).batch_sizes == (2, 3)
    # its own graph's verdict (here made up: 2 only) is read, not found again: the file compiles the same
    store.write_text(json.dumps({key: [2]}))
    assert Stage(ResolvedModel(path, "wrong-from-4", None), CONFIG).batch_sizes == (2,)


def test_stages_overlap_and_large_batches_split(models_dir, images_dir):
    name = "landmarks-regression-retail-0009"
    stage = Stage(ResolvedModel(model_path(models_dir, name), name, None), CONFIG, max_batch=4)
    image = cv2.imread(str(images_dir / "astronaut.png"))
    boxes = np.array([[10 * k, 5 * k, 10 * k + 100, 5 * k + 120] for k in range(10)], np.float32)
    batch = crops(image, boxes, stage.input_size)
    first, second = stage.submit(batch), stage.submit(batch[::-1])  # both in flight at once
    a, b = first.wait(), second.wait()
    (names, la), = list(a)
    (_, lb), = list(b)
    assert la.shape == (10, 10, 1, 1)
    np.testing.assert_allclose(la, lb[::-1], atol=1e-4)


def test_crop_pads_outside_the_frame_and_boxes_expand_about_their_centre():
    image = np.full((10, 10, 3), 200, np.uint8)
    piece = crop(image, (-5, -5, 5, 5))
    assert piece.shape == (10, 10, 3)
    assert piece[:5, :5].max() == 0 and piece[5:, 5:].min() == 200
    grown = expand_boxes(np.array([[10, 20, 30, 60]]), scale=1.5, square=True)
    np.testing.assert_allclose(grown, [[-10, 10, 50, 70]])


def test_non_image_stage_takes_named_arrays(tmp_path):
    x = ops.parameter([1, 4, 8], ov.Type.f32, name="features")
    y = ops.reduce_sum(x, ops.constant(np.array([1, 2], np.int64)), keep_dims=False)
    y.output(0).get_tensor().set_names({"total"})
    path = tmp_path / "sum.xml"
    ov.save_model(ov.Model([ops.result(y)], [x], "sum"), str(path))
    stage = Stage(ResolvedModel(path, "sum", None), CONFIG, image=False)
    batch = np.arange(3 * 32, dtype=np.float32).reshape(3, 4, 8)
    np.testing.assert_allclose(stage({"features": batch}).get("total"), batch.sum(axis=(1, 2)))


class EveryThird(Family):
    """A family that runs the main model on every third frame only, and counts its hooks."""

    name = "test"

    def __init__(self, model, opts):
        super().__init__(model, opts)
        self.started = self.finished = 0
        self.seen: list[tuple[int, bool]] = []

    def start(self, ctx):
        self.started += 1
        self.ctx = ctx

    def prepare(self, model):
        pass

    def needs_inference(self, frame):
        return frame.index % 3 == 0

    def postprocess(self, outputs, frame):
        self.seen.append((frame.index, outputs is not None))
        self.timer.add("own-step", 1.0)
        return Result()

    def finish(self):
        self.finished += 1


def test_frames_may_skip_the_main_model_and_keep_their_order(tmp_path):
    probe = brightness_probe(tmp_path / "probe.xml")
    for k in range(12):
        cv2.imwrite(str(tmp_path / f"f_{k:02d}.png"), np.full((32, 48, 3), 10 * k, np.uint8))
    opts = Options.build(EveryThird.options(), {"input": str(tmp_path / "f_%02d.png"), "no_show": True, "nireq": 3,
                                                "metrics_json": str(tmp_path / "m.json")})
    task = EveryThird(ResolvedModel(probe, "probe", None), opts)
    assert run(task, opts) == 0
    assert task.seen == [(k, k % 3 == 0) for k in range(12)]
    assert (task.started, task.finished, task.ctx.opts) == (1, 1, opts)
    assert "own-step" in (tmp_path / "m.json").read_text()


def test_a_failed_second_stage_request_raises_instead_of_hanging(tmp_path):
    model = fixed_size_only(tmp_path / "fixed.xml")  # takes any size, but runs on 64x64 inputs only
    with pytest.raises(DemoError, match="takes images of any size"):  # crops need a size to be cut at
        Stage(ResolvedModel(model, "fixed", None), CONFIG)
    stage = Stage(ResolvedModel(model, "fixed", None), CONFIG, any_size=True)
    good = np.full((2, 64, 64, 3), 50, np.uint8)
    assert stage(good).get("detection_out").shape[0] == 2
    with pytest.raises(DemoError, match="second-stage inference failed"):
        stage(np.full((2, 48, 48, 3), 50, np.uint8))


class LevelStage(Family):
    """The brightness probe as main model, and a stage that reads the mean level of each object's crop: every
    frame k is a flat image of level 6k, so each answer names the frame it belongs to."""

    name = "test"

    def __init__(self, model, opts, stage_model, any_size=False, stage_requests=0):
        super().__init__(model, opts)
        self.stage_model, self.any_size, self.stage_requests = stage_model, any_size, stage_requests

    def start(self, ctx):
        stage = Stage(self.stage_model, ctx.config, any_size=self.any_size, nireq=self.stage_requests)
        whole = None if not self.any_size else (lambda image, objects, idx: image[np.newaxis])
        self.stages = [ObjectStage("level", stage, apply=self.apply, batch=whole)]

    def prepare(self, model):
        pass

    @staticmethod
    def apply(objects, indices, outputs):
        (_, values), = list(outputs)
        objects.data["attributes"] = [{"level": {"value": float(v)}} for v in values.reshape(len(indices), -1)[:, 0]]

    def postprocess(self, outputs, frame):
        level = outputs.get("detection_out").reshape(-1, 7)[0, 3] * 510  # the probe's x1 is level / 510
        h, w = frame.image.shape[:2]
        objects = Detections([[0, 0, w - 1, h - 1]], [1.0], [0], data={"main_level": np.array([level])})
        return Result(objects)


def test_every_frame_carries_its_own_stage_answers_in_order_with_stages_in_flight(tmp_path):
    probe = brightness_probe(tmp_path / "probe.xml")
    level = batch_sensitive(tmp_path / "level.xml")  # a per-item mean (its batch falls back to one per crop)
    for k in range(40):
        cv2.imwrite(str(tmp_path / f"f_{k:02d}.png"), np.full((32, 48, 3), 6 * k, np.uint8))
    opts = Options.build(LevelStage.options(), {"input": str(tmp_path / "f_%02d.png"), "no_show": True, "nireq": 4})
    family = LevelStage(ResolvedModel(probe, "probe", None), opts, ResolvedModel(level, "level", None))
    seen = [(d.frame.index, float(d.result.objects.data["main_level"][0]),
             d.result.objects.data["attributes"][0]["level"]["value"]) for d in Pipeline(family, opts)]
    assert [k for k, _, _ in seen] == list(range(40))
    for k, main_level, stage_level in seen:
        assert main_level == pytest.approx(6 * k, abs=0.6)  # the main model's answer for frame k ...
        assert stage_level == pytest.approx(6 * k, abs=1e-3)  # ... and the stage's, both on frame k


def test_a_stage_time_is_its_requests_and_the_wait_for_a_free_request_is_shown_apart(tmp_path):
    probe = brightness_probe(tmp_path / "probe.xml")
    level = batch_sensitive(tmp_path / "level.xml")  # one request per crop
    for k in range(30):
        cv2.imwrite(str(tmp_path / f"f_{k:02d}.png"), np.full((32, 48, 3), 6 * k, np.uint8))
    opts = Options.build(LevelStage.options(), {"input": str(tmp_path / "f_%02d.png"), "no_show": True, "nireq": 4,
                                                "metrics_json": str(tmp_path / "m.json")})
    # one stage request: its requests run one after another, so their times add up to less than the run's
    family = LevelStage(ResolvedModel(probe, "probe", None), opts, ResolvedModel(level, "level", None),
                        stage_requests=1)
    started = time.perf_counter()
    frames = list(Pipeline(family, opts))
    wall_ms = (time.perf_counter() - started) * 1000.0
    assert [d.frame.index for d in frames] == list(range(30))
    assert all({"level", "level wait"} <= set(d.timings) for d in frames)
    assert 0 < sum(d.timings["level"] for d in frames) < wall_ms
    assert all(d.timings["level wait"] >= 0 for d in frames)
    assert run(LevelStage(ResolvedModel(probe, "probe", None), opts, ResolvedModel(level, "level", None)), opts) == 0
    summary = json.loads((tmp_path / "m.json").read_text())
    assert {"level", "level wait"} <= set(summary["stages_ms"])


def test_a_failing_stage_request_ends_the_run_in_one_line_never_a_hang(tmp_path):
    probe = brightness_probe(tmp_path / "probe.xml")
    fixed = fixed_size_only(tmp_path / "fixed.xml")  # runs on 64x64 only
    for k, side in enumerate([64, 64, 64, 48, 64, 64]):
        cv2.imwrite(str(tmp_path / f"f_{k:02d}.png"), np.full((side, side, 3), 10 * k, np.uint8))
    opts = Options.build(LevelStage.options(), {"input": str(tmp_path / "f_%02d.png"), "no_show": True, "nireq": 2})
    family = LevelStage(ResolvedModel(probe, "probe", None), opts, ResolvedModel(fixed, "fixed", None), any_size=True)
    started = time.monotonic()
    emitted = []
    with pytest.raises(DemoError, match="second-stage inference failed") as failure:
        for decoded in Pipeline(family, opts):
            emitted.append(decoded.frame.index)
    assert "\n" not in str(failure.value)
    assert emitted == [0, 1, 2]  # the frames before the failing one came out whole
    assert time.monotonic() - started < 30
