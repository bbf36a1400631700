"""Model knowledge as data: per-model specs keyed by Open Model Zoo name (assets/models/<family>.toml)."""

from __future__ import annotations

import difflib
import fnmatch
import tomllib
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

from ..errors import DemoError

ASSETS = Path(__file__).resolve().parents[2] / "assets"


@dataclass(frozen=True)
class ModelSpec:
    """What a demo needs to know about a model beyond its graph."""

    name: str | None = None
    family: str | None = None  # demo family: detect, face, pose, ...
    decoder: str | None = None  # how its outputs are read, e.g. "ssd", "tf-od", "yolo-v2"
    labels: tuple[str, ...] | None = None
    threshold: float = 0.5
    iou: float = 0.5  # NMS overlap for decoders that need NMS
    color: str = "BGR"  # channel order the model expects
    layout: str | None = None  # input layout when the shape does not tell (e.g. "NCHW")
    mean: tuple[float, ...] | None = None
    scale: tuple[float, ...] | None = None
    resize: str = "stretch"  # how a frame meets the input: stretch to it, or "letterbox" (pad to its aspect ratio)
    params: dict = field(default_factory=dict)  # decoder-specific (anchors, masks, ...)


# The keys a spec entry may have besides ModelSpec's fields (and `labels`): its `params`, each with what reads it.
# A key nothing reads is a typo (`threshhold`, `roi_scal`): the spec file fails to load, naming it.
PARAMETERS: dict[str, str] = {
    # detectors (common/models/detector.py)
    "anchors": "YOLO v2/v3 anchor sizes", "masks": "YOLO v3 anchors per head", "single_class": "one-class detector",
    "anchor_scales": "RetinaFace anchors per stride", "min_sizes": "RetinaFace anchor sizes",
    "reid_threshold": "a re-id model's cosine distance for one identity (detect, face)",
    # second models (common/engine/second_stage.py, common/models/attributes.py)
    "stage": "the second-stage role a model is for", "output": "the output a reader or a decoder reads by name",
    "roi_scale": "crop growth around the object", "roi_square": "square crops", "roi_pad": "crop margin",
    "attributes": "an attribute model's outputs (a table per attribute)", "applies_to": "object classes it reads",
    # segmentation
    "colors": "class colours, RGB by class id",
    # pose (demos/pose/family.py, demos/pose/decoders.py)
    "stride": "what a reshaped input divides by", "size_divisor": "what a reshaped input divides by",
    "box_scale": "top-down crop growth", "original_color": "an ONNX original's channel order",
    "original_mean": "an ONNX original's mean", "original_scale": "an ONNX original's scale",
    # text (demos/text/decoders.py, demos/text/stages.py)
    "pixel_threshold": "PixelLink text pixels", "link_threshold": "PixelLink links", "min_area": "smallest word",
    "min_side": "shortest word side", "limit_side": "DB input's longest side", "bin_threshold": "DB binarisation",
    "unclip": "DB box growth", "max_candidates": "DB boxes considered", "alphabet": "recognizer characters",
    "alphabet_file": "recognizer characters file", "blank": "CTC blank's place", "sos": "start-of-text id",
    "eos": "end-of-text id", "max_length": "longest word decoded",
    # action (demos/action/family.py, demos/action/clip.py, demos/action/decoders.py)
    "mode": "how the model is run", "seq": "frames averaged", "crop": "centre crop fraction",
    "fps": "the clip's trained frame rate", "clip_layout": "the clip input's layout",
    "action_threshold": "below it, the default action", "default_action": "the action of an unsure person",
}
FIELDS = ("family", "decoder", "labels", "threshold", "iou", "color", "layout", "mean", "scale", "resize")
ATTRIBUTE_KEYS = ("output", "kind", "labels", "names", "scale", "unit", "alphabet")  # see common/models/attributes.py


def read_user_text(path: str | Path, what: str) -> str:
    """A text file the user gave (labels, colours, an alphabet): UTF-8, or one line saying it is not."""
    try:
        return Path(path).read_text(encoding="utf-8")
    except OSError as e:
        raise DemoError(f"cannot read {what} '{path}'", e.strerror or "check the path") from None
    except UnicodeDecodeError as e:
        raise DemoError(f"cannot read {what} '{path}': it is not UTF-8 text (byte 0x{e.object[e.start]:02x} at "
                        f"offset {e.start})", "save it with the UTF-8 encoding") from None


def load_labels(ref: str | Path) -> tuple[str, ...]:
    """Read a label list: one label per line. `ref` is a path or a file name in assets/labels."""
    path = Path(ref)
    if not path.exists() and not path.is_absolute() and (ASSETS / "labels" / path).exists():
        path = ASSETS / "labels" / path
    text = read_user_text(path, "labels file")
    return tuple(line.strip() for line in text.splitlines() if line.strip())


def read_spec_file(path: Path) -> dict[str, dict]:
    """One spec file's entries, each key checked: a key no field or parameter has is an error naming the file,
    the model, the key and the keys there are."""
    try:
        with open(path, "rb") as f:
            entries = tomllib.load(f)
    except tomllib.TOMLDecodeError as e:
        raise DemoError(f"spec file {path}: {e}", "fix its TOML") from None
    for name, entry in entries.items():
        if not isinstance(entry, dict):
            raise DemoError(f"spec file {path}: {name} is not a table", f"write it as [{name}] with its keys below")
        _check_keys(path, name, entry, (*FIELDS, *PARAMETERS), "keys")
        for attribute, table in (entry.get("attributes") or {}).items():
            _check_keys(path, f"{name} attribute {attribute}", table, ATTRIBUTE_KEYS, "attribute keys")
    return entries


def _check_keys(path: Path, where: str, entry: dict, known: tuple[str, ...], what: str) -> None:
    unknown = [key for key in entry if key not in known]
    if unknown:
        close = [f"{key}: did you mean {match[0]}?" for key in unknown
                 if (match := difflib.get_close_matches(key, known, n=1, cutoff=0.6))]
        guessed = f" ({'; '.join(close)})" if close else ""
        raise DemoError(f"spec file {path}: {where} has unknown key(s) {', '.join(unknown)}{guessed}",
                        f"{what} it may have: {', '.join(sorted(known))}")


@cache
def _table() -> dict[str, dict]:
    """All spec files merged, one file per demo family; a name may be specified once only."""
    table: dict[str, dict] = {}
    for path in sorted((ASSETS / "models").glob("*.toml")):
        entries = read_spec_file(path)
        twice = sorted(set(entries) & set(table))
        if twice:
            raise RuntimeError(f"{path.name} specifies {', '.join(twice)} again")
        table.update(entries)
    return table


def _build(name: str, entry: dict) -> ModelSpec:
    kwargs = {k: v for k, v in entry.items() if k in FIELDS and k != "labels"}
    for key in ("mean", "scale"):
        if key in kwargs:
            kwargs[key] = tuple(kwargs[key])
    labels = entry.get("labels")
    if isinstance(labels, str):
        labels = load_labels(labels)
    params = {k: v for k, v in entry.items() if k in PARAMETERS}
    return ModelSpec(name=name, labels=tuple(labels) if labels else None, params=params, **kwargs)


def find_spec(name: str) -> ModelSpec | None:
    """The spec for an Open Model Zoo name: an exact entry, else the first matching pattern entry."""
    table = _table()
    if name in table:
        return _build(name, table[name])
    for key, entry in table.items():
        if any(c in key for c in "*?[") and fnmatch.fnmatchcase(name, key):
            return _build(name, entry)
    return None


def spec_for_path(path: Path) -> ModelSpec | None:
    """A model file named like an Open Model Zoo model (or inside a folder so named) gets its spec."""
    for candidate in (path.stem, *(p.name for p in path.parents)):
        spec = find_spec(candidate)
        if spec is not None:
            return spec
    return None


def known_names(family: str | None = None) -> list[str]:
    return sorted(
        k for k, v in _table().items() if not any(c in k for c in "*?[") and (family in (None, v.get("family")))
    )
