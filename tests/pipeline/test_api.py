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


# --- issue 26, item 7: the API at first contact


def test_a_path_or_url_is_read_as_the_command_line_reads_it(models_dir, tmp_path, monkeypatch):
    """`predictor("people.jpg")` (what people type first): a path, a pathlib.Path or an image's URL on a real
    HTTP server give the objects the array gives; what is not one image is a one-line error that says what to
    do."""
    from _http_mirror import Mirror

    model_path(models_dir, "person-detection-0202")
    monkeypatch.setenv("OVDEMO_MODELS_DIR", str(models_dir))
    image, path = frame_of(models_dir, "videos", "preview-people-detection.gif", 5, tmp_path)
    predictor = ovdemo.load("person-detection-0202", offline=True)
    expected = predictor(image).to_dict()["objects"]
    assert expected, "the chosen frame has people"
    for given in (str(path), path):
        same_objects(predictor(given).to_dict()["objects"], expected)
    with Mirror(samples_dir=tmp_path) as server:
        same_objects(predictor(f"{server.base}/samples/{path.name}").to_dict()["objects"], expected)
    with pytest.raises(DemoError, match="input not found: .*people.jpg"):
        predictor(str(tmp_path / "people.jpg"))
    with pytest.raises(DemoError, match=r"is a video, not one image: .*predictor\.stream"):
        predictor(models_dir.parent / "videos" / "preview-people-detection.gif")
    (tmp_path / "broken.png").write_bytes(b"not an image")
    with pytest.raises(DemoError, match="cannot read image"):
        predictor(tmp_path / "broken.png")


def test_a_class_map_reads_as_the_array_it_holds(models_dir, videos_dir, monkeypatch):
    """`result.class_map.shape`, indexing, comparisons and np.asarray act on the (H, W) class ids, and the
    share of a class counted from it is the share the JSON reports."""
    model_path(models_dir, "road-segmentation-adas-0001")
    monkeypatch.setenv("OVDEMO_MODELS_DIR", str(models_dir))
    image = read_video(videos_dir / "car-detection.mp4", limit=1)[0]
    result = ovdemo.load("road-segmentation-adas-0001", offline=True)(image)
    class_map = result.class_map
    assert class_map.shape == image.shape[:2] and class_map.ndim == 2 and len(class_map) == image.shape[0]
    array = np.asarray(class_map)
    assert array.shape == image.shape[:2] and array.dtype == class_map.dtype
    assert np.array_equal(array, class_map.classes)
    assert class_map[100, 200] == array[100, 200] and np.array_equal(class_map[10:20, 5], array[10:20, 5])
    shares = {s["label"]: s["share"] for s in result.to_dict()["class_shares"]}
    assert shares.get("road", 0) > 0.05, shares  # the frame has road in it
    road = class_map == class_map.names.index("road")
    assert road.dtype == bool and road.shape == image.shape[:2]
    assert road.mean() == pytest.approx(shares["road"], abs=1e-5)


def test_an_unknown_option_suggests_the_closest_the_api_takes(models_dir, videos_dir, monkeypatch):
    """`thresh=` suggests `threshold=`; the options listed are the ones the API takes (not --json, --no-show or
    --serve, which are the command's own outputs), and naming one of those says so."""
    model_path(models_dir, "person-detection-0202")
    monkeypatch.setenv("OVDEMO_MODELS_DIR", str(models_dir))
    with pytest.raises(DemoError) as caught:
        ovdemo.load("person-detection-0202", thresh=0.3, offline=True)
    message = str(caught.value)
    assert "thresh: did you mean threshold?" in message and "\n" not in message
    known = message.split("known: ")[1].split(", ")
    assert "threshold" in known and "track" in known and "max_frames" in known
    assert not {"json", "no_show", "serve", "output", "raw", "metrics_json", "verbose", "input", "workers"} & set(known)
    for name, flag in (("json", "--json"), ("no_show", "--no-show"), ("serve", "--serve")):
        with pytest.raises(DemoError, match=f"{name}= is the command line's {flag}, not a Python API option"):
            ovdemo.load("person-detection-0202", offline=True, **{name: "x"})
    predictor = ovdemo.load("person-detection-0202", offline=True)
    with pytest.raises(DemoError, match="max_frame: did you mean max_frames"):
        next(predictor.stream(videos_dir / "preview-people-detection.gif", max_frame=3))


def test_head_pose_has_the_same_shape_in_data_and_in_the_json(models_dir, tmp_path, monkeypatch):
    """`result.objects.data["head_pose"][i]` is the {yaw, pitch, roll} dict the JSON line has, as the command
    line writes it."""
    for name in ("face-detection-retail-0004", "head-pose-estimation-adas-0001"):
        model_path(models_dir, name)
    monkeypatch.setenv("OVDEMO_MODELS_DIR", str(models_dir))
    image, path = frame_of(models_dir, "videos", "preview-face-demographics-walking-and-pause.gif", 10, tmp_path)
    cli = run_ovdemo("face", "-m", "face-detection-retail-0004", "-i", path, "--offline", "--no-show", "--head-pose",
                     "--json", tmp_path / "cli.jsonl")
    assert cli.returncode == 0, cli.stderr
    (record,) = read_jsonl(tmp_path / "cli.jsonl")
    result = ovdemo.load("face-detection-retail-0004", family="face", offline=True, head_pose=True)(image)
    poses = result.objects.data["head_pose"]
    assert len(poses) == len(record["objects"]) >= 2
    for pose, written in zip(poses, record["objects"], strict=True):
        assert isinstance(pose, dict) and list(pose) == list(written["head_pose"]) == ["yaw", "pitch", "roll"]
        assert pose == pytest.approx(written["head_pose"], abs=0.01)
