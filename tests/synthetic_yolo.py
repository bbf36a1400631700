"""Ultralytics YOLO exports built in tests: each head's exact contract (`images` [1,3,640,640] in, `output0`
(and `output1`) out, as `yolo export format=openvino` writes them), whose outputs are constants that encode a
known answer in input pixels, saved in a folder `NAME_openvino_model/` beside a metadata.yaml written as
Ultralytics' exporter writes it (PyYAML's block style)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import openvino as ov
import openvino.opset13 as ops

from ovdemo.common.models.letterbox import centred_geometry

SIZE = 640
ANCHORS = 8400  # strides 8, 16, 32 at 640x640
NAMES = {0: "person", 1: "bicycle", 2: "car", 3: "yes"}  # "yes" is quoted in the YAML, as PyYAML writes it
FRAME = (768, 432)


def metadata_yaml(task: str, names: dict[int, str], imgsz=(SIZE, SIZE), kpt_shape=None) -> str:
    """metadata.yaml as Ultralytics 8.3 writes it (yaml.safe_dump, sort_keys=False, allow_unicode=True)."""
    lines = [
        "description: Ultralytics YOLO11n model trained on /usr/src/ultralytics/ultralytics/cfg/datasets/coco.yaml",
        "  and fine-tuned",  # PyYAML folds a plain scalar longer than 80 columns
        "author: Ultralytics",
        "date: '2025-09-26T22:02:00.992660'",
        "version: 8.3.202",
        "license: AGPL-3.0 License (https://ultralytics.com/license)",
        "docs: https://docs.ultralytics.com",
        "stride: 32",
        f"task: {task}",
        "batch: 1",
        "imgsz:",
        *[f"- {v}" for v in imgsz],
        "names:",
        *[f"  {i}: {quoted(n)}" for i, n in names.items()],
        "args:",
        "  batch: 1",
        "  half: false",
        "  int8: false",
        "  dynamic: false",
        "  nms: false",
        "channels: 3",
    ]
    if kpt_shape:
        lines += ["kpt_shape:", *[f"- {v}" for v in kpt_shape]]
    return "\n".join(lines) + "\n"


def quoted(name: str) -> str:
    return f"'{name}'" if name in ("yes", "no", "null", "true", "false") else name


def to_input(points, frame=FRAME, size=(SIZE, SIZE)) -> np.ndarray:
    """Frame pixels (..., 2) to the letterboxed input's."""
    scale, left, top = centred_geometry(frame, size)
    return np.asarray(points, np.float64) * scale + np.array([left, top])


def box_row(frame_box) -> list[float]:
    """cx, cy, w, h in input pixels of a frame-pixel x1y1x2y2 box."""
    (x1, y1), (x2, y2) = to_input(np.reshape(frame_box, (2, 2)))
    return [(x1 + x2) / 2, (y1 + y2) / 2, x2 - x1, y2 - y1]


def _const(param, name: str, value: np.ndarray):
    """An output `name` equal to `value` whatever the image (0 * mean(image) keeps the input connected)."""
    zero = ops.multiply(ops.reduce_mean(param, np.arange(4, dtype=np.int64)), np.float32(0))
    node = ops.add(ops.constant(value.astype(np.float32)), zero)
    node.set_friendly_name(name)
    node.output(0).get_tensor().set_names({name})
    return ops.result(node)


def save_export(folder: Path, stem: str, task: str, outputs: dict[str, np.ndarray], names=NAMES,
                size: int = SIZE, kpt_shape=None, metadata: bool = True) -> Path:
    """`<folder>/<stem>_openvino_model/` with <stem>.xml/.bin and metadata.yaml; the folder's path."""
    export = folder / f"{stem}_openvino_model"
    export.mkdir(parents=True)
    images = ops.parameter([1, 3, size, size], np.float32, name="images")
    images.output(0).get_tensor().set_names({"images"})
    model = ov.Model([_const(images, n, v) for n, v in outputs.items()], [images], stem)
    ov.save_model(model, export / f"{stem}.xml", compress_to_fp16=False)
    if metadata:
        (export / "metadata.yaml").write_text(metadata_yaml(task, names, (size, size), kpt_shape), encoding="utf-8")
    return export


def anchor_rows(channels: int, rows: dict[int, list[float]]) -> np.ndarray:
    """output0 [1, channels, 8400]: zeros but for the given anchors' columns."""
    out = np.zeros((1, channels, ANCHORS), np.float32)
    for anchor, values in rows.items():
        out[0, :len(values), anchor] = values
    return out


def detect_export(folder: Path, objects: list[tuple[list[float], int, float]], names=NAMES, **kw) -> Path:
    """A detect head [1, 4+nc, 8400]: each (frame box, class id, score) at its own anchor."""
    nc = len(names)
    rows = {}
    for n, (box, cls, score) in enumerate(objects):
        scores = [0.0] * nc
        scores[cls] = score
        rows[100 + 50 * n] = box_row(box) + scores
    return save_export(folder, "yolo11n", "detect", {"output0": anchor_rows(4 + nc, rows)}, names, **kw)
