"""Resolving `-m NAME_OR_PATH` to a model file on disk."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from .catalog import FALLBACK_PRECISIONS, cached_or_download
from .catalog import models as catalog_models
from .errors import DemoError
from .specs import ModelSpec, find_spec, spec_for_path

MODEL_SUFFIXES = (".xml", ".onnx", ".pb", ".tflite", ".pdmodel")


@dataclass(frozen=True)
class ResolvedModel:
    path: Path
    name: str  # Open Model Zoo name when known, else the file stem
    spec: ModelSpec = None  # the model's spec; a blank one (family None) for models ovdemo does not know

    def __post_init__(self):
        if self.spec is None:
            object.__setattr__(self, "spec", ModelSpec(name=self.name))


def looks_like_path(ref: str) -> bool:
    return ref.lower().endswith(MODEL_SUFFIXES) or os.sep in ref or "/" in ref


def models_dir_from_env(option: str | Path | None) -> Path | None:
    value = option or os.environ.get("OVDEMO_MODELS_DIR")
    return Path(value).expanduser() if value else None


def precision_order(precision: str) -> list[str]:
    return list(dict.fromkeys([precision.upper(), *FALLBACK_PRECISIONS]))


def find_in_tree(root: Path, name: str, precision: str) -> Path | None:
    """Both layouts: <root>/<name>/<PREC>/<name>.xml and omz_downloader's <root>/{intel,public}/<name>/<PREC>/,
    where a composite model's stages sit inside their composite (intel/<composite>/<stage>/<PREC>/)."""
    bases = [root / name, root / "intel" / name, root / "public" / name]
    entry = catalog_models().get(name)
    if entry is not None and entry.dir not in (f"intel/{name}", f"public/{name}"):
        nested = Path(entry.dir)
        bases += [root / nested, root / Path(*nested.parts[1:])]
    for prec in precision_order(precision):
        for base in bases:
            xml = base / prec / f"{name}.xml"
            if xml.is_file():
                return xml
    # Models that ship in their source format (e.g. a TensorFlow .pb or an ONNX file) without precisions.
    for base in bases:
        if base.is_dir():
            files = sorted(p for p in base.rglob("*") if p.suffix.lower() in MODEL_SUFFIXES and p.is_file())
            if len(files) == 1:
                return files[0]
    return None


def resolve_from_options(ref: str, opts) -> ResolvedModel:
    """`-m` as the shared options ask: models folder, precision, offline."""
    return resolve_model(ref, models_dir_from_env(opts.models_dir), opts.precision, offline=opts.offline)


def resolve_model(ref: str, models_dir: Path | None = None, precision: str = "FP16",
                  offline: bool = False) -> ResolvedModel:
    """A path is used as given; a name is looked up in the models folder, then the cache, then downloaded."""
    path = Path(ref).expanduser()
    if path.is_file() or looks_like_path(ref):
        if not path.is_file():
            raise DemoError(f"model file not found: {ref}", "check the path, or pass an Open Model Zoo name")
        if path.suffix.lower() not in MODEL_SUFFIXES:
            raise DemoError(
                f"'{ref}' is not a model file", f"expected one of {', '.join(MODEL_SUFFIXES)}"
            )
        spec = spec_for_path(path)
        return ResolvedModel(path, spec.name if spec else path.stem, spec)

    searched = []
    if models_dir is not None:
        found = find_in_tree(models_dir, ref, precision)
        if found:
            return ResolvedModel(found, ref, find_spec(ref))
        searched.append(str(models_dir))
    # then the download cache, then a download
    return ResolvedModel(cached_or_download(ref, precision, offline, searched), ref, find_spec(ref))
