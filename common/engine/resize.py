"""The frame's resize into the model's input, in the graph, reading only the pixels it needs and in u8.

OpenVINO's own resize step (PrePostProcessor `resize(RESIZE_LINEAR)`: Interpolate, linear, half-pixel centres,
no antialiasing, OpenCV's INTER_LINEAR) runs on the converted frame: the whole u8 frame becomes float and is
reordered before the Interpolate reads four pixels of it per output pixel, and the Interpolate itself is slow
on 3-channel images. On a Xeon, one thread, a 1920x1080 frame took 7.1 ms into a 64x64 input and 11.3 ms into
512x512; 768x432 into 512x512 took 3.3 ms, a sixth of person-detection-0202's inference.

The same resize here: `gather_rows` copies the rows above and below each output row out of the u8 frame, the
layout changes on u8 pixels (those rows, or the frame where it has fewer: `rows_first`), `gather_columns` picks
the columns left and right of each output column (a batch of four images of the model's size, still u8), and
`blend_taps` converts and weighs them as the Interpolate does, and takes the model's mean and scale. The blend
is a chain of element-wise operations that OpenVINO fuses with the conversion and with the model's own first
ones, so a CPU that infers in bf16 rounds the normalised input once, where the unchanged model given it rounds
it. It is taken wherever a frame is resized (`taps_pay_off`): it costs less at every size measured, upscales
included (768x432 into 512x512: 1.8 ms against 3.3; tests/bench/bench_resize.py). At f32 the two resizes
differ by float rounding only (under 0.01 of 255): tests/unit/test_resize.py.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import openvino as ov
import openvino.opset13 as ops

TAPS = 4  # the neighbours of an output pixel: top-left, top-right, bottom-left, bottom-right


def taps_pay_off(frame_size: tuple[int, int], input_size: tuple[int, int]) -> bool:
    """Whether the frame is resized from its taps: wherever it is resized at all (they cost less at every size
    measured, upscales included); a frame of the input's own size takes OpenVINO's step, which only converts it."""
    return tuple(frame_size) != tuple(input_size)


def axis_taps(length: int, count: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For `count` outputs along an axis of `length` pixels: each output's first and second neighbour and the
    second one's weight, as Interpolate computes them (half-pixel centres; an output before the first or past the
    last pixel's centre takes that pixel)."""
    x = (np.arange(count, dtype=np.float32) + np.float32(0.5)) * np.float32(length / count) - np.float32(0.5)
    x = np.clip(x, 0, length - 1)
    first = np.floor(x)
    second = np.minimum(first + 1, length - 1)
    return first.astype(np.int64), second.astype(np.int64), (x - first).astype(np.float32)


def gather_rows(frame_size: tuple[int, int], input_size: tuple[int, int],
                layout: str = "NHWC") -> Callable[[ov.Output], ov.Output]:
    """A PrePostProcessor `custom` step: a u8 frame [1, ...] of (w, h) `frame_size` in `layout` (NHWC or NCHW)
    in; the rows above and below every output row of the (w, h) `input_size` out, as a u8 batch [2, ...] (upper,
    lower) of H rows. Whole rows: a copy of each, the cheapest gather there is."""
    (_, h), (_, in_h) = frame_size, input_size
    upper, lower, _ = axis_taps(h, in_h)

    def step(frame: ov.Output) -> ov.Output:
        axis = ops.constant(np.int64(layout.index("H")))
        return ops.concat([ops.gather(frame, ops.constant(index), axis) for index in (upper, lower)], 0).output(0)

    return step


def rows_first(frame_size: tuple[int, int], input_size: tuple[int, int]) -> bool:
    """Whether the rows are gathered before the layout changes (the change then moves the rows, not the frame):
    where the frame has more rows than two per output row."""
    return frame_size[1] > 2 * input_size[1]


def gather_columns(frame_size: tuple[int, int], input_size: tuple[int, int],
                   layout: str) -> Callable[[ov.Output], ov.Output]:
    """A PrePostProcessor `custom` step: `gather_rows`' batch, in the model's `layout` (NCHW or NHWC), in; the
    columns left and right of every output column out, as a u8 batch [4, ...] of the model's size in the order
    of `TAPS_ORDER`. On NHWC the pixel's channels are gathered as bytes of its row ([.., w*C]): OpenVINO's
    Gather moves single elements fast and 3-byte pixels slowly (2.1 against 0.7 ms for 768x432 into 512x512)."""
    (w, _), (in_w, in_h) = frame_size, input_size
    left, right, _ = axis_taps(w, in_w)

    def step(rows: ov.Output) -> ov.Output:
        if layout == "NCHW":  # columns are the innermost axis already
            halves = [ops.gather(rows, ops.constant(index), ops.constant(np.int64(3))) for index in (left, right)]
        else:
            channels = rows.get_partial_shape()[3].get_length()
            flat = ops.reshape(rows, ops.constant(np.array([2, in_h, w * channels], np.int64)), False)
            halves = [ops.reshape(ops.gather(flat, ops.constant((index[:, None] * channels
                                                                 + np.arange(channels)).ravel()),
                                             ops.constant(np.int64(2))),
                                  ops.constant(np.array([2, in_h, in_w, channels], np.int64)), False)
                      for index in (left, right)]
        return ops.concat(halves, 0).output(0)

    return step


TAPS_ORDER = ("upper left", "lower left", "upper right", "lower right")  # the batch gather_columns gives


def blend_taps(frame_size: tuple[int, int], input_size: tuple[int, int], layout: str,
               mean: tuple[float, ...] = (), scale: tuple[float, ...] = ()) -> Callable[[ov.Output], ov.Output]:
    """A PrePostProcessor `custom` step: `gather_columns`' u8 batch in; the bilinear blend of each pixel's four
    neighbours in f32, one image [1, ...] in the model's `layout` (NCHW or NHWC), less the channels' `mean` and
    divided by their `scale` (the model's spec), out. Each tap is converted to f32 after the split, so the
    conversion runs fused with the blend, and the blend with the normalisation, in one step that rounds once
    (at bf16, where the model's first convolution reads it), as the unchanged model given the normalised frame
    rounds it. The normalisation is x / scale - mean / scale, the subtraction last: with (x - mean) / scale
    after the blend, OpenVINO's fused step at bf16 gave a following convolution values up to 1.4 units of bf16
    off the normalised value (99 % of them off; this order: 0.003 %, by one unit; tests/unit/test_resize.py)."""
    (w, h), (in_w, in_h) = frame_size, input_size
    h_axis, w_axis, c_axis = layout.index("H"), layout.index("W"), layout.index("C")
    down, across = axis_taps(h, in_h)[2], axis_taps(w, in_w)[2]
    down_shape, across_shape, channel_shape = [1] * 4, [1] * 4, [1] * 4
    down_shape[h_axis], across_shape[w_axis], channel_shape[c_axis] = in_h, in_w, -1

    def lerp(a: ov.Output, b: ov.Output, weight: np.ndarray) -> ov.Output:
        return ops.add(a, ops.multiply(ops.subtract(b, a), ops.constant(weight))).output(0)

    def step(taps: ov.Output) -> ov.Output:
        quarters = ops.split(taps, ops.constant(np.int64(0)), TAPS).outputs()
        upper_left, lower_left, upper_right, lower_right = (ops.convert(q, ov.Type.f32).output(0) for q in quarters)
        upper = lerp(upper_left, upper_right, across.reshape(across_shape))
        lower = lerp(lower_left, lower_right, across.reshape(across_shape))
        x = lerp(upper, lower, down.reshape(down_shape))
        if scale:
            x = ops.divide(x, ops.constant(np.asarray(scale, np.float32).reshape(channel_shape))).output(0)
        if mean:  # (x - mean) / scale as x / scale - mean / scale: the subtraction last
            offset = np.asarray(mean, np.float32) / (np.asarray(scale, np.float32) if scale else np.float32(1))
            x = ops.subtract(x, ops.constant(offset.reshape(channel_shape))).output(0)
        return x

    return step
