"""`make bench`: the face pipeline against raw OpenVINO async throughput of its detector, side by side.

Not a test: it prints numbers. Same device and hint for every measurement:
  1. raw OpenVINO: the face detector alone, AsyncInferQueue at the optimal number of requests, random input;
  2. `ovdemo face` end to end (capture thread, preprocessing, decode, per-face stages) headless, no output:
     detector + landmarks, then detector + landmarks + age-gender + head pose;
  3. the full pipeline on a clip with three faces in every frame (the per-face stages batch them).
"""

from __future__ import annotations

from pathlib import Path

import benchlib

DETECTOR = "face-detection-retail-0004"


def main() -> None:
    xml = benchlib.model_xml(DETECTOR)
    video = benchlib.videos_dir() / "pointer-demo.mp4"
    group = benchlib.videos_dir() / "preview-face-demographics-walking-and-pause.gif"
    benchlib.require_files(xml, video, group)
    print(f"{DETECTOR} FP16 on {benchlib.DEVICE}, throughput hint; {video.name} (595 frames, 1920x1080, one face) and "
          f"{group.name} looped to 400 frames (480x270, three faces)")
    raw = benchlib.raw_throughput(xml, seconds=15.0)
    with_attributes = ("--age-gender", "--head-pose")

    def face(clip: Path, *args: str) -> benchlib.EndToEnd:
        return benchlib.run_end_to_end("face", "-i", str(clip), "--models-dir", str(benchlib.models_dir()), *args)

    runs = [
        ("ovdemo face (landmarks), pointer-demo", face(video)),
        ("+ age-gender + head pose, pointer-demo", face(video, *with_attributes)),
        ("+ age-gender + head pose, 3 faces", face(group, *with_attributes, "--loop", "--max-frames", "400")),
    ]
    benchlib.print_ratio_table("raw OpenVINO async, detector only", raw, runs)
    for label, run in runs[1:]:
        benchlib.print_stage_means(label, run)


if __name__ == "__main__":
    main()
