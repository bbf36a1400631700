"""Resolving `-m NAME_OR_PATH` to a model file on disk: a path as given; a name from the models folder, the cache,
or the catalog (an Intel IR downloaded, a public model downloaded and converted)."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, replace
from pathlib import Path

from ..engine.inference import read_model
from ..errors import DemoError
from ..settings import folder
from . import ultralytics
from .catalog import FALLBACK_PRECISIONS, cached_or_download, choose_precision
from .catalog import models as catalog_models
from .convert import converted_spec, ensure_converted
from .remote_ref import DEFAULT_REMOTE_TIMEOUT, RemoteModelRef, is_remote, parse_ref
from .specs import ModelSpec, find_spec, spec_for_path

MODEL_SUFFIXES = (".xml", ".onnx", ".pb", ".tflite", ".pdmodel")


PRECISION_FOLDER = re.compile(r"(FP|INT)\d+(-INT\d+)?")  # FP16, FP16-INT8, FP32-INT1, ...


@dataclass(frozen=True)
class ResolvedModel:
    path: Path | None  # None for a model on a server
    name: str  # Open Model Zoo name when known, else the file stem (a server's model: its name there)
    spec: ModelSpec = None  # the model's spec; a blank one (family None) for models ovdemo does not know
    asked: str | None = None  # the precision asked for, when the model was looked up by name
    remote: RemoteModelRef | None = None  # a model on a KServe v2 server (-m grpc://..., -m http://...)

    def __post_init__(self):
        if self.spec is None:
            object.__setattr__(self, "spec", ModelSpec(name=self.name))

    @property
    def source(self) -> Path | RemoteModelRef:
        """What `inference.read_model` reads: the file, or the server's model."""
        return self.remote or self.path

    @property
    def precision(self) -> str | None:
        """The precision folder the file sits in (omz_downloader's layout), None for a file outside one."""
        if self.path is None:
            return None
        folder = self.path.parent.name.upper()
        return folder if PRECISION_FOLDER.fullmatch(folder) else None

    def describe(self) -> str:
        """`name (file, precision)`: what a run's header says it runs."""
        if self.remote is not None:
            return f"{self.name} ({self.remote.url})"
        return f"{self.name} ({', '.join(p for p in (self.path.name, self.precision) if p)})"

    @property
    def fallback(self) -> str | None:
        """A note when the precision found is not the one asked for."""
        if self.asked and self.precision and self.precision != self.asked.upper():
            return f"{self.name}: {self.asked.upper()} not found, using {self.precision}"
        return None


def looks_like_path(ref: str) -> bool:
    return ref.lower().endswith(MODEL_SUFFIXES) or os.sep in ref or "/" in ref


def models_dir_from_env(option: str | Path | None) -> Path | None:
    """--models-dir, else OVDEMO_MODELS_DIR, else the folder `make demo` remembered."""
    return folder("models_dir", option)


def precision_order(precision: str) -> list[str]:
    return list(dict.fromkeys([precision.upper(), *FALLBACK_PRECISIONS]))


def _bases(root: Path, name: str) -> list[Path]:
    """Where a model's folder may be: <root>/<name>, omz_downloader's <root>/{intel,public}/<name>, and a composite
    model's stage inside its composite (intel/<composite>/<stage>)."""
    bases = [root / name, root / "intel" / name, root / "public" / name]
    entry = catalog_models().get(name)
    if entry is not None and entry.dir not in (f"intel/{name}", f"public/{name}"):
        nested = Path(entry.dir)
        bases += [root / nested, root / Path(*nested.parts[1:])]
    return bases


def local_precisions(root: Path, name: str) -> dict[str, Path]:
    """The IRs of a model in a models folder, by precision."""
    found: dict[str, Path] = {}
    for base in _bases(root, name):
        if base.is_dir():
            for xml in sorted(base.glob(f"*/{name}.xml")):
                if PRECISION_FOLDER.fullmatch(xml.parent.name.upper()):
                    found.setdefault(xml.parent.name.upper(), xml)
    return found


def find_in_tree(root: Path, name: str, precision: str) -> Path | None:
    """Both layouts: <root>/<name>/<PREC>/<name>.xml and omz_downloader's <root>/{intel,public}/<name>/<PREC>/."""
    bases = _bases(root, name)
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


def spec_of(name: str, path: Path, spec: ModelSpec | None = None) -> ModelSpec | None:
    """The spec of a model file; for a public model's IR (converted by ovdemo or by omz_converter), without what
    its conversion built in (`converted_spec`)."""
    spec = spec or find_spec(name)
    entry = catalog_models().get(name)
    if path.suffix.lower() == ".xml" and entry is not None and entry.public:
        return converted_spec(spec, entry)
    return spec


def resolve_main(opts, family: str, decoders=None) -> ResolvedModel:
    """A family's main model (-m): a YOLO head named by --arch, or found by its outputs among the family's
    `decoders` in a file ovdemo knows nothing else of, brings Ultralytics' preprocessing; an Ultralytics model
    of another task is refused naming the command that runs it."""
    resolved = resolve_from_options(opts.model, opts)
    arch = opts.get("arch")
    if not arch and decoders and resolved.spec.family is None and resolved.path is not None:
        graph = read_model(resolved.path)
        arch = next((name for name, d in decoders.items() if d.fits(graph)), None)
    spec = ultralytics.with_arch(resolved.spec, arch, family)
    ultralytics.family_check(spec, family, resolved.name)
    return replace(resolved, spec=spec)


def resolve_from_options(ref: str, opts) -> ResolvedModel:
    """`-m` as the shared options ask: models folder, precision, offline, the model server's timeout."""
    return resolve_model(ref, models_dir_from_env(opts.models_dir), opts.precision, offline=opts.offline,
                         remote_timeout=opts.get("remote_timeout") or DEFAULT_REMOTE_TIMEOUT)


def resolve_model(ref: str, models_dir: Path | None = None, precision: str = "FP16",
                  offline: bool = False, remote_timeout: float = DEFAULT_REMOTE_TIMEOUT) -> ResolvedModel:
    """A URL names a model on a server (its spec found by the model's name there); a path is used as given;
    a name is looked up in the models folder, then the cache, then downloaded."""
    if is_remote(ref):
        remote = parse_ref(ref, remote_timeout)
        return ResolvedModel(None, remote.model, find_spec(remote.model), remote=remote)
    path = Path(ref).expanduser()
    if path.is_dir():  # a `yolo export format=openvino` folder
        path = ultralytics.export_folder_model(path)
    if path.is_file() or looks_like_path(ref):
        if not path.is_file():
            ultralytics.missing_export(path)
            raise DemoError(f"model file not found: {ref}", "check the path, or pass an Open Model Zoo name")
        if path.suffix.lower() not in MODEL_SUFFIXES:
            raise DemoError(
                f"'{ref}' is not a model file", f"expected one of {', '.join(MODEL_SUFFIXES)}"
            )
        spec = spec_for_path(path) or ultralytics.spec_for_file(path)
        name = spec.name if spec else path.stem
        return ResolvedModel(path, name, spec_of(name, path, spec))

    searched = []
    resolved = None
    if models_dir is not None:
        found = find_in_tree(models_dir, ref, precision)
        if found:
            resolved = ResolvedModel(found, ref, spec_of(ref, found))
        searched.append(str(models_dir))
    entry = catalog_models().get(ref)
    if resolved is None and entry is not None and entry.public and not entry.stages:
        xml = ensure_converted(entry, choose_precision(entry, precision), offline, searched)
        resolved = ResolvedModel(xml, ref, spec_of(ref, xml))
    hint = ultralytics.name_hint(ref)
    if resolved is None and hint and entry is None:  # Ultralytics' models are not Open Model Zoo's
        raise DemoError(f"'{ref}' is an Ultralytics model, not one of Open Model Zoo's", hint)
    if resolved is None:  # then the download cache, then a download
        resolved = ResolvedModel(cached_or_download(ref, precision, offline, searched), ref, find_spec(ref))
    return replace(resolved, asked=precision)
