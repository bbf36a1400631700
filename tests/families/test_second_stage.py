"""The second-stage contract (common/engine/second_stage.py): docs/writing-a-family.md's worked example, run as
written on a real detector and a real photo with a model built here whose answer says which pixels it saw."""

from __future__ import annotations

import ast
import re

import cv2
import numpy as np
import openvino as ov
import openvino.opset13 as ops
import pytest
from conftest import REPO, model_path
from helpers import read_jsonl
from synthetic import brightness_probe, mean_level

from ovdemo.common.engine.inference import InferenceConfig
from ovdemo.common.engine.launch import run
from ovdemo.common.engine.second_stage import SecondModel
from ovdemo.common.engine.stages import FrameJobs
from ovdemo.common.errors import DemoError
from ovdemo.common.io.capture import Frame
from ovdemo.common.models.resolve import ResolvedModel
from ovdemo.common.models.specs import ModelSpec, find_spec
from ovdemo.common.results import Detections, Result
from ovdemo.demos.detect.family import ReidReader

GUIDE = REPO / "docs" / "writing-a-family.md"


def guide_code() -> dict:
    """The guide's Python blocks, run in order in one namespace."""
    namespace: dict = {"__name__": "guide"}
    blocks = re.findall(r"```python\n(.*?)```", GUIDE.read_text(encoding="utf-8"), re.S)
    assert blocks, "the guide shows no code"
    for block in blocks:
        exec(compile(block, str(GUIDE), "exec"), namespace)
    return namespace


def people_photo(videos_dir, tmp_path):
    """A frame of the sample video with people in it, as a photo (what the test expects is cut from the same
    pixels the run reads)."""
    capture = cv2.VideoCapture(str(videos_dir / "one-by-one-person-detection.mp4"))
    capture.set(cv2.CAP_PROP_POS_FRAMES, 120)
    ok, image = capture.read()
    capture.release()
    assert ok, "cannot read the sample video"
    cv2.imwrite(str(tmp_path / "people.png"), image)
    return tmp_path / "people.png"


def torso_run(family_cls, models_dir, photo, out, torso_model):
    family_cls.torso_model = str(torso_model)
    opts = family_cls.build_options({"model": "person-detection-0202", "input": str(photo), "models_dir": models_dir,
                                     "offline": True, "no_show": True, "json": str(out)})
    return run(family_cls.create(opts), opts)


def test_the_guides_reader_answers_on_the_upper_half_of_every_person(models_dir, videos_dir, tmp_path):
    model_path(models_dir, "person-detection-0202")
    guide = guide_code()
    out, photo = tmp_path / "people.jsonl", people_photo(videos_dir, tmp_path)
    assert torso_run(guide["TorsoDetect"], models_dir, photo, out, mean_level(tmp_path / "level.xml")) == 0
    (frame,) = read_jsonl(out)
    people = frame["objects"]
    assert people, "the detector found nobody"
    image = cv2.imread(str(photo))
    for person in people:
        x1, y1, x2, y2 = np.rint(person["bbox"]).astype(int)
        upper = image[max(y1, 0):(y1 + y2) // 2, max(x1, 0):x2]
        whole = image[max(y1, 0):y2, max(x1, 0):x2]
        level = person["attributes"]["torso_level"]["value"]
        # the mean of the upper half, resized to the model's 32x64 (bbox rounded to 0.1 px in the JSON)
        assert level == pytest.approx(cv2.resize(upper, (32, 64)).mean(), abs=1.0)
        assert abs(level - cv2.resize(whole, (32, 64)).mean()) > 3.0  # the box's upper half, not the box


def test_a_model_that_does_not_fit_the_guides_reader_fails_at_start_in_one_line(models_dir, videos_dir, tmp_path):
    model_path(models_dir, "person-detection-0202")
    guide = guide_code()
    probe = brightness_probe(tmp_path / "probe.xml")  # an SSD-style model: detection_out, no `level`
    with pytest.raises(DemoError) as failure:
        torso_run(guide["TorsoDetect"], models_dir, people_photo(videos_dir, tmp_path), tmp_path / "x.jsonl", probe)
    line = str(failure.value)
    assert "\n" not in line and "torso" in line and "level" in line and "detection_out" in line, line


def two_embeddings(path):
    """A re-id model of two embedding-shaped outputs, `appearance` [N,4] (the crop's mean level) and `other`
    [N,4] (twice it): only a name tells them apart."""
    data = ops.parameter([1, 3, 16, 8], ov.Type.f32, name="data")
    mean = ops.reduce_mean(data, ops.constant(np.array([1, 2, 3], np.int64)), keep_dims=True)
    level = ops.reshape(mean, ops.constant(np.array([-1, 1], np.int64)), False)
    appearance = ops.tile(level, ops.constant(np.array([1, 4], np.int64)))
    other = ops.multiply(appearance, ops.constant(np.float32(2.0)))
    appearance.output(0).set_names({"appearance"})
    other.output(0).set_names({"other"})
    ov.save_model(ov.Model([ops.result(appearance), ops.result(other)], [data], "two-embeddings"), str(path))
    return path


def test_reid_reads_the_output_its_spec_names(tmp_path):
    """Person re-identification's output is data: the one the spec's `output` names (track.toml names Open Model
    Zoo's), whatever the order of the model's outputs; a model that names none of several fails in one line."""
    assert find_spec("person-reidentification-retail-0277").params["output"][0] == "reid_embedding"
    path = two_embeddings(tmp_path / "reid.xml")
    image = np.full((40, 40, 3), 90, np.uint8)
    people = Detections([[0, 0, 20, 40], [20, 0, 40, 40]], [0.9, 0.9], [0, 0])
    for declared, factor in (("appearance", 1.0), ("other", 2.0)):
        spec = ModelSpec(name="reid", params={"stage": "reid", "output": [declared]})
        model = SecondModel(ReidReader(ResolvedModel(path, "reid", spec)), InferenceConfig())
        jobs = FrameJobs([model.object_stage()], Result(people.with_data()), Frame(0, image, 0.0, 0.0, 0.0))
        jobs.wait()
        assert jobs.result.objects.data["embedding"] == pytest.approx(np.full((2, 4), 90.0 * factor), abs=0.01)
        model.wait_all()
    with pytest.raises(DemoError) as failure:
        SecondModel(ReidReader(ResolvedModel(path, "reid", None)), InferenceConfig())
    line = str(failure.value)
    assert "\n" not in line and "appearance" in line and "other" in line and "embedding" in line, line


BUILT_IN_ONE_PLACE = ("ObjectStage", "FrameStage", "Stage")  # what only the contract's SecondModel builds
CONTRACT = "second_stage.py"


def stage_builds(path) -> list[str]:
    """`file:line name` of every call that builds one of BUILT_IN_ONE_PLACE in a module (`X(...)` or `mod.X(...)`)."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Call):
            called = node.func.id if isinstance(node.func, ast.Name) else getattr(node.func, "attr", None)
            if called in BUILT_IN_ONE_PLACE:
                found.append(f"{path.relative_to(REPO)}:{node.lineno} {called}")
    return found


def test_only_the_contract_builds_a_second_stage():
    """Every second model goes through common/engine/second_stage.py: no module of common/ or demos/ but that one
    builds an ObjectStage, a FrameStage or the Stage under them by hand (read with `ast`, as test_imports does)."""
    modules = [path for package in ("common", "demos") for path in sorted((REPO / package).rglob("*.py"))]
    assert any(path.name == CONTRACT for path in modules)
    by_hand = [build for path in modules if path.name != CONTRACT for build in stage_builds(path)]
    assert by_hand == [], "built outside the second-stage contract: " + ", ".join(by_hand)
    assert stage_builds(next(path for path in modules if path.name == CONTRACT))  # (the test sees a build)
