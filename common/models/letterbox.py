"""Letterbox resize: the frame padded (right and bottom, black) to the model input's aspect ratio, then resized.

Models trained on padded inputs (RetinaFace on square crops, some YOLOs) find fewer objects in a stretched frame.
The padding is built into the model's preprocessing (`pad_to_aspect`, one PrePostProcessor step before the
resize, computed from the frame's shape in the graph, so any frame size works), and `padded_size` gives the
same padded size in Python: a box in [0, 1] of the model input times the padded size is in frame pixels, exactly,
because the padding only adds pixels after the frame's last row and column.
"""

from __future__ import annotations

import openvino as ov
import openvino.opset11 as opset11
import openvino.opset13 as ops

LETTERBOX = "letterbox"  # the spec's `resize` value that asks for it ("stretch", the default, does not)


def padded_size(frame_size: tuple[int, int], input_size: tuple[int, int]) -> tuple[int, int]:
    """(w, h) of a (w, h) frame grown on one side to the (W, H) input's aspect ratio (whole pixels, rounded up)."""
    (w, h), (in_w, in_h) = frame_size, input_size
    return max(w, -(-h * in_w // in_h)), max(h, -(-w * in_h // in_w))


def pad_to_aspect(input_size: tuple[int, int]):
    """A PrePostProcessor `custom` step padding an NHWC image to `padded_size` (integer arithmetic in the graph,
    so it rounds exactly as `padded_size` does)."""
    in_w, in_h = input_size

    def ceil_scaled(length, num: int, den: int):  # ceil(length * num / den) for positive integers
        return ops.divide(ops.add(ops.multiply(length, _i64(num)), _i64(den - 1)), _i64(den))

    def step(image: ov.Output) -> ov.Output:
        shape = ops.shape_of(image, ov.Type.i64)
        h = ops.gather(shape, _i64(1), _i64(0))
        w = ops.gather(shape, _i64(2), _i64(0))
        pad_h = ops.subtract(ops.maximum(h, ceil_scaled(w, in_h, in_w)), h)
        pad_w = ops.subtract(ops.maximum(w, ceil_scaled(h, in_w, in_h)), w)
        end = ops.concat([_i64(0), pad_h, pad_w, _i64(0)], 0)
        begin = ops.constant([0, 0, 0, 0], ov.Type.i64)
        return ops.pad(image, begin, end, "constant", ops.constant(0, image.get_element_type())).output(0)

    return step


def _i64(value: int):
    return ops.constant([value], ov.Type.i64)


# --- Ultralytics' letterbox: scaled to fit, centred, the rest grey 114 (ultralytics.data.augment.LetterBox)

CENTRED = "letterbox-centred"  # the spec's `resize` value for it
PAD_VALUE = 114.0


def centred_geometry(frame_size: tuple[int, int], input_size: tuple[int, int]) -> tuple[float, int, int]:
    """(scale, left, top) of a (w, h) frame letterboxed into a (W, H) input as Ultralytics does: resized by
    min(W/w, H/h) to whole pixels, then padded left/top by round(padding / 2 - 0.1). A point x of the input is
    (x - left) / scale in the frame."""
    (w, h), (in_w, in_h) = frame_size, input_size
    scale = min(in_w / w, in_h / h)
    new_w, new_h = round(w * scale), round(h * scale)
    return scale, round((in_w - new_w) / 2 - 0.1), round((in_h - new_h) / 2 - 0.1)


def letterbox_centred(input_size: tuple[int, int]):
    """A PrePostProcessor `custom` step doing `centred_geometry`'s letterbox in the graph on an f32 NHWC image of
    any size: a bilinear resize (half-pixel centres, no antialiasing: OpenCV's INTER_LINEAR) to the scaled size,
    then the grey padding. The output has the input's size (the resize step after it changes nothing)."""
    in_w, in_h = input_size

    def step(image: ov.Output) -> ov.Output:
        hw = ops.gather(ops.shape_of(image, ov.Type.i64), ops.constant([1, 2], ov.Type.i64), _i64(0))
        hw_f = ops.convert(hw, ov.Type.f32)
        target = ops.constant([in_h, in_w], ov.Type.f32)
        scale = ops.reduce_min(ops.divide(target, hw_f), _i64(0), keep_dims=True)
        new_hw = ops.round(ops.multiply(hw_f, scale), "half_to_even")  # Python's round
        pad = ops.subtract(target, new_hw)
        before = ops.round(ops.subtract(ops.divide(pad, ops.constant(2.0, ov.Type.f32)),
                                        ops.constant(0.1, ov.Type.f32)), "half_to_even")
        after = ops.subtract(pad, before)
        resized = opset11.interpolate(image, ops.convert(new_hw, ov.Type.i64), "linear", "sizes",
                                      axes=ops.constant([1, 2], ov.Type.i64),
                                      coordinate_transformation_mode="half_pixel")
        zero = _i64(0)
        begin = ops.concat([zero, ops.convert(before, ov.Type.i64), zero], 0)
        end = ops.concat([zero, ops.convert(after, ov.Type.i64), zero], 0)
        fill = ops.constant(PAD_VALUE, image.get_element_type())
        return ops.pad(resized, begin, end, "constant", fill).output(0)

    return step
