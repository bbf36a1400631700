"""`make bench`: ovdemo track, detector on every frame against --infer-every 3, beside raw OpenVINO throughput.

Not a test: it prints numbers, all measured in one run on the same device with the throughput hint:
  1. raw OpenVINO async throughput of the detector, and the re-identification model's raw time per person at the
     batch the pipeline sends it (the mean number of people per frame): together, the ceiling of tracking with
     re-id on every frame;
  2. `ovdemo track` end to end on the first 600 frames of one-by-one-person-detection.mp4, headless, every
     frame (against that ceiling) and --infer-every 3;
  3. MOTA/IDF1 of both on the synthetic re-entry scene of tests/unit/test_track_scenes.py (py-motmetrics).
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from benchlib import (
    DEVICE,
    EndToEnd,
    ceiling_fps,
    items_per_frame,
    model_xml,
    models_dir,
    print_ceiling_table,
    print_ratio_table,
    print_stage_means,
    raw_item_ms,
    raw_throughput,
    require_files,
    run_end_to_end,
    side_by_side,
    videos_dir,
)
from test_track_scenes import SCENES, VIDEO, read_mot, render, score

DETECTOR = "person-detection-0202"
REID = "person-reidentification-retail-0277"
FRAMES = 600


def track_args(source: Path, *extra: str) -> tuple[str, ...]:
    return ("-m", DETECTOR, "--reid-model", REID, "-i", str(source), "--models-dir", str(models_dir()), "--offline",
            *extra)


def main() -> None:
    video = videos_dir() / VIDEO
    require_files(model_xml(DETECTOR), model_xml(REID), video)
    print(f"{DETECTOR} + {REID} FP16 on {DEVICE}, throughput hint, {VIDEO} (first {FRAMES} frames, 768x432)")
    seen = {}

    def every_frame() -> EndToEnd:
        run = run_end_to_end("track", *track_args(video, "--max-frames", str(FRAMES)), json_records=True)
        seen["people"] = items_per_frame(run)
        return run

    raw_det, every, third, per_person = side_by_side(
        lambda: raw_throughput(model_xml(DETECTOR), seconds=10.0), every_frame,
        lambda: run_end_to_end("track", *track_args(video, "--max-frames", str(FRAMES), "--infer-every", "3")),
        lambda: raw_item_ms(model_xml(REID), batch=max(1, round(seen["people"]))))
    people = seen["people"]
    print_ceiling_table("raw OpenVINO async, detector", raw_det, ceiling_fps(raw_det, [(per_person, people)]),
                        [f"re-id: {per_person:.2f} ms per person x {people:.2f} people per frame"],
                        [("ovdemo track, every frame", every)])
    print_ratio_table("raw OpenVINO async, detector", raw_det, [("ovdemo track --infer-every 3", third)])
    print_stage_means("every frame", every)
    print_stage_means("--infer-every 3", third)
    scene = SCENES["reentry"]
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        gt = render(scene, video, tmp / "scene")
        print(f"synthetic '{scene.name}' scene ({scene.frames} frames), py-motmetrics:")
        for name, extra in (("every frame", ()), ("--infer-every 3", ("--infer-every", "3"))):
            mot = tmp / "mot.txt"
            run_end_to_end("track", *track_args(tmp / "scene" / "frame_%04d.png", "--mot", str(mot), *extra))
            s = score(gt, read_mot(mot), scene.frames)
            print(f"  {name:16} MOTA {s['mota']:.3f}  IDF1 {s['idf1']:.3f}  ID switches {s['id_switches']}")


if __name__ == "__main__":
    main()
