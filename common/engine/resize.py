"""The frame's resize into a much smaller model input, in the graph, reading only the pixels it needs.

OpenVINO's own resize step (PrePostProcessor `resize(RESIZE_LINEAR)`: Interpolate, linear, half-pixel centres,
no antialiasing, OpenCV's INTER_LINEAR) runs on the converted frame: the whole u8 frame becomes float and is
reordered before the Interpolate reads four pixels of it per output pixel. That costs the frame's size whatever
the model's: on a Xeon, one thread, a 1920x1080 frame took 7.1 ms into a 64x64 input and 11.3 ms into 512x512.

The same resize, done here when it reads less than the frame (`taps_pay_off`): `gather_taps` picks each output
pixel's four neighbours out of the u8 frame (a batch of four images of the model's size, still u8, so the layout
change after it is cheap), and `blend_taps` weighs them as the Interpolate does, after the conversion to f32.
The blend is a chain of element-wise operations that OpenVINO fuses with the model's own first ones (a mean,
a scale), so a CPU that infers in bf16 rounds the input once, where the unchanged model rounds it. At f32 the
two resizes differ by float rounding only (under 0.01 of 255): tests/unit/test_resize.py.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import openvino as ov
import openvino.opset13 as ops

TAPS = 4  # the neighbours of an output pixel: top-left, top-right, bottom-left, bottom-right


def taps_pay_off(frame_size: tuple[int, int], input_size: tuple[int, int]) -> bool:
    """Whether gathering the taps reads fewer pixels than converting the whole (w, h) frame would."""
    return TAPS * input_size[0] * input_size[1] < frame_size[0] * frame_size[1]


def axis_taps(length: int, count: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For `count` outputs along an axis of `length` pixels: each output's first and second neighbour and the
    second one's weight, as Interpolate computes them (half-pixel centres; an output before the first or past the
    last pixel's centre takes that pixel)."""
    x = (np.arange(count, dtype=np.float32) + np.float32(0.5)) * np.float32(length / count) - np.float32(0.5)
    x = np.clip(x, 0, length - 1)
    first = np.floor(x)
    second = np.minimum(first + 1, length - 1)
    return first.astype(np.int64), second.astype(np.int64), (x - first).astype(np.float32)


def gather_taps(frame_size: tuple[int, int], input_size: tuple[int, int]) -> Callable[[ov.Output], ov.Output]:
    """A PrePostProcessor `custom` step: a u8 NHWC frame of (w, h) `frame_size` in, the four neighbours of every
    pixel of the (w, h) `input_size` out, as a u8 batch [4, H, W, C] (the order of TAPS)."""
    (w, h), (in_w, in_h) = frame_size, input_size
    top, bottom, _ = axis_taps(h, in_h)
    left, right, _ = axis_taps(w, in_w)

    def step(frame: ov.Output) -> ov.Output:
        rows = [ops.gather(frame, ops.constant(index), ops.constant(np.int64(1))) for index in (top, bottom)]
        return ops.concat([ops.gather(row, ops.constant(index), ops.constant(np.int64(2)))
                           for row in rows for index in (left, right)], 0).output(0)

    return step


def blend_taps(frame_size: tuple[int, int], input_size: tuple[int, int],
               layout: str) -> Callable[[ov.Output], ov.Output]:
    """A PrePostProcessor `custom` step: `gather_taps`' batch, converted to f32 and in the model's `layout` (NCHW
    or NHWC), in; the bilinear blend of each pixel's four neighbours, one image [1, ...], out."""
    (w, h), (in_w, in_h) = frame_size, input_size
    h_axis, w_axis = layout.index("H"), layout.index("W")
    down, across = axis_taps(h, in_h)[2], axis_taps(w, in_w)[2]
    down_shape, across_shape = [1] * 4, [1] * 4
    down_shape[h_axis], across_shape[w_axis] = in_h, in_w

    def lerp(a: ov.Output, b: ov.Output, weight: np.ndarray) -> ov.Output:
        return ops.add(a, ops.multiply(ops.subtract(b, a), ops.constant(weight))).output(0)

    def step(taps: ov.Output) -> ov.Output:
        top_left, top_right, bottom_left, bottom_right = ops.split(taps, ops.constant(np.int64(0)), TAPS).outputs()
        upper = lerp(top_left, top_right, across.reshape(across_shape))
        lower = lerp(bottom_left, bottom_right, across.reshape(across_shape))
        return lerp(upper, lower, down.reshape(down_shape))

    return step
