"""The second-stage contract (common/engine/second_stage.py): docs/writing-a-second-model.md's worked example, run as
written on a real detector and a real photo with a model built here whose answer says which pixels it saw."""

from __future__ import annotations

import re

import cv2
import numpy as np
import pytest
from conftest import REPO, model_path
from helpers import read_jsonl
from synthetic import brightness_probe, mean_level

from ovdemo.common.engine.launch import run
from ovdemo.common.errors import DemoError

GUIDE = REPO / "docs" / "writing-a-second-model.md"


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
