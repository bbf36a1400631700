"""`make bench`: the face pipeline against raw OpenVINO async throughput of its detector, side by side.

Not a test: it prints numbers. Same device and hint for every measurement:
  1. raw OpenVINO: the face detector alone, AsyncInferQueue at the optimal number of requests, random input;
  2. `ovdemo face` end to end (capture thread, preprocessing, decode, per-face stages) headless, no output:
     detector + landmarks, then detector + landmarks + age-gender + head pose;
  3. the full pipeline on a clip with three faces in every frame (the per-face stages batch them), against its
     ceiling: the detector's raw time plus each per-face model's raw time per face (at the batch the pipeline
     sends it: the mean number of faces per frame) times the faces per frame.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import benchlib

DETECTOR = "face-detection-retail-0004"
PER_FACE = {"landmarks": "landmarks-regression-retail-0009", "age-gender": "age-gender-recognition-retail-0013",
            "head pose": "head-pose-estimation-adas-0001"}


def main() -> None:
    xml = benchlib.model_xml(DETECTOR)
    video = benchlib.videos_dir() / "pointer-demo.mp4"
    group = benchlib.videos_dir() / "preview-face-demographics-walking-and-pause.gif"
    benchlib.require_files(xml, video, group)
    print(f"{DETECTOR} FP16 on {benchlib.DEVICE}, throughput hint; {video.name} (595 frames, 1920x1080, one face) and "
          f"{group.name} looped to 400 frames (480x270, three faces)")
    with_attributes = ("--age-gender", "--head-pose")

    def face(clip: Path, *args: str, json: bool = False) -> benchlib.EndToEnd:
        return benchlib.run_end_to_end("face", "-i", str(clip), "--models-dir", str(benchlib.models_dir()), *args,
                                       json_records=json)

    seen = {}

    def three_faces() -> benchlib.EndToEnd:
        run = face(group, *with_attributes, "--loop", "--max-frames", "400", json=True)
        seen["faces"] = benchlib.items_per_frame(run)
        return run

    def per_face_ms(name: str) -> Callable[[], float]:
        return lambda: benchlib.raw_item_ms(benchlib.model_xml(name), batch=max(1, round(seen["faces"])))

    raw, landmarks, attributes, group_run, *per_face_ms_list = benchlib.side_by_side(
        lambda: benchlib.raw_throughput(xml, seconds=10.0), lambda: face(video),
        lambda: face(video, *with_attributes), three_faces, *(per_face_ms(name) for name in PER_FACE.values()))
    runs = [("ovdemo face (landmarks), pointer-demo", landmarks),
            ("+ age-gender + head pose, pointer-demo", attributes)]
    benchlib.print_ratio_table("raw OpenVINO async, detector only", raw, runs)
    faces = seen["faces"]
    per_face = dict(zip(PER_FACE, per_face_ms_list, strict=True))
    ceiling = benchlib.ceiling_fps(raw, [(ms, faces) for ms in per_face.values()])
    benchlib.print_ceiling_table("raw OpenVINO async, detector", raw, ceiling,
                                 [f"{label}: {ms:.2f} ms per face x {faces:.2f} faces per frame"
                                  for label, ms in per_face.items()],
                                 [("+ age-gender + head pose, 3 faces", group_run)])
    benchlib.print_stage_means("pointer-demo, all stages", runs[1][1])
    benchlib.print_stage_means("3 faces, all stages", group_run)


if __name__ == "__main__":
    main()
