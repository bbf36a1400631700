"""`make bench`: four streams through one compiled model (`ovdemo detect -i A -i B -i C -i D`) against raw OpenVINO
async throughput of the same model, side by side. Target: the four streams' aggregate FPS at least 0.9 of raw.

Not a test: it prints numbers. Same device and hint for every measurement:
  1. raw OpenVINO: AsyncInferQueue at the optimal number of requests, random input, no pipeline (before and
     after the runs, their mean the reference);
  2. one stream, for reference;
  3. four streams of one size (768x432): one model compiled for that size;
  4. four streams of two sizes (768x432 and 640x360): one model compiled for any size.
Each stream reads FRAMES frames (BENCH_STREAM_FRAMES), headless, no output.
Then the choice behind 4: the main model with ovdemo's preprocessing compiled for one frame size against compiled
for any size, and two fixed-size models (one per size) against one any-size model on frames of two sizes
alternating: raw async throughput on real frames, in interleaved rounds (medians), so a busy machine weighs on
every variant alike.
"""

from __future__ import annotations

import os
import statistics
import time

import benchlib
import cv2
import numpy as np
import openvino as ov

MODEL = "person-detection-0202"
FRAMES = int(os.environ.get("BENCH_STREAM_FRAMES", "150"))
ONE_SIZE = ("people-detection.264", "car-detection.mp4", "one-by-one-person-detection.mp4", "people-detection.264")
TWO_SIZES = ("people-detection.264", "bottle-detection.mp4", "car-detection.mp4", "bottle-detection.mp4")


def streams_run(videos: tuple[str, ...]) -> benchlib.EndToEnd:
    inputs = [arg for name in videos for arg in ("-i", str(benchlib.videos_dir() / name))]
    return benchlib.run_end_to_end("detect", "-m", MODEL, "--models-dir", str(benchlib.models_dir()),
                                   "--max-frames", str(FRAMES), *inputs)


def first_frame(name: str) -> ov.Tensor:
    cap = cv2.VideoCapture(str(benchlib.videos_dir() / name))
    ok, image = cap.read()
    cap.release()
    assert ok, name
    return ov.Tensor(np.ascontiguousarray(image)[np.newaxis])


def compiled_sizes() -> None:
    """Raw throughput of the main model as the pipeline compiles it, fixed-size against any-size."""
    from ovdemo.common.engine.inference import InferenceConfig, compile_model, embed_preprocessing, read_model
    from ovdemo.common.models.specs import find_spec

    xml, spec = benchlib.model_xml(MODEL), find_spec(MODEL)
    config = InferenceConfig(device=benchlib.DEVICE, hint="throughput")

    def model(size):
        return compile_model(embed_preprocessing(read_model(xml), spec, size), config)

    big, small = first_frame(ONE_SIZE[0]), first_frame(TWO_SIZES[1])
    fixed_big, fixed_small, any_size = model((768, 432)), model((640, 360)), model(None)
    cases = {"fixed 768x432": [(fixed_big, big)], "any size, 768x432 frames": [(any_size, big)],
             "two fixed models, sizes alternating": [(fixed_big, big), (fixed_small, small)],
             "any size, sizes alternating": [(any_size, big), (any_size, small)]}
    seconds = benchlib.measure_seconds(2.0)
    queues = {id(c): ov.AsyncInferQueue(c, 0) for c in (fixed_big, fixed_small, any_size)}
    got: dict[str, list[float]] = {name: [] for name in cases}
    for _ in range(6):
        for name, pairs in cases.items():
            count, start = 0, time.perf_counter()
            while time.perf_counter() - start < seconds:
                compiled, frame = pairs[count % len(pairs)]
                queues[id(compiled)].start_async({0: frame})
                count += 1
            for queue in queues.values():
                queue.wait_all()
            got[name].append(count / (time.perf_counter() - start))
    width = max(map(len, cases))
    print("compiled model for the streams (raw async, medians of 6 interleaved rounds):")
    for name, fps in got.items():
        print(f"  {name:{width}} {statistics.median(fps):6.1f} FPS  (rounds {min(fps):.1f} to {max(fps):.1f})")


def main() -> None:
    xml = benchlib.model_xml(MODEL)
    benchlib.require_files(xml, *(benchlib.videos_dir() / name for name in {*ONE_SIZE, *TWO_SIZES}))
    print(f"{MODEL} FP16 on {benchlib.DEVICE}, throughput hint, {FRAMES} frames per stream")
    # raw throughput before and after the runs, compared with their mean: on a machine others share, the load can
    # change between one measurement and the next (both figures are printed, so a changing load shows)
    before = benchlib.raw_throughput(xml, seconds=15.0)
    runs = [("1 stream (768x432)", streams_run(ONE_SIZE[:1])),
            ("4 streams, one size (768x432)", streams_run(ONE_SIZE)),
            ("4 streams, two sizes (any-size model)", streams_run(TWO_SIZES))]
    after = benchlib.raw_throughput(xml, seconds=15.0)
    raw = benchlib.Throughput((before.fps + after.fps) / 2, before.requests)
    print(f"raw OpenVINO async before the runs {before.fps:.1f} FPS, after {after.fps:.1f} FPS")
    benchlib.print_ratio_table("raw OpenVINO async (mean)", raw, runs)
    ratio = runs[1][1].fps / raw.fps
    print(f"4 streams / raw: {ratio:.2f} (target 0.90: {'met' if ratio >= 0.9 else 'NOT met'})")
    compiled_sizes()


if __name__ == "__main__":
    main()
