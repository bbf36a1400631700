"""Every family, given a real model of another family, says so in one line before writing anything."""

from __future__ import annotations

import pytest
from helpers import one_line_error, run_ovdemo

MISFITS = [
    ("detect", "human-pose-estimation-0001", "do not fit the detect demo"),
    ("face", "human-pose-estimation-0001", "do not fit the face demo"),
    ("track", "road-segmentation-adas-0001", "do not fit the track demo"),
    ("pose", "person-detection-0202", "do not fit the pose demo"),
    ("segment", "person-detection-0202", "is a detect model, not a segmentation model"),
    ("segment", "human-pose-estimation-0001", "is a pose model, not a segmentation model"),
    ("text", "road-segmentation-adas-0001", "is a segment model, not a text detector"),
    ("text", "person-detection-0202", "is a detect model, not a text detector"),
    ("action", "person-detection-0202", "cannot tell how to run person-detection-0202 for actions"),
    ("action", "human-pose-estimation-0001", "cannot tell how to run human-pose-estimation-0001 for actions"),
]


@pytest.mark.parametrize(("family", "model", "message"), MISFITS, ids=[f"{f}-{m}" for f, m, _ in MISFITS])
def test_a_model_of_another_family_is_refused_in_one_line(models_dir, images_dir, tmp_path, family, model, message):
    out = tmp_path / "out.jsonl"
    result = run_ovdemo(family, "-m", model, "-i", images_dir / "astronaut.png", "--models-dir", models_dir,
                        "--offline", "--no-show", "--json", out)
    assert result.returncode == 2
    assert message in one_line_error(result)
    assert not out.exists()
