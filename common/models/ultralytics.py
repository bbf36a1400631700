"""Ultralytics YOLO models as their exporter writes them: what `yolo export format=openvino` puts in its folder
(`NAME.xml`, `NAME.bin` and `metadata.yaml`) and what `format=onnx` puts in the ONNX file's metadata (the same
keys, each value as Python's `str` of it), read into a `ModelSpec`.

The metadata names the task (detect, segment, pose, obb, classify), the class names (a mapping of id to name),
the input size and the stride. The exporter writes metadata.yaml with PyYAML's block style (`yaml.safe_dump`
with sort_keys=False): top-level `key: value` lines, lists as `- item` lines, mappings (names, args) indented by
two spaces, long plain scalars folded onto indented lines, strings quoted when they would read as something else.
`read_metadata` reads exactly that subset, so no YAML library is needed for it.

Preprocessing is Ultralytics': RGB, 0-1, letterboxed to the input centred on grey 114 (`letterbox.CENTRED`);
classifiers see the frame's centre square, stretched.
"""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path

import openvino as ov

from ..engine.inference import read_model
from ..errors import DemoError
from .letterbox import CENTRED
from .specs import ModelSpec

METADATA = "metadata.yaml"
TASK_FAMILY = {"detect": "detect", "obb": "detect", "segment": "segment", "pose": "pose", "classify": "action"}
TASK_DECODER = {"detect": "yolov8", "obb": "yolov8-obb", "segment": "yolov8", "pose": "yolov8"}
YOLO_ARCHS = ("yolov8", "yolov8-obb", "yolov10", "yolov5")  # --arch values that mean a YOLO with its preprocessing
THRESHOLD, IOU = 0.25, 0.7  # Ultralytics' predict defaults (conf, iou)
EXPORT_SUFFIX = "_openvino_model"  # the folder `yolo export format=openvino` writes for NAME.pt: NAME_openvino_model
EXPORT_HINT = ("export it with Ultralytics (`yolo export model={name}.pt format=openvino`) and pass the folder it "
               "writes: -m {name}_openvino_model/")
YOLO_NAME = re.compile(r"yolo(v?\d+)[a-z]?(-(seg|pose|obb|cls))?", re.IGNORECASE)  # yolov8n, yolo11s-seg, ...


# --- metadata.yaml: the block-style subset PyYAML's safe_dump writes

def _scalar(text: str):
    text = text.strip()
    if text.startswith("'") and text.endswith("'") and len(text) >= 2:
        return text[1:-1].replace("''", "'")
    if text.startswith('"') and text.endswith('"') and len(text) >= 2:
        return json.loads(text)  # YAML's double-quoted escapes that safe_dump writes are JSON's (\n, \", \uXXXX)
    if text.startswith("[") and text.endswith("]"):
        return [_scalar(t) for t in text[1:-1].split(",") if t.strip()]
    if text in ("null", "~", ""):
        return None
    if text in ("true", "True"):
        return True
    if text in ("false", "False"):
        return False
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def _key_and_rest(text: str) -> tuple[str, str]:
    """`key: rest` or `key:` (a quoted key may hold ': ')."""
    start = 0
    if text[:1] in ("'", '"'):
        start = text.index(text[0], 1) + 1
    colon = text.find(": ", start)
    if colon < 0:
        if not text.endswith(":"):
            raise ValueError(f"not a `key: value` line: {text}")
        return text[:-1], ""
    return text[:colon], text[colon + 2:]


def _block(lines: list[tuple[int, str]], i: int, indent: int):
    """The mapping or list whose lines start at lines[i], all at `indent`; and the index after it."""
    if lines[i][1].startswith("-"):
        items = []
        while i < len(lines) and lines[i][0] == indent and lines[i][1].startswith("-"):
            items.append(_scalar(lines[i][1][1:]))
            i += 1
        return items, i
    mapping = {}
    while i < len(lines) and lines[i][0] == indent:
        key, rest = _key_and_rest(lines[i][1])
        i += 1
        if rest:
            while i < len(lines) and lines[i][0] > indent:  # a long scalar folded onto the next lines
                rest += " " + lines[i][1]
                i += 1
            mapping[_scalar(key)] = _scalar(rest)
        elif i < len(lines) and (lines[i][0] > indent or lines[i][1].startswith("-")):
            mapping[_scalar(key)], i = _block(lines, i, lines[i][0])
        else:
            mapping[_scalar(key)] = None
    return mapping, i


def parse_metadata(text: str) -> dict:
    lines = [(len(line) - len(line.lstrip(" ")), line.strip()) for line in text.splitlines()]
    lines = [(n, s) for n, s in lines if s and not s.startswith("#") and s != "---"]
    if not lines:
        return {}
    found, end = _block(lines, 0, lines[0][0])
    if end != len(lines) or not isinstance(found, dict):
        raise ValueError(f"unexpected line: {lines[end][1] if end < len(lines) else ''}")
    return found


def read_metadata(path: Path) -> dict:
    try:
        return parse_metadata(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as e:
        raise DemoError(f"cannot read the Ultralytics metadata '{path}': {e}",
                        "export the model again with Ultralytics, or pass the .xml with --arch and --labels") from None


def onnx_metadata(model: ov.Model) -> dict:
    """An Ultralytics ONNX export's metadata (the exporter writes `str(value)` of each): {} for other models."""
    if not model.has_rt_info(["framework", "task"]):
        return {}
    found = {}
    for key in ("task", "names", "imgsz", "stride", "kpt_shape", "author"):
        if model.has_rt_info(["framework", key]):
            text = model.get_rt_info(["framework", key]).astype(str)
            try:
                found[key] = ast.literal_eval(text) if text[:1] in "{[0123456789" else text
            except (ValueError, SyntaxError):
                found[key] = text
    return found if found.get("author") == "Ultralytics" else {}


# --- the spec

def class_names(names) -> tuple[str, ...] | None:
    """`names` as Ultralytics writes it ({0: person, 1: bicycle}, or a list): a tuple by id."""
    if isinstance(names, list):
        return tuple(str(n) for n in names)
    if not isinstance(names, dict) or not names:
        return None
    ids = {int(k): str(v) for k, v in names.items()}
    return tuple(ids.get(i, f"#{i}") for i in range(max(ids) + 1))


def yolo_spec(name: str, metadata: dict, task: str | None = None) -> ModelSpec:
    """The spec of an Ultralytics model: its family from the task, its class names, Ultralytics' preprocessing."""
    task = task or str(metadata.get("task") or "detect")
    if task not in TASK_FAMILY:
        raise DemoError(f"{name} is an Ultralytics '{task}' model", f"ovdemo runs {', '.join(TASK_FAMILY)} models")
    params = {"task": task, "ultralytics": True}
    for key in ("stride", "imgsz", "kpt_shape"):
        if metadata.get(key) is not None:
            params[key] = metadata[key]
    if task == "classify":  # the action family's per-frame classifier, one frame a window
        params |= {"mode": "mean", "seq": 1}
    return ModelSpec(name=name, family=TASK_FAMILY[task], decoder=TASK_DECODER.get(task),
                     labels=class_names(metadata.get("names")), threshold=THRESHOLD, iou=IOU, color="RGB",
                     scale=(255.0, 255.0, 255.0), resize="stretch" if task == "classify" else CENTRED, params=params)


def export_folder_model(folder: Path) -> Path:
    """The .xml of a `yolo export format=openvino` folder (or the one model file of any folder)."""
    files = sorted(folder.glob("*.xml")) or sorted(folder.glob("*.onnx"))
    if len(files) != 1:
        raise DemoError(f"'{folder}' holds {len(files) or 'no'} model files",
                        "pass the folder `yolo export format=openvino` wrote, or the model file itself")
    return files[0]


def spec_for_file(path: Path) -> ModelSpec | None:
    """An Ultralytics export's spec: from metadata.yaml beside the file, else an ONNX file's own metadata."""
    if (path.parent / METADATA).is_file():
        return yolo_spec(path.stem, read_metadata(path.parent / METADATA))
    if path.suffix.lower() == ".onnx":
        metadata = onnx_metadata(read_model(path))
        if metadata:
            return yolo_spec(path.stem, metadata)
    return None


def with_arch(spec: ModelSpec, arch: str | None, family: str) -> ModelSpec:
    """--arch naming a YOLO head on a model without Ultralytics' metadata: Ultralytics' preprocessing, the class
    names --labels gives (else ids)."""
    if arch not in YOLO_ARCHS or spec.params.get("ultralytics"):
        return spec
    task = "obb" if arch == "yolov8-obb" else family if family in ("segment", "pose") else "detect"
    return yolo_spec(spec.name or "model", {}, task)


def family_check(spec: ModelSpec, family: str, name: str) -> None:
    """An Ultralytics model of another task, given to a family command: the command that runs it."""
    runs_it = {family, "detect"} if family == "track" else {family}
    if spec.params.get("ultralytics") and spec.family not in runs_it:
        raise DemoError(f"{name} is an Ultralytics {spec.params['task']} model",
                            f"run it with `ovdemo {spec.family}`")


def missing_export(path: Path) -> None:
    """A `..._openvino_model` folder that is not there: how to make it."""
    if path.name.endswith(EXPORT_SUFFIX):
        stem = path.name.removesuffix(EXPORT_SUFFIX)
        raise DemoError(f"Ultralytics export '{path}' not found", EXPORT_HINT.format(name=stem))


def name_hint(name: str) -> str | None:
    """What to do with a YOLO model name ovdemo has no file for (Ultralytics' models are not in Open Model Zoo)."""
    match = YOLO_NAME.fullmatch(name.removesuffix(".pt"))
    return EXPORT_HINT.format(name=name.removesuffix(".pt")) if match else None
