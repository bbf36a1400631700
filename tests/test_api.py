"""The Python API: `ovdemo.load` gives the same answers as the command line, and `stream` every frame in order."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from conftest import model_path
from helpers import read_jsonl, read_video, run_ovdemo

import ovdemo
from ovdemo.common.errors import DemoError
from ovdemo.common.results import Result

# (family for the CLI, model, precision, load() keywords = CLI flags, the image: a file or a video frame)
CASES = {
    "detect": ("detect", "person-detection-0202", "FP16", {}, ("videos", "preview-people-detection.gif", 5)),
    "pose": ("pose", "human-pose-estimation-0001", "FP16-INT8", {},
             ("videos", "preview-worker-zone-detection.gif", 20)),
    "face": ("face", "face-detection-retail-0004", "FP16", {"age_gender": True, "emotions": True, "head_pose": True},
             ("videos", "preview-face-demographics-walking-and-pause.gif", 10)),
}
FACE_STAGES = ("landmarks-regression-retail-0009", "age-gender-recognition-retail-0013",
               "emotions-recognition-retail-0003", "head-pose-estimation-adas-0001")


def flags(options: dict) -> list[str]:
    return [f"--{k.replace('_', '-')}" for k, v in options.items() if v is True]


def frame_of(models_dir, folder: str, name: str, index: int, tmp_path):
    source = models_dir.parent / folder / name
    if not source.exists():
        pytest.skip(f"{source} is not there")
    image = read_video(source)[index]
    path = tmp_path / f"{name}-{index}.png"
    cv2.imwrite(str(path), image)
    return cv2.imread(str(path)), path


def same(a, b) -> bool:
    """Equal JSON values, numbers to the precision the JSON keeps."""
    if isinstance(a, dict):
        return isinstance(b, dict) and a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return isinstance(b, list) and len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, float):
        return a == pytest.approx(b, abs=1e-3)
    return a == b


def same_objects(api: list[dict], cli: list[dict]) -> None:
    assert len(api) == len(cli), (api, cli)
    for a, c in zip(api, cli, strict=True):
        assert same(a, c), (a, c)


@pytest.mark.parametrize("case", sorted(CASES))
def test_a_predictor_answers_as_the_command_line_does(case, models_dir, tmp_path, monkeypatch):
    family, model, precision, options, (folder, name, index) = CASES[case]
    model_path(models_dir, model, precision)
    for stage in FACE_STAGES if case == "face" else ():
        model_path(models_dir, stage, "FP16-INT8" if "recognition" in stage else "FP16")
    monkeypatch.setenv("OVDEMO_MODELS_DIR", str(models_dir))
    image, path = frame_of(models_dir, folder, name, index, tmp_path)
    cli = run_ovdemo(family, "-m", model, "-i", path, "--precision", precision, "--offline", "--no-show",
                     "--json", tmp_path / "cli.jsonl", *flags(options))
    assert cli.returncode == 0, cli.stderr
    (record,) = read_jsonl(tmp_path / "cli.jsonl")
    predictor = ovdemo.load(model, family=family if case == "face" else None, precision=precision, offline=True,
                            **options)
    assert predictor.name == family  # detect and pose found from the model's spec
    result = predictor(image)
    assert isinstance(result, Result)
    assert record["objects"], "the chosen frame has things to find"
    same_objects(result.to_dict()["objects"], record["objects"])
    assert len(result.objects) == len(record["objects"])
    drawn = predictor.annotate(image, result)
    assert drawn.shape == image.shape and not np.array_equal(drawn, image)
    predictor.close()


def test_stream_yields_every_frame_in_order(models_dir, videos_dir, monkeypatch):
    model_path(models_dir, "person-detection-0202")
    monkeypatch.setenv("OVDEMO_MODELS_DIR", str(models_dir))
    source = videos_dir / "preview-people-detection.gif"
    expected = read_video(source)
    predictor = ovdemo.load("person-detection-0202", offline=True, nireq=4)
    frames = list(predictor.stream(source))
    assert len(frames) == len(expected)
    for (image, result), original in zip(frames, expected, strict=True):
        assert np.array_equal(image, original)  # the stream's images are the source's frames, unchanged, in order
        assert isinstance(result, Result) and result.inferred
    # the streamed results are the predictor's own on the same frames
    for k in (0, 7, len(expected) - 1):
        same_objects(frames[k][1].to_dict()["objects"], predictor(expected[k]).to_dict()["objects"])
    tracked = list(predictor.stream(source, track=True, max_frames=10))
    assert len(tracked) == 10 and all(r.objects.tracker_id is not None for _, r in tracked)


def test_bad_use_is_a_clear_error(models_dir, monkeypatch):
    monkeypatch.setenv("OVDEMO_MODELS_DIR", str(models_dir))
    model_path(models_dir, "person-detection-0202")
    with pytest.raises(DemoError, match="unknown option.*treshold.*known: .*threshold"):
        ovdemo.load("person-detection-0202", treshold=0.5, offline=True)
    with pytest.raises(DemoError, match="unknown family 'faces'"):
        ovdemo.load("person-detection-0202", family="faces", offline=True)
    predictor = ovdemo.load("person-detection-0202", offline=True)
    with pytest.raises(DemoError, match="expected a BGR image"):
        predictor(np.zeros((10, 10), np.uint8))
