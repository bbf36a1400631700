"""`make bench`: ovdemo action end to end against raw OpenVINO async throughput of its main model, side by side.

Not a test: it prints numbers. Two runs, same device and throughput hint for every measurement:
  1. person-detection-action-recognition-0005 (real) on preview-classroom.gif, looped to 300 frames, with
     --track (each person keeps an id, as per-person runs did by default before --track was common);
  2. the encoder/decoder path: no action-recognition-0001 encoder is on disk here, so the synthetic pair of
     tests/families/test_action.py (the real stage names and shapes: [1,3,224,224] -> [1,512,1,1],
     [1,16,512] -> [1,400];
     a near-free encoder) on 96x64 PNG frames, looped to 300 frames. Its raw encoder figure shows the
     pipeline's own ceiling (capture, crop, decoder every frame, JSON-free render), not a real encoder's speed;
  3. a clip model: no asl-recognition-0004 is on disk here either, so the synthetic one of
     tests/unit/test_action_clip.py
     ([1,3,16,224,224] -> [1,100], near-free) on asl-hungry.mkv (640x480, 30 FPS) looped to 300 frames: every 2nd
     frame is prepared (15 FPS sampling) and the clip model runs on each, 150 clips. Its raw figure is clips/s.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import benchlib
from test_action import build_composite, write_frames
from test_action_clip import build_clip_model

DETECTOR = "person-detection-action-recognition-0005"


def measure(title: str, raw_label: str, model: Path, seconds: float, models_dir: Path, *args: str) -> None:
    """Raw throughput of `model` beside `ovdemo action <args>` looped to 300 frames from `models_dir`, offline."""
    raw = benchlib.raw_throughput(model, seconds=seconds)
    run = benchlib.run_end_to_end("action", *args, "--models-dir", str(models_dir), "--offline", "--loop",
                                  "--max-frames", "300")
    print(title)
    benchlib.print_ratio_table(raw_label, raw, [("ovdemo action end to end", run)])
    benchlib.print_stage_means("end to end", run)


def main() -> None:
    xml = benchlib.model_xml(DETECTOR)
    video = benchlib.videos_dir() / "preview-classroom.gif"
    clip_video = benchlib.videos_dir() / "asl-hungry.mkv"
    benchlib.require_files(xml, video, clip_video)
    measure(f"{DETECTOR} FP16 on {benchlib.DEVICE}, {video.name} (480x270) looped to 300 frames",
            "raw OpenVINO async (main model)", xml, 10.0, benchlib.models_dir(), "-m", DETECTOR, "-i", str(video),
            "--track")

    with tempfile.TemporaryDirectory() as tmp:
        models = Path(tmp) / "models"
        build_composite(models)
        write_frames(Path(tmp) / "frames")
        measure("synthetic action-recognition-0001 encoder/decoder (near-free encoder), 96x64 PNG frames, 300 frames",
                "raw OpenVINO async (encoder)", benchlib.model_xml("action-recognition-0001-encoder", root=models),
                5.0, models, "-m", "action-recognition-0001", "-i", str(Path(tmp) / "frames" / "f_%04d.png"))

    with tempfile.TemporaryDirectory() as tmp:
        name = "asl-recognition-0004"
        clip = build_clip_model(benchlib.model_xml(name, root=Path(tmp)), "input", [1, 3, 16, 224, 224], "output",
                                100, "NCTHW")
        measure(f"synthetic {name} clip model (near-free), {clip_video.name} (640x480) looped to 300 frames, "
                "150 clips", "raw OpenVINO async (clip model)", clip, 5.0, Path(tmp), "-m", name, "-i", str(clip_video))


if __name__ == "__main__":
    main()
