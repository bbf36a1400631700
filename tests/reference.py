"""What the reference tests (test_reference_*.py) compute ovdemo's answers with: the unchanged model at
batch 1 with the f32 precision hint, fed by OpenCV and numpy, and read by output name. Nothing here imports
ovdemo."""

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


@cache
def plain_model(path: Path) -> ov.CompiledModel:
    """The model file as it is (no reshape, no preprocessing), compiled for the CPU in f32."""
    return CORE.compile_model(CORE.read_model(str(path)), "CPU", {"INFERENCE_PRECISION_HINT": "f32"})


def infer(compiled: ov.CompiledModel, *inputs: np.ndarray) -> dict[str, np.ndarray]:
    """Every output by each of its names, for inputs given in the model's input order."""
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
    """A BGR u8 image resized to `size` (w, h) by OpenVINO's own bilinear resize, as a float32 [1,3,H,W] batch:
    the input an INT8 model gets inside ovdemo, to the last bit. Such models move visibly for inputs a hundredth
    of a level apart; this resize is checked against OpenCV's (in float) so that no more than that differs."""
    resized = np.asarray(next(iter(_openvino_resizer(image.shape, tuple(size))([image[np.newaxis]]).values())))
    assert np.abs(resized - nchw(image, size, in_float=True)).max() < 0.01
    return resized


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
