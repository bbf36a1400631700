"""`make bench`: ovdemo detect --classify (vehicle attributes on every vehicle) against its ceiling.

Not a test: it prints numbers, measured in one run on the same device with the throughput hint:
  1. raw OpenVINO async throughput of the detector, and the attribute model's raw time per vehicle at the batch
     the pipeline sends it (the mean number of vehicles per frame);
  2. the ceiling those allow together, and `ovdemo detect --classify` end to end on car-detection.mp4, headless.
"""

from __future__ import annotations

import benchlib

DETECTOR = "person-vehicle-bike-detection-2000"
ATTRIBUTES = "vehicle-attributes-recognition-barrier-0039"


def main() -> None:
    detector, attributes = benchlib.model_xml(DETECTOR), benchlib.model_xml(ATTRIBUTES, "FP16-INT8")
    video = benchlib.videos_dir() / "car-detection.mp4"
    benchlib.require_files(detector, attributes, video)
    print(f"{DETECTOR} FP16 + {ATTRIBUTES} FP16-INT8 on {benchlib.DEVICE}, throughput hint, {video.name} "
          "(377 frames, 768x432)")
    seen = {}

    def end_to_end() -> benchlib.EndToEnd:
        run = benchlib.run_end_to_end("detect", "-m", DETECTOR, "--classify", ATTRIBUTES, "-i", str(video),
                                      "--models-dir", str(benchlib.models_dir()), json_records=True)
        seen["vehicles"] = benchlib.items_per_frame(run, lambda r: sum(o["label"] == "vehicle" for o in r["objects"]))
        return run

    raw, run, per_vehicle = benchlib.side_by_side(
        lambda: benchlib.raw_throughput(detector, seconds=10.0), end_to_end,
        lambda: benchlib.raw_item_ms(attributes, batch=max(1, round(seen["vehicles"]))))
    vehicles = seen["vehicles"]
    ceiling = benchlib.ceiling_fps(raw, [(per_vehicle, vehicles)])
    benchlib.print_ceiling_table("raw OpenVINO async, detector", raw, ceiling,
                                 [f"vehicle attributes: {per_vehicle:.2f} ms per vehicle x {vehicles:.2f} per frame"],
                                 [("ovdemo detect --classify, no output", run)])
    benchlib.print_stage_means("no output", run)


if __name__ == "__main__":
    main()
