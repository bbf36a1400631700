"""The Open Model Zoo catalog (assets/catalog.json), the sample videos (assets/samples.json) and the cache.

Cache layout under OVDEMO_HOME (default ~/.cache/ovdemo) mirrors the OMZ downloader's output tree:
`models/intel/<name>/<PRECISION>/<name>.xml` (stages: `models/intel/<composite>/<stage>/...`), `samples/<file>`.
Public models keep their verified originals in `models/public/<name>/` and the IR converted from them in
`models/public/<name>/<PRECISION>/<name>.xml`, as omz_downloader and omz_converter laid them out.

OVDEMO_CATALOG names a JSON file in catalog.json's format whose models are added to (or replace) the catalog's:
models of one's own, or files on a private mirror.
"""

from __future__ import annotations

import difflib
import json
import os
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

from ..errors import DemoError
from ..settings import config_path, folder, ovdemo_home
from .fetch import RemoteFile, fetch, is_valid
from .specs import ASSETS

FALLBACK_PRECISIONS = ("FP16", "FP16-INT8", "FP32")  # tried in order after the one asked for
CONVERTED_PRECISIONS = ("FP16", "FP32")  # what a public model's conversion makes (weights compressed or not)
INTEL = "dldt"  # the framework of ready IR

SHARED = "shared"  # files key for aux files every precision needs


def models_cache() -> Path:
    return ovdemo_home() / "models"


def samples_cache() -> Path:
    return ovdemo_home() / "samples"


@dataclass(frozen=True)
class CatalogFile:
    path: str  # relative to the model's folder, e.g. FP16/x.xml
    size: int
    sha384: str | None  # None only for a legacy file known by its sha256 alone
    url: str
    sha256: str | None = None
    original_url: str | dict | None = None  # the authors' location when `url` is Open Model Zoo's copy


@dataclass(frozen=True)
class CatalogModel:
    name: str
    dir: str  # OMZ tree folder, e.g. intel/x or intel/<composite>/<stage>
    task: str
    description: str
    license: str
    inputs: tuple[dict, ...]
    demos: tuple[dict, ...]
    files: dict[str, tuple[CatalogFile, ...]]
    composite: str | None = None
    stages: tuple[str, ...] = ()
    framework: str = INTEL  # public models: tf, onnx, pytorch, mxnet, ... (their originals' framework)
    source: tuple[CatalogFile, ...] = ()  # public models: the original files, as downloaded
    code: tuple[CatalogFile, ...] = ()  # public models: Open Model Zoo's helper files their conversion runs
    conversion: dict = field(default_factory=dict)  # postprocessing, conversion_to_onnx_args, model_optimizer_args
    model_info: dict = field(default_factory=dict)
    legacy: str = ""  # why a model is no longer in Open Model Zoo

    @property
    def public(self) -> bool:
        return self.framework != INTEL

    @property
    def precisions(self) -> list[str]:
        if self.public:
            return [] if self.stages else list(CONVERTED_PRECISIONS)
        return [p for p in self.files if p != SHARED]

    def files_for(self, precision: str) -> list[CatalogFile]:
        return [*self.files.get(SHARED, ()), *self.files[precision]]

    def size(self, precision: str) -> int:
        return sum(f.size for f in self.files_for(precision))

    def xml_in(self, root: Path, precision: str) -> Path:
        return root / self.dir / precision / f"{self.name}.xml"


def _model(entry: dict) -> CatalogModel:
    files = {prec: tuple(CatalogFile(**f) for f in items) for prec, items in entry.get("files", {}).items()}
    return CatalogModel(
        name=entry["name"], dir=entry["dir"], task=entry["task"], description=entry.get("description", ""),
        license=entry.get("license", ""), inputs=tuple(entry.get("inputs", ())), demos=tuple(entry.get("demos", ())),
        files=files, composite=entry.get("composite"), stages=tuple(entry.get("stages", ())),
        framework=entry.get("framework", INTEL), source=tuple(CatalogFile(**f) for f in entry.get("source", ())),
        code=tuple(CatalogFile(**f) for f in entry.get("code", ())), conversion=entry.get("conversion", {}),
        model_info=entry.get("model_info", {}), legacy=entry.get("legacy", ""),
    )


def models() -> dict[str, CatalogModel]:
    """The catalog, with OVDEMO_CATALOG's models added (a model of the same name replaced)."""
    return _catalog(os.environ.get("OVDEMO_CATALOG") or None)


@cache
def _catalog(extra: str | None) -> dict[str, CatalogModel]:
    entries = json.loads((ASSETS / "catalog.json").read_text(encoding="utf-8"))["models"]
    if extra:
        try:
            entries = entries + json.loads(Path(extra).expanduser().read_text(encoding="utf-8"))["models"]
            return {entry["name"]: _model(entry) for entry in entries}
        except (OSError, ValueError, KeyError, TypeError) as e:
            raise DemoError(f"cannot read the catalog OVDEMO_CATALOG={extra}",
                            f"{e} (expected catalog.json's format: {{\"models\": [...]}})") from None
    return {entry["name"]: _model(entry) for entry in entries}


@cache
def families() -> dict[str, dict]:
    data = json.loads((ASSETS / "families.json").read_text(encoding="utf-8"))
    return {k: v for k, v in data.items() if not k.startswith("_")}


def close_names(name: str, names) -> list[str]:
    return difflib.get_close_matches(name, list(names), n=3, cutoff=0.6)


def unknown_name_hint(name: str) -> str:
    close = close_names(name, models())
    return f"did you mean {', '.join(close)}?" if close else "see `ovdemo models list`"


def get_model(name: str) -> CatalogModel:
    model = models().get(name)
    if model is None:
        raise DemoError(f"'{name}' is not an Open Model Zoo model in the catalog", unknown_name_hint(name))
    return model


def leaves(model: CatalogModel) -> list[CatalogModel]:
    """What holds files: the model itself, or each stage of a composite."""
    return [models()[s] for s in model.stages] if model.stages else [model]


def choose_precision(model: CatalogModel, wanted: str, strict: bool = False) -> str:
    """`wanted` if the model has it; else (unless strict) the first of FP16, FP16-INT8, FP32, else any it has."""
    available = model.precisions
    if wanted.upper() in available:
        return wanted.upper()
    if strict:
        raise DemoError(f"{model.name} has no {wanted} files", f"available: {', '.join(available)}")
    return next((p for p in FALLBACK_PRECISIONS if p in available), available[0])


def remote_files(model: CatalogModel, precision: str, root: Path | None = None) -> list[RemoteFile]:
    # .xml last: a present .xml then means its weights already landed, even for readers that skip the catalog
    files = sorted(model.files_for(precision), key=lambda f: f.path.endswith(".xml"))
    base = (root or models_cache()) / model.dir
    return [RemoteFile(f.url, base / f.path, f.size, f.sha384) for f in files]


def is_cached(model: CatalogModel, precision: str) -> bool:
    """The model's files at this precision are in the cache and verify (a public model: its converted IR, which
    lands .bin first and .xml last)."""
    if model.public:
        return model.xml_in(models_cache(), precision).is_file()
    return all(is_valid(f.dest, f.size, f.sha384) for f in remote_files(model, precision))


def cached_precisions(model: CatalogModel) -> list[str]:
    return [p for p in model.precisions if all(is_cached(leaf, p) for leaf in leaves(model) if p in leaf.precisions)]


def cached_xml(model: CatalogModel, wanted: str) -> Path | None:
    """The cached .xml of a leaf model at `wanted` precision or its fallbacks, if all its files verify."""
    for precision in dict.fromkeys([wanted.upper(), *FALLBACK_PRECISIONS, *model.precisions]):
        if precision in model.precisions and is_cached(model, precision):
            return model.xml_in(models_cache(), precision)
    return None


def plan(model: CatalogModel, wanted: str = "FP16", strict: bool = False) -> tuple[list[RemoteFile], list[Path]]:
    """The files a model needs in the cache (every stage of a composite) and each leaf's .xml."""
    files, xmls = [], []
    for leaf in leaves(model):
        precision = choose_precision(leaf, wanted, strict)
        files += remote_files(leaf, precision)
        xmls.append(leaf.xml_in(models_cache(), precision))
    return files, xmls


def models_elsewhere(what: str) -> str:
    """A failed download's other way out: a local models folder."""
    return (f"point --models-dir or OVDEMO_MODELS_DIR at a folder that holds {what} (or set models_dir in "
            f"{config_path()}, as make demo does)")


def download(model: CatalogModel, wanted: str = "FP16", strict: bool = False) -> list[Path]:
    """Fetch a model into the cache; returns each leaf's .xml."""
    files, xmls = plan(model, wanted, strict)
    fetch(files, model.name, models_elsewhere(model.name))
    return xmls


def download_command(name: str, precision: str = "FP16") -> str:
    return f"ovdemo models download {name}" + ("" if precision.upper() == "FP16" else f" --precision {precision}")


def cached_or_download(name: str, precision: str, offline: bool, searched: list[str]) -> Path:
    """`-m NAME` past the path and models-folder steps: the cache, else a download (unless offline)."""
    model = models().get(name)
    if model is None:
        where = f" in {', '.join(searched)}" if searched else ""
        raise DemoError(
            f"model '{name}' not found{where} and not in the Open Model Zoo catalog",
            f"{unknown_name_hint(name)} (or pass a path to a .xml/.onnx/.pb file, or set --models-dir)",
        )
    if model.stages:
        raise DemoError(f"{name} is a composite model", f"pass one of its stages: {', '.join(model.stages)}")
    found = cached_xml(model, precision)
    if found:
        return found
    if offline:
        raise DemoError(
            f"model '{name}' is not downloaded (looked in {', '.join([*searched, str(models_cache())])}) "
            "and --offline forbids fetching it",
            f"run `{download_command(name, precision)}` first, or drop --offline",
        )
    return download(model, precision)[0]


# --- sample videos ---------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Sample:
    name: str
    file: str
    size: int
    sha384: str
    url: str
    resolution: str = ""
    description: str = ""
    bundled: bool = False  # shipped in assets/ (drawn by ovdemo itself): never downloaded

    def remote(self) -> RemoteFile:
        return RemoteFile(self.url, samples_cache() / self.file, self.size, self.sha384)


@cache
def _samples_data() -> dict:
    return json.loads((ASSETS / "samples.json").read_text(encoding="utf-8"))


def samples() -> dict[str, Sample]:
    return {s["name"]: Sample(**s) for s in _samples_data()["samples"]}


def samples_attribution() -> str:
    return _samples_data()["attribution"]


def get_sample(name: str) -> Sample:
    by_name = samples()
    by_file = {s.file: s for s in by_name.values()}
    sample = by_name.get(name) or by_file.get(name)
    if sample is None:
        close = close_names(name, by_name)
        hint = f"did you mean {', '.join(close)}?" if close else "see `ovdemo samples list`"
        raise DemoError(f"'{name}' is not a known sample", hint)
    return sample


def local_sample(sample: Sample) -> Path | None:
    """A copy in OVDEMO_SAMPLES_DIR or the remembered samples folder (used as it is, matched by file name), else a
    verified cached copy; a bundled sample is where the package is."""
    if sample.bundled:
        return ASSETS / sample.file
    local = folder("samples_dir")
    if local is not None and (local / sample.file).is_file():
        return local / sample.file
    remote = sample.remote()
    return remote.dest if is_valid(remote.dest, remote.size, remote.sha384) else None


SAMPLE_SCHEME = "sample:"


def sample_for_input(spec: str, offline: bool = False) -> Path | None:
    """`-i sample:NAME`, or a bare sample name or file name (`car-detection`, `car-detection.mp4`) that is not
    a file: the sample's local path, downloaded first if needed. None when `spec` names no sample."""
    if spec.startswith(SAMPLE_SCHEME):
        return sample_path(spec[len(SAMPLE_SCHEME):], offline)
    by_name = samples()
    if spec not in by_name and spec not in {s.file for s in by_name.values()}:
        return None
    return sample_path(spec, offline)


def sample_path(name: str, offline: bool = False) -> Path:
    sample = get_sample(name)
    found = local_sample(sample)
    if found:
        return found
    if offline:
        raise DemoError(f"sample '{sample.name}' is not downloaded and --offline forbids fetching it",
                        f"run `ovdemo samples download {sample.name}` first, or set OVDEMO_SAMPLES_DIR "
                        f"(or samples_dir in {config_path()})")
    fetch([sample.remote()], sample.file, f"set OVDEMO_SAMPLES_DIR to a folder that holds {sample.file} (else "
          f"samples_dir in {config_path()}, as make demo does)")
    return sample.remote().dest
