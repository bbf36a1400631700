"""ovdemo segment on synthetic models with the real models' input/output names and shapes, whose outputs
encode a known answer: class maps read off the frame's colours, instance masks of known geometry.

Open Model Zoo documents these outputs (names where documented; the semantic models' single output is
found by shape):
  semantic-segmentation-adas-0001  data [1,3,1024,2048] -> class ids [1,1,1024,2048]
  icnet-camvid-ava-0001            data [1,720,960,3] (NHWC) -> class ids [1,720,960]
  unet-camvid-onnx-0001            input.1 [1,3,368,480] -> probabilities [1,12,368,480]
  instance-segmentation-person-0007   image [1,3,320,544] -> labels [N], boxes [N,5], masks [N,224,224]
  instance-segmentation-security-1039 image [1,3,480,480] -> labels [N], boxes [N,5], masks [N,14,14]
  yolact-resnet50-fpn-pytorch      input.1 [1,3,550,550] -> boxes [1,19248,4], conf [1,19248,81],
                                   mask [1,19248,32], proto [1,138,138,32]
"""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import openvino as ov
import openvino.opset13 as ops
import pytest
from helpers import one_line_error, read_jsonl, run_ovdemo
from synthetic import unfit_model

from ovdemo.cli import family_command
from ovdemo.common.draw import color_for
from ovdemo.common.engine.inference import InferenceConfig, ModelOutputs, compile_model, embed_preprocessing, read_model
from ovdemo.common.errors import DemoError
from ovdemo.common.models.specs import ModelSpec, find_spec
from ovdemo.common.results import BoxMask, ClassMap, Detections, Result, mask_polygons
from ovdemo.common.tracking.tracker import Tracking
from ovdemo.demos.segment.family import SegmentFamily

F32 = ov.Type.f32


def _named(node, name: str):
    node.output(0).get_tensor().set_names({name})
    return node


def _zero_from(data):
    """A scalar 0 that depends on the input, so constant outputs stay attached to the graph."""
    axes = ops.constant(np.arange(len(data.get_output_partial_shape(0)), dtype=np.int64))
    return ops.multiply(ops.reduce_mean(data, axes, keep_dims=False), ops.constant(np.float32(0)))


def _save(path: Path, results, params) -> Path:
    ov.save_model(ov.Model(results, params, path.stem), str(path), compress_to_fp16=False)
    return path


# -- synthetic models ---------------------------------------------------------------------------------------

def unet_camvid(path: Path) -> Path:
    """Probabilities [1,12,368,480]: the input's B, G, R channels are classes 0, 1, 2 (sky, building, pole)."""
    data = ops.parameter([1, 3, 368, 480], F32, name="input.1")
    zeros = ops.broadcast(ops.constant(np.float32(0)), ops.constant(np.array([1, 9, 368, 480], np.int64)))
    probs = ops.concat([ops.multiply(data, ops.constant(np.float32(1 / 255))), zeros], axis=1)
    return _save(path, [ops.result(_named(probs, "206"))], [data])


def channels_last_probabilities(path: Path) -> Path:
    """A model ovdemo has no spec for, with probabilities channels-last [1,368,480,12] (B, G, R = 0, 1, 2)."""
    data = ops.parameter([1, 3, 368, 480], F32, name="input")
    zeros = ops.broadcast(ops.constant(np.float32(0)), ops.constant(np.array([1, 9, 368, 480], np.int64)))
    probs = ops.concat([ops.multiply(data, ops.constant(np.float32(1 / 255))), zeros], axis=1)
    nhwc = ops.transpose(probs, ops.constant(np.array([0, 2, 3, 1], np.int64)))
    return _save(path, [ops.result(_named(nhwc, "probs"))], [data])


def semantic_adas(path: Path) -> Path:
    """Class ids [1,1,1024,2048] int32: the brightest of B, G, R gives road (0), sky (10), car (13)."""
    data = ops.parameter([1, 3, 1024, 2048], F32, name="data")
    top = ops.topk(data, ops.constant(np.int64(1)), 1, "max", "none", ov.Type.i32)
    ids = ops.gather(ops.constant(np.array([0, 10, 13], np.int32)), top.output(1), ops.constant(np.int64(0)))
    return _save(path, [ops.result(_named(ids, "argmax"))], [data])


def icnet_camvid(path: Path) -> Path:
    """NHWC input [1,720,960,3], class ids [1,720,960]: B, G, R give road (3), vehicle (8), sky (0)."""
    data = ops.parameter([1, 720, 960, 3], F32, name="data")
    top = ops.topk(data, ops.constant(np.int64(1)), 3, "max", "none", ov.Type.i32)
    flat = ops.reshape(top.output(1), ops.constant(np.array([1, 720, 960], np.int64)), False)
    ids = ops.gather(ops.constant(np.array([3, 8, 0], np.int32)), flat, ops.constant(np.int64(0)))
    return _save(path, [ops.result(_named(ids, "4455.1"))], [data])


def maskrcnn(path: Path, input_size, boxes, labels, masks, label_type=ov.Type.i64, reverse=False) -> Path:
    """Constant Mask R-CNN outputs boxes [N,5], labels [N], masks [N,h,w] (Open Model Zoo 2022+ names)."""
    w, h = input_size
    image = ops.parameter([1, 3, h, w], F32, name="image")
    zero = _zero_from(image)
    outs = [
        _named(ops.add(ops.constant(np.asarray(boxes, np.float32)), zero), "boxes"),
        _named(ops.convert(ops.add(ops.constant(np.asarray(labels, np.float32)), zero), label_type), "labels"),
        _named(ops.add(ops.constant(np.asarray(masks, np.float32)), zero), "masks"),
    ]
    if reverse:  # output order differs between releases
        outs.reverse()
    return _save(path, [ops.result(o) for o in outs], [image])


def yolact(path: Path, boxes, conf, coefs, proto) -> Path:
    image = ops.parameter([1, 3, 550, 550], F32, name="input.1")
    zero = _zero_from(image)
    outs = [_named(ops.add(ops.constant(np.asarray(a, np.float32)), zero), name)
            for name, a in (("boxes", boxes), ("conf", conf), ("mask", coefs), ("proto", proto))]
    return _save(path, [ops.result(o) for o in outs], [image])


# -- running the family in-process, as the pipeline does -------------------------------------------------------

def make_family(path: Path, **options) -> SegmentFamily:
    """The family as the Python API builds it: keywords instead of flags (the model file is named like its
    Open Model Zoo model, so it gets that model's spec)."""
    family = SegmentFamily.create(SegmentFamily.build_options({"model": str(path), "input": "unused", **options}))
    assert family.model.spec == (find_spec(path.stem) or ModelSpec(name=path.stem))
    return family


def infer(family: SegmentFamily, images: list[np.ndarray]) -> list[Result]:
    """Prepare, embed preprocessing for frames of any size, and postprocess each image's outputs."""
    model = family.load_model()
    family.prepare(model)
    compiled = compile_model(embed_preprocessing(model, family.model.spec, None), InferenceConfig(hint="latency"))
    results = []
    for image in images:
        raw = compiled({0: image[np.newaxis]})
        outputs = ModelOutputs([(frozenset(port.get_names()), raw[port]) for port in compiled.outputs])
        frame = type("F", (), {"image": image})
        results.append(family.postprocess(outputs, frame))
    return results


SCHEMA = Path(__file__).resolve().parents[2] / "assets" / "schema" / "frame.schema.json"


def valid_jsonl(path: Path) -> list[dict]:
    """The records of a JSON lines file, each checked against the frame schema."""
    jsonschema = pytest.importorskip("jsonschema")
    schema = json.loads(SCHEMA.read_text())
    records = read_jsonl(path)
    for record in records:
        jsonschema.validate(record, schema)
    return records


def color_frame(width: int, height: int) -> tuple[np.ndarray, dict[int, tuple]]:
    """Red background, a blue and a green rectangle at fixed fractions of the frame. Returns the frame and
    each channel's rectangle (x1, y1, x2, y2) in pixels (channel 2 = the whole frame)."""
    image = np.zeros((height, width, 3), np.uint8)
    image[:] = (0, 0, 255)
    blue = (round(0.1 * width), round(0.1 * height), round(0.4 * width), round(0.6 * height))
    green = (round(0.55 * width), round(0.3 * height), round(0.9 * width), round(0.95 * height))
    cv2.rectangle(image, blue[:2], (blue[2] - 1, blue[3] - 1), (255, 0, 0), cv2.FILLED)
    cv2.rectangle(image, green[:2], (green[2] - 1, green[3] - 1), (0, 255, 0), cv2.FILLED)
    return image, {0: blue, 1: green}


def rect_pixels(height: int, width: int, rect, margin: float) -> np.ndarray:
    """Pixels whose centre lies inside rect (x1, y1, x2, y2, continuous frame coordinates) shrunk by margin."""
    ys, xs = np.mgrid[0:height, 0:width] + 0.5
    x1, y1, x2, y2 = rect
    return (xs >= x1 + margin) & (xs < x2 - margin) & (ys >= y1 + margin) & (ys < y2 - margin)


def assert_region(got: np.ndarray, rect, tolerance: float = 1.0, corner: tuple[float, float] = (0, 0)) -> None:
    """`got` is exactly the rectangle, up to `tolerance` pixels at its edges. Where a Mask R-CNN mask fills
    its box's corner, pasting with zero padding rounds that corner off: `corner` (x, y) is how far."""
    h, w = got.shape
    inner, outer = rect_pixels(h, w, rect, tolerance), rect_pixels(h, w, rect, -tolerance)
    ys, xs = np.mgrid[0:h, 0:w] + 0.5
    near_x = (np.abs(xs - rect[0]) < corner[0]) | (np.abs(xs - rect[2]) < corner[0])
    near_y = (np.abs(ys - rect[1]) < corner[1]) | (np.abs(ys - rect[3]) < corner[1])
    inner &= ~(near_x & near_y)
    assert inner.any()
    assert not (inner & ~got).any(), f"{int((inner & ~got).sum())} pixels missing inside {rect}"
    assert not (got & ~outer).any(), f"{int((got & ~outer).sum())} pixels outside {rect}"


FRAME_SIZES = [(640, 360), (300, 500), (1280, 720)]  # landscape, portrait, larger than the model


# -- semantic ------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("name, builder, classes", [
    ("unet-camvid-onnx-0001", unet_camvid, {0: "sky", 1: "building", 2: "pole"}),
    ("semantic-segmentation-adas-0001", semantic_adas, {0: "road", 10: "sky", 13: "car"}),
    ("icnet-camvid-ava-0001", icnet_camvid, {3: "road", 8: "vehicle", 0: "sky"}),
    ("custom-segmenter", channels_last_probabilities, {0: "#0", 1: "#1", 2: "#2"}),
])
def test_semantic_class_map_matches_the_frame(tmp_path, name, builder, classes):
    """Probabilities (argmax) and already-argmaxed maps, NCHW and NHWC: the class map at frame size puts
    each class where its colour is, in frames of other sizes and aspect ratios than the model's."""
    family = make_family(builder(tmp_path / f"{name}.xml"))
    images = [color_frame(w, h) for w, h in FRAME_SIZES]
    results = infer(family, [image for image, _ in images])
    assert not family.boxes  # a class map: nothing for --track
    ids = list(classes)  # class ids for channel B, G, R
    for (image, rects), outcome in zip(images, results, strict=True):
        assert len(outcome.objects) == 0
        result = outcome.class_map
        assert isinstance(result, ClassMap)
        h, w = image.shape[:2]
        assert result.classes.shape == (h, w)
        # model pixels straddling an edge blur in the resize: allow one model pixel at frame scale
        tolerance = 1.0 + max(w / 480, h / 368, 1.0)
        for channel, rect in rects.items():
            assert_region(result.classes == ids[channel], rect, tolerance)
        assert set(np.unique(result.classes)) == set(ids)
        for class_id, label in classes.items():
            assert result.label_name(class_id) == label


def test_semantic_jsonl_shares_and_colors_through_the_cli(tmp_path):
    """The JSON a user reads: per-class shares of each frame; --colors, --only-masks and --opacity in the
    written frames."""
    model = unet_camvid(tmp_path / "unet-camvid-onnx-0001.xml")
    frames = tmp_path / "frames"
    frames.mkdir()
    for i, (w, h) in enumerate([(640, 360), (300, 500)]):
        cv2.imwrite(str(frames / f"{i}.png"), color_frame(w, h)[0])
    colors = tmp_path / "colors.txt"
    colors.write_text("(10, 200, 30) # sky\n#FF8000\n0 0 250\n")
    out = tmp_path / "out"
    out.mkdir()
    result = run_ovdemo("segment", "-m", model, "-i", frames, "--no-show", "--json", tmp_path / "seg.jsonl",
                        "--colors", colors, "--only-masks", "-o", out / "only_%02d.png", "--raw")
    assert result.returncode == 0, result.stderr
    records = valid_jsonl(tmp_path / "seg.jsonl")
    assert len(records) == 2
    assert "  class sky (0) " in result.stdout  # --raw: the same shares
    for record in records:
        assert record["objects"] == []
        w, h = record["image"]["width"], record["image"]["height"]
        _, rects = color_frame(w, h)
        shares = {c["label"]: c["share"] for c in record["class_shares"]}
        blue = (rects[0][2] - rects[0][0]) * (rects[0][3] - rects[0][1]) / (w * h)
        green = (rects[1][2] - rects[1][0]) * (rects[1][3] - rects[1][1]) / (w * h)
        assert set(shares) == {"sky", "building", "pole"}
        assert shares["sky"] == pytest.approx(blue, abs=0.02)
        assert shares["building"] == pytest.approx(green, abs=0.02)
        assert sum(shares.values()) == pytest.approx(1.0, abs=1e-4)
    first = cv2.imread(str(out / "only_00.png"))
    _, rects = color_frame(640, 360)
    bx1, by1, bx2, by2 = rects[0]
    gx1, gy1, gx2, gy2 = rects[1]
    assert tuple(first[(by1 + by2) // 2, (bx1 + bx2) // 2]) == (30, 200, 10)  # RGB file, BGR image
    assert tuple(first[(gy1 + gy2) // 2, (gx1 + gx2) // 2]) == (0, 128, 255)
    assert tuple(first[340, 320]) == (250, 0, 0)

    result = run_ovdemo("segment", "-m", model, "-i", frames / "0.png", "--no-show", "--colors", colors,
                        "--opacity", "0.25", "-o", out / "blend_%02d.png")
    assert result.returncode == 0, result.stderr
    blended = cv2.imread(str(out / "blend_00.png")).astype(int)
    expected = np.array([255, 0, 0]) * 0.75 + np.array([30, 200, 10]) * 0.25
    assert np.abs(blended[(by1 + by2) // 2, (bx1 + bx2) // 2] - expected).max() <= 2


def test_infer_every_carries_the_class_map_over(tmp_path):
    """--infer-every 2: the skipped frame repeats the last class shares (marked not inferred) and is drawn
    with the last class map, even on a frame of another size."""
    model = unet_camvid(tmp_path / "unet-camvid-onnx-0001.xml")
    frames = tmp_path / "frames"
    frames.mkdir()
    for i, (w, h) in enumerate([(640, 360), (300, 500), (640, 360)]):
        cv2.imwrite(str(frames / f"{i}.png"), color_frame(w, h)[0])
    result = run_ovdemo("segment", "-m", model, "-i", frames, "--no-show", "--json", tmp_path / "seg.jsonl",
                        "--infer-every", "2", "-o", tmp_path / "out_%02d.png")
    assert result.returncode == 0, result.stderr
    records = valid_jsonl(tmp_path / "seg.jsonl")
    assert [r["inferred"] for r in records] == [True, False, True]
    assert records[1]["class_shares"] == records[0]["class_shares"]
    assert records[2]["class_shares"] == records[0]["class_shares"]  # the same frame again, inferred
    assert cv2.imread(str(tmp_path / "out_01.png")).shape == (500, 300, 3)


# -- instance: Mask R-CNN ------------------------------------------------------------------------------------

def person_0007_outputs():
    """Boxes in the 544x320 input: A left-half mask, B bottom-right quarter, C hanging off the input's
    corner, D below the threshold, then a zero padding row."""
    half = np.zeros((224, 224), np.float32)
    half[:, :112] = 1
    quarter = np.zeros((224, 224), np.float32)
    quarter[112:, 112:] = 1
    full = np.ones((224, 224), np.float32)
    boxes = [[100, 40, 260, 300, 0.95], [300, 100, 500, 260, 0.8], [480, 200, 600, 360, 0.7],
             [10, 10, 60, 60, 0.2], [0, 0, 0, 0, 0]]
    return boxes, [0, 0, 0, 0, 0], [half, quarter, full, full, np.zeros((224, 224), np.float32)]


def test_maskrcnn_masks_pasted_into_their_boxes_at_frame_scale(tmp_path):
    boxes, labels, masks = person_0007_outputs()
    path = maskrcnn(tmp_path / "instance-segmentation-person-0007.xml", (544, 320), boxes, labels, masks)
    family = make_family(path)
    images = [np.full((h, w, 3), 90, np.uint8) for w, h in FRAME_SIZES]
    for image, result in zip(images, infer(family, images), strict=True):
        found = result.objects
        h, w = image.shape[:2]
        sx, sy = w / 544, h / 320
        assert isinstance(found, Detections) and result.class_map is None
        assert len(found) == 3 and len(found.mask) == 3  # D is below the 0.5 threshold, the padding row is empty
        assert found.confidence.tolist() == pytest.approx([0.95, 0.8, 0.7])
        assert found.labels == ["person"] * 3
        a, b, c = ([x1 * sx, y1 * sy, x2 * sx, y2 * sy] for x1, y1, x2, y2, _ in boxes[:3])
        assert found.xyxy[0].tolist() == pytest.approx(a, abs=0.01)
        assert found.xyxy[2].tolist() == pytest.approx([c[0], c[1], w - 1, h - 1], abs=0.01)  # clipped
        assert_region(found.mask[0].full(h, w), (a[0], a[1], (a[0] + a[2]) / 2, a[3]))
        assert_region(found.mask[1].full(h, w), ((b[0] + b[2]) / 2, (b[1] + b[3]) / 2, b[2], b[3]))
        assert_region(found.mask[2].full(h, w), (c[0], c[1], w, h))


def test_maskrcnn_security_80_classes_outputs_in_another_order(tmp_path):
    """instance-segmentation-security-1039: 14x14 masks, COCO class ids from 0, outputs in reverse order."""
    mask = np.zeros((14, 14), np.float32)
    mask[:, :7] = 1
    path = maskrcnn(tmp_path / "instance-segmentation-security-1039.xml", (480, 480),
                    [[50, 60, 250, 400, 0.9], [0, 0, 0, 0, 0]], [2, 0], [mask, mask], ov.Type.i32, reverse=True)
    family = make_family(path)
    image = np.zeros((360, 640, 3), np.uint8)
    (result,) = infer(family, [image])
    found = result.objects
    assert len(found) == 1 and found.labels == ["car"]
    x1, y1, x2, y2 = 50 * 640 / 480, 60 * 360 / 480, 250 * 640 / 480, 400 * 360 / 480
    half_cell = ((x2 - x1) / 28, (y2 - y1) / 28)
    assert_region(found.mask[0].full(360, 640), (x1, y1, (x1 + x2) / 2, y2), corner=half_cell)


def test_instance_jsonl_polygons_and_threshold_through_the_cli(tmp_path):
    boxes, labels, masks = person_0007_outputs()
    path = maskrcnn(tmp_path / "instance-segmentation-person-0007.xml", (544, 320), boxes, labels, masks)
    image = tmp_path / "frame.png"
    cv2.imwrite(str(image), np.full((500, 300, 3), 90, np.uint8))  # portrait 300x500
    result = run_ovdemo("segment", "-m", path, "-i", image, "--no-show", "--json", tmp_path / "a.jsonl",
                        "--show-boxes", "--show-conf", "-o", tmp_path / "a_%02d.png", "--raw")
    assert result.returncode == 0, result.stderr
    (record,) = valid_jsonl(tmp_path / "a.jsonl")
    objects = record["objects"]
    assert "class_shares" not in record
    assert [o["label"] for o in objects] == ["person"] * 3
    assert all("id" not in o and "track_state" not in o for o in objects)  # ids only with --track
    assert f"  person (0) 0.950 [{', '.join(f'{v:.0f}' for v in objects[0]['bbox'])}] {objects[0]['area']} px" \
        in result.stdout.splitlines()
    sx, sy = 300 / 544, 500 / 320
    a = objects[0]
    assert a["bbox"] == pytest.approx([100 * sx, 40 * sy, 260 * sx, 300 * sy], abs=0.1)
    expected_area = (160 * sx / 2) * (260 * sy)
    assert a["area"] == pytest.approx(expected_area, rel=0.05)
    (polygon,) = a["polygons"]
    points = np.asarray(polygon)
    assert cv2.contourArea(points.astype(np.float32)) == pytest.approx(expected_area, rel=0.05)
    assert points[:, 0].min() >= 100 * sx - 1 and points[:, 0].max() <= 180 * sx + 1  # the left half
    assert points[:, 1].min() >= 40 * sy - 1 and points[:, 1].max() <= 300 * sy + 1
    drawn = cv2.imread(str(tmp_path / "a_00.png"))
    assert drawn.shape == (500, 300, 3)
    inside = drawn[int(170 * sy), int(120 * sx)]
    assert np.abs(inside.astype(int) - 90).max() > 20  # the mask is painted over the grey frame

    result = run_ovdemo("segment", "-m", path, "-i", image, "--no-show", "--json", tmp_path / "b.jsonl",
                        "-t", "0.1")
    assert result.returncode == 0, result.stderr
    assert [o["confidence"] for o in valid_jsonl(tmp_path / "b.jsonl")[0]["objects"]] == [0.95, 0.8, 0.7, 0.2]


# -- instance: YOLACT ----------------------------------------------------------------------------------------

def yolact_outputs():
    anchors, classes, k = 19248, 81, 32
    boxes = np.zeros((1, anchors, 4), np.float32)
    conf = np.zeros((1, anchors, classes), np.float32)
    conf[0, :, 0] = 1.0  # background everywhere but below
    coefs = np.zeros((1, anchors, k), np.float32)
    proto = np.full((1, 138, 138, k), -10.0, np.float32)
    proto[0, 20:80, 30:90, 0] = 10.0  # prototype 0: cells rows 20..80, cols 30..90
    proto[0, 60:130, 70:130, 1] = 10.0  # prototype 1
    for anchor, cls, score, box, coef in [
        (100, 1, 0.9, [0.1, 0.1, 0.5, 0.5], 0),  # person: prototype 0 cropped to its box
        (5000, 3, 0.8, [0.45, 0.4, 0.95, 0.97], 1),  # car: prototype 1 cropped to its box
        (7000, 1, 0.6, [0.11, 0.1, 0.5, 0.52], 0),  # a weaker duplicate of the person: NMS removes it
        (9000, 5, 0.3, [0.7, 0.1, 0.9, 0.3], 1),  # below the threshold
    ]:
        boxes[0, anchor] = box
        conf[0, anchor] = 0
        conf[0, anchor, cls] = score
        coefs[0, anchor, coef] = 1.0
    return boxes, conf, coefs, proto


def test_yolact_prototype_masks_cropped_to_boxes(tmp_path):
    path = yolact(tmp_path / "yolact-resnet50-fpn-pytorch.xml", *yolact_outputs())
    family = make_family(path)
    sizes = [(960, 540), (500, 700)]
    images = [np.zeros((h, w, 3), np.uint8) for w, h in sizes]
    for (w, h), result in zip(sizes, infer(family, images), strict=True):
        found = result.objects
        assert found.labels == ["person", "car"]
        assert found.confidence.tolist() == pytest.approx([0.9, 0.8])
        assert found.xyxy[0].tolist() == pytest.approx([0.1 * w, 0.1 * h, 0.5 * w, 0.5 * h], abs=0.01)
        cell_x, cell_y = w / 138, h / 138
        # prototype 0 (cells 30..90 x 20..80) inside box 0
        assert_region(found.mask[0].full(h, w), (30 * cell_x, 20 * cell_y, 0.5 * w, 0.5 * h))
        # prototype 1 (cells 70..130 x 60..130) inside box 1
        assert_region(found.mask[1].full(h, w), (70 * cell_x, 60 * cell_y, 130 * cell_x, 130 * cell_y))


# -- tracking, classes, flags, polygons, errors --------------------------------------------------------------

def _instances(boxes, labels) -> Detections:
    """Instances as a segmentation decoder gives them: boxes, each with a mask filling it."""
    xyxy = np.asarray(boxes, np.float32).reshape(-1, 4)
    masks = [BoxMask(np.ones((int(y2 - y1), int(x2 - x1)), bool), (int(x1), int(y1))) for x1, y1, x2, y2 in xyxy]
    return Detections(xyxy, np.ones(len(xyxy), np.float32), labels, mask=masks)


def test_track_keeps_instance_ids_across_frames_and_reorderings():
    """--track on instance results is the one tracker (the pipeline's `Tracking`, with segment's defaults):
    ids survive reorderings and a few missed frames, another class in the same place is another object, and
    each instance keeps its mask. A confirmed track coasts 3 missed detector frames (instances are confirmed
    after --min-hits 3 frames), so the scene starts with three frames of the first two objects."""
    tracking = Tracking(SegmentFamily.build_options({"model": "m", "input": "i", "track": True}), fps=10.0)
    frames = iter(range(100))

    def track(found: Detections) -> Detections:
        index = next(frames)
        tracked, _, _ = tracking.update(found, index, index / 10, inferred=True)
        # the frame's own instances first, in their order; then the tracks it missed, as predictions
        assert tracked.data["track_state"][len(found):] == ["predicted"] * (len(tracked) - len(found))
        return tracked

    first = [[0, 0, 50, 50], [100, 100, 150, 160]]
    for ids in ([-1, -1], [-1, -1], [1, 2]):  # tentative tracks have no id until confirmed (issue 26)
        tracked = track(_instances(first, [0, 0]))
        assert tracked.tracker_id.tolist() == ids
    assert tracked.data["track_state"] == ["confirmed", "confirmed"]
    # reordered, moved a little, and a new one
    moved = track(_instances([[104, 102, 154, 162], [3, 2, 53, 52], [300, 300, 340, 340]], [0, 0, 0]))
    assert moved.tracker_id.tolist() == [2, 1, -1]  # the new one is tentative
    assert [m.origin for m in moved.mask] == [(104, 102), (3, 2), (300, 300)]  # masks go with their objects
    other_class = track(_instances([[3, 2, 53, 52]], [5]))  # same place, another class: a new object
    assert other_class.tracker_id[:1].tolist() == [-1] and other_class.data["track_state"][0] == "tentative"
    for _ in range(2):  # object 2 missed for a few frames keeps its id (its mask follows the prediction)
        missed = track(_instances([], []))
        assert 2 in missed.tracker_id.tolist()
        assert missed.mask[missed.tracker_id.tolist().index(2)].area == 50 * 60
    back = track(_instances([[106, 103, 156, 163]], [0]))
    assert back.tracker_id[:1].tolist() == [2]
    assert back.data["track_state"][0] == "confirmed"


def test_track_through_the_cli_ids_and_colours(tmp_path):
    """What a user runs: without --track no ids and each instance its own colour; with --track every
    instance keeps its id from frame to frame (tentative, then confirmed) and is painted in its track's
    colour, with the same masks and outlines."""
    boxes, labels, masks = person_0007_outputs()
    path = maskrcnn(tmp_path / "instance-segmentation-person-0007.xml", (544, 320), boxes, labels, masks)
    frames = tmp_path / "frames"
    frames.mkdir()
    for i in range(4):
        cv2.imwrite(str(frames / f"{i}.png"), np.full((320, 544, 3), 90, np.uint8))  # the input's size: no scaling
    runs = {}
    for name, extra in (("plain", []), ("tracked", ["--track"])):
        result = run_ovdemo("segment", "-m", path, "-i", frames, "--no-show", "--only-masks", "--json",
                            tmp_path / f"{name}.jsonl", "-o", tmp_path / f"{name}_%02d.png", *extra)
        assert result.returncode == 0, result.stderr
        runs[name] = valid_jsonl(tmp_path / f"{name}.jsonl")
    plain, tracked = runs["plain"], runs["tracked"]
    assert len(plain) == len(tracked) == 4
    assert all("id" not in o for r in plain for o in r["objects"])
    for r in tracked[:2]:  # tentative: no id yet (issue 26)
        assert all("id" not in o for o in r["objects"])
    for r in tracked[2:]:
        assert [o["id"] for o in r["objects"]] == [1, 2, 3]
    assert [r["objects"][0]["track_state"] for r in tracked] == ["tentative", "tentative", "confirmed", "confirmed"]
    for a, b in zip(plain, tracked, strict=True):
        assert [(o["area"], o["polygons"]) for o in a["objects"]] == [(o["area"], o["polygons"]) for o in b["objects"]]
    inside_a, inside_b = (170, 140), (220, 430)  # (y, x) in A's left half and B's bottom-right quarter
    for i in range(4):
        drawn = cv2.imread(str(tmp_path / f"plain_{i:02d}.png"))
        assert tuple(drawn[inside_a]) == color_for(0) and tuple(drawn[inside_b]) == color_for(1)
        drawn = cv2.imread(str(tmp_path / f"tracked_{i:02d}.png"))
        if i < 2:  # tentative: no track yet, so no track colour (issue 26)
            assert tuple(drawn[inside_a]) == color_for(0) and tuple(drawn[inside_b]) == color_for(1)
        else:
            assert tuple(drawn[inside_a]) == color_for(1) and tuple(drawn[inside_b]) == color_for(2)


def test_track_on_a_class_map_is_refused_in_one_line(tmp_path):
    cv2.imwrite(str(tmp_path / "f.png"), np.zeros((32, 32, 3), np.uint8))
    result = run_ovdemo("segment", "-m", unet_camvid(tmp_path / "unet-camvid-onnx-0001.xml"), "-i",
                        tmp_path / "f.png", "--no-show", "--track", "--json", tmp_path / "out.jsonl")
    line = one_line_error(result)
    assert "--track needs objects with boxes" in line
    assert not (tmp_path / "out.jsonl").exists()


def test_classes_keeps_only_the_named_instances(tmp_path):
    mask = np.ones((14, 14), np.float32)
    path = maskrcnn(tmp_path / "instance-segmentation-security-1039.xml", (480, 480),
                    [[50, 60, 250, 400, 0.9], [300, 60, 400, 400, 0.8]], [2, 0], [mask, mask], ov.Type.i32)
    image = np.zeros((360, 640, 3), np.uint8)
    (everything,) = infer(make_family(path), [image])
    assert everything.objects.labels == ["car", "person"]
    (cars,) = infer(make_family(path, classes="car"), [image])
    assert cars.objects.labels == ["car"] and len(cars.objects.mask) == 1
    assert cars.objects.xyxy.tolist() == everything.objects.xyxy[:1].tolist()
    with pytest.raises(DemoError, match="unknown class.*unicorn.*known: person, bicycle, car"):
        make_family(path, classes="car,unicorn")
    semantic = make_family(unet_camvid(tmp_path / "unet-camvid-onnx-0001.xml"), classes="sky")
    with pytest.raises(DemoError, match="--classes keeps only some instances"):
        infer(semantic, [image])


def detection_out(path: Path) -> Path:
    """An SSD-like detector ovdemo has no spec for: DetectionOutput [1,1,200,7], a rank-4 single output."""
    data = ops.parameter([1, 3, 64, 64], F32, name="data")
    rows = ops.add(ops.constant(np.zeros((1, 1, 200, 7), np.float32)), _zero_from(data))
    return _save(path, [ops.result(_named(rows, "detection_out"))], [data])


def test_accepts_segmentation_models_only(tmp_path):
    """How `ovdemo.load` sniffs a model of unknown family: by its spec's family, else by its outputs."""
    def accepts(path: Path, spec_name: str | None = None) -> bool:
        spec = find_spec(spec_name) if spec_name else None
        return SegmentFamily.accepts(read_model(path), spec or ModelSpec())

    assert accepts(unet_camvid(tmp_path / "unet.xml"))
    assert accepts(channels_last_probabilities(tmp_path / "nhwc.xml"))
    boxes, labels, masks = person_0007_outputs()
    assert accepts(maskrcnn(tmp_path / "mrcnn.xml", (544, 320), boxes, labels, masks))
    assert accepts(yolact(tmp_path / "yolact.xml", *yolact_outputs()))
    assert not accepts(detection_out(tmp_path / "ssd.xml"))
    assert not accepts(unfit_model(tmp_path / "unfit.xml"))
    assert not accepts(tmp_path / "unet.xml", "person-detection-0202")  # a known model of another family


def test_show_flags_and_the_old_show_scores_spelling():
    """Segment hides scores and boxes unless asked; --show-scores is the hidden old spelling of --show-conf."""
    def options(*args: str):
        ctx = family_command(SegmentFamily).make_context("segment", ["-i", "x", *args])
        return SegmentFamily.build_options(ctx.params, cli=True)

    default = options()
    assert (default.show_labels, default.show_conf, default.show_boxes, default.track) == (True, False, False, False)
    assert options("--show-scores").show_conf is True
    assert options("--show-conf", "--show-boxes").show_conf is True
    assert options("--show-boxes").show_boxes is True


def test_mask_polygons_are_in_frame_pixels_largest_first():
    mask = np.zeros((40, 60), bool)
    mask[5:35, 10:50] = True  # 40x30 part
    mask[0:4, 0:4] = True  # small part
    polygons = mask_polygons(BoxMask(mask, (100, 200)))
    assert len(polygons) == 2
    big = np.asarray(polygons[0])
    assert big[:, 0].min() == 110 and big[:, 0].max() == 149
    assert big[:, 1].min() == 205 and big[:, 1].max() == 234


def test_model_that_is_not_a_segmenter_fails_in_one_line(tmp_path):
    result = run_ovdemo("segment", "-m", unfit_model(tmp_path / "unfit.xml"), "-i", tmp_path / "none.png",
                        "--no-show")
    assert result.returncode != 0
    cv2.imwrite(str(tmp_path / "f.png"), np.zeros((32, 32, 3), np.uint8))
    result = run_ovdemo("segment", "-m", tmp_path / "unfit.xml", "-i", tmp_path / "f.png", "--no-show",
                        "-o", tmp_path / "out.mp4")
    line = one_line_error(result)
    assert "do not fit the segment demo" in line and "prob [1,10]" in line
    assert not (tmp_path / "out.mp4").exists()


def test_bad_colors_file_fails_before_any_output(tmp_path):
    colors = tmp_path / "colors.txt"
    colors.write_text("(128, 64, 128)\nnot a colour\n")
    cv2.imwrite(str(tmp_path / "f.png"), np.zeros((32, 32, 3), np.uint8))
    result = run_ovdemo("segment", "-m", unet_camvid(tmp_path / "unet-camvid-onnx-0001.xml"), "-i",
                        tmp_path / "f.png", "--no-show", "--colors", colors, "--json", tmp_path / "out.jsonl")
    line = one_line_error(result)
    assert "colors.txt line 2" in line and "R G B" in line
    assert not (tmp_path / "out.jsonl").exists()


def test_forced_decoder_that_does_not_fit_names_expected_outputs(tmp_path):
    cv2.imwrite(str(tmp_path / "f.png"), np.zeros((32, 32, 3), np.uint8))
    result = run_ovdemo("segment", "-m", unet_camvid(tmp_path / "unet-camvid-onnx-0001.xml"), "-i",
                        tmp_path / "f.png", "--no-show", "--arch", "maskrcnn")
    line = one_line_error(result)
    assert "do not fit the maskrcnn decoder" in line and "boxes [N,5]" in line and "206" in line
