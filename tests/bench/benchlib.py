"""What every `make bench` script (tests/bench/bench_*.py) does: find the shared models and videos, measure raw OpenVINO
async throughput of a model, run `ovdemo <family>` end to end and read its --metrics-json, print the ratio table.

Environment: OVDEMO_MODELS_DIR, OVDEMO_SAMPLES_DIR (the shared models and videos), BENCH_DEVICE (default CPU),
BENCH_SECONDS (when set, how long every raw-throughput measurement runs instead of the bench's own default),
BENCH_ROUNDS (how many times the measurements of a table are taken in turn; default 3, the median is shown).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
import tomllib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple, TypeVar

import cv2
import numpy as np
import openvino as ov
import openvino.properties.hint as hints

DEVICE = os.environ.get("BENCH_DEVICE", "CPU")
T = TypeVar("T")

# Bench scripts run as plain scripts (`python tests/bench/bench_x.py`) and reuse test scenes and synthetic models
# from the test folders: put every folder pytest has on its path (pyproject's pythonpath) on this one too.
REPO = Path(__file__).resolve().parents[2]
for _folder in tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["pytest"]["ini_options"]["pythonpath"]:
    if str(REPO / _folder) not in sys.path:
        sys.path.append(str(REPO / _folder))


def models_dir() -> Path:
    return Path(os.environ.get("OVDEMO_MODELS_DIR", "../shared/models"))


def videos_dir() -> Path:
    return Path(os.environ.get("OVDEMO_SAMPLES_DIR", "../shared/videos"))


def model_xml(name: str, precision: str = "FP16", root: Path | None = None) -> Path:
    """Where an Open Model Zoo model lives in a models folder (the shared one unless `root` is given): the precision
    asked for, else the first of the others there (as `ovdemo` falls back), else the path asked for."""
    folder = (root or models_dir()) / name
    for prec in dict.fromkeys([precision, "FP16", "FP16-INT8", "FP32"]):
        if (folder / prec / f"{name}.xml").is_file():
            return folder / prec / f"{name}.xml"
    return folder / precision / f"{name}.xml"


def require_files(*paths: Path) -> None:
    """Exit with one line naming the missing files and the variables that locate them."""
    missing = [str(path) for path in paths if not path.is_file()]
    if missing:
        sys.exit(f"bench needs {', '.join(missing)}: set OVDEMO_MODELS_DIR (now {models_dir()}) and "
                 f"OVDEMO_SAMPLES_DIR (now {videos_dir()}) to the folders holding them")


def measure_seconds(default: float) -> float:
    """BENCH_SECONDS when set (a shorter run for checking that a bench works), else the bench's own duration."""
    text = os.environ.get("BENCH_SECONDS")
    if text is None:
        return default
    try:
        seconds = float(text)
    except ValueError:
        seconds = 0.0
    if seconds <= 0:
        sys.exit(f"BENCH_SECONDS={text!r} is not a positive number of seconds")
    return seconds


def rounds() -> int:
    text = os.environ.get("BENCH_ROUNDS", "3")
    if not text.isdigit() or int(text) < 1:
        sys.exit(f"BENCH_ROUNDS={text!r} is not a positive whole number")
    return int(text)


def side_by_side(*measures: Callable[[], T]) -> list[T]:
    """Every measurement of a table taken in turn, BENCH_ROUNDS times over (a shared machine speeds up and slows
    down by 10 % and more within a minute: taken in turn, the measurements see the same machine), and for each
    the round with its median figure (`fps`, or the value itself). Prints each one's spread."""
    taken: list[list[T]] = [[] for _ in measures]
    for _ in range(rounds()):
        for results, measure in zip(taken, measures, strict=True):
            results.append(measure())

    def figure(result) -> float:
        return float(getattr(result, "fps", result))

    medians = []
    for results in taken:
        results.sort(key=figure)
        medians.append(results[len(results) // 2])
    spreads = ", ".join(f"{figure(r[0]):.1f}-{figure(r[-1]):.1f}" for r in taken)
    print(f"(median of {len(taken[0])} rounds taken in turn; ranges {spreads})")
    return medians


class Throughput(NamedTuple):
    fps: float
    requests: int


def raw_throughput(model: Path, seconds: float = 15.0, input_shape: Sequence[int] | None = None) -> Throughput:
    """Inferences per second of `model` alone: AsyncInferQueue at the device's optimal number of requests,
    throughput hint, one random input shared by every request (not copied into each: benchmark_app does not
    copy either), no pipeline. Uniform 0..255, the range of the frames ovdemo feeds: only in-graph
    post-processing (DetectionOutput, NMS) costs more or less with the values. `input_shape` fixes a dynamic
    input to the shape the pipeline would give it."""
    duration = measure_seconds(seconds)
    core = ov.Core()
    network = core.read_model(str(model))
    if input_shape is not None:
        network.reshape(list(input_shape))
    compiled = core.compile_model(network, DEVICE, {hints.performance_mode: hints.PerformanceMode.THROUGHPUT})
    queue = ov.AsyncInferQueue(compiled, 0)
    data = np.random.default_rng(0).uniform(0, 255, tuple(compiled.input(0).shape)).astype(np.float32)
    for _ in range(len(queue)):  # warm-up: every request once
        queue.start_async({0: data}, share_inputs=True)
    queue.wait_all()
    count, start = 0, time.perf_counter()
    while time.perf_counter() - start < duration:
        queue.start_async({0: data}, share_inputs=True)
        count += 1
    queue.wait_all()
    return Throughput(count / (time.perf_counter() - start), len(queue))


def raw_item_ms(model: Path, batch: int = 1, seconds: float = 5.0, fold=None,
                input_shape: Sequence[int] | None = None) -> float:
    """Milliseconds of machine time per item of a second-stage model run alone at `batch` items per request (the
    batch the pipeline really sends it): throughput hint, optimal requests, random input. `fold` may edit the
    graph first (e.g. fold a plate recognizer's constant second input); `input_shape` fixes a dynamic input (its
    first dimension is the batch)."""
    core = ov.Core()
    network = core.read_model(str(model))
    if fold is not None:
        fold(network)
    if input_shape is not None:
        network.reshape(list(input_shape))
        batch = input_shape[0]
    elif batch > 1:
        shapes = {}
        for port in network.inputs:
            dims = list(port.get_partial_shape())
            dims[0] = ov.Dimension(batch)
            shapes[port] = ov.PartialShape(dims)
        try:
            network.reshape(shapes)
        except Exception:  # batch 1 built into the graph: the pipeline sends it one item per request too
            batch = 1
            network = core.read_model(str(model))
            if fold is not None:
                fold(network)
    compiled = core.compile_model(network, DEVICE, {hints.performance_mode: hints.PerformanceMode.THROUGHPUT})
    queue = ov.AsyncInferQueue(compiled, 0)
    rng = np.random.default_rng(0)
    data = {port: rng.uniform(0, 255, tuple(port.shape)).astype(port.get_element_type().to_dtype())
            for port in compiled.inputs}
    for _ in range(len(queue)):
        queue.start_async(data, share_inputs=True)
    queue.wait_all()
    count, start = 0, time.perf_counter()
    duration = measure_seconds(seconds)
    while time.perf_counter() - start < duration:
        queue.start_async(data, share_inputs=True)
        count += 1
    queue.wait_all()
    return (time.perf_counter() - start) * 1000.0 / (count * batch)


def raw_mix_ms(model: Path, shapes: Sequence[Sequence[int]], seconds: float = 8.0) -> float:
    """Milliseconds of machine time per item of a model with dynamic dimensions, unchanged, fed requests of
    `shapes` in turn (the shapes the pipeline really sent, batch first): throughput hint, optimal requests."""
    core = ov.Core()
    compiled = core.compile_model(str(model), DEVICE, {hints.performance_mode: hints.PerformanceMode.THROUGHPUT})
    queue = ov.AsyncInferQueue(compiled, 0)
    rng = np.random.default_rng(0)
    dtype = compiled.input(0).get_element_type().to_dtype()
    inputs = {shape: rng.uniform(0, 255, shape).astype(dtype) for shape in {tuple(s) for s in shapes}}
    order = [tuple(s) for s in shapes]
    for shape in inputs:  # warm-up: every shape once
        queue.start_async({0: inputs[shape]}, share_inputs=True)
    queue.wait_all()
    count = items = 0
    duration = measure_seconds(seconds)
    start = time.perf_counter()
    while time.perf_counter() - start < duration:
        shape = order[count % len(order)]
        queue.start_async({0: inputs[shape]}, share_inputs=True)
        count += 1
        items += shape[0]
    queue.wait_all()
    return (time.perf_counter() - start) * 1000.0 / items


class BusyInference(NamedTuple):
    fps: float
    cpu_ms: float  # the process's CPU a frame: OpenVINO's threads (in-graph preprocessing included), the submitter


def first_frames(video: Path, count: int) -> list[np.ndarray]:
    """The first `count` frames of `video` as contiguous [1, H, W, 3] u8 batches (decoded beforehand)."""
    cap = cv2.VideoCapture(str(video))
    frames = []
    while len(frames) < count:
        ok, image = cap.read()
        if not ok:
            break
        frames.append(np.ascontiguousarray(image[np.newaxis]))
    cap.release()
    return frames


def busy_inference(compiled: ov.CompiledModel, frames: Sequence[np.ndarray], count: int) -> BusyInference:
    """`compiled` kept busy with `frames` in turn (shared with the requests, not copied, as ovdemo sets them) at
    OpenVINO's optimal number of requests, nothing else running: FPS and the process's CPU a frame over `count`."""
    queue = ov.AsyncInferQueue(compiled, compiled.get_property("OPTIMAL_NUMBER_OF_INFER_REQUESTS"))
    for frame in frames:  # warm up
        queue.start_async({0: frame}, share_inputs=True)
    queue.wait_all()
    start, cpu = time.perf_counter(), time.process_time()
    for i in range(count):
        queue.start_async({0: frames[i % len(frames)]}, share_inputs=True)
    queue.wait_all()
    elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu
    return BusyInference(count / elapsed, cpu * 1000.0 / count)


def ceiling_fps(main: Throughput, stages: Sequence[tuple[float, float]]) -> float:
    """The honest ceiling of a multi-model pipeline on this machine: per frame, the main model's raw time plus, for
    each stage, its raw time per item times the mean number of items per frame (stages: (ms per item, items))."""
    return 1000.0 / (1000.0 / main.fps + sum(ms * items for ms, items in stages))


def items_per_frame(run: EndToEnd, counts: Callable[[dict], int] = lambda record: len(record["objects"])) -> float:
    """The mean number of items a stage saw per frame, from the run's JSON records (default: every object)."""
    return sum(counts(r) for r in run.records) / max(len(run.records), 1)


def print_ceiling_table(main_label: str, main: Throughput, ceiling: float, stage_lines: Sequence[str],
                        runs: Sequence[tuple[str, EndToEnd]]) -> None:
    """A multi-model family: its ceiling (all its models' raw time together), then each run's FPS against the
    ceiling and against the main model's raw throughput alone."""
    width = max(len(label) for label in [main_label, "ceiling (all models, raw)", *(label for label, _ in runs)])
    print(f"{'measurement':{width}} {'FPS':>7} {'/ceiling':>9} {'/main':>6}")
    print(f"{main_label:{width}} {main.fps:7.1f} {'':>9} {1.0:6.2f}  {main.requests} requests")
    for line in stage_lines:
        print(f"  {line}")
    print(f"{'ceiling (all models, raw)':{width}} {ceiling:7.1f} {1.0:9.2f} {ceiling / main.fps:6.2f}")
    for label, run in runs:
        print(f"{label:{width}} {run.fps:7.1f} {run.fps / ceiling:9.2f} {run.fps / main.fps:6.2f}  {latency_note(run)}")


@dataclass
class EndToEnd:
    """One `ovdemo <family>` run: its --metrics-json figures and, when asked for, its --json records."""

    fps: float
    latency_p50_ms: float
    stages_ms: dict[str, float]
    records: list[dict]
    cpu_ms: dict[str, float] = field(default_factory=dict)  # CPU per frame of the pipeline's threads


def run_end_to_end(family: str, *args: str, record_video: bool = False, json_records: bool = False) -> EndToEnd:
    """Run `python -m ovdemo <family> <args>` headless on BENCH_DEVICE with the throughput hint; `record_video` adds
    --output out.mp4 (encoding included in the timing), `json_records` adds --json and keeps its records."""
    with tempfile.TemporaryDirectory() as tmp:
        metrics, jsonl = Path(tmp) / "metrics.json", Path(tmp) / "records.jsonl"
        cmd = [sys.executable, "-m", "ovdemo", family, *args, "-d", DEVICE, "--hint", "throughput", "--no-show",
               "--metrics-json", str(metrics)]
        if record_video:
            cmd += ["--output", str(Path(tmp) / "out.mp4")]
        if json_records:
            cmd += ["--json", str(jsonl)]
        done = subprocess.run(cmd, capture_output=True, text=True)
        if done.returncode != 0:
            sys.exit(f"{' '.join(cmd)} failed ({done.returncode}):\n{done.stderr.strip()}")
        figures = json.loads(metrics.read_text())
        records = [json.loads(line) for line in jsonl.read_text().splitlines()] if json_records else []
    return EndToEnd(figures["fps"], figures["latency_ms"]["p50"], figures["stages_ms"], records,
                    figures.get("cpu_ms_per_frame", {}))


def latency_note(run: EndToEnd) -> str:
    return f"latency p50 {run.latency_p50_ms:.0f} ms"


def print_ratio_table(raw_label: str, raw: Throughput, runs: Sequence[tuple[str, EndToEnd]],
                      note: Callable[[EndToEnd], str] = latency_note) -> None:
    """Raw throughput first, then each end-to-end run with its FPS as a fraction of the raw figure."""
    width = max(len(label) for label in [raw_label, *(label for label, _ in runs)])
    print(f"{'measurement':{width}} {'FPS':>7} {'ratio':>6}")
    print(f"{raw_label:{width}} {raw.fps:7.1f} {1.0:6.2f}  {raw.requests} requests")
    for label, run in runs:
        print(f"{label:{width}} {run.fps:7.1f} {run.fps / raw.fps:6.2f}  {note(run)}")


def bench_one_model(family: str, model: str, video_name: str, video_note: str,
                    precision: str = "FP16") -> tuple[EndToEnd, EndToEnd]:
    """The bench of a family run by one shared model on one shared video: raw throughput of the model for 10 s,
    `ovdemo <family>` headless with no output and recording --output out.mp4, taken in turn (`side_by_side`).
    Prints a header (`video_note` describes the video) and the ratio table; returns the (headless, recording)
    runs for the family's own lines."""
    xml = model_xml(model, precision)
    video = videos_dir() / video_name
    require_files(xml, video)
    print(f"{model} {precision} on {DEVICE}, throughput hint, input {video.name} ({video_note})")
    args = ("-m", model, "--precision", precision, "-i", str(video), "--models-dir", str(models_dir()))
    raw, headless, recording = side_by_side(lambda: raw_throughput(xml, seconds=10.0),
                                            lambda: run_end_to_end(family, *args),
                                            lambda: run_end_to_end(family, *args, record_video=True))
    print_ratio_table("raw OpenVINO async", raw, [(f"ovdemo {family}, no output", headless),
                                                  (f"ovdemo {family} --output out.mp4", recording)])
    print_thread_cpu("no-output run", headless)
    return headless, recording


def print_thread_cpu(label: str, run: EndToEnd) -> None:
    """The CPU per frame of the pipeline's own threads (--metrics-json's cpu_ms_per_frame)."""
    print(f"CPU per frame (ms), {label}: " + ", ".join(f"{k} {v:.3f}" for k, v in run.cpu_ms.items()))


def print_stage_means(label: str, run: EndToEnd) -> None:
    print(f"stage means (ms), {label}:", json.dumps(run.stages_ms))
