"""`make bench`: ovdemo segment against raw OpenVINO async throughput of the same model, side by side.

Not a test: it prints numbers. Same device and hint for all three measurements:
  1. raw OpenVINO: AsyncInferQueue at the optimal number of requests, random input, no pipeline;
  2. `ovdemo segment` end to end (capture thread, preprocessing, argmax, resize to the frame) headless, no output;
  3. the same while recording --output out.mp4: adds the palette blend and legend (the `blend` step) and encoding.
"""

from __future__ import annotations

import benchlib


def main() -> None:
    _, recording = benchlib.bench_one_model("segment", "road-segmentation-adas-0001", "car-detection.mp4",
                                            "377 frames, 768x432")
    stages = recording.stages_ms
    print(f"blend step (palette blend of the class map, recording run): {stages['blend']:.2f} ms per frame; "
          f"render (blend + legend + status): {stages['render']:.2f} ms; postprocess (resize to frame): "
          f"{stages['postprocess']:.2f} ms")
    benchlib.print_stage_means("recording run", recording)


if __name__ == "__main__":
    main()
