"""`ovdemo models ...` and `ovdemo samples ...`: browse the Open Model Zoo catalog and fetch files by name."""

from __future__ import annotations

import fnmatch
from pathlib import Path

import click

from ..errors import DemoError
from ..options import help_group
from . import catalog
from .catalog import CatalogModel
from .convert import FRONT_ENDS, NO_FRONT_END, alternative, readiness
from .fetch import fetch
from .resolve import find_in_tree, local_precisions, models_dir_from_env, resolve_model
from .specs import find_spec

# what a task's models run in when ovdemo has no spec for them (a decoder must still fit their outputs)
TASK_FAMILIES = {"detection": "detect", "human_pose_estimation": "pose", "semantic_segmentation": "segment",
                 "instance_segmentation": "segment", "optical_character_recognition": "text",
                 "action_recognition": "action", "object_attributes": None, "face_recognition": None}
KIND_WORDS = {"ready": "IR", "convert": "converts", "extra": "needs torch", "impossible": "cannot convert"}

_OFFLINE = click.option("--offline", is_flag=True, envvar="OVDEMO_OFFLINE",
                        help="Never download: fail unless already on disk. [env OVDEMO_OFFLINE]")
_PRECISION = click.option("--precision", default="FP16", show_default=True,
                          help="FP16, FP16-INT8, FP32, ... (falls back to FP16, FP16-INT8, FP32 when missing).")


def _mb(size: int) -> str:
    return f"{size / 1e6:.1f} MB" if size >= 1e6 else f"{size / 1e3:.1f} kB"


def _line(key: str, value) -> None:
    click.echo(f"  {key + ':':<11} {value}")


def _demo_names(model: CatalogModel) -> set[str]:
    return {d["demo"] for d in model.demos}


def _matches_demo(model: CatalogModel, demo: str) -> bool:
    """An ovdemo family (its default models and the OMZ demos it covers), else part of an OMZ demo's name."""
    family = catalog.families().get(demo)
    if family is not None:
        return model.name in family.get("models", ()) or bool(_demo_names(model) & set(family.get("omz_demos", ())))
    return any(demo.replace("-", "_") in name for name in _demo_names(model))


@help_group(name="models")
def models_group():
    """The Open Model Zoo catalog: list, inspect and download models by name."""


def _framework(model: CatalogModel) -> str:
    """Where a model's files come from and what running it takes, in two words or three."""
    if not model.public:
        return "IR"
    name = FRONT_ENDS.get(model.framework) or NO_FRONT_END.get(model.framework, model.framework)
    return f"{name}, {KIND_WORDS[readiness(model).kind]}"


def on_disk(model: CatalogModel, root: Path | None) -> dict[str, str]:
    """Precision -> where it is: "local" (the models folder, used as it is) or "cache" (downloaded, verified)."""
    where = {p: "cache" for p in catalog.cached_precisions(model)}
    if root is not None:
        leaves = catalog.leaves(model)
        local = [local_precisions(root, leaf.name) for leaf in leaves]
        for precision in set().union(*local):
            if all(precision in found for found in local):
                where[precision] = "local"
        if not where and not model.stages and find_in_tree(root, model.name, "FP16"):
            where["source"] = "local"  # an original (.pb, .onnx) in the models folder, read as it is
    return where


def _family(model: CatalogModel) -> str:
    spec = find_spec(model.name)
    if spec is not None and spec.family:
        return f"ovdemo {spec.family}" + (f" ({spec.decoder} decoder)" if spec.decoder else "")
    family = TASK_FAMILIES.get(model.task)
    return f"ovdemo {family}, if a decoder fits its outputs (--arch)" if family else f"no ovdemo family ({model.task})"


_MODELS_DIR = click.option("--models-dir", type=click.Path(file_okay=False), envvar="OVDEMO_MODELS_DIR",
                           help="Also look for local copies here. [env OVDEMO_MODELS_DIR]")


def family_column(model: CatalogModel) -> str | None:
    """The ovdemo family that runs a model, as `models list` shows it: its spec's (`--classify` for attribute
    models, which run on any family's boxes), else its task's with a `?` (if a decoder fits its outputs), else
    None: no family runs it."""
    spec = find_spec(model.name)
    if spec is not None and spec.family:
        return "--classify" if spec.family == "classify" else spec.family
    family = TASK_FAMILIES.get(model.task)
    return f"{family}?" if family else None


LIST_HEADER = ("model", "family", "task", "format", "precisions (* on disk)", "where")


def print_columns(rows: list[tuple[str, ...]]) -> None:
    """Rows under a header, every column as wide as its widest cell (the last one as it is)."""
    widths = [max(len(row[k]) for row in rows) for k in range(len(rows[0]) - 1)]
    for row in rows:
        click.echo("  ".join([*(cell.ljust(w) for cell, w in zip(row, widths, strict=False)), row[-1]]).rstrip())


@models_group.command(name="list")
@click.option("--task", help="Only this task (a part of it matches: detection, segmentation, ...).")
@click.option("--demo", help="Only models an ovdemo family (detect, ...) or an OMZ demo (pose, text_spotting) uses.")
@click.option("--downloaded", is_flag=True, help="Only models on disk (in the models folder or the download cache), "
              "a family runs them or not.")
@click.option("--all", "every", is_flag=True, help="Also the models no ovdemo family runs (speech, translation, ...).")
@click.option("--names", "names_only", is_flag=True, help="Print names only, one per line.")
@_MODELS_DIR
def list_models(task, demo, downloaded, every, names_only, models_dir):
    """List catalog models an ovdemo family runs (--all, --downloaded: every one): name, family (`detect?`: its
    task's family, if a decoder fits its outputs), task, format (an IR, or an original ovdemo converts),
    precisions (* = on disk) and where they are (local: the models folder; cache: downloaded)."""
    root = models_dir_from_env(models_dir)
    rows, left_out = [LIST_HEADER], 0
    for model in catalog.models().values():
        if task and task.lower() not in model.task:
            continue
        if demo and not _matches_demo(model, demo):
            continue
        where = on_disk(model, root) if downloaded or not names_only else {}
        if downloaded and not where:
            continue
        family = family_column(model)
        if family is None and not (every or downloaded):  # (what is on disk is listed, run by a family or not)
            left_out += 1
            continue
        if names_only:
            click.echo(model.name)
            continue
        listed = dict.fromkeys([*model.precisions, *where])  # with what the models folder has beyond the catalog
        precs = " ".join(p + ("*" if p in where else "") for p in listed) or "(stages)"
        name = f"  {model.name}" if model.composite else model.name
        rows.append((name, family or "-", model.task, _framework(model), precs, ",".join(sorted(set(where.values())))))
    if len(rows) > 1:
        print_columns(rows)
    if len(rows) == 1 and not names_only:
        click.echo("no model matches", err=True)
    if left_out and not names_only:
        click.echo(f"({left_out} models no ovdemo family runs are not listed: --all lists them)", err=True)


@models_group.command(name="info")
@click.argument("name")
@_MODELS_DIR
def info(name, models_dir):
    """Task, framework and what running it takes, inputs, files and sizes, license, demos and local copies; for a
    model file or an export folder, what ovdemo takes it for."""
    if Path(name).expanduser().exists():
        from ovdemo.common.models.info import describe  # late: the families import this module's package

        for key, value in describe(name):
            _line(key, value)
        return
    model = catalog.get_model(name)
    public = "an Open Model Zoo public model (its authors' original, which ovdemo converts to IR)"
    click.echo(f"{model.name}: {model.description or public}")
    _line("task", model.task)
    if model.composite:
        _line("stage of", model.composite)
    if model.stages:
        _line("stages", ", ".join(model.stages))
    for leaf in catalog.leaves(model):
        ready = readiness(leaf)
        label = f" ({leaf.name})" if model.stages else ""
        if leaf.public:
            framework = FRONT_ENDS.get(leaf.framework) or NO_FRONT_END.get(leaf.framework, leaf.framework)
            _line(f"framework{label}", framework)
            _line(f"conversion{label}", f"{'not possible: ' if ready.kind == 'impossible' else 'needs '}{ready.needs}")
            if ready.kind == "impossible":
                _line("instead", alternative(leaf))
            for note in ready.notes:
                _line("note", note)
    _line("runs in", _family(model))
    _line("license", model.license)
    if model.legacy:
        _line("legacy", model.legacy)
    for leaf in catalog.leaves(model):
        label = f" ({leaf.name})" if model.stages else ""
        for inp in leaf.inputs:
            _line(f"input{label}", f"{inp['name']} {inp.get('shape')} {inp.get('layout') or ''}".rstrip())
    for leaf in catalog.leaves(model):
        for f in (*leaf.source, *leaf.code):
            origin = " (Open Model Zoo's own)" if f in leaf.code else ""
            _line("file", f"{f.path}{origin}  {_mb(f.size)}  {f.url}")
    if not model.public:
        for precision in dict.fromkeys(p for leaf in catalog.leaves(model) for p in leaf.precisions):
            size = sum(leaf.size(precision) for leaf in catalog.leaves(model) if precision in leaf.files)
            click.echo(f"  {precision:<10}  {_mb(size)}")
    for d in model.demos:
        variant = "".join(f" {k}={d[k]}" for k in ("at", "mode", "decoder_type") if k in d)
        click.echo(f"  demo:       {d['demo']} ({', '.join(d['langs'])}){variant}")
    root = models_dir_from_env(models_dir)
    for leaf in catalog.leaves(model):
        for precision in leaf.precisions:
            if catalog.is_cached(leaf, precision):
                _line("converted" if leaf.public else "cached", leaf.xml_in(catalog.models_cache(), precision))
        local = list(local_precisions(root, leaf.name).values()) if root else []
        original = find_in_tree(root, leaf.name, "FP16") if root and not local else None
        for xml in local:
            _line("local", xml)
        if original is not None:
            _line("local", f"{original} (read as it is)")


@models_group.command(name="download")
@click.argument("names", nargs=-1)
@click.option("--for", "family", metavar="FAMILY", help="Everything a demo family's defaults need (detect, ...).")
@click.option("--precision", default=None,
              help="FP16 (default, falls back to FP16-INT8/FP32), FP16-INT8, FP32, ... or 'all'.")
@_MODELS_DIR
def download(names, family, precision, models_dir):
    """Download models (every stage of a composite) into the cache, verified by size and sha384; public models are
    converted to IR. With --for, what the models folder already holds is used as it is."""
    wanted = list(names)
    root = models_dir_from_env(models_dir)
    if family:
        known = catalog.families()
        if family not in known:
            raise DemoError(f"unknown demo family '{family}'", f"known: {', '.join(sorted(known))}")
        for name in known[family]["models"]:
            leaves = catalog.leaves(catalog.get_model(name))
            local = [find_in_tree(root, leaf.name, precision or "FP16") for leaf in leaves] if root else []
            if local and all(local):
                click.echo(f"{name}: in the models folder, {', '.join(str(p) for p in local)}", err=True)
            else:
                wanted.append(name)
        if not wanted:
            return
    if not wanted:
        raise click.UsageError("name at least one model, or use --for FAMILY")
    every = precision is not None and precision.lower() == "all"
    files, xmls = [], []
    for name in dict.fromkeys(wanted):
        model = catalog.get_model(name)
        if model.public:
            for leaf in catalog.leaves(model):
                for wanted_precision in leaf.precisions if every else [precision or "FP16"]:
                    xmls.append(resolve_model(leaf.name, None, wanted_precision).path)
            continue
        if every:
            chosen = dict.fromkeys(p for leaf in catalog.leaves(model) for p in leaf.precisions)
        else:
            chosen = [precision or "FP16"]
        for wanted_precision in chosen:
            more_files, more_xmls = catalog.plan(model, wanted_precision, strict=precision is not None and not every)
            files += more_files
            xmls += more_xmls
    names_fetched = [n for n in dict.fromkeys(wanted) if not catalog.get_model(n).public]
    label = names_fetched[0] if len(names_fetched) == 1 else f"{len(names_fetched)} models"
    fetch(list({f.dest: f for f in files}.values()), label, catalog.models_elsewhere(", ".join(names_fetched)))
    for xml in dict.fromkeys(xmls):
        click.echo(xml)


@models_group.command(name="path")
@click.argument("name")
@_PRECISION
@_OFFLINE
@click.option("--models-dir", type=click.Path(file_okay=False), envvar="OVDEMO_MODELS_DIR",
              help="Look here first, as `-m` does. [env OVDEMO_MODELS_DIR]")
def path(name, precision, offline, models_dir):
    """Print the .xml path `-m NAME` would use (downloading it first unless --offline)."""
    model = catalog.models().get(name)
    stages = model.stages if model and model.stages else (name,)
    for stage in stages:
        click.echo(resolve_model(stage, models_dir_from_env(models_dir), precision, offline=offline).path)


@help_group(name="samples")
def samples_group():
    """Intel sample videos (intel-iot-devkit/sample-videos, CC-BY-4.0), fetched and verified like models, and
    text-sample.png, a picture of signs that ships with ovdemo."""


@samples_group.command(name="list")
@click.argument("pattern", required=False)
def list_samples(pattern):
    """List the samples (* = on disk)."""
    for sample in catalog.samples().values():
        if pattern and not fnmatch.fnmatch(sample.name, f"*{pattern}*"):
            continue
        mark = "*" if catalog.local_sample(sample) else " "
        click.echo(f"{mark} {sample.name:<50} {_mb(sample.size):>8}  {sample.resolution:<9}  {sample.description}")
    click.echo(catalog.samples_attribution(), err=True)


@samples_group.command(name="download")
@click.argument("names", nargs=-1, required=True)
def download_samples(names):
    """Download sample videos into the cache (kept as they are if OVDEMO_SAMPLES_DIR has them)."""
    for name in names:
        click.echo(catalog.sample_path(name))


@samples_group.command(name="path")
@click.argument("name")
@_OFFLINE
def sample_path(name, offline):
    """Print a sample's local path (downloading it first unless --offline)."""
    click.echo(catalog.sample_path(name, offline=offline))


# Shown under "Examples:" in each command's --help (every one runs as written: tests/pipeline/test_examples.py).
EXAMPLES: dict[str, tuple[str, ...]] = {
    "models": (
        "ovdemo models list --task detection",
        "ovdemo models info person-detection-0202",
        "ovdemo models download --for face",
        "ovdemo models path person-detection-0202",
    ),
    "models list": (
        "ovdemo models list --demo pose",
        "ovdemo models list --task segmentation --names",
        "ovdemo models list --downloaded",
    ),
    "models info": ("ovdemo models info face-detection-retail-0004",),
    "models download": (
        "ovdemo models download face-detection-retail-0004 landmarks-regression-retail-0009",
        "ovdemo models download --for detect",
        "ovdemo models download person-detection-0202 --precision all",
    ),
    "models path": (
        "ovdemo models path person-detection-0202",
        "ovdemo models path vehicle-detection-adas-0002 --precision FP16 --offline",
    ),
    "samples": (
        "ovdemo samples list",
        "ovdemo samples path car-detection",
        "ovdemo detect -i sample:car-detection",
    ),
    "samples list": ("ovdemo samples list person",),
    "samples download": ("ovdemo samples download car-detection one-by-one-person-detection",),
    "samples path": ("ovdemo samples path car-detection --offline",),
}
