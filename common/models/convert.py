"""Open Model Zoo's public models by name: their originals fetched and verified like every other file, then
converted to OpenVINO IR with `openvino.convert_model`, as omz_converter once did with the Model Optimizer.

The steps follow each model's own facts in the catalog: Open Model Zoo's postprocessing of the download (unpack an
archive, patch a source file), its `pre-convert.py`, its PyTorch export arguments (run by `convert_torch` when
torch is installed) and its Model Optimizer arguments, translated: input names, shapes and layouts; outputs;
and reverse channels, mean and scale embedded as preprocessing, so that the IR takes BGR 0..255 like an Intel
model. The originals stay untouched in `<cache>/public/<name>/` (they verify on the next run); the work happens in
a scratch folder beside them; the IR lands .bin first and .xml last, so a present .xml is a whole model, and the
next run starts at once. Model Optimizer options with no equivalent today (`--transformations_config`) are left
out, and `ovdemo models info` says so; formats with no front end (MXNet, Caffe) fail in one line saying what to
do instead.
"""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import string
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, replace
from pathlib import Path

import openvino as ov
from openvino.preprocess import PrePostProcessor

from ..console import console
from ..engine.runtime import first_error_line
from ..errors import DemoError
from .catalog import CatalogModel, models, models_cache, models_elsewhere
from .fetch import RemoteFile, _locked, fetch
from .specs import ModelSpec

FRONT_ENDS = {"tf": "TensorFlow", "onnx": "ONNX", "paddle": "PaddlePaddle", "tflite": "TensorFlow Lite",
              "pytorch": "PyTorch"}
NO_FRONT_END = {"mxnet": "MXNet", "caffe": "Caffe", "caffe2": "Caffe2", "kaldi": "Kaldi"}
TORCH_EXTRA = "pip install 'ovdemo[convert]'"
CONFIG = "omz_config"  # Open Model Zoo's helper files of a model, where its `$config_dir` points
UNSUPPORTED_MO = {"--freeze_placeholder_with_value": "freezing an input to a value"}


@dataclass(frozen=True)
class Readiness:
    """What running a catalog model takes: `kind` ready (an Intel IR), convert (a front end is here), extra (a
    Python package is missing) or impossible; `needs` says it in a phrase, `notes` what conversion leaves out."""

    kind: str
    needs: str
    notes: tuple[str, ...] = ()


def mo_args(model: CatalogModel) -> dict[str, list[str]]:
    """The Model Optimizer arguments as flag -> values (a flag given twice keeps both)."""
    parsed: dict[str, list[str]] = {}
    for arg in model.conversion.get("model_optimizer_args", ()):
        flag, _, value = arg.partition("=")
        parsed.setdefault(flag, []).append(value)
    return parsed


def readiness(model: CatalogModel) -> Readiness:
    if not model.public:
        return Readiness("ready", "nothing: an OpenVINO IR")
    args = mo_args(model)
    if model.framework in NO_FRONT_END:
        why = f"OpenVINO {ov.get_version().split('-')[0]} has no {NO_FRONT_END[model.framework]} front end"
        if any(f.sha384 is None for f in model.source):
            why += " (and its original file is gone: a dead URL, known only by its sha256)"
        return Readiness("impossible", why)
    unsupported = [what for flag, what in UNSUPPORTED_MO.items() if flag in args]
    if unsupported:
        return Readiness("impossible", f"its conversion needs {', '.join(unsupported)}, which openvino.convert_model "
                                       "cannot do")
    notes = [f"Model Optimizer's {Path(v).name} has no equivalent: the model keeps its original outputs"
             for v in args.get("--transformations_config", ())]
    if any(f.path.endswith("pre-convert.py") for f in model.code):
        notes.append("runs Open Model Zoo's pre-convert.py, which needs the packages it imports (e.g. tensorflow)")
    if model.conversion.get("conversion_to_onnx_args"):
        if importlib.util.find_spec("torch") is None:
            return Readiness("extra", f"torch, which is not installed: {TORCH_EXTRA}", tuple(notes))
        return Readiness("convert", "torch (installed) and OpenVINO's PyTorch front end", tuple(notes))
    return Readiness("convert", f"OpenVINO's {FRONT_ENDS.get(model.framework, model.framework)} front end",
                     tuple(notes))


def converted_spec(spec: ModelSpec | None, model: CatalogModel) -> ModelSpec | None:
    """A spec as it applies to the model's IR (ovdemo's or omz_converter's): what the Model Optimizer arguments
    built in no longer applies. Reversed channels mean the IR takes BGR (a spec saying RGB described the
    original, e.g. a TensorFlow graph read directly); embedded mean and scale replace the spec's."""
    if spec is None:
        return None
    args = mo_args(model)
    changes: dict = {"color": "BGR"} if "--reverse_input_channels" in args else {}
    if {"--mean_values", "--scale_values", "--scale"} & set(args):
        changes.update(mean=None, scale=None)
    return replace(spec, **changes)


def model_dir(model: CatalogModel) -> Path:
    return models_cache() / model.dir


def source_files(model: CatalogModel) -> list[RemoteFile]:
    """The originals and Open Model Zoo's helper files, each verified by size and sha384."""
    base = model_dir(model)
    return [*(RemoteFile(f.url, base / f.path, f.size, f.sha384) for f in model.source),
            *(RemoteFile(f.url, base / CONFIG / f.path, f.size, f.sha384) for f in model.code)]


class ConversionError(DemoError):
    """One line: the model, the step that failed and why; by default, what to do instead."""

    def __init__(self, model: CatalogModel, step: str, reason: str, hint: str | None = None):
        super().__init__(f"cannot convert {model.name}: {step}: {reason}",
                         hint or "pass an IR converted elsewhere with -m path/to/model.xml")


def ensure_converted(model: CatalogModel, precision: str, offline: bool, searched: list[str]) -> Path:
    """The IR of a public model at FP16 or FP32: from the cache, else downloaded (unless offline) and converted."""
    xml = model.xml_in(models_cache(), precision)
    if xml.is_file():
        return xml
    ready = readiness(model)
    if ready.kind == "impossible":
        framework = NO_FRONT_END.get(model.framework) or FRONT_ENDS.get(model.framework, model.framework)
        raise DemoError(f"cannot convert {model.name}: its original is {framework}, and {ready.needs}",
                        alternative(model))
    if ready.kind == "extra":
        raise DemoError(f"cannot convert {model.name}: its PyTorch export needs torch, which is not installed",
                        f"{TORCH_EXTRA}, or pass an IR converted elsewhere with -m path/to/model.xml")
    if offline:
        looked = ", ".join([*searched, str(model_dir(model))])
        raise DemoError(f"model '{model.name}' is not converted yet (looked in {looked}) and --offline forbids "
                        "fetching its originals", f"run `ovdemo models download {model.name}` first, or drop --offline")
    fetch(source_files(model), model.name, models_elsewhere(model.name))
    xml.parent.mkdir(parents=True, exist_ok=True)
    with _locked(xml, lambda: console.print(f"waiting for another ovdemo converting {model.name}")):
        if not xml.is_file():  # another process may have converted it while we waited
            convert(model, precision, xml)
    return xml


def alternative(model: CatalogModel) -> str:
    """What to run instead of a model ovdemo cannot convert."""
    successor = f"{model.name}-pytorch"
    other = f"use {successor}, or " if successor in models() else ""
    return f"{other}pass an IR converted elsewhere with -m path/to/model.xml"


def convert(model: CatalogModel, precision: str, xml: Path) -> None:
    """Convert the verified originals to `xml` (FP16: weights compressed), through a scratch folder."""
    started = time.perf_counter()
    framework = FRONT_ENDS.get(model.framework, model.framework)
    console.print(f"converting {model.name} ({framework}) to OpenVINO IR {precision}")
    scratch = Path(tempfile.mkdtemp(prefix=".convert-", dir=model_dir(model)))
    try:
        places = {"dl_dir": scratch / "dl", "conv_dir": scratch / "conv", "config_dir": model_dir(model) / CONFIG,
                  "mo_dir": scratch / "no-model-optimizer", "mo_ext_dir": scratch / "no-model-optimizer"}
        places["conv_dir"].mkdir()
        _stage_downloads(model, places["dl_dir"])
        _pre_convert(model, places)
        ir = _to_openvino(model, places)
        ir = _with_preprocessing(model, ir)
        for key, value in model.model_info.items():
            ir.set_rt_info(value, ["model_info", key])
        out = scratch / precision / xml.name
        try:
            ov.save_model(ir, out, compress_to_fp16=precision.upper().startswith("FP16"))
        except Exception as e:
            raise ConversionError(model, "saving the IR", first_error_line(e)) from None
        os.replace(out.with_suffix(".bin"), xml.with_suffix(".bin"))
        os.replace(out, xml)  # last: a present .xml is a whole model
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    console.print(f"converted {model.name} in {time.perf_counter() - started:.1f} s: {xml}")


def _stage_downloads(model: CatalogModel, dl: Path) -> None:
    """The originals, as Open Model Zoo's downloader left them after its postprocessing (archives unpacked and
    removed, sources patched), in a scratch folder: the verified downloads themselves are never changed."""
    base = model_dir(model)
    for f in model.source:
        dest = dl / f.path
        dest.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.link(base / f.path, dest)
        except OSError:
            shutil.copyfile(base / f.path, dest)
    for step in model.conversion.get("postprocessing", ()):
        target = dl / step["file"]
        try:
            if step["$type"] == "unpack_archive":
                safe = {} if step["format"] == "zip" else {"filter": "data"}  # (zipfile keeps paths inside itself)
                shutil.unpack_archive(target, target.parent, step["format"], **safe)
                target.unlink()
            elif step["$type"] == "regex_replace":
                text, count = re.subn(step["pattern"], step["replacement"], target.read_text(encoding="utf-8"),
                                      count=step.get("count", 0))
                if not count:
                    raise ValueError(f"no match for {step['pattern']!r}")
                target.unlink()  # a hard link to the verified download: write a new file, never through it
                target.write_text(text, encoding="utf-8")
        except (OSError, ValueError, shutil.ReadError) as e:
            raise ConversionError(model, f"{step['$type']} {step['file']}", str(e)) from None


def _pre_convert(model: CatalogModel, places: dict[str, Path]) -> None:
    """Open Model Zoo's pre-convert.py, when the model has one: `pre-convert.py DL_DIR CONV_DIR`."""
    script = places["config_dir"] / "pre-convert.py"
    if script.is_file():
        _run(model, "pre-convert.py", [sys.executable, str(script), str(places["dl_dir"]), str(places["conv_dir"])])


def _run(model: CatalogModel, step: str, command: list[str]) -> None:
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode:
        lines = [ln.strip() for ln in done.stderr.splitlines() if ln.strip()] or [f"exit code {done.returncode}"]
        missing = re.search(r"No module named '([\w.]+)'", done.stderr)
        if missing:
            package = missing.group(1).split(".")[0]
            raise ConversionError(model, step, f"needs the Python package '{package}'",
                                  f"pip install {package}, or pass an IR converted elsewhere with -m path/to/model.xml")
        raise ConversionError(model, step, lines[-1])


def _expand(values: list[str], places: dict[str, Path]) -> list[str]:
    return [string.Template(v).safe_substitute({k: str(p) for k, p in places.items()}) for v in values]


def _to_openvino(model: CatalogModel, places: dict[str, Path]) -> ov.Model:
    """The original as an ov.Model with the inputs (names, shapes) and outputs Open Model Zoo's conversion gave."""
    args = {flag: _expand(values, places) for flag, values in mo_args(model).items()}
    shapes = _input_shapes(model, args)
    outputs = [n for v in args.get("--output", ()) for n in v.split(",") if n]
    if "--transformations_config" in args:
        outputs = []  # named after Model Optimizer's rewrite of the graph, which no longer exists
    torch_args = model.conversion.get("conversion_to_onnx_args")
    if torch_args:
        raw = places["conv_dir"] / "pytorch.xml"
        _run(model, "PyTorch export", [sys.executable, "-m", "ovdemo.common.models.convert_torch", str(raw),
                                       *_expand(torch_args, places)])
        step, load = "reading the PyTorch export", lambda: _keep_outputs(model, ov.Core().read_model(raw), outputs)
    else:
        source = (args.get("--input_model") or args.get("--saved_model_dir") or args.get("--input_meta_graph")
                  or args.get("--input_meta") or [None])[0]
        if source is None or not Path(source).exists():
            raise ConversionError(model, "finding the original", f"no model file at {source}")
        if model.framework == "tf" and "--saved_model_dir" not in args:  # a graph's tensors are named op:port
            outputs = [n if ":" in n else f"{n}:0" for n in outputs]
        step = f"openvino.convert_model of {Path(source).name}"

        def load():
            return ov.convert_model(source, output=outputs or None)
    try:
        ir = load()
        if shapes:
            ir.reshape({_port(ir, name): ov.PartialShape(shape) for name, shape in shapes})
        return ir
    except ConversionError:
        raise
    except Exception as e:
        raise ConversionError(model, step, first_error_line(e)) from None


def _port(ir: ov.Model, name: str) -> ov.Output:
    """An input by its name as Open Model Zoo wrote it (TensorFlow's tensors add a ':0')."""
    for port in ir.inputs:
        if name in {n.split(":")[0] for n in port.get_names()} | port.get_names():
            return port
    raise ValueError(f"no input named {name}; the model has {', '.join(i.get_any_name() for i in ir.inputs)}")


def _input_shapes(model: CatalogModel, args: dict[str, list[str]]) -> list[tuple[str, list[int]]]:
    """(name, shape) of every input: the catalog's input_info (omz_converter passed it last, so it won), else the
    Model Optimizer's --input/--input_shape."""
    known = [(i["name"], i["shape"]) for i in model.inputs if i.get("shape")]
    if known:
        return known
    names = [n for v in args.get("--input", ()) for n in v.split(",") if n]
    shapes = [[int(d) for d in s.split(",")] for v in args.get("--input_shape", ())
              for s in re.findall(r"\[([\d,\s]+)\]", v)]
    return list(zip(names, shapes, strict=False))


def _keep_outputs(model: CatalogModel, ir: ov.Model, names: list[str]) -> ov.Model:
    """Only the outputs Model Optimizer's --output kept (e.g. the last of a pose network's stages)."""
    if not names:
        return ir
    kept = [o for o in ir.outputs if o.get_names() & set(names)]
    if len(kept) != len(set(names)):
        have = ", ".join(sorted(n for o in ir.outputs for n in o.get_names()))
        raise ConversionError(model, "choosing outputs", f"wanted {', '.join(names)}; the export has {have}")
    return ov.Model([o.get_node() for o in kept], ir.get_parameters(), ir.get_friendly_name())


def _per_input(values: list[str], inputs: list[str]) -> dict[str, list[float]]:
    """`data[1,2,3]`, `[1,2,3]` (every input) or `255` (every input, every channel) -> input name -> values."""
    found: dict[str, list[float]] = {}
    for value in values:
        pairs = re.findall(r"([^\[\],]*)\[([^\]]*)\]", value)
        if not pairs:
            pairs = [("", value)]
        for name, numbers in pairs:
            parsed = [float(n) for n in numbers.split(",") if n.strip()]
            for target in [name.strip()] if name.strip() else inputs:
                found[target] = parsed
    return found


def _with_preprocessing(model: CatalogModel, ir: ov.Model) -> ov.Model:
    """The Model Optimizer's reverse channels, mean and scale as PrePostProcessor steps (reversal first: MO's
    mean and scale are in the original channel order), and each input's layout, so the IR takes BGR 0..255."""
    args = mo_args(model)
    names = [next(iter(sorted({n.split(":")[0] for n in i.get_names()})), "") for i in ir.inputs]
    means = _per_input(args.get("--mean_values", []), names)
    scales = _per_input(args.get("--scale_values", []) + args.get("--scale", []), names)
    layouts = {i["name"]: i["layout"] for i in model.inputs if i.get("layout")}
    reverse = "--reverse_input_channels" in args
    if not (means or scales or reverse or layouts):
        return ir
    ppp = PrePostProcessor(ir)
    for index, name in enumerate(names):
        layout = layouts.get(name)
        shape = ir.input(index).get_partial_shape()
        channels_known = layout and "C" in layout and shape.rank.is_static and shape[layout.index("C")].is_static
        colour = bool(channels_known and shape[layout.index("C")].get_length() == 3)
        if not layout or not (colour and reverse or name in means or name in scales):
            if layout:
                ppp.input(index).model().set_layout(ov.Layout(layout))
            continue
        inp = ppp.input(index)
        inp.model().set_layout(ov.Layout(layout))
        inp.tensor().set_layout(ov.Layout(layout))
        steps = inp.preprocess()
        if colour and reverse:
            steps.reverse_channels()
        if name in means or name in scales:
            steps.convert_element_type(ov.Type.f32)
        if name in means:
            steps.mean(means[name])
        if name in scales:
            steps.scale(scales[name] if len(scales[name]) > 1 else scales[name][0])
    try:
        return ppp.build()
    except Exception as e:
        raise ConversionError(model, "embedding the Model Optimizer's mean, scale and channel order",
                              first_error_line(e)) from None
