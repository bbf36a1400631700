"""Every real detection model ovdemo's detect, track and face families use, on real frames, against a plain
computation of the same answer: the unchanged model at batch 1 (in f32, and at the CPU's default precision: see
reference.py), the frame resized by OpenCV to the model's input, and the decode its documentation gives, written
here without ovdemo's code. At the default precision a detection's score and box may move by twice as much as
the reference's own detections move from their f32 twins on the same frame."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import openvino as ov
import pytest
from conftest import model_path
from helpers import iou
from reference import PRECISIONS, ovdemo_precision

import ovdemo

pytestmark = pytest.mark.slow  # real video end to end: `make quick` leaves it out

CORE = ov.Core()
MARGIN = 0.05  # detections this close to the threshold may fall either side of it in either computation
# OpenVINO's resize (inside ovdemo's model) and OpenCV's differ by rounding: weak detections move up to 0.02, boxes
# by a pixel. A wrong colour order, layout, scale or stretch moves them far more.
SCORE_TOLERANCE, MIN_IOU = 0.03, 0.95

# model, precision, frames: (folder, file, frame index or None for an image), threshold
CASES = [
    ("person-detection-0202", "FP16", [("videos", "people-detection.264", k) for k in (200, 360, 390)], 0.5),
    ("person-detection-0202", "FP16-INT8", [("videos", "people-detection.264", k) for k in (200, 390)], 0.5),
    ("person-detection-retail-0013", "FP16", [("videos", "people-detection.264", k) for k in (200, 360)], 0.5),
    ("pedestrian-detection-adas-0002", "FP16", [("videos", "people-detection.264", k) for k in (360, 390)], 0.5),
    ("person-detection-asl-0001", "FP16", [("videos", "asl-hungry.mkv", k) for k in (0, 30)], 0.5),
    ("face-detection-retail-0004", "FP16", [("videos", "preview-face-demographics-walking-and-pause.gif", k)
                                            for k in (5, 20)], 0.5),
    ("face-detection-retail-0005", "FP16", [("videos", "preview-face-demographics-walking-and-pause.gif", 5)], 0.5),
    ("face-detection-adas-0001", "FP16", [("videos", "preview-face-demographics-walking-and-pause.gif", 20),
                                          ("videos", "pointer-demo.mp4", 0)], 0.5),
    ("face-detection-0200", "FP16", [("videos", "preview-face-demographics-walking-and-pause.gif", 5)], 0.5),
    ("face-detection-0205", "FP16", [("videos", "preview-face-demographics-walking-and-pause.gif", 5)], 0.3),
    ("vehicle-detection-adas-0002", "FP16", [("videos", "car-detection.mp4", k) for k in (50, 200)], 0.5),
    ("vehicle-license-plate-detection-barrier-0106", "FP16-INT8", [("videos", "car-detection.mp4", 200)], 0.5),
    ("person-vehicle-bike-detection-2000", "FP16", [("videos", "preview-person-bicycle-car-detection.gif", k)
                                                    for k in (10, 30)], 0.5),
    ("person-vehicle-bike-detection-2004", "FP16", [("videos", "preview-person-bicycle-car-detection.gif", 10)], 0.5),
    ("person-vehicle-bike-detection-crossroad-0078", "FP16", [("videos", "preview-person-bicycle-car-detection.gif",
                                                               10)], 0.5),
    ("person-vehicle-bike-detection-crossroad-1016", "FP16-INT8",
     [("videos", "preview-person-bicycle-car-detection.gif", 10)], 0.5),
]


def image_of(shared: Path, folder: str, name: str, index: int | None) -> np.ndarray:
    path = shared / folder / name
    if not path.exists():
        pytest.skip(f"{path} is not there")
    if index is None:
        return cv2.imread(str(path))
    cap = cv2.VideoCapture(str(path))
    for _ in range(index + 1):
        ok, frame = cap.read()
        assert ok, f"{name} has no frame {index}"
    cap.release()
    return frame


def plain_input(compiled: ov.CompiledModel, frame: np.ndarray, rgb: bool = False) -> np.ndarray:
    """The frame as the model's one input: resized by OpenCV, in its layout, colour order and type."""
    port = compiled.input(0)
    shape = list(port.get_partial_shape())
    image = frame[..., ::-1] if rgb else frame
    nhwc = shape[3].is_static and shape[3].get_length() == 3
    if shape[1].is_dynamic and shape[2].is_dynamic:  # any size: the frame as it is
        x = image[np.newaxis]
    else:
        h, w = (shape[1], shape[2]) if nhwc else (shape[2], shape[3])
        x = cv2.resize(image, (w.get_length(), h.get_length()), interpolation=cv2.INTER_LINEAR)[np.newaxis]
    if not nhwc:
        x = x.transpose(0, 3, 1, 2)
    return np.ascontiguousarray(x).astype(port.get_element_type().to_dtype())


def reference(xml: Path, frame: np.ndarray, threshold: float, rgb: bool = False, precision: str = "f32"):
    """(boxes in frame pixels, scores, class ids) from the plain model and the documented decode."""
    config = {"INFERENCE_PRECISION_HINT": "f32"} if precision == "f32" else {}
    compiled = CORE.compile_model(CORE.read_model(xml), "CPU", config)
    x = plain_input(compiled, frame, rgb)
    outputs = {name: np.asarray(v) for port, v in compiled(x).items() for name in port.get_names()}
    fh, fw = frame.shape[:2]
    rows = next((v for v in outputs.values() if v.ndim == 4 and v.shape[-1] == 7), None)
    if rows is not None:  # DetectionOutput: [image_id, label, conf, x1, y1, x2, y2], normalised
        rows = rows.reshape(-1, 7)
        rows = rows[: np.argmax(rows[:, 0] < 0)] if (rows[:, 0] < 0).any() else rows
        rows = rows[rows[:, 2] >= threshold]
        boxes = rows[:, 3:7] * [fw, fh, fw, fh]
        return boxes, rows[:, 2], rows[:, 1].astype(int)
    if "boxes" in outputs:  # boxes [N, 5] in input pixels (x1, y1, x2, y2, score), labels [N] when there are any
        boxes = outputs["boxes"].reshape(-1, 5)
        labels = outputs["labels"].reshape(-1).astype(int) if "labels" in outputs else np.zeros(len(boxes), int)
        keep = boxes[:, 4] >= threshold
        h, w = x.shape[2:4] if x.shape[1] == 3 else x.shape[1:3]
        return boxes[keep, :4] * [fw / w, fh / h, fw / w, fh / h], boxes[keep, 4], labels[keep]
    raise AssertionError(f"no reference decode for outputs {list(outputs)}")


def twins(a_boxes, a_scores, a_ids, b_boxes, b_scores, b_ids) -> list[tuple[float, float]]:
    """(score difference, IoU) of each detection of `a` with its best-overlapping twin of the same class in `b`."""
    found = []
    for box, score, label in zip(a_boxes, a_scores, a_ids, strict=True):
        overlaps = [iou(box, b) if bl == label else 0.0 for b, bl in zip(b_boxes, b_ids, strict=True)]
        if overlaps and max(overlaps) > 0.5:
            best = int(np.argmax(overlaps))
            found.append((abs(float(b_scores[best]) - float(score)), overlaps[best]))
    return found


def slack(want, exact) -> tuple[float, float]:
    """Twice how far the reference's detections move from their f32 twins: (in score, in 1 - IoU)."""
    moved = twins(*want, *exact) + twins(*exact, *want)
    return 2 * max((m[0] for m in moved), default=0.0), 2 * max((1 - m[1] for m in moved), default=0.0)


def matches(got_boxes, got_scores, got_ids, want_boxes, want_scores, want_ids, threshold,
            moved: tuple[float, float] = (0.0, 0.0)) -> list[str]:
    """What differs: every confident detection of one side must be on the other, same class, same place.
    `moved`: the reference's own movement with the precision (see `slack`), allowed on top."""
    score_tolerance, min_iou, margin = SCORE_TOLERANCE + moved[0], MIN_IOU - moved[1], MARGIN + moved[0]
    problems = []
    for side, (a_boxes, a_scores, a_ids), (b_boxes, b_scores, b_ids) in (
            ("reference", (want_boxes, want_scores, want_ids), (got_boxes, got_scores, got_ids)),
            ("ovdemo", (got_boxes, got_scores, got_ids), (want_boxes, want_scores, want_ids))):
        for box, score, label in zip(a_boxes, a_scores, a_ids, strict=True):
            if score < threshold + margin:
                continue
            overlaps = [iou(box, b) if bl == label else 0.0 for b, bl in zip(b_boxes, b_ids, strict=True)]
            best = int(np.argmax(overlaps)) if overlaps else -1
            if best < 0 or overlaps[best] < min_iou or abs(b_scores[best] - score) > score_tolerance:
                problems.append(f"{side} {label} {score:.3f} {np.round(box)} has no twin "
                                f"(best IoU {max(overlaps, default=0):.3f})")
    return problems


@pytest.mark.parametrize("run_precision", PRECISIONS)
@pytest.mark.parametrize(("name", "precision", "frames", "threshold"), CASES,
                         ids=[f"{c[0]}-{c[1]}" for c in CASES])
def test_detections_equal_the_plain_model(name, precision, frames, threshold, run_precision, models_dir, monkeypatch):
    xml = model_path(models_dir, name, precision)
    monkeypatch.setenv("OVDEMO_MODELS_DIR", str(models_dir))
    predictor = ovdemo.load(name, family="detect", precision=precision, offline=True, threshold=threshold,
                            infer_precision=ovdemo_precision(run_precision))
    found = 0
    for folder, file, index in frames:
        frame = image_of(models_dir.parent, folder, file, index)
        objects = predictor(frame).objects
        want = reference(xml, frame, threshold, precision=run_precision)
        # the reference's own movement from f32, with a lower threshold so that no twin is cut off
        moved = (0.0, 0.0) if run_precision == "f32" else \
            slack(want, reference(xml, frame, max(threshold - 2 * MARGIN, 0.05)))
        problems = matches(objects.xyxy, objects.confidence, objects.class_id, *want, threshold, moved)
        assert not problems, (file, index, problems)
        found += len(want[0])
    assert found, "the chosen frames show what the model detects"
    predictor.close()


def tensorflow_reference(pb: Path, frame: np.ndarray, threshold: float, precision: str = "f32"):
    """SSDLite's documented outputs: detection_boxes (ymin, xmin, ymax, xmax, normalised), classes, scores."""
    config = {"INFERENCE_PRECISION_HINT": "f32"} if precision == "f32" else {}
    compiled = CORE.compile_model(CORE.read_model(pb), "CPU", config)
    out = {n.split(":")[0]: np.asarray(v) for p, v in compiled(plain_input(compiled, frame, rgb=True)).items()
           for n in p.get_names()}
    count = int(out["num_detections"].reshape(-1)[0])
    scores = out["detection_scores"].reshape(-1)[:count]
    keep = scores >= threshold
    fh, fw = frame.shape[:2]
    boxes = out["detection_boxes"].reshape(-1, 4)[:count][keep][:, [1, 0, 3, 2]] * [fw, fh, fw, fh]
    return boxes, scores[keep], np.rint(out["detection_classes"].reshape(-1)[:count][keep]).astype(int)


@pytest.mark.parametrize("run_precision", PRECISIONS)
def test_tensorflow_detection_api_graph_equals_the_plain_model(run_precision, models_dir, monkeypatch):
    """SSDLite as a TensorFlow frozen graph: RGB u8 of any size in, detection_boxes (ymin, xmin, ymax, xmax)."""
    pb = models_dir / "ssdlite_mobilenet_v2" / "tf" / "frozen_inference_graph.pb"
    if not pb.is_file():
        pytest.skip("ssdlite_mobilenet_v2 is not in the shared models")
    predictor = ovdemo.load(str(pb), infer_precision=ovdemo_precision(run_precision), threshold=0.4)
    for name in ("astronaut.png", "coffee.png"):
        frame = image_of(models_dir.parent, "images", name, None)
        want = tensorflow_reference(pb, frame, 0.4, run_precision)
        moved = (0.0, 0.0) if run_precision == "f32" else slack(want, tensorflow_reference(pb, frame, 0.3))
        objects = predictor(frame).objects
        assert not matches(objects.xyxy, objects.confidence, objects.class_id, *want, 0.4, moved)


def yolo_reference(xml: Path, frame: np.ndarray, threshold: float, iou_threshold: float = 0.5,
                   precision: str = "f32"):
    """Open Model Zoo's YOLO v3 decode, cell by cell: RegionYolo outputs already hold sigmoids of x, y,
    objectness and class scores; anchors and masks come from each RegionYolo op; every class whose
    objectness x class score reaches the threshold is a detection; per-class NMS."""
    model = CORE.read_model(xml)
    regions = {op.get_friendly_name(): op.get_attributes() for op in model.get_ordered_ops()
               if op.get_type_name() == "RegionYolo"}
    compiled = CORE.compile_model(model, "CPU", {"INFERENCE_PRECISION_HINT": "f32"} if precision == "f32" else {})
    x = plain_input(compiled, frame)
    in_h, in_w = x.shape[1:3] if x.shape[3] == 3 else x.shape[2:4]
    fh, fw = frame.shape[:2]
    found = []
    for port, blob in compiled(x).items():
        attrs = regions[port.get_any_name()]
        anchors = np.array(attrs["anchors"], np.float32).reshape(-1, 2)[attrs["mask"]]
        classes = attrs["classes"]
        blob = np.asarray(blob)[0].reshape(len(anchors), 5 + classes, *blob.shape[2:])
        rows, cols = blob.shape[2:]
        for n, (aw, ah) in enumerate(anchors):
            for row in range(rows):
                for col in range(cols):
                    tx, ty, tw, th, objectness = blob[n, :5, row, col]
                    cx, cy = (col + tx) / cols * fw, (row + ty) / rows * fh
                    w, h = np.exp(tw) * aw / in_w * fw, np.exp(th) * ah / in_h * fh
                    for label in range(classes):
                        score = objectness * blob[n, 5 + label, row, col]
                        if score >= threshold:
                            found.append((label, float(score), [cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2]))
    kept = []
    for label in sorted({f[0] for f in found}):
        same = sorted((f for f in found if f[0] == label), key=lambda f: -f[1])
        while same:
            best = same.pop(0)
            kept.append(best)
            same = [f for f in same if iou(f[2], best[2]) <= iou_threshold]
    boxes = np.clip(np.array([k[2] for k in kept], np.float32).reshape(-1, 4), 0, [fw - 1, fh - 1, fw - 1, fh - 1])
    return boxes, np.array([k[1] for k in kept]), np.array([k[0] for k in kept], int)


@pytest.mark.parametrize("run_precision", PRECISIONS)
def test_yolo_region_outputs_equal_the_plain_decode(run_precision, models_dir):
    xml = models_dir / "yolo-fastest-1.1" / "FP16" / "yolo-fastest-1.1.xml"
    if not xml.is_file():
        pytest.skip("yolo-fastest-1.1 is not in the shared models")
    predictor = ovdemo.load(str(xml), infer_precision=ovdemo_precision(run_precision), threshold=0.3)
    assert predictor.name == "detect"  # found by its RegionYolo outputs
    seen = 0
    for name in ("astronaut.png", "coffee.png", "chelsea.png"):
        frame = image_of(models_dir.parent, "images", name, None)
        objects = predictor(frame).objects
        want = yolo_reference(xml, frame, 0.3, precision=run_precision)
        moved = (0.0, 0.0) if run_precision == "f32" else slack(want, yolo_reference(xml, frame, 0.2))
        assert not matches(objects.xyxy, objects.confidence, objects.class_id, *want, 0.3, moved), name
        seen += len(want[0])
    assert seen
