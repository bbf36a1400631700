"""Each family reads typed values made once from its options (`OptionValues`): the field names are option names
of that family, and the values are the vocabulary's defaults unless given."""

from __future__ import annotations

from dataclasses import dataclass, fields
from pathlib import Path

import pytest

from ovdemo.common.options import OptionValues
from ovdemo.demos import FAMILIES
from ovdemo.demos.action.base import ActionOptions
from ovdemo.demos.detect.family import DetectOptions
from ovdemo.demos.face.family import FaceOptions
from ovdemo.demos.pose.family import PoseOptions
from ovdemo.demos.segment.family import SegmentOptions
from ovdemo.demos.text.family import TextOptions

VALUES = {"detect": DetectOptions, "track": DetectOptions, "face": FaceOptions, "pose": PoseOptions,
          "segment": SegmentOptions, "text": TextOptions, "action": ActionOptions}


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_every_field_is_an_option_of_the_family_with_its_default(family):
    family_cls = FAMILIES[family]
    defaults = {o.name: o.default for o in family_cls.options()} | family_cls.fixed
    values = VALUES[family].of(family_cls.build_options({}))
    for field in fields(values):
        assert field.name in defaults, f"{VALUES[family].__name__}.{field.name} is no option of {family}"
        assert getattr(values, field.name) == defaults[field.name]


def test_given_values_and_the_command_line_reach_the_same_fields():
    given = DetectOptions.of(FAMILIES["detect"].build_options({"threshold": 0.3, "classes": "person,car",
                                                               "agnostic_nms": True, "track": True}))
    assert (given.threshold, given.classes, given.agnostic_nms, given.track) == (0.3, "person,car", True, True)
    track = DetectOptions.of(FAMILIES["track"].build_options({}))
    assert track.track and track.reid_ref == "person-reidentification-retail-0277"  # track's fixed and default
    assert DetectOptions.of(FAMILIES["track"].build_options({"reid_model": "none"})).reid_ref is None
    face = FaceOptions.of(FAMILIES["face"].build_options({"head_pose": True, "emotions_model": "mine.xml"}))
    assert face.switched_on("head-pose") and not face.switched_on("age-gender")
    assert face.stage_model("emotions") == "mine.xml"
    assert face.stage_model("landmarks") == "landmarks-regression-retail-0009"  # no flag given: the default


def test_values_are_frozen_and_a_field_no_option_has_is_the_codes_mistake():
    values = SegmentOptions.of(FAMILIES["segment"].build_options({"opacity": 0.2}))
    assert values.opacity == 0.2
    with pytest.raises(AttributeError):
        values.opacity = 0.9

    @dataclass(frozen=True)
    class Misspelt(OptionValues):
        opacty: float

    with pytest.raises(TypeError, match="Misspelt reads opacty"):
        Misspelt.of(FAMILIES["segment"].build_options({}))


def test_no_family_reads_the_untyped_bag():
    """demos/ reads options through its typed values only (the bag's `get` was how a typo went unnoticed)."""
    demos = Path(__file__).resolve().parent.parent / "demos"
    assert [path.name for path in sorted(demos.glob("*.py")) if "opts.get(" in path.read_text(encoding="utf-8")] == []
