"""The frame's resize inside the model (common/engine/inference.py, common/engine/resize.py): whichever way it is
done (from the u8 taps wherever a frame of known size is resized, else OpenVINO's own resize step), the model
sees the frame resized in float as OpenCV's INTER_LINEAR does, cropped, padded, in its colour order, less its
mean and over its scale; and with the taps, nothing of the frame's size is converted to float where the input
is smaller."""

from __future__ import annotations

import cv2
import numpy as np
import openvino as ov
import openvino.opset13 as ops
import pytest

from ovdemo.common.engine.inference import InferenceConfig, compile_model, embed_preprocessing
from ovdemo.common.engine.resize import rows_first, taps_pay_off
from ovdemo.common.models.letterbox import padded_size
from ovdemo.common.models.specs import ModelSpec

ROUNDING = 0.01  # of 255: the same weights on the same pixels, summed in another order


def echo_model(size: tuple[int, int], layout: str) -> ov.Model:
    """A model that returns its f32 input: [1, 3, H, W] or [1, H, W, 3] for the (w, h) `size`."""
    shape = [1, 3, size[1], size[0]] if layout == "NCHW" else [1, size[1], size[0], 3]
    image = ops.parameter(shape, np.float32, name="image")
    return ov.Model([ops.result(ops.multiply(image, np.float32(1)))], [image], "echo")


def a_frame(size: tuple[int, int]) -> np.ndarray:
    """Smooth random content (a resize of noise is all rounding), u8 BGR of the (w, h) size."""
    noise = np.random.default_rng(7).integers(0, 256, (size[1], size[0], 3), np.uint8)
    return cv2.GaussianBlur(noise, (7, 7), 0)


def expected(frame: np.ndarray, size: tuple[int, int], spec: ModelSpec, crop) -> np.ndarray:
    """By hand with OpenCV, in float: crop, black padding to the input's aspect (letterbox), INTER_LINEAR resize,
    colour order, mean and scale; HWC."""
    if crop is not None:
        x1, y1, x2, y2 = crop
        frame = frame[y1:y2, x1:x2]
    if spec.resize == "letterbox":
        w, h = padded_size((frame.shape[1], frame.shape[0]), size)
        frame = cv2.copyMakeBorder(frame, 0, h - frame.shape[0], 0, w - frame.shape[1], cv2.BORDER_CONSTANT, value=0)
    image = cv2.resize(frame.astype(np.float32), size, interpolation=cv2.INTER_LINEAR)
    if spec.color == "RGB":
        image = image[..., ::-1]
    if spec.mean:
        image = image - np.float32(spec.mean)
    if spec.scale:
        image = image / np.float32(spec.scale)
    return image


def seen(frame: np.ndarray, size, layout: str, spec: ModelSpec, crop, precision: str | None,
         fixed: bool = True) -> np.ndarray:
    """What the model is given of `frame`, compiled for frames of its size (`fixed`) or of any size."""
    model = embed_preprocessing(echo_model(size, layout), spec, (frame.shape[1], frame.shape[0]) if fixed else None,
                                crop=crop)
    out = np.asarray(compile_model(model, InferenceConfig(precision=precision))(frame[None])[0])[0]
    return out.transpose(1, 2, 0) if layout == "NCHW" else out


CASES = {  # frame (w, h), model input (w, h), layout, spec, crop
    "1080p into 64x64": ((1920, 1080), (64, 64), "NCHW", ModelSpec(), None),
    "1080p into 512x512": ((1920, 1080), (512, 512), "NCHW", ModelSpec(), None),
    "into a wide strip": ((768, 432), (94, 24), "NCHW", ModelSpec(), None),
    "NHWC, RGB, mean and scale": ((1280, 720), (300, 300), "NHWC",
                                  ModelSpec(color="RGB", mean=(123.7, 116.3, 103.5), scale=(58.4, 57.1, 57.4)), None),
    "NHWC, RGB, a wide frame": ((1920, 200), (100, 100), "NHWC", ModelSpec(color="RGB"), None),
    "a wide frame, RGB": ((1920, 240), (160, 120), "NCHW", ModelSpec(color="RGB"), None),
    "a crop, RGB": ((1920, 1080), (160, 160), "NCHW", ModelSpec(color="RGB"), (700, 100, 1500, 1000)),
    "letterbox": ((1280, 720), (200, 200), "NCHW", ModelSpec(resize="letterbox"), None),
    "about the frame's size": ((768, 432), (512, 512), "NCHW", ModelSpec(), None),
    "up": ((200, 120), (456, 256), "NCHW", ModelSpec(color="RGB"), None),
    "up, NHWC, mean and scale": ((320, 240), (640, 480), "NHWC", ModelSpec(mean=(127.5,), scale=(127.5,)), None),
    "the input's own size": ((672, 384), (672, 384), "NCHW", ModelSpec(mean=(100.0, 110.0, 120.0)), None),
}


def test_the_cases_take_both_orders_of_gathering_rows_and_changing_the_layout():
    orders = {(rows_first(frame, size), layout) for frame, size, layout, *_ in CASES.values()
              if taps_pay_off(frame, size)}
    assert orders == {(True, "NCHW"), (False, "NCHW"), (True, "NHWC"), (False, "NHWC")}


@pytest.mark.parametrize("case", CASES)
def test_the_model_sees_the_frame_resized_in_float(case):
    frame_size, size, layout, spec, crop = CASES[case]
    frame = a_frame(frame_size)
    got = seen(frame, size, layout, spec, crop, "f32")
    assert np.abs(got - expected(frame, size, spec, crop)).max() < ROUNDING


@pytest.mark.parametrize("case", [c for c in CASES if CASES[c][4] is None])
def test_frames_of_any_size_take_openvinos_resize_step_to_the_same_input(case):
    """A model compiled for frames of any size (its input shape dynamic) keeps OpenVINO's own resize step: the
    same float resize within float rounding."""
    frame_size, size, layout, spec, crop = CASES[case]
    frame = a_frame(frame_size)
    got = seen(frame, size, layout, spec, crop, "f32", fixed=False)
    assert np.abs(got - expected(frame, size, spec, crop)).max() < ROUNDING


@pytest.mark.parametrize("case", CASES)
def test_at_the_default_precision_no_further_than_openvinos_own_resize(case):
    """At the CPU's default precision (bf16 on some), the input is no further from the float resize than
    OpenVINO's own resize step there (the path ovdemo took before) is, plus the float rounding."""
    frame_size, size, layout, spec, crop = CASES[case]
    frame = a_frame(frame_size)
    want = expected(frame, size, spec, crop)
    mine = np.abs(seen(frame, size, layout, spec, crop, None) - want).max()
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("ovdemo.common.engine.inference.resize_by_taps", lambda *_: False)
        theirs = np.abs(seen(frame, size, layout, spec, crop, None) - want).max()
    assert mine <= theirs + ROUNDING


@pytest.mark.parametrize("case", CASES)
def test_with_the_taps_no_float_tensor_has_the_frames_size(case):
    """The point of the taps: no f32 tensor in the graph is larger than the model's input, or than four times it
    where that is smaller than the frame (the frame is never converted whole); a frame of the input's own size,
    which is not resized, is converted as before."""
    frame_size, size, layout, spec, crop = CASES[case]
    model = embed_preprocessing(echo_model(size, layout), spec, frame_size, crop=crop)
    floats = [int(np.prod(list(out.get_shape()))) for op in model.get_ordered_ops() for out in op.outputs()
              if out.get_element_type() == ov.Type.f32 and out.get_partial_shape().is_static]
    region = (crop[2] - crop[0], crop[3] - crop[1]) if crop else frame_size
    if spec.resize == "letterbox":
        region = padded_size(region, size)
    taps = 4 * size[0] * size[1] * 3
    if taps_pay_off(region, size):
        assert max(floats) <= taps
        if taps < region[0] * region[1] * 3:
            assert max(floats) < region[0] * region[1] * 3
    else:
        assert max(floats) >= region[0] * region[1] * 3


def test_the_taps_are_taken_wherever_the_frame_is_resized():
    assert taps_pay_off((1920, 1080), (512, 512)) and taps_pay_off((768, 432), (64, 64))
    assert taps_pay_off((768, 432), (512, 512)) and taps_pay_off((200, 120), (456, 256))
    assert not taps_pay_off((672, 384), (672, 384))


def test_at_bf16_the_normalised_value_is_rounded_once():
    """A convolution right after the resize reads, at the CPU's default precision, the normalised frame
    rounded once to that precision, as the unchanged model given the normalised frame does (the mean and scale
    taken after the blend gave, at bf16, 99 % of the values up to 1.4 units of bf16 off)."""
    frame_size, size, spec = (768, 432), (384, 192), ModelSpec(mean=(123.675, 116.28, 103.53),
                                                               scale=(58.395, 57.12, 57.375))

    def identity_convolution() -> ov.Model:
        image = ops.parameter([1, 3, size[1], size[0]], np.float32, name="image")
        weights = ops.constant(np.eye(3, dtype=np.float32).reshape(3, 3, 1, 1))
        return ov.Model([ops.result(ops.convolution(image, weights, [1, 1], [0, 0], [0, 0], [1, 1]))], [image])

    model = embed_preprocessing(identity_convolution(), spec, frame_size)
    frame = a_frame(frame_size)
    got = np.asarray(compile_model(model, InferenceConfig())(frame[None])[0])[0].transpose(1, 2, 0)
    plain = ov.Core().compile_model(identity_convolution(), "CPU")
    normalised = expected(frame, size, spec, None).transpose(2, 0, 1)[None]
    want = np.asarray(plain(np.ascontiguousarray(normalised))[0])[0].transpose(1, 2, 0)
    ulp = np.abs(want) * 2.0 ** -7  # one unit in the last place of bf16, the coarsest default precision
    assert (np.abs(got - want) <= ulp + 1e-6).mean() > 0.999
