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
