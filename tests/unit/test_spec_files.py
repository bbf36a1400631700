"""Spec files (assets/models/*.toml) are checked when they load: a key no field or parameter has is a typo, and
fails in one line naming the file, the model, the key and the keys there are."""

from __future__ import annotations

from pathlib import Path

import pytest

from ovdemo.common.errors import DemoError
from ovdemo.common.models import specs
from ovdemo.common.models.specs import PARAMETERS, _build, known_names, read_spec_file


def write(tmp_path, text: str):
    path = tmp_path / "mine.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_a_misspelt_parameter_fails_naming_the_file_the_model_and_the_key(tmp_path):
    path = write(tmp_path, '["my-detector"]\nfamily = "detect"\nroi_scal = 1.5\n')
    with pytest.raises(DemoError) as caught:
        read_spec_file(path)
    text = str(caught.value)
    assert "\n" not in text
    assert str(path) in text and "my-detector" in text and "roi_scal" in text
    assert "did you mean roi_scale?" in text
    assert all(key in caught.value.hint for key in ("family", "threshold", "roi_scale", "anchors"))


def test_a_misspelt_attribute_key_fails_too(tmp_path):
    path = write(tmp_path, '["my-classifier"]\nfamily = "classify"\n'
                           'attributes.color = { output = "color", knd = "class", labels = ["red"] }\n')
    with pytest.raises(DemoError, match=r"my-classifier attribute color has unknown key\(s\) knd"):
        read_spec_file(path)


def test_known_keys_load_into_the_spec(tmp_path):
    path = write(tmp_path, '["my-face-stage"]\nfamily = "face"\nthreshold = 0.3\nroi_scale = 1.2\n'
                           'stage = "landmarks"\n')
    spec = _build("my-face-stage", read_spec_file(path)["my-face-stage"])
    assert spec.threshold == 0.3 and spec.family == "face"
    assert spec.params == {"roi_scale": 1.2, "stage": "landmarks"}


def test_a_broken_spec_file_is_one_line(tmp_path):
    with pytest.raises(DemoError, match="mine.toml"):
        read_spec_file(write(tmp_path, '["m"]\nfamily = \n'))


def test_every_shipped_spec_loads_and_every_parameter_listed_is_read():
    """The shipped files pass the check (all of them load), and each parameter the table lists is one some code
    reads by its quoted name: the table holds no key that nothing would use."""
    assert "face-detection-retail-0004" in known_names("detect")
    root = Path(specs.__file__).resolve().parents[2]
    code = "\n".join(path.read_text(encoding="utf-8") for folder in ("common", "demos")
                     for path in sorted((root / folder).rglob("*.py")) if path.name != "specs.py")
    assert [key for key in PARAMETERS if f'"{key}"' not in code] == []
