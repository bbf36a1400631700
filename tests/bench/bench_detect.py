"""`make bench`: ovdemo detect against raw OpenVINO async throughput of the same model, side by side.

Not a test: it prints numbers. Same device and hint for all three measurements:
  1. raw OpenVINO: AsyncInferQueue at the optimal number of requests, random input, no pipeline;
  2. `ovdemo detect` end to end (capture thread, preprocessing, decode) headless, no output;
  3. the same while recording --output out.mp4.
"""

from __future__ import annotations

import benchlib


def main() -> None:
    _, recording = benchlib.bench_one_model("detect", "person-detection-0202", "people-detection.264",
                                            "596 frames, 768x432")
    benchlib.print_stage_means("recording run", recording)


if __name__ == "__main__":
    main()
