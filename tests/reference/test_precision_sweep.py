"""The precision sweep: every real model in the shared models folder that a family runs, as ovdemo prepares it
(its family set up for a run: preprocessing inside the graph, reshapes, second stages with their batch-1 and
batched models) against the unchanged static model (batch 1, every shape static, preprocessing by hand), both
at the CPU's default inference precision, on real frames and on the crops the family really cuts from them.

They may disagree by no more than twice the static model's own precision noise, its distance from itself
compiled in f32 on the same inputs (plus a floor for the order of float sums). A dynamic shape once gave
landmarks-regression-retail-0009 other points on bf16 CPUs; this is the test that names such a model. On a CPU
whose default precision is f32 it still runs, and says so. Raw outputs are compared: element by element for
maps and vectors, and for detection rows each confident row against its nearest twin."""

from __future__ import annotations

import warnings
from pathlib import Path

import cv2
import numpy as np
import openvino as ov
import pytest
from reference import CORE, DEFAULT_PRECISION, nchw, openvino_resized
from test_reference_detect import image_of

import ovdemo
from ovdemo.common.engine.resize import taps_pay_off
from ovdemo.common.engine.stages import ObjectStage, crops

pytestmark = pytest.mark.slow  # every real model, compiled three ways: `make quick` leaves it out

NOISE_TIMES, FLOOR = 2.0, 5e-3  # the floor: of an output's size (relative L2), or of a detection's coordinates
CONFIDENT = 0.3  # detection rows compared (their twins are looked for among every row)
PEOPLE = ("videos", "people-detection.264", 390)
FACES = ("videos", "preview-face-demographics-walking-and-pause.gif", 5)
CARS = ("videos", "car-detection.mp4", 200)
PARK = ("videos", "preview-person-bicycle-car-detection.gif", 10)
PAGE = ("images", "page.png", None)
FACE_STAGES = {"age_gender": True, "emotions": True, "head_pose": True, "gallery": "{tmp}", "enroll": True}
# model folder -> (family, the main model: a folder of the shared models or a path in it, other load() arguments,
# the frame it runs on). Second-stage models are swept through the family and main model that run them, on the
# crops the family cuts.
CASES = {
    "person-detection-0202": ("detect", None, {}, PEOPLE),
    "person-detection-retail-0013": ("detect", None, {}, PEOPLE),
    "pedestrian-detection-adas-0002": ("detect", None, {}, PEOPLE),
    "person-detection-asl-0001": ("detect", None, {}, ("videos", "asl-hungry.mkv", 0)),
    "face-detection-0200": ("detect", None, {}, FACES),
    "face-detection-0205": ("detect", None, {}, FACES),
    "face-detection-adas-0001": ("detect", None, {}, FACES),
    "face-detection-retail-0005": ("detect", None, {}, FACES),
    "retinaface-mnet25": ("face", None, {}, FACES),
    "vehicle-detection-adas-0002": ("detect", None, {}, CARS),
    "vehicle-license-plate-detection-barrier-0106": ("detect", None, {}, CARS),
    "person-vehicle-bike-detection-2000": ("detect", None, {}, PARK),
    "person-vehicle-bike-detection-2004": ("detect", None, {}, PARK),
    "person-vehicle-bike-detection-crossroad-0078": ("detect", None, {}, PARK),
    "person-vehicle-bike-detection-crossroad-1016": ("detect", None, {}, PARK),
    "horizontal-text-detection-0001": ("detect", None, {}, PAGE),
    "ssdlite_mobilenet_v2": ("detect", "ssdlite_mobilenet_v2/tf/frozen_inference_graph.pb", {},
                             ("images", "astronaut.png", None)),
    "yolo-fastest-1.1": ("detect", None, {}, ("images", "astronaut.png", None)),
    "human-pose-estimation-0001": ("pose", None, {}, ("videos", "one-by-one-person-detection.mp4", 300)),
    "road-segmentation-adas-0001": ("segment", None, {}, CARS),
    "person-detection-action-recognition-0005": ("action", None, {}, ("videos", "preview-classroom.gif", 22)),
    "face-detection-retail-0004": ("face", None, FACE_STAGES, FACES),  # with every face stage behind it
    "ppocrv5": ("text", "ppocrv5/onnx/ppocrv5_det.onnx",
                {"recognizer_model": "{models}/ppocrv5/onnx/ppocrv5_rec.onnx"}, PAGE),
    "person-attributes-recognition-crossroad-0230": (
        "detect", "person-detection-0202", {"classify": ("person-attributes-recognition-crossroad-0230",)}, PEOPLE),
    "vehicle-attributes-recognition-barrier-0039": (
        "detect", "vehicle-detection-adas-0002", {"classify": ("vehicle-attributes-recognition-barrier-0039",)}, CARS),
    "license-plate-recognition-barrier-0001": (
        "detect", "vehicle-license-plate-detection-barrier-0106",
        {"classify": ("license-plate-recognition-barrier-0001",)}, CARS),
}
for _reid in ("0249", "0277", "0286", "0287", "0288"):
    CASES[f"person-reidentification-retail-{_reid}"] = (
        "track", "person-detection-0202", {"reid_model": f"person-reidentification-retail-{_reid}"}, PEOPLE)
for _stage in ("landmarks-regression-retail-0009", "age-gender-recognition-retail-0013",
               "emotions-recognition-retail-0003", "head-pose-estimation-adas-0001",
               "face-reidentification-retail-0095"):
    CASES[_stage] = ("face", "face-detection-retail-0004", FACE_STAGES, FACES)
NO_FAMILY = {"gaze-estimation-adas-0002"}  # in the shared folder, run by no family of ovdemo's


def test_every_shared_model_has_a_sweep_case(models_dir):
    folders = {p.name for p in models_dir.iterdir() if p.is_dir()}
    assert not folders - set(CASES) - NO_FAMILY, "add a sweep case for these models"


def image_port(model: ov.Model) -> ov.Output:
    return next(p for p in model.inputs if p.get_partial_shape().rank.get_length() == 4)


def static_inputs(model: ov.Model, spec, images: np.ndarray) -> dict[str, np.ndarray]:
    """u8 BGR NHWC images (already at the model's size) as the model's image input, by hand: layout, colour
    order, mean and scale as the model's spec says. Another input (a plate recognizer's seq_ind) is all ones,
    as it is documented for a single image."""
    port = image_port(model)
    shape = port.get_partial_shape()
    x = images.astype(np.float32)
    if spec is not None and spec.color == "RGB":
        x = x[..., ::-1]
    if spec is not None and spec.mean:
        x = x - np.asarray(spec.mean, np.float32)
    if spec is not None and spec.scale:
        x = x / np.asarray(spec.scale, np.float32)
    if shape[3].is_dynamic or shape[3].get_length() != 3 or (shape[1].is_static and shape[1].get_length() == 3):
        x = x.transpose(0, 3, 1, 2)
    inputs = {port.get_any_name(): np.ascontiguousarray(x).astype(port.get_element_type().to_dtype())}
    for other in model.inputs:
        if other.get_any_name() not in inputs:
            inputs[other.get_any_name()] = np.ones(other.get_shape(), other.get_element_type().to_dtype())
    return inputs


def compiled_static(read: ov.Model, input_shape: list[int], precision: str) -> ov.CompiledModel:
    """The unchanged model (a copy of it as read) at this one input shape, with the throughput hint ovdemo runs
    files with (an INT8 model's kernels for several streams round differently from one stream's: that is not what
    is compared)."""
    model = read.clone()  # read once per test: a TensorFlow graph takes seconds to read
    model.reshape({image_port(model): ov.PartialShape(input_shape)})
    config = {"PERFORMANCE_HINT": "THROUGHPUT"} | ({"INFERENCE_PRECISION_HINT": "f32"} if precision == "f32" else {})
    return CORE.compile_model(model, "CPU", config)


def static_pair(read: ov.Model, input_shape: list[int]) -> tuple[ov.CompiledModel, ov.CompiledModel]:
    """The static model at the CPU's default precision and in f32: compiled once where the default is f32."""
    plain = compiled_static(read, input_shape, "default")
    return plain, plain if DEFAULT_PRECISION == "f32" else compiled_static(read, input_shape, "f32")


def outputs_by_name(compiled: ov.CompiledModel, inputs) -> dict[str, np.ndarray]:
    results = compiled.create_infer_request().infer(inputs)
    return {name: np.asarray(v, np.float64) for port, v in results.items() for name in port.get_names()}


def detection_distance(a: np.ndarray, b: np.ndarray, size: tuple[int, int]) -> float:
    """How far the confident detection rows of each side are from their nearest twin of the other side (same
    class; the larger of the score's and the normalised corners' differences)."""
    def rows(x):  # DetectionOutput: image_id, label, conf, corners normalised
        x = x.reshape(-1, 7)
        x = x[x[:, 0] >= 0]
        return x[:, 1], x[:, 2], x[:, 3:7]

    def one_way(p, q):
        worst = 0.0
        for label, score, corners in zip(*p, strict=True):
            if score < CONFIDENT:
                continue
            same = q[0] == label
            near = np.maximum(np.abs(q[1][same] - score), np.abs(q[2][same] - corners).max(axis=1)) \
                if same.any() else np.array([score])
            worst = max(worst, float(near.min()))
        return worst
    ra, rb = rows(a), rows(b)
    return max(one_way(ra, rb), one_way(rb, ra))


def with_labels(outputs: dict) -> dict:
    """`boxes` [N,5] with `labels` [N] as rows of DetectionOutput's shape (image_id 0, label, score, corners)."""
    boxes, labels = outputs["boxes"].reshape(-1, 5), outputs.get("labels")
    labels = np.zeros(len(boxes)) if labels is None else labels.reshape(-1)[:len(boxes)]
    return np.concatenate([np.zeros((len(boxes), 1)), labels[:, None], boxes[:, 4:5], boxes[:, :4]], axis=1)


def distances(got: dict, want: dict, size: tuple[int, int]) -> dict[str, float]:
    """Per output: relative L2 per item (the largest), the detection rows' distance, or for a class map the
    family computes inside the graph, the share of pixels of another class than the plain map's argmax."""
    found = {}
    if "ovdemo_class_map" in got:
        probabilities = next(w for w in want.values() if w.ndim == 4)
        return {"class map": float(np.mean(got["ovdemo_class_map"][:, 0] != probabilities.argmax(axis=1)))}
    for name, w in want.items():
        if name not in got or name in found or name == "labels":
            continue
        g = got[name]
        if name == "boxes" and w.shape[-1] == 5:  # in input pixels: corners scaled to the input's size
            rows = [with_labels(x) * [1, 1, 1, 1 / size[0], 1 / size[1], 1 / size[0], 1 / size[1]] for x in (got, want)]
            found[name] = detection_distance(*rows, size)
            continue
        if w.ndim == 4 and w.shape[-1] == 7:
            found[name] = detection_distance(g, w, size)
            continue
        assert g.shape == w.shape, (name, g.shape, w.shape)
        flat_g, flat_w = g.reshape(len(g), -1), w.reshape(len(w), -1)
        found[name] = float(max(np.linalg.norm(a - b) / max(np.linalg.norm(b), 1e-6)
                                for a, b in zip(flat_g, flat_w, strict=True)))
    return found


def compare(what: str, got: dict, plain: dict, exact: dict, size: tuple[int, int],
            rounded: dict | None = None) -> list[str]:
    """What disagrees beyond the static model's own noise: its distance from f32 on the same inputs, or from
    itself on inputs `rounded` apart (its outputs there) where that is larger."""
    off, noise = distances(got, plain, size), distances(exact, plain, size)
    if rounded is not None:
        noise = {k: max(v, distances(rounded, plain, size).get(k, 0.0)) for k, v in noise.items()}
    problems = [f"{what} {name}: {off[name]:.4f} from the static model, whose own precision noise is "
                f"{noise.get(name, 0):.4f}" for name in off if off[name] > NOISE_TIMES * noise.get(name, 0) + FLOOR]
    assert off, f"{what}: no output compared"
    return problems


def main_model(models_dir: Path, ref: str) -> Path:
    """A path in the shared models, or a model folder's FP16 file (else its first)."""
    if "/" in ref:
        return models_dir / ref
    files = sorted((models_dir / ref).glob("*/*.xml"))
    return next((f for f in files if f.parent.name == "FP16"), files[0])


@pytest.mark.parametrize("folder", sorted(set(CASES) - NO_FAMILY))
def test_ovdemo_answers_as_the_static_model_at_the_default_precision(folder, models_dir, tmp_path, monkeypatch):
    if not (models_dir / folder).is_dir():
        pytest.skip(f"{folder} is not in {models_dir}")
    if DEFAULT_PRECISION == "f32":
        warnings.warn("this CPU's default inference precision is f32: the sweep compares at f32", stacklevel=1)
    family, main, options, (where, name, index) = CASES[folder]
    options = {k: v.format(tmp=tmp_path, models=models_dir) if isinstance(v, str) else v for k, v in options.items()}
    monkeypatch.setenv("OVDEMO_MODELS_DIR", str(models_dir))
    main_path = main_model(models_dir, main or folder)
    predictor = ovdemo.load(str(main_path), family=family, offline=True, **options)
    frame = image_of(models_dir.parent, where, name, index)
    model = CORE.read_model(str(main_path))
    port = image_port(model)
    shape = port.get_partial_shape()
    nhwc = shape[3].is_static and shape[3].get_length() == 3
    h, w = (shape[1], shape[2]) if nhwc else (shape[2], shape[3])
    if h.is_static and w.is_static:
        size = (w.get_length(), h.get_length())
    else:  # any size: the frame at sides of multiples of 32, which a DB detector keeps as they are
        size = (max(32, frame.shape[1] // 32 * 32), max(32, frame.shape[0] // 32 * 32))
    frame = cv2.resize(frame, size, interpolation=cv2.INTER_AREA)  # ovdemo's own resize is then none
    result = predictor(frame)
    problems = []
    if main is None or main.startswith(folder + "/"):  # the folder's model is the main model
        prepared = {name: np.asarray(a, np.float64) for names, a in predictor._infer({0: frame[np.newaxis]})
                    for name in names}
        dims = [1, size[1], size[0], 3] if nhwc else [1, int(shape[1].get_length()), size[1], size[0]]
        inputs = static_inputs(model, predictor.family.model.spec, frame[np.newaxis])
        plain, exact = (outputs_by_name(c, inputs) for c in static_pair(model, dims))
        problems += compare(main_path.name, prepared, plain, exact, size)
    stage_problems, swept = sweep_stages(predictor, frame, result, models_dir / folder)
    if main is not None and not main.startswith(folder + "/"):
        assert swept, f"no stage of {folder} ran on the frame's objects"
    predictor.close()
    assert not problems + stage_problems, problems + stage_problems


# models whose input is a small part of a 1920x1080 frame, so that ovdemo resizes from the frame's u8 pixels
# (common/engine/resize.py): one with its own mean and scale as its first operations (the blend runs fused with
# them), one with none, one NHWC model with a spec'd colour order
FROM_LARGE_FRAMES = ("pedestrian-detection-adas-0002", "person-detection-0202", "face-detection-retail-0004",
                     "vehicle-license-plate-detection-barrier-0106")


@pytest.mark.parametrize("folder", FROM_LARGE_FRAMES)
def test_ovdemo_resizes_a_large_frame_as_the_static_model_is_given_it(folder, models_dir, tmp_path, monkeypatch):
    """The main model on a 1920x1080 frame, ovdemo resizing it in its graph, against the static model given the
    frame resized in float by OpenVINO's own Interpolate (reference.openvino_resized), both at the default
    precision: no further apart than the static model's own noise allows. Its noise includes the float rounding
    of a resize: an INT8 model quantizes its input, and the frame resized in float by OpenCV (a few thousandths
    of a level from OpenVINO's, as ovdemo's is) moves its detections by a hundredth or two."""
    if not (models_dir / folder).is_dir():
        pytest.skip(f"{folder} is not in {models_dir}")
    family, _, options, (where, name, index) = CASES[folder]
    options = {k: v.format(tmp=tmp_path, models=models_dir) if isinstance(v, str) else v for k, v in options.items()}
    monkeypatch.setenv("OVDEMO_MODELS_DIR", str(models_dir))
    main_path = main_model(models_dir, folder)
    frame = cv2.resize(image_of(models_dir.parent, where, name, index), (1920, 1080), interpolation=cv2.INTER_CUBIC)
    predictor = ovdemo.load(str(main_path), family=family, offline=True, **options)
    predictor(frame)  # compiled for this frame size
    prepared = {name: np.asarray(a, np.float64) for names, a in predictor._infer({0: frame[np.newaxis]})
                for name in names}
    predictor.close()
    model = CORE.read_model(str(main_path))
    shape = image_port(model).get_partial_shape()
    nhwc = shape[3].get_length() == 3
    size = (shape[2].get_length(), shape[1].get_length()) if nhwc else (shape[3].get_length(), shape[2].get_length())
    assert taps_pay_off((1920, 1080), size), "a 1920x1080 frame is not resized into this model: no taps to check"
    resized = openvino_resized(frame, size).transpose(0, 2, 3, 1)  # float NHWC, not rounded back to u8
    inputs = static_inputs(model, predictor.family.model.spec, resized)
    dims = [1, size[1], size[0], 3] if nhwc else [1, 3, size[1], size[0]]
    plain_model, exact_model = static_pair(model, dims)
    plain, exact = outputs_by_name(plain_model, inputs), outputs_by_name(exact_model, inputs)
    by_opencv = nchw(frame, size, in_float=True).transpose(0, 2, 3, 1)
    rounded = outputs_by_name(plain_model, static_inputs(model, predictor.family.model.spec, by_opencv))
    problems = compare(main_path.name, prepared, plain, exact, size, rounded)
    assert not problems, problems


def sweep_stages(predictor, frame: np.ndarray, result, folder: Path) -> tuple[list[str], int]:
    """Each second stage whose model is in `folder`, on the crops the family cuts from this frame: alone (the
    batch-1 model) and all at once (the batched model, in the sizes it was checked on)."""
    problems, swept = [], 0
    for job in predictor.family.stages:
        if not isinstance(job, ObjectStage) or not job.stage.image or job.stage.model.path is None:
            continue
        path = Path(job.stage.model.path)
        if folder not in path.parents:
            continue
        indices = job.indices(result.objects)
        # no object it applies to in view (no number plate in these videos): real crops of the other objects
        batches = job.inputs(frame, result.objects, indices) if len(indices) else \
            [(None, crops(frame, result.objects.xyxy, job.stage.input_size))] if len(result.objects) else []
        model = CORE.read_model(str(path))
        dims = list(image_port(model).get_partial_shape())
        nhwc = dims[3].is_static and dims[3].get_length() == 3
        for _, batch in batches:
            batch = np.asarray(batch)
            shape = [1, batch.shape[1], batch.shape[2], 3] if nhwc else \
                [1, dims[1].get_length(), batch.shape[1], batch.shape[2]]
            inputs = [static_inputs(model, job.stage.model.spec, batch[i:i + 1]) for i in range(len(batch))]
            plain, exact = ({k: np.concatenate([outputs_by_name(c, x)[k] for x in inputs])
                             for k in outputs_by_name(c, inputs[0])}
                            for c in static_pair(model, shape))
            alone = [job.stage(batch[i:i + 1]) for i in range(len(batch))]
            together = job.stage(batch)
            size = (batch.shape[2], batch.shape[1])
            problems += compare(f"{path.name} alone", {n: np.concatenate([np.asarray(a.get(n), np.float64)
                                                                          for a in alone]) for n in plain},
                                plain, exact, size)
            problems += compare(f"{path.name}, a batch of {len(batch)}",
                                {n: np.asarray(together.get(n), np.float64) for n in plain}, plain, exact, size)
            swept += 1
    return problems, swept
