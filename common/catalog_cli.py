"""`ovdemo models ...` and `ovdemo samples ...`: browse the Open Model Zoo catalog and fetch files by name."""

from __future__ import annotations

import fnmatch

import click

from . import catalog
from .catalog import CatalogModel
from .errors import DemoError
from .fetch import fetch
from .models import models_dir_from_env, resolve_model

_OFFLINE = click.option("--offline", is_flag=True, envvar="OVDEMO_OFFLINE",
                        help="Never download: fail unless already on disk. [env OVDEMO_OFFLINE]")
_PRECISION = click.option("--precision", default="FP16", show_default=True,
                          help="FP16, FP16-INT8, FP32, ... (falls back to FP16, FP16-INT8, FP32 when missing).")


def _mb(size: int) -> str:
    return f"{size / 1e6:.1f} MB"


def _demo_names(model: CatalogModel) -> set[str]:
    return {d["demo"] for d in model.demos}


def _matches_demo(model: CatalogModel, demo: str) -> bool:
    """An ovdemo family (its default models and the OMZ demos it covers), else part of an OMZ demo's name."""
    family = catalog.families().get(demo)
    if family is not None:
        return model.name in family.get("models", ()) or bool(_demo_names(model) & set(family.get("omz_demos", ())))
    return any(demo.replace("-", "_") in name for name in _demo_names(model))


@click.group(name="models")
def models_group():
    """The Open Model Zoo catalog: list, inspect and download models by name."""


@models_group.command(name="list")
@click.option("--task", help="Only this task (a part of it matches: detection, segmentation, ...).")
@click.option("--demo", help="Only models an ovdemo family (detect, ...) or an OMZ demo (pose, text_spotting) uses.")
@click.option("--downloaded", is_flag=True, help="Only models in the download cache.")
@click.option("--names", "names_only", is_flag=True, help="Print names only, one per line.")
def list_models(task, demo, downloaded, names_only):
    """List catalog models: name, task, precisions (* = downloaded)."""
    shown = 0
    for model in catalog.models().values():
        if task and task.lower() not in model.task:
            continue
        if demo and not _matches_demo(model, demo):
            continue
        cached = catalog.cached_precisions(model) if downloaded or not names_only else []
        if downloaded and not cached:
            continue
        shown += 1
        if names_only:
            click.echo(model.name)
            continue
        precs = " ".join(p + ("*" if p in cached else "") for p in model.precisions) or "(stages)"
        name = f"  {model.name}" if model.composite else model.name
        click.echo(f"{name:<58} {model.task:<30} {precs}")
    if not shown and not names_only:
        click.echo("no model matches", err=True)


@models_group.command(name="info")
@click.argument("name")
@click.option("--models-dir", type=click.Path(file_okay=False), envvar="OVDEMO_MODELS_DIR",
              help="Also look for local copies here. [env OVDEMO_MODELS_DIR]")
def info(name, models_dir):
    """Task, inputs, precisions and sizes, license, demos and local copies of a model."""
    model = catalog.get_model(name)
    click.echo(f"{model.name}: {model.description}")
    click.echo(f"  task:       {model.task}")
    if model.composite:
        click.echo(f"  stage of:   {model.composite}")
    if model.stages:
        click.echo(f"  stages:     {', '.join(model.stages)}")
    click.echo(f"  license:    {model.license}")
    for leaf in catalog.leaves(model):
        label = f" ({leaf.name})" if model.stages else ""
        for inp in leaf.inputs:
            click.echo(f"  input{label}: {inp['name']} {inp.get('shape')} {inp.get('layout') or ''}".rstrip())
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
                click.echo(f"  cached:     {leaf.xml_in(catalog.models_cache(), precision)}")
            for local in (root / leaf.name, root / leaf.dir) if root else ():
                xml = local / precision / f"{leaf.name}.xml"
                if xml.is_file():
                    click.echo(f"  local:      {xml}")


@models_group.command(name="download")
@click.argument("names", nargs=-1)
@click.option("--for", "family", metavar="FAMILY", help="Everything a demo family's defaults need (detect, ...).")
@click.option("--precision", default=None,
              help="FP16 (default, falls back to FP16-INT8/FP32), FP16-INT8, FP32, ... or 'all'.")
def download(names, family, precision):
    """Download models (every stage of a composite) into the cache, verified by size and sha384."""
    wanted = list(names)
    if family:
        known = catalog.families()
        if family not in known:
            raise DemoError(f"unknown demo family '{family}'", f"known: {', '.join(sorted(known))}")
        wanted += known[family]["models"]
    if not wanted:
        raise click.UsageError("name at least one model, or use --for FAMILY")
    every = precision is not None and precision.lower() == "all"
    files, xmls = [], []
    for name in dict.fromkeys(wanted):
        model = catalog.get_model(name)
        if every:
            chosen = dict.fromkeys(p for leaf in catalog.leaves(model) for p in leaf.precisions)
        else:
            chosen = [precision or "FP16"]
        for wanted_precision in chosen:
            more_files, more_xmls = catalog.plan(model, wanted_precision, strict=precision is not None and not every)
            files += more_files
            xmls += more_xmls
    fetch(list({f.dest: f for f in files}.values()), ", ".join(dict.fromkeys(wanted)))  # one overall bar
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


@click.group(name="samples")
def samples_group():
    """Intel sample videos (intel-iot-devkit/sample-videos, CC-BY-4.0), fetched and verified like models."""


@samples_group.command(name="list")
@click.argument("pattern", required=False)
def list_samples(pattern):
    """List sample videos (* = on disk)."""
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


# Shown under "Examples:" in each command's --help (every one runs as written: tests/test_examples.py).
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
