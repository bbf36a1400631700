"""`make bench`: ovdemo pose (human-pose-estimation-0001, OpenPose decoding) against raw OpenVINO async
throughput of the same model, side by side, plus the mean time of each decoding step.

Not a test: it prints numbers. people-detection.264 is 768x432, so the network keeps its own 456x256 input
and the raw and end-to-end numbers run the same network.
"""

from __future__ import annotations

import benchlib


def main() -> None:
    headless, _ = benchlib.bench_one_model("pose", "human-pose-estimation-0001", "people-detection.264",
                                           "596 frames, 768x432", precision="FP16-INT8")
    stages = headless.stages_ms
    print(f"OpenPose decoding, mean per frame: peaks {stages['peaks']:.2f} ms, grouping {stages['grouping']:.2f} ms")
    benchlib.print_stage_means("no-output run", headless)


if __name__ == "__main__":
    main()
