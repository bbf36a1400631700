"""Outputs as sinks (common/io/sinks.py) and drawing as annotators (common/annotators.py): docs/writing-a-sink.md's
worked example run as written on a real detector and a real video, the MOT sink reading the tracked objects, and
the Python API drawing what the command line draws."""

from __future__ import annotations

import csv
import os
import re

import cv2
import numpy as np
import pytest
from conftest import REPO, model_path
from helpers import read_jsonl, run_ovdemo, shared_env

import ovdemo
from ovdemo.common.engine.launch import run
from ovdemo.common.errors import DemoError
from ovdemo.common.io import sinks
from ovdemo.demos.detect.family import DetectFamily

GUIDE = REPO / "docs" / "writing-a-sink.md"
DETECTOR = "person-detection-retail-0013"
AISLE = "preview-store-aisle-detection.gif"  # people in view from the first frame


@pytest.fixture
def guide_sink():
    """The guide's Python blocks, run in order in one namespace; its sink taken out of `SINKS` again after."""
    before = list(sinks.SINKS)
    namespace: dict = {"__name__": "guide"}
    blocks = re.findall(r"```python\n(.*?)```", GUIDE.read_text(encoding="utf-8"), re.S)
    assert blocks, "the guide shows no code"
    try:
        for block in blocks:
            exec(compile(block, str(GUIDE), "exec"), namespace)
        yield namespace
    finally:
        sinks.SINKS[:] = before


def detect_options(models_dir, source, **given):
    return DetectFamily.build_options({"model": DETECTOR, "input": str(source), "models_dir": models_dir,
                                       "offline": True, "no_show": True, **given})


def test_the_guides_csv_sink_writes_every_object_the_json_holds(guide_sink, models_dir, videos_dir, tmp_path):
    model_path(models_dir, DETECTOR)
    out, table, mot = tmp_path / "run.jsonl", tmp_path / "objects.csv", tmp_path / "run.mot"
    opts = detect_options(models_dir, videos_dir / AISLE, max_frames=12, track=True, json=str(out), mot=str(mot))
    assert run(DetectFamily, opts.replace(csv=str(table))) == 0
    records = read_jsonl(out)
    assert len(records) == 12
    with table.open(newline="") as f:
        rows = list(csv.DictReader(f))
    assert table.read_text().startswith(guide_sink["CSV_HEADER"])
    objects = [(r["frame"], o) for r in records for o in r["objects"]]
    assert objects, "the detector found nobody"
    assert len(rows) == len(objects)
    for row, (frame, obj) in zip(rows, objects, strict=True):
        assert (int(row["stream"]), int(row["frame"]), row["label"]) == (0, frame, obj["label"])
        assert int(row["track_id"]) == obj.get("id", -1)
        assert float(row["confidence"]) == pytest.approx(obj["confidence"], abs=1e-3)
        box = [float(row[k]) for k in ("x1", "y1", "x2", "y2")]
        assert box == pytest.approx(obj["bbox"], abs=0.11)  # (both rounded to 0.1 px)
    # the MOT sink reads the same tracked objects: a row per confirmed track of each frame, 1-based frames
    confirmed = sorted((frame + 1, o["id"]) for frame, o in objects if o.get("track_state") == "confirmed")
    assert confirmed, "no track was confirmed in 12 frames"
    mot_rows = sorted((int(line.split(",")[0]), int(line.split(",")[1])) for line in mot.read_text().splitlines())
    assert mot_rows == confirmed


def test_a_sink_whose_file_cannot_be_written_fails_in_one_line_before_any_output(guide_sink, models_dir, videos_dir,
                                                                                 tmp_path):
    model_path(models_dir, DETECTOR)
    out = tmp_path / "run.jsonl"
    opts = detect_options(models_dir, videos_dir / AISLE, max_frames=2, json=str(out))
    with pytest.raises(DemoError) as failure:
        run(DetectFamily, opts.replace(csv=str(tmp_path / "missing" / "objects.csv")))
    assert "CSV file" in str(failure.value) and "missing" in str(failure.value)
    assert not out.exists() and not list(tmp_path.glob("*.jsonl*"))


def test_the_api_draws_what_the_command_line_draws(models_dir, images_dir, tmp_path, monkeypatch):
    """Pose's annotators (boxes, captions, skeletons) drawn by Predictor.annotate and by the runner's -o on one
    photo (a still: no FPS readout) are the same pixels."""
    model = "human-pose-estimation-0001"
    model_path(models_dir, model, "FP16-INT8")
    monkeypatch.setenv("OVDEMO_MODELS_DIR", str(models_dir))
    photo = images_dir / "astronaut.png"
    drawn_by_cli = tmp_path / "drawn.png"
    cli = run_ovdemo("pose", "-m", model, "-i", photo, "--precision", "FP16-INT8", "--offline", "--no-show", "-o",
                     drawn_by_cli, "--json", tmp_path / "pose.jsonl")
    assert cli.returncode == 0, cli.stderr
    (record,) = read_jsonl(tmp_path / "pose.jsonl")
    assert record["objects"], "nobody found on the photo"
    with ovdemo.load(model, precision="FP16-INT8", offline=True) as predictor:
        image = cv2.imread(str(photo))
        drawn = predictor.annotate(image, predictor(image))
    assert not np.array_equal(drawn, image)
    assert np.array_equal(drawn, cv2.imread(str(drawn_by_cli)))


@pytest.mark.slow
def test_workers_printing_raw_lines_still_write_each_streams_json_file(models_dir, videos_dir, tmp_path):
    """Under --workers, -r's records go to the parent through a sink of their own: the per-stream --json files
    the workers write are still written, whole, and nothing is left claimed."""
    if len(os.sched_getaffinity(0)) < 2:
        pytest.skip("two workers need two cores")
    model_path(models_dir, DETECTOR)
    done = run_ovdemo("detect", "-m", DETECTOR, "--offline", "--no-show", "--max-frames", "3", "--workers", "2", "-r",
                      "-i", videos_dir / "preview-people-detection.gif", "-i", videos_dir / AISLE,
                      "--json", tmp_path / "out_{stream}.jsonl", env=shared_env(models_dir, videos_dir), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    for stream in (0, 1):
        records = read_jsonl(tmp_path / f"out_{stream}.jsonl")
        assert [(r["stream"], r["frame"]) for r in records] == [(stream, 0), (stream, 1), (stream, 2)]
        assert f"stream {stream} frame 2:" in done.stdout
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out_0.jsonl", "out_1.jsonl"]
