"""Model knowledge as data: per-model specs keyed by Open Model Zoo name (assets/models/<family>.toml)."""

from __future__ import annotations

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


@cache
def _table() -> dict[str, dict]:
    """All spec files merged, one file per demo family; a name may be specified once only."""
    table: dict[str, dict] = {}
    for path in sorted((ASSETS / "models").glob("*.toml")):
        with open(path, "rb") as f:
            entries = tomllib.load(f)
        twice = sorted(set(entries) & set(table))
        if twice:
            raise RuntimeError(f"{path.name} specifies {', '.join(twice)} again")
        table.update(entries)
    return table


def _build(name: str, entry: dict) -> ModelSpec:
    known = {"family", "decoder", "threshold", "iou", "color", "layout", "mean", "scale", "resize"}
    kwargs = {k: v for k, v in entry.items() if k in known}
    for key in ("mean", "scale"):
        if key in kwargs:
            kwargs[key] = tuple(kwargs[key])
    labels = entry.get("labels")
    if isinstance(labels, str):
        labels = load_labels(labels)
    params = {k: v for k, v in entry.items() if k not in known and k != "labels"}
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
