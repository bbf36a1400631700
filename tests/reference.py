"""What the reference tests (test_reference_*.py) compute ovdemo's answers with: the unchanged model at
batch 1, fed by OpenCV and numpy, and read by output name. Nothing here imports ovdemo.

Each reference test runs twice: at f32 (ovdemo told `infer_precision="f32"`, the reference in f32), and at the
CPU's default precision (bf16 on Intel since Sapphire Rapids and AMD since Zen 4), where ovdemo runs as users
run it and the reference is the unchanged model at that same default. There a quantity may differ from the
reference by the f32 tolerance plus twice the reference's own distance from itself in f32 on the same input
(`noise`): measured in the test, never guessed. Where the default is f32 that run would repeat the first, and
skips saying so."""

from __future__ import annotations

from functools import cache
from pathlib import Path

import cv2
import numpy as np
import openvino as ov
import openvino.opset13 as ops
import pytest
from openvino.preprocess import PrePostProcessor, ResizeAlgorithm

CORE = ov.Core()
DEFAULT_PRECISION = CORE.get_property("CPU", "INFERENCE_PRECISION_HINT").get_type_name()  # e.g. bf16, f32
PRECISIONS = [
    pytest.param("f32", id="f32"),
    pytest.param("default", id=f"default-{DEFAULT_PRECISION}", marks=pytest.mark.skipif(
        DEFAULT_PRECISION == "f32", reason="this CPU's default inference precision is f32: the f32 run covers it")),
]


@cache
def plain_model(path: Path, precision: str = "f32") -> ov.CompiledModel:
    """The model file as it is (no reshape, no preprocessing), compiled for the CPU in f32, or at the CPU's
    default precision (`precision="default"`)."""
    config = {"INFERENCE_PRECISION_HINT": "f32"} if precision == "f32" else {}
    return CORE.compile_model(CORE.read_model(str(path)), "CPU", config)


class StaticAt:
    """A model file of dynamic dimensions (an ONNX file of any batch and size) compiled at the exact shape of
    each input it is given: the unchanged graph with every shape static, as a fixed-size IR runs. (A dynamic
    shape can select other kernels: bf16 CPUs gave a dynamic batch of 1 other answers.)"""

    def __init__(self, path: Path, precision: str = "f32"):
        self.path, self.precision = path, precision

    def at(self, *inputs: np.ndarray) -> ov.CompiledModel:
        return _compiled_at(self.path, self.precision, tuple(tuple(x.shape) for x in inputs))


@cache
def _compiled_at(path: Path, precision: str, shapes: tuple) -> ov.CompiledModel:
    model = CORE.read_model(str(path))
    model.reshape({port: ov.PartialShape(list(shape)) for port, shape in zip(model.inputs, shapes, strict=True)})
    return CORE.compile_model(model, "CPU", {"INFERENCE_PRECISION_HINT": "f32"} if precision == "f32" else {})


def ovdemo_precision(precision: str) -> str | None:
    """What ovdemo is told for a reference run: f32, or nothing (the device's default, as users run it)."""
    return "f32" if precision == "f32" else None


def noise(reference, exact) -> np.ndarray:
    """How far the reference at the run's precision is from itself in f32, element by element."""
    return np.abs(np.asarray(reference, np.float64) - np.asarray(exact, np.float64))


def infer(compiled: ov.CompiledModel | StaticAt, *inputs: np.ndarray) -> dict[str, np.ndarray]:
    """Every output by each of its names, for inputs given in the model's input order."""
    if isinstance(compiled, StaticAt):
        compiled = compiled.at(*inputs)
    results = compiled.create_infer_request().infer(list(inputs))
    return {name: np.asarray(value) for port, value in results.items() for name in port.get_names()}


def nchw(image: np.ndarray, size: tuple[int, int] | None = None, in_float: bool = False) -> np.ndarray:
    """A BGR u8 image resized by OpenCV (bilinear) to `size` (w, h), as a float32 [1,3,H,W] batch.
    `in_float`: resized as float32, not rounded back to u8 (OpenVINO's preprocessing, which resizes inside
    ovdemo's main models, converts first): a level of rounding moves some models' answers visibly."""
    if in_float:
        image = image.astype(np.float32)
    if size is not None and (image.shape[1], image.shape[0]) != tuple(size):
        image = cv2.resize(image, tuple(size), interpolation=cv2.INTER_LINEAR)
    return np.ascontiguousarray(image.transpose(2, 0, 1)[np.newaxis], np.float32)


@cache
def _openvino_resizer(frame_shape: tuple[int, ...], size: tuple[int, int]) -> ov.CompiledModel:
    image = ops.parameter([1, 3, size[1], size[0]], ov.Type.f32)
    ppp = PrePostProcessor(ov.Model([ops.result(image)], [image]))
    ppp.input().tensor().set_element_type(ov.Type.u8).set_layout(ov.Layout("NHWC")).set_shape([1, *frame_shape])
    ppp.input().model().set_layout(ov.Layout("NCHW"))
    ppp.input().preprocess().convert_element_type(ov.Type.f32).resize(ResizeAlgorithm.RESIZE_LINEAR)
    return CORE.compile_model(ppp.build(), "CPU", {"INFERENCE_PRECISION_HINT": "f32"})


def openvino_resized(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """A BGR u8 image resized to `size` (w, h) by OpenVINO's own bilinear resize, as a float32 [1,3,H,W] batch
    (the step ovdemo keeps for frames of any size). INT8 models move visibly for inputs a hundredth of a level
    apart; this resize is checked against OpenCV's (in float) so that no more than that differs."""
    resized = np.asarray(next(iter(_openvino_resizer(image.shape, tuple(size))([image[np.newaxis]]).values())))
    assert np.abs(resized - nchw(image, size, in_float=True)).max() < 0.01
    return resized


def _bilinear_taps(length: int, count: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    x = (np.arange(count, dtype=np.float32) + np.float32(0.5)) * np.float32(length / count) - np.float32(0.5)
    x = np.clip(x, 0, length - 1)  # half-pixel centres; outputs past the first or last centre take that pixel
    first = np.floor(x)
    return first.astype(int), np.minimum(first + 1, length - 1).astype(int), (x - first).astype(np.float32)


def bilinear_resized(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """A BGR u8 image resized to `size` (w, h) as OpenVINO's Interpolate documents its linear mode (half-pixel
    centres, each output its four neighbours blended, weights in float32), in numpy, as a float32 [1,3,H,W]
    batch: the input ovdemo's main models are given, whose graph resizes the frame from the same four taps
    (common/engine/resize.py), to a unit in the last place. INT8 models, and any model at bf16, move visibly for
    inputs a hundredth of a level apart, as two exact float resizes whose sums run in another order are (OpenCV's
    and OpenVINO's differ by a few thousandths of a level); this one is checked against OpenCV's float resize so
    that no more than that differs."""
    h, w = image.shape[:2]
    top, bottom, down = _bilinear_taps(h, size[1])
    left, right, across = _bilinear_taps(w, size[0])
    pixels = image.astype(np.float32)
    across, down = across[None, :, None], down[:, None, None]

    def lerp(a: np.ndarray, b: np.ndarray, weight: np.ndarray) -> np.ndarray:
        return a + (b - a) * weight

    upper = lerp(pixels[top][:, left], pixels[top][:, right], across)
    lower = lerp(pixels[bottom][:, left], pixels[bottom][:, right], across)
    resized = np.ascontiguousarray(lerp(upper, lower, down).transpose(2, 0, 1)[np.newaxis])
    assert np.abs(resized - nchw(image, size, in_float=True)).max() < 0.01
    return resized


def in_default_precision(x: np.ndarray) -> np.ndarray:
    """`x` rounded to the CPU's default inference precision (bf16 keeps 8 bits of a value, a whole level of a
    bright pixel), as float32. Where an INT8 model quantizes its input, ovdemo's graph blends the frame's taps
    and quantizes in one step that computes in that precision, where the unchanged model quantizes its float
    input: the reference's distance from itself on its input so rounded is that rounding's noise, allowed as the
    precision's own is."""
    x = np.ascontiguousarray(x, np.float32)
    if DEFAULT_PRECISION == "bf16":  # round to nearest even on the upper 16 bits
        bits = x.view(np.uint32).astype(np.uint64)
        bits = (bits + 0x7FFF + ((bits >> 16) & 1)) & 0xFFFF0000
        return bits.astype(np.uint32).view(np.float32)
    if DEFAULT_PRECISION == "f16":
        return x.astype(np.float16).astype(np.float32)
    return x


def input_size(compiled: ov.CompiledModel) -> tuple[int, int]:
    """(w, h) of an NCHW image input."""
    shape = compiled.input(0).get_shape()
    return int(shape[3]), int(shape[2])


def video_frames(path: Path, indices) -> dict[int, np.ndarray]:
    """The frames of a video (or animated GIF) at `indices`, read in one pass."""
    if not path.exists():
        pytest.skip(f"{path} is not there")
    wanted, frames = set(indices), {}
    cap = cv2.VideoCapture(str(path))
    index = 0
    while len(frames) < len(wanted):
        ok, frame = cap.read()
        assert ok, f"{path.name} has no frame {max(wanted - set(frames))}"
        if index in wanted:
            frames[index] = frame
        index += 1
    cap.release()
    return frames


def cut(image: np.ndarray, box) -> np.ndarray:
    """The pixels of whole-pixel box (x1, y1, x2, y2), which must lie inside the image."""
    x1, y1, x2, y2 = (int(v) for v in box)
    h, w = image.shape[:2]
    assert 0 <= x1 < x2 <= w and 0 <= y1 < y2 <= h, f"{box} leaves the {w}x{h} image"
    return image[y1:y2, x1:x2]


def cosine(a: np.ndarray, b: np.ndarray) -> float:
    a, b = np.ravel(a).astype(np.float64), np.ravel(b).astype(np.float64)
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))
