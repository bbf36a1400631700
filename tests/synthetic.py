"""Small OpenVINO models built in tests, with outputs that encode a known answer."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import openvino as ov
import openvino.opset13 as ops


def _named(node, name: str):
    node.output(0).get_tensor().set_names({name})
    return node


def brightness_probe(path: Path, size=(64, 64)) -> Path:
    """An SSD-style detector (input `data` [1,3,H,W], output `detection_out` [1,1,2,7]) whose single box
    encodes the mean brightness m of its input: x1 = m / 510, so each output names the frame it came from."""
    data = ops.parameter([1, 3, size[1], size[0]], ov.Type.f32, name="data")
    mean = ops.reduce_mean(data, ops.constant(np.array([0, 1, 2, 3], np.int64)), keep_dims=False)
    x1 = ops.multiply(mean, ops.constant(np.float32(1 / 510)))
    x2 = ops.add(x1, ops.constant(np.float32(0.1)))

    def scalar(value):
        return ops.constant(np.array([value], np.float32))

    row = ops.concat([scalar(0), scalar(1), scalar(0.9), ops.unsqueeze(x1, ops.constant(np.int64(0))),
                      scalar(0.1), ops.unsqueeze(x2, ops.constant(np.int64(0))), scalar(0.3)], axis=0)
    end = ops.constant(np.array([-1, 0, 0, 0, 0, 0, 0], np.float32))
    out = ops.reshape(ops.concat([row, end], axis=0), ops.constant(np.array([1, 1, 2, 7], np.int64)), False)
    model = ov.Model([ops.result(_named(out, "detection_out"))], [data], "brightness-probe")
    ov.save_model(model, str(path))
    return path


def unfit_model(path: Path) -> Path:
    """A classifier-like model: output `prob` [1,10] fits no detection decoder."""
    data = ops.parameter([1, 3, 32, 32], ov.Type.f32, name="data")
    pooled = ops.reduce_mean(data, ops.constant(np.array([2, 3], np.int64)), keep_dims=False)
    prob = ops.matmul(pooled, ops.constant(np.ones((3, 10), np.float32)), False, False)
    ov.save_model(ov.Model([ops.result(_named(prob, "prob"))], [data], "unfit"), str(path))
    return path


def fixed_size_only(path: Path, size=(64, 64)) -> Path:
    """An SSD-style model with a dynamic input size that only runs at `size`: a Reshape to a fixed
    element count fails at inference time on any other frame size (a request that fails, not a model
    that fails to load)."""
    data = ops.parameter([1, 3, -1, -1], ov.Type.f32, name="data")
    flat = ops.reshape(data, ops.constant(np.array([1, 3 * size[0] * size[1]], np.int64)), False)
    level = ops.reduce_mean(flat, ops.constant(np.array([1], np.int64)), keep_dims=False)
    row = ops.concat([ops.constant(np.array([0, 1, 0.9, 0.1, 0.1], np.float32)),
                      ops.multiply(ops.concat([level, level], axis=0), ops.constant(np.float32(0))),
                      ], axis=0)
    out = ops.reshape(ops.add(row, ops.constant(np.array([0, 0, 0, 0, 0, 0.5, 0.5], np.float32))),
                      ops.constant(np.array([1, 1, 1, 7], np.int64)), False)
    ov.save_model(ov.Model([ops.result(_named(out, "detection_out"))], [data], "fixed-size-only"), str(path))
    return path


def wrong_from_batch(path: Path, first_wrong: int, size=(16, 16)) -> Path:
    """Like `batch_sensitive`, but right at every batch below `first_wrong` and 50 off from there on: a graph
    whose batched kernels break only on larger batches."""
    data = ops.parameter([1, 3, size[1], size[0]], ov.Type.f32, name="data")
    mean = ops.reduce_mean(data, ops.constant(np.array([1, 2, 3], np.int64)), keep_dims=True)  # [N,1,1,1]
    batch = ops.gather(ops.shape_of(data), ops.constant(np.int64(0)), ops.constant(np.int64(0)))
    wrong = ops.convert(ops.greater_equal(batch, ops.constant(np.int64(first_wrong))), ov.Type.f32)
    out = ops.reshape(ops.add(mean, ops.multiply(wrong, ops.constant(np.float32(50)))),
                      ops.constant(np.array([-1, 1], np.int64)), False)
    ov.save_model(ov.Model([ops.result(_named(out, "mean"))], [data], "wrong-from-batch"), str(path))
    return path


def batch_sensitive(path: Path, size=(16, 16)) -> Path:
    """A per-item model (input `data` [1,3,H,W], output `mean` [1,1]: each item's mean brightness) whose graph
    also adds (batch size - 1) * 50 to every answer: right at its own batch of 1, wrong once its batch is made
    dynamic and a batch of two goes through, as a graph that mishandles a dynamic batch would be."""
    data = ops.parameter([1, 3, size[1], size[0]], ov.Type.f32, name="data")
    mean = ops.reduce_mean(data, ops.constant(np.array([1, 2, 3], np.int64)), keep_dims=True)  # [N,1,1,1]
    batch = ops.convert(ops.gather(ops.shape_of(data), ops.constant(np.int64(0)), ops.constant(np.int64(0))),
                        ov.Type.f32)
    offset = ops.multiply(ops.subtract(batch, ops.constant(np.float32(1))), ops.constant(np.float32(50)))
    out = ops.reshape(ops.add(mean, offset), ops.constant(np.array([-1, 1], np.int64)), False)
    ov.save_model(ov.Model([ops.result(_named(out, "mean"))], [data], "batch-sensitive"), str(path))
    return path


def mean_level(path: Path, size=(32, 64)) -> Path:
    """A per-object model (input `data` [1,3,H,W], output `level` [1,1]): the mean level of the crop it was
    given, so each answer tells which pixels it saw."""
    data = ops.parameter([1, 3, size[1], size[0]], ov.Type.f32, name="data")
    mean = ops.reduce_mean(data, ops.constant(np.array([1, 2, 3], np.int64)), keep_dims=False)
    level = ops.reshape(mean, ops.constant(np.array([-1, 1], np.int64)), False)
    ov.save_model(ov.Model([ops.result(_named(level, "level"))], [data], "mean-level"), str(path))
    return path
