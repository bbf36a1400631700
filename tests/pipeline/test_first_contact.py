"""Issue 26, item 8: what a user meets first. Bare commands give their help, --realtime plays a file at its
own rate (the default with --serve), and track ids count 1, 2, 3 ... as tracks are confirmed."""

from __future__ import annotations

import json
import threading
import time

import pytest
from conftest import model_path
from helpers import read_jsonl, run_ovdemo

import ovdemo
from ovdemo.common.io.capture import FrameReader, open_source

CLIP = "asl-hungry.mkv"  # 640x480 at 30 FPS, 49 frames
FRAMES = 30


@pytest.mark.parametrize("args", [(), ("models",), ("samples",)], ids=["ovdemo", "models", "samples"])
def test_a_bare_command_prints_its_help_and_exits_0(args):
    result = run_ovdemo(*args)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"Usage: ovdemo {' '.join(args)}".rstrip() + " [OPTIONS]"), result.stdout
    assert "Commands:" in result.stdout and result.stderr == ""


def read_all(source, realtime: bool) -> tuple[int, float]:
    """Frames a reader delivers from `source` and the seconds from the first to the last."""
    wakeup = threading.Condition()
    reader = FrameReader(source, wakeup, limit=FRAMES, realtime=realtime)
    times = []
    reader.start()
    with wakeup:
        while not (reader.finished and not reader.buffer):
            if reader.take() is not None:
                times.append(time.perf_counter())
            else:
                wakeup.wait(0.5)
    reader.stop()
    return len(times), times[-1] - times[0]


def test_realtime_reads_a_file_at_its_frame_rate(videos_dir):
    """The reader alone (no model): 30 frames of a 30 FPS file take 29/30 s with realtime, and decode in a
    fraction of that without."""
    source = open_source(str(videos_dir / CLIP))
    assert source.fps == pytest.approx(30.0)
    count, paced = read_all(source, realtime=True)
    assert count == FRAMES and paced >= 0.95 * (FRAMES - 1) / source.fps, paced
    count, free = read_all(open_source(str(videos_dir / CLIP)), realtime=False)
    assert count == FRAMES and free < 0.5 * paced, (free, paced)


def test_the_api_streams_at_the_source_rate_with_realtime(models_dir, videos_dir, monkeypatch):
    model_path(models_dir, "face-detection-retail-0004")
    monkeypatch.setenv("OVDEMO_MODELS_DIR", str(models_dir))
    predictor = ovdemo.load("face-detection-retail-0004", offline=True)
    times = [time.perf_counter() for _ in predictor.stream(videos_dir / CLIP, realtime=True, max_frames=FRAMES)]
    assert len(times) == FRAMES
    assert times[-1] - times[0] >= 0.9 * (FRAMES - 1) / 30.0


@pytest.mark.slow
@pytest.mark.parametrize("flags, paced", [(["--serve", "127.0.0.1:0"], True),
                                          (["--serve", "127.0.0.1:0", "--no-realtime"], False),
                                          (["--realtime"], True)])
def test_serve_on_a_file_plays_it_at_its_own_rate(flags, paced, models_dir, videos_dir, tmp_path):
    """--serve on a file paces it (the page no longer fast-forwards); --no-realtime turns that off. The run's
    own wall time (from the first frame read) is what the metrics file reports."""
    model_path(models_dir, "face-detection-retail-0004")
    result = run_ovdemo("detect", "-m", "face-detection-retail-0004", "-i", videos_dir / CLIP, "--max-frames",
                        FRAMES, "--no-show", "--offline", "--metrics-json", tmp_path / "m.json", *flags,
                        env={"OVDEMO_MODELS_DIR": str(models_dir)})
    assert result.returncode == 0, result.stderr
    metrics = json.loads((tmp_path / "m.json").read_text())
    assert metrics["frames"] == FRAMES
    if paced:
        assert metrics["wall_s"] >= 0.9 * (FRAMES - 1) / 30.0, metrics
        assert metrics["fps"] <= 31.0, metrics


@pytest.mark.slow
def test_track_ids_count_from_1_as_tracks_are_confirmed(models_dir, videos_dir, tmp_path):
    """A shop aisle tracked by motion: every id from 1 to the highest is used (no number lost to a tentative
    track), ids appear in the order they are first confirmed, tentative objects carry no id, and the MOT
    file uses the same ids."""
    model_path(models_dir, "person-detection-0202")
    out, mot = tmp_path / "t.jsonl", tmp_path / "t.mot"
    result = run_ovdemo("track", "-m", "person-detection-0202", "--reid-model", "none", "-i",
                        videos_dir / "preview-store-aisle-detection.gif", "--no-show", "--offline", "--json", out,
                        "--mot", mot, env={"OVDEMO_MODELS_DIR": str(models_dir)})
    assert result.returncode == 0, result.stderr
    records = read_jsonl(out)
    objects = [o for r in records for o in r["objects"]]
    tentative = [o for o in objects if o["track_state"] == "tentative"]
    assert tentative and all("id" not in o for o in tentative)  # the clip has detections that never confirm
    assert all("id" in o for o in objects if o["track_state"] != "tentative")
    # (tracks confirmed on one frame are numbered in the order they started)
    first_seen = list(dict.fromkeys(i for r in records for i in sorted(o["id"] for o in r["objects"] if "id" in o)))
    assert len(first_seen) >= 3 and first_seen == list(range(1, len(first_seen) + 1)), first_seen
    assert {int(line.split(",")[1]) for line in mot.read_text().splitlines()} == set(first_seen)
