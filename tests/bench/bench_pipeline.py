"""`make bench`: each family's pipeline ceiling, the cost of ovdemo itself with inference taken away.

Not a test: it prints numbers. Per family, a *null model* of its output contract is generated here with OpenVINO's
opset: the real model's input name and output names and shapes, every output a constant (the real model's answer
on frame 70 of the video, where people are, so the family's own work, e.g. pose grouping, sees real people), plus
a zero term that depends on the input, so the request still reads its frame. Inference costs microseconds; what is
left is decoding the video, the pipeline and the family's own CPU work. Side by side, taken in turn:
  1. decoding the same video alone: the capture code itself (the source `-i` opens and its reader thread, looped
     as --loop does, FRAMES frames), this thread taking each frame as the pipeline's loop does, nothing else;
  2. `ovdemo <family>` on the null model, headless, the video looped to FRAMES frames.
  3. the null model's inference alone: compiled as the family compiles it (ovdemo's preprocessing is part of the
     model's graph: the frame's colour order, type and resize), its requests kept busy with the video's frames
     (decoded beforehand) and nothing else; the inference threads' work that the run adds to decoding.
  4. the bare loop: 1 and 3 together with nothing of ovdemo's between them, each frame the capture code gives
     started on that compiled model's AsyncInferQueue (the main model only, no decoding of its answer): what
     OpenVINO's requests and the video's decoding reach together on this machine, the most the pipeline could.
Each row: FPS, ovdemo's ratio to decoding alone and to the bare loop, the CPU per frame of the pipeline's
threads (`time.thread_time` inside each: main, capture, request waiters; --metrics-json's cpu_ms_per_frame) and of
the whole process (FFmpeg decodes on threads of its own), decoding alone's whole process and the null model's
inference alone beside it (the run's process is roughly decoding + inference + main + requests), then the
family's own steps.

BENCH_FAMILIES (comma-separated, default all) picks rows; a row whose model or video is missing is skipped.
"""

from __future__ import annotations

import os
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import benchlib
import cv2
import numpy as np
import openvino as ov
import openvino.opset13 as ops

from ovdemo.common.io.capture import FrameReader, open_source

FRAMES = int(os.environ.get("BENCH_FRAMES", "1800"))
STANDARD_STEPS = {"decode", "preprocess", "infer", "postprocess", "render", "write"}


@dataclass(frozen=True)
class Case:
    family: str
    model: str
    precision: str
    video: str
    stages: tuple[tuple[str, str], ...] = ()  # (flag, model name): second stages, each on a null model too
    extra: tuple[str, ...] = ()
    note: str = ""


CASES = (
    Case("detect", "person-detection-0202", "FP16", "people-detection.264"),
    Case("track", "person-detection-0202", "FP16", "one-by-one-person-detection.mp4",
         (("--reid-model", "person-reidentification-retail-0277"),), note="re-id on every person"),
    Case("pose", "human-pose-estimation-0001", "FP16-INT8", "people-detection.264", note="OpenPose peaks+grouping"),
    Case("segment", "road-segmentation-adas-0001", "FP16", "car-detection.mp4", note="class map to the frame"),
)


NULL_INPUT = 64  # the null model's input height and width: the frame's resize into it costs next to nothing


def replay_model(path: Path, real: ov.Model, answers: dict[str, np.ndarray]) -> Path:
    """A model with `real`'s input name and batch and channels (at NULL_INPUT pixels) and its outputs (names and
    shapes), each output the constant of `answers` (by name; the real model's own answer) broadcast over the
    input's batch: a zero term computed from the input keeps the request reading its frame and a batch of N
    giving N answers (second stages batch)."""
    port = real.input(0)
    shape = ov.PartialShape([*list(port.get_partial_shape())[:2], NULL_INPUT, NULL_INPUT])
    data = ops.parameter(shape, ov.Type.f32, name=port.get_any_name())
    data.output(0).get_tensor().set_names(set(port.get_names()))
    rank = shape.rank.get_length()
    zero = ops.multiply(ops.reduce_min(data, ops.constant(np.arange(1, rank, dtype=np.int64)), keep_dims=False),
                        ops.constant(np.float32(0)))  # [N]
    results = []
    for output in real.outputs:
        answer = next(a for name, a in answers.items() if name in output.get_names())
        value = ops.constant(np.ascontiguousarray(answer[:1], np.float32))
        if answer.size > 100_000:  # a class map or heatmaps: adding even zero to it would cost what a model does
            out = ops.convert(value, ov.Type.f32)
        else:
            per_item = ops.reshape(zero, ops.constant(np.array([-1] + [1] * (answer.ndim - 1), np.int64)), False)
            out = ops.add(value, per_item)
        out.output(0).get_tensor().set_names(set(output.get_names()))
        results.append(ops.result(out))
    ov.save_model(ov.Model(results, [data], f"null-{real.get_friendly_name()}"), str(path), compress_to_fp16=False)
    return path


def real_answers(xml: Path, family: str, image: np.ndarray) -> dict[str, np.ndarray]:
    """The real main model's outputs (by every name of each) on `image`, as `ovdemo <family>` feeds it."""
    import ovdemo

    predictor = ovdemo.load(str(xml), family=family)
    predictor._compile((image.shape[1], image.shape[0]))
    outputs = predictor._infer({0: image[np.newaxis]})
    predictor.close()
    return {name: array for names, array in outputs for name in names}


def random_answers(xml: Path) -> dict[str, np.ndarray]:
    """A second-stage model's outputs on random input (an embedding, attributes): their values cost nothing."""
    compiled = ov.Core().compile_model(str(xml), "CPU")
    shape = [d.get_length() if d.is_static else 1 for d in compiled.input(0).get_partial_shape()]
    outputs = compiled.create_infer_request().infer({0: np.random.default_rng(0).uniform(0, 255, shape)})
    return {name: np.asarray(outputs[output]) for output in compiled.outputs for name in output.get_names()}


def a_frame(video: Path, index: int = 70) -> np.ndarray:
    cap = cv2.VideoCapture(str(video))
    image = None
    for _ in range(index + 1):
        ok, read = cap.read()
        if not ok:
            break
        image = read
    cap.release()
    return image


class Decoding(NamedTuple):
    fps: float
    process_cpu_ms: float  # the whole process's CPU per frame: the reader thread and FFmpeg's own threads


def decode_alone(video: Path, frames: int = FRAMES) -> Decoding:
    """`video` read by the pipeline's own capture code (its source and reader thread, looped to `frames`) with
    nothing else: this thread takes every frame as the pipeline's loop does."""
    wakeup = threading.Condition()
    reader = FrameReader(open_source(str(video)), wakeup, loop=True, limit=frames)
    count, cpu, start = 0, time.process_time(), time.perf_counter()
    reader.start()
    with wakeup:
        while True:
            if reader.buffer:
                reader.take()
                count += 1
            elif reader.finished:
                break
            else:
                wakeup.wait()
    elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu
    reader.stop()
    if reader.error is not None:
        sys.exit(f"decoding {video} failed: {reader.error}")
    return Decoding(count / elapsed, cpu * 1000.0 / max(count, 1))


class Inference(NamedTuple):
    fps: float
    process_cpu_ms: float  # OpenVINO's threads (the in-graph preprocessing included) and the submitting thread


def inference_alone(case: Case, args: list[str], frames: int = FRAMES) -> Inference:
    """The family's main model (the null one of `args`) compiled as `ovdemo <family>` compiles it for the video's
    frames, on BENCH_DEVICE with the throughput hint, every request kept busy with frames decoded beforehand."""
    import ovdemo
    from ovdemo.common.engine.pipeline import prepare_family

    frames_in = benchlib.first_frames(benchlib.videos_dir() / case.video, 64)
    predictor = ovdemo.load(args[args.index("-m") + 1], family=case.family, device=benchlib.DEVICE,
                            hint="throughput", models_dir=str(benchlib.models_dir()))  # its stages' defaults
    compiled, _ = prepare_family(predictor.family, predictor.opts, (frames_in[0].shape[2], frames_in[0].shape[1]),
                                 (25.0,), live=False)
    busy = benchlib.busy_inference(compiled, frames_in, frames)
    predictor.close()
    return Inference(busy.fps, busy.cpu_ms)


def bare_loop(case: Case, args: list[str], frames: int = FRAMES) -> Decoding:
    """Decoding alone's loop with each frame started on the family's compiled null model as it is taken (an
    AsyncInferQueue with OpenVINO's optimal number of requests, answers not read): no pipeline in between."""
    import ovdemo
    from ovdemo.common.engine.pipeline import prepare_family

    video = benchlib.videos_dir() / case.video
    predictor = ovdemo.load(args[args.index("-m") + 1], family=case.family, device=benchlib.DEVICE,
                            hint="throughput", models_dir=str(benchlib.models_dir()))
    wakeup = threading.Condition()
    reader = FrameReader(open_source(str(video)), wakeup, loop=True, limit=frames)
    size = reader.source.frame_size
    assert size is not None, f"{video} does not say its frame size"
    compiled, _ = prepare_family(predictor.family, predictor.opts, size, (25.0,), live=False)
    queue = ov.AsyncInferQueue(compiled, compiled.get_property("OPTIMAL_NUMBER_OF_INFER_REQUESTS"))
    count, cpu, start = 0, time.process_time(), time.perf_counter()
    reader.start()
    with wakeup:
        while True:
            frame = reader.take() if reader.buffer else None
            if frame is not None:
                queue.start_async({0: frame.image[np.newaxis]}, share_inputs=True)  # as ovdemo sets it
                count += 1
            elif reader.finished:
                break
            else:
                wakeup.wait()
    queue.wait_all()
    elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu
    reader.stop()
    predictor.close()
    if reader.error is not None:
        sys.exit(f"decoding {video} failed: {reader.error}")
    return Decoding(count / elapsed, cpu * 1000.0 / max(count, 1))


def null_models(case: Case, folder: Path) -> list[str] | None:
    """The command-line arguments that run `case` on null models (written into `folder`); None when a real
    model or the video is not on disk."""
    video = benchlib.videos_dir() / case.video
    xml = benchlib.model_xml(case.model, case.precision)
    stage_xmls = [benchlib.model_xml(name) for _, name in case.stages]
    missing = [str(p) for p in (video, xml, *stage_xmls) if not p.is_file()]
    if missing:
        print(f"{case.family}: skipped, missing {', '.join(missing)}")
        return None
    core = ov.Core()
    # the family's answer where its graph keeps the model's outputs (a family that replaces one, e.g. segment's
    # argmax, gets the model's own output on random input there)
    answers = {**random_answers(xml),
               **real_answers(xml, "detect" if case.family == "track" else case.family, a_frame(video))}
    main = replay_model(folder / f"{case.family}.xml", core.read_model(str(xml)), answers)
    args = ["-m", str(main), "-i", str(video), "--loop", "--max-frames", str(FRAMES), *case.extra]
    for (flag, name), stage_xml in zip(case.stages, stage_xmls, strict=True):
        stage = replay_model(folder / f"{case.family}-{name}.xml", core.read_model(str(stage_xml)),
                             random_answers(stage_xml))
        args += [flag, str(stage)]
    return args


def main() -> None:
    wanted = {f.strip() for f in os.environ.get("BENCH_FAMILIES", "").split(",") if f.strip()}
    cases = [c for c in CASES if not wanted or c.family in wanted]
    print(f"pipeline ceiling: each family on a null model of its outputs (inference in microseconds), "
          f"{FRAMES} frames, on {benchlib.DEVICE}, {os.cpu_count()} CPUs, Python {sys.version.split()[0]}")
    with tempfile.TemporaryDirectory() as tmp:
        prepared = [(case, null_models(case, Path(tmp))) for case in cases]
        prepared = [(case, args) for case, args in prepared if args is not None]
        measures = []
        for case, args in prepared:
            video = benchlib.videos_dir() / case.video
            measures += [lambda v=video: decode_alone(v), lambda c=case, a=args: benchlib.run_end_to_end(c.family, *a),
                         lambda c=case, a=args: inference_alone(c, a), lambda c=case, a=args: bare_loop(c, a)]
        results = benchlib.side_by_side(*measures)
    print(f"{'family':8} {'decode FPS':>10} {'bare FPS':>8} {'ovdemo FPS':>10} {'ratio':>6} {'of bare':>7} "
          f"{'main':>6} {'capture':>7} "
          f"{'requests':>8} {'process':>7} {'decoding':>8} {'inference':>9}  (CPU ms per frame; decoding, inference: "
          f"each alone)  family's own steps (ms per frame)")
    for (case, _), decode, run, infer, bare in zip(prepared, results[0::4], results[1::4], results[2::4],
                                                   results[3::4], strict=True):
        cpu = run.cpu_ms
        own = ", ".join(f"{k} {v:.2f}" for k, v in run.stages_ms.items() if k not in STANDARD_STEPS and v is not None)
        print(f"{case.family:8} {decode.fps:10.1f} {bare.fps:8.1f} {run.fps:10.1f} {run.fps / decode.fps:6.2f} "
              f"{run.fps / bare.fps:7.2f} {cpu['main']:6.3f} "
              f"{cpu['capture']:7.3f} {cpu['requests']:8.3f} {cpu.get('process', float('nan')):7.3f} "
              f"{decode.process_cpu_ms:8.3f} {infer.process_cpu_ms:9.3f}  "
              f"postprocess {run.stages_ms['postprocess']:.2f}"
              + (f", {own}" if own else "") + (f"  ({case.note})" if case.note else ""))


if __name__ == "__main__":
    main()
