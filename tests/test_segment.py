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

from pathlib import Path

import cv2
import numpy as np
import openvino as ov
import openvino.opset13 as ops
import pytest
from helpers import one_line_error, read_jsonl, run_ovdemo
from synthetic import unfit_model

from ovdemo.common.inference import InferenceConfig, ModelOutputs, compile_model, embed_preprocessing, read_model
from ovdemo.common.models import ResolvedModel
from ovdemo.common.specs import find_spec
from ovdemo.demos.segment import SegmentTask, mask_polygons
from ovdemo.demos.segment_decoders import ClassMap, Instances
from ovdemo.demos.segment_track import InstanceTracker

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


# -- running a task in-process, as the pipeline does -----------------------------------------------------------

def make_task(path: Path, name: str, **kwargs) -> SegmentTask:
    return SegmentTask(model=ResolvedModel(path, name, find_spec(name)), **kwargs)


def infer(task: SegmentTask, images: list[np.ndarray]):
    """Prepare, embed preprocessing for frames of any size, and postprocess each image's outputs."""
    model = read_model(task.model.path)
    task.prepare(model)
    compiled = compile_model(embed_preprocessing(model, task.model.spec, None), InferenceConfig(hint="latency"))
    results = []
    for image in images:
        raw = compiled({0: image[np.newaxis]})
        outputs = ModelOutputs([(frozenset(port.get_names()), raw[port]) for port in compiled.outputs])
        frame = type("F", (), {"image": image})
        results.append(task.postprocess(outputs, frame))
    return results


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
    task = make_task(builder(tmp_path / f"{name}.xml"), name)
    images = [color_frame(w, h) for w, h in FRAME_SIZES]
    results = infer(task, [image for image, _ in images])
    ids = list(classes)  # class ids for channel B, G, R
    for (image, rects), result in zip(images, results, strict=True):
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
                        "--colors", colors, "--only-masks", "-o", out / "only_%02d.png")
    assert result.returncode == 0, result.stderr
    records = read_jsonl(tmp_path / "seg.jsonl")
    assert len(records) == 2
    for record in records:
        w, h = record["image"]["width"], record["image"]["height"]
        _, rects = color_frame(w, h)
        shares = {c["label"]: c["share"] for c in record["classes"]}
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
    task = make_task(path, "instance-segmentation-person-0007")
    images = [np.full((h, w, 3), 90, np.uint8) for w, h in FRAME_SIZES]
    for image, found in zip(images, infer(task, images), strict=True):
        h, w = image.shape[:2]
        sx, sy = w / 544, h / 320
        assert isinstance(found, Instances)
        assert len(found) == 3  # D is below the 0.5 threshold, the padding row is empty
        assert found.scores.tolist() == pytest.approx([0.95, 0.8, 0.7])
        assert [found.label_name(int(i)) for i in found.labels] == ["person"] * 3
        a, b, c = ([x1 * sx, y1 * sy, x2 * sx, y2 * sy] for x1, y1, x2, y2, _ in boxes[:3])
        assert found.boxes[0].tolist() == pytest.approx(a, abs=0.01)
        assert found.boxes[2].tolist() == pytest.approx([c[0], c[1], w - 1, h - 1], abs=0.01)  # clipped
        assert_region(found.full_mask(0, h, w), (a[0], a[1], (a[0] + a[2]) / 2, a[3]))
        assert_region(found.full_mask(1, h, w), ((b[0] + b[2]) / 2, (b[1] + b[3]) / 2, b[2], b[3]))
        assert_region(found.full_mask(2, h, w), (c[0], c[1], w, h))


def test_maskrcnn_security_80_classes_outputs_in_another_order(tmp_path):
    """instance-segmentation-security-1039: 14x14 masks, COCO class ids from 0, outputs in reverse order."""
    mask = np.zeros((14, 14), np.float32)
    mask[:, :7] = 1
    path = maskrcnn(tmp_path / "instance-segmentation-security-1039.xml", (480, 480),
                    [[50, 60, 250, 400, 0.9], [0, 0, 0, 0, 0]], [2, 0], [mask, mask], ov.Type.i32, reverse=True)
    task = make_task(path, "instance-segmentation-security-1039")
    image = np.zeros((360, 640, 3), np.uint8)
    (found,) = infer(task, [image])
    assert len(found) == 1 and found.label_name(int(found.labels[0])) == "car"
    x1, y1, x2, y2 = 50 * 640 / 480, 60 * 360 / 480, 250 * 640 / 480, 400 * 360 / 480
    half_cell = ((x2 - x1) / 28, (y2 - y1) / 28)
    assert_region(found.full_mask(0, 360, 640), (x1, y1, (x1 + x2) / 2, y2), corner=half_cell)


def test_instance_jsonl_polygons_and_threshold_through_the_cli(tmp_path):
    boxes, labels, masks = person_0007_outputs()
    path = maskrcnn(tmp_path / "instance-segmentation-person-0007.xml", (544, 320), boxes, labels, masks)
    image = tmp_path / "frame.png"
    cv2.imwrite(str(image), np.full((500, 300, 3), 90, np.uint8))  # portrait 300x500
    result = run_ovdemo("segment", "-m", path, "-i", image, "--no-show", "--json", tmp_path / "a.jsonl",
                        "--show-boxes", "--show-scores", "-o", tmp_path / "a_%02d.png")
    assert result.returncode == 0, result.stderr
    (record,) = read_jsonl(tmp_path / "a.jsonl")
    objects = record["objects"]
    assert [o["label"] for o in objects] == ["person"] * 3
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
    assert [o["confidence"] for o in read_jsonl(tmp_path / "b.jsonl")[0]["objects"]] == [0.95, 0.8, 0.7, 0.2]


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
    task = make_task(path, "yolact-resnet50-fpn-pytorch")
    sizes = [(960, 540), (500, 700)]
    images = [np.zeros((h, w, 3), np.uint8) for w, h in sizes]
    for (w, h), found in zip(sizes, infer(task, images), strict=True):
        assert [found.label_name(int(i)) for i in found.labels] == ["person", "car"]
        assert found.scores.tolist() == pytest.approx([0.9, 0.8])
        assert found.boxes[0].tolist() == pytest.approx([0.1 * w, 0.1 * h, 0.5 * w, 0.5 * h], abs=0.01)
        cell_x, cell_y = w / 138, h / 138
        # prototype 0 (cells 30..90 x 20..80) inside box 0
        assert_region(found.full_mask(0, h, w), (30 * cell_x, 20 * cell_y, 0.5 * w, 0.5 * h))
        # prototype 1 (cells 70..130 x 60..130) inside box 1
        assert_region(found.full_mask(1, h, w), (70 * cell_x, 60 * cell_y, 130 * cell_x, 130 * cell_y))


# -- tracking, polygons, errors ------------------------------------------------------------------------------

def _instances(boxes, labels) -> Instances:
    n = len(boxes)
    return Instances(np.asarray(boxes, np.float32).reshape(-1, 4), np.ones(n, np.float32),
                     np.asarray(labels, np.int32), [np.ones((2, 2), bool)] * n, np.zeros((n, 2), np.int32))


def test_tracking_keeps_ids_across_frames_and_reorderings():
    tracker = InstanceTracker()
    first = _instances([[0, 0, 50, 50], [100, 100, 150, 160]], [0, 0])
    tracker.update(first)
    assert first.ids.tolist() == [1, 2]
    moved = _instances([[104, 102, 154, 162], [3, 2, 53, 52], [300, 300, 340, 340]], [0, 0, 0])  # reordered + new
    tracker.update(moved)
    assert moved.ids.tolist() == [2, 1, 3]
    other_class = _instances([[3, 2, 53, 52]], [5])  # same place, another class: a new object
    tracker.update(other_class)
    assert other_class.ids.tolist() == [4]
    for _ in range(3):  # object 2 missed for a few frames keeps its id
        tracker.update(_instances([], []))
    back = _instances([[106, 103, 156, 163]], [0])
    tracker.update(back)
    assert back.ids.tolist() == [2]


def test_mask_polygons_are_in_frame_pixels_largest_first():
    mask = np.zeros((40, 60), bool)
    mask[5:35, 10:50] = True  # 40x30 part
    mask[0:4, 0:4] = True  # small part
    polygons = mask_polygons(mask, (100, 200))
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
