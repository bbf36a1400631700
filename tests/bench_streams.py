"""`make bench`: four streams through one compiled model (`ovdemo detect -i A -i B -i C -i D`) against raw OpenVINO
async throughput of the same model, side by side. Target: the four streams' aggregate FPS at least 0.9 of raw.

Not a test: it prints numbers. Same device and hint for every measurement:
  1. raw OpenVINO: AsyncInferQueue at the optimal number of requests, random input, no pipeline;
  2. one stream, for reference;
  3. four streams of one size (768x432): one model compiled for that size;
  4. four streams of two sizes (768x432 and 640x360): one model compiled for any size.
Each stream reads FRAMES frames (BENCH_STREAM_FRAMES), headless, no output.
"""

from __future__ import annotations

import os

import benchlib

MODEL = "person-detection-0202"
FRAMES = int(os.environ.get("BENCH_STREAM_FRAMES", "150"))
ONE_SIZE = ("people-detection.264", "car-detection.mp4", "one-by-one-person-detection.mp4", "people-detection.264")
TWO_SIZES = ("people-detection.264", "bottle-detection.mp4", "car-detection.mp4", "bottle-detection.mp4")


def streams_run(videos: tuple[str, ...]) -> benchlib.EndToEnd:
    inputs = [arg for name in videos for arg in ("-i", str(benchlib.videos_dir() / name))]
    return benchlib.run_end_to_end("detect", "-m", MODEL, "--models-dir", str(benchlib.models_dir()),
                                   "--max-frames", str(FRAMES), *inputs)


def main() -> None:
    xml = benchlib.model_xml(MODEL)
    benchlib.require_files(xml, *(benchlib.videos_dir() / name for name in {*ONE_SIZE, *TWO_SIZES}))
    print(f"{MODEL} FP16 on {benchlib.DEVICE}, throughput hint, {FRAMES} frames per stream")
    raw = benchlib.raw_throughput(xml, seconds=15.0)
    runs = [("1 stream (768x432)", streams_run(ONE_SIZE[:1])),
            ("4 streams, one size (768x432)", streams_run(ONE_SIZE)),
            ("4 streams, two sizes (any-size model)", streams_run(TWO_SIZES))]
    benchlib.print_ratio_table("raw OpenVINO async", raw, runs)
    ratio = runs[1][1].fps / raw.fps
    print(f"4 streams / raw: {ratio:.2f} (target 0.90: {'met' if ratio >= 0.9 else 'NOT met'})")


if __name__ == "__main__":
    main()
