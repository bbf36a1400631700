"""Several streams in one run (`-i` repeated), on the shared videos through the real command line: each stream's
video holds exactly its own input's frames, its records are tagged and in its order, its detections, track ids
and action windows are what a run of that input alone gives, a stream that fails leaves the others to finish,
and files that can hold one stream refuse several."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
from helpers import interrupt_when_ready, iou, one_line_error, read_jsonl, read_video, run_ovdemo, shared_env
from test_action_clip import build_clip_model, expected_windows, make_frame, red_levels

N = 12  # frames read from each stream
DETECTOR = "person-detection-0202"


def same_frame(shown: np.ndarray, frames: list[np.ndarray], k: int) -> bool:
    """Whether a written (annotated, re-encoded) frame is input frame k and no other of `frames`: wherever frame k
    and another frame j differ clearly, it is nearer to k than to j (the drawing covers both alike)."""
    out, want = (cv2.cvtColor(f, cv2.COLOR_BGR2GRAY).astype(np.int16) for f in (shown, frames[k]))
    for j, other in enumerate(frames):
        if j == k:
            continue
        other = cv2.cvtColor(other, cv2.COLOR_BGR2GRAY).astype(np.int16)
        moved = np.abs(want - other) > 40
        if moved.sum() < 50:
            continue  # (near) identical frames cannot be told apart
        if np.abs(out - want)[moved].mean() >= np.abs(out - other)[moved].mean():
            return False
    return True


def run_streams(family: str, inputs: list[Path], tmp: Path, *flags, models_dir: Path, videos_dir: Path):
    """`ovdemo FAMILY -i A -i B ...` headless, f32, N frames each, with --json and --metrics-json."""
    args = [family, "--no-show", "--infer-precision", "f32", "--max-frames", N,
            "--json", tmp / "all.jsonl", "--metrics-json", tmp / "metrics.json", *flags]
    for path in inputs:
        args += ["-i", path]
    return run_ovdemo(*args, env=shared_env(models_dir, videos_dir))


def alone(family: str, path: Path, tmp: Path, *flags, models_dir: Path, videos_dir: Path) -> list[dict]:
    """The records of a run of one input by itself: the reference for its stream."""
    out = tmp / f"alone-{path.stem}.jsonl"
    result = run_ovdemo(family, "-i", path, "--no-show", "--infer-precision", "f32", "--max-frames", N,
                        "--json", out, *flags, env=shared_env(models_dir, videos_dir))
    assert result.returncode == 0, result.stderr
    return read_jsonl(out)


def by_stream(records: list[dict], count: int) -> list[list[dict]]:
    return [[r for r in records if r["stream"] == s] for s in range(count)]


def same_objects(got: list[dict], want: list[dict]) -> bool:
    """Every object of one side has its match on the other: same label (and track id), boxes overlapping."""
    if len(got) != len(want):
        return False
    for a in got:
        if not any(a["label"] == b["label"] and a.get("id") == b.get("id") and iou(a["bbox"], b["bbox"]) > 0.9
                   and abs(a["confidence"] - b["confidence"]) < 0.02 for b in want):
            return False
    return True


@pytest.fixture
def inputs(videos_dir) -> list[Path]:
    """Two clips with people from their first frame on, and a video of another size (its people come later): the
    model compiled for any size serves all three."""
    return [videos_dir / "preview-store-aisle-detection.gif", videos_dir / "preview-people-detection.gif",
            videos_dir / "car-detection.mp4"]


def test_each_stream_writes_its_own_frames_tagged_and_in_order(inputs, models_dir, videos_dir, tmp_path):
    result = run_streams("detect", inputs, tmp_path, "-m", DETECTOR, "--output", tmp_path / "out_{stream}.mp4",
                         models_dir=models_dir, videos_dir=videos_dir)
    assert result.returncode == 0, result.stderr
    assert "3 streams (various sizes" in result.stderr
    records = read_jsonl(tmp_path / "all.jsonl")
    streams = by_stream(records, len(inputs))
    assert len(records) == N * len(inputs)
    for index, (path, mine) in enumerate(zip(inputs, streams, strict=True)):
        assert [r["frame"] for r in mine] == list(range(N)), index  # its own order, none lost or repeated
        assert {r["source"] for r in mine} == {str(path)}
        frames = read_video(path, N + 4)
        written = read_video(tmp_path / f"out_{index}.mp4")
        assert len(written) == N, index
        assert written[0].shape == frames[0].shape
        for k, shown in enumerate(written):
            assert same_frame(shown, frames, k), (path.name, k)
        assert {(r["image"]["width"], r["image"]["height"]) for r in mine} == {(frames[0].shape[1],
                                                                               frames[0].shape[0])}
    # the streams interleave: stream 2's first frame comes long before stream 0's last
    position = {(r["stream"], r["frame"]): i for i, r in enumerate(records)}
    assert position[(2, 0)] < position[(0, N - 1)]
    summary = json.loads((tmp_path / "metrics.json").read_text())
    assert summary["frames"] == N * len(inputs)
    assert [(s["stream"], s["source"], s["frames"], s["failed"]) for s in summary["streams"]] == [
        (i, str(p), N, None) for i, p in enumerate(inputs)]
    # the detections of each stream are those of its input run alone (any-size model against a fixed-size one)
    for path, mine in zip(inputs, streams, strict=True):
        reference = alone("detect", path, tmp_path, "-m", DETECTOR, models_dir=models_dir, videos_dir=videos_dir)
        assert [r["frame"] for r in reference] == list(range(N))
        if path.suffix == ".gif":  # the clips with people: a comparison of empty lists proves nothing
            assert sum(len(r["objects"]) for r in reference) >= N // 2, path
        for got, want in zip(mine, reference, strict=True):
            assert same_objects(got["objects"], want["objects"]), (path.name, got["frame"])


def test_track_ids_and_per_track_state_stay_in_their_stream(models_dir, videos_dir, tmp_path):
    """The same video twice and another one: each stream's track ids are those of its input tracked alone, so
    no track jumps between streams and ids count from 1 in each."""
    video, other = videos_dir / "preview-store-aisle-detection.gif", videos_dir / "preview-people-detection.gif"
    flags = ("-m", DETECTOR, "--track", "--min-hits", "1", "--infer-every", "2", "--mot", tmp_path / "mot_{stream}.txt")
    result = run_streams("detect", [video, other, video], tmp_path, *flags, models_dir=models_dir,
                         videos_dir=videos_dir)
    assert result.returncode == 0, result.stderr
    streams = by_stream(read_jsonl(tmp_path / "all.jsonl"), 3)
    ids = [sorted({o["id"] for r in s for o in r["objects"] if "id" in o}) for s in streams]
    assert ids[0] and ids[0] == ids[2] and ids[0][0] == ids[1][0] == 1
    references = {path: alone("detect", path, tmp_path, *flags[:-2], models_dir=models_dir, videos_dir=videos_dir)
                  for path in (video, other)}
    for path, mine in ((video, streams[0]), (other, streams[1]), (video, streams[2])):
        for got, want in zip(mine, references[path], strict=True):
            assert got["inferred"] == want["inferred"]
            assert same_objects(got["objects"], want["objects"]), (path.name, got["frame"])
    mot = [(tmp_path / f"mot_{s}.txt").read_text() for s in range(3)]
    assert mot[0] and mot[0] == mot[2] and mot[1] != mot[0]


def test_a_stream_that_fails_leaves_the_others_to_finish(videos_dir, models_dir, tmp_path):
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(np.random.default_rng(0).integers(0, 256, 60_000, np.uint8).tobytes())
    good = videos_dir / "preview-people-detection.gif"
    result = run_streams("detect", [good, broken, good], tmp_path, "-m", DETECTOR,
                         "--output", tmp_path / "out_{stream}.mp4", models_dir=models_dir, videos_dir=videos_dir)
    assert result.returncode == 2, result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert errors == [f"error: stream 1 ({broken}) failed: cannot read video '{broken}': the file is not a video "
                      "OpenCV can decode: the other streams ran to their end"], result.stderr
    assert "Traceback" not in result.stderr
    streams = by_stream(read_jsonl(tmp_path / "all.jsonl"), 3)
    assert [len(s) for s in streams] == [N, 0, N]
    assert len(read_video(tmp_path / "out_0.mp4")) == len(read_video(tmp_path / "out_2.mp4")) == N
    assert not (tmp_path / "out_1.mp4").exists()
    summary = json.loads((tmp_path / "metrics.json").read_text())
    assert [s["frames"] for s in summary["streams"]] == [N, 0, N]
    assert summary["streams"][1]["failed"].startswith("cannot read video")


ONE_FILE = "would hold 2 streams in one file: put {stream} in its name for one file per stream, e.g."


@pytest.mark.parametrize("flags, error", [
    (["--output", "out.mp4"], f"--output 'out.mp4' {ONE_FILE} out_{{stream}}.mp4"),
    (["--track", "--mot", "tracks.txt"], f"--mot 'tracks.txt' {ONE_FILE} tracks_{{stream}}.txt"),
    (["--metrics-json", "m_{stream}.json"], "--metrics-json 'm_{stream}.json' is one file for the whole run: drop "
                                            "{stream} from its name: it holds a row per stream")])
def test_several_streams_into_one_file_is_refused_before_anything_is_written(flags, error, videos_dir, models_dir,
                                                                            tmp_path):
    video = videos_dir / "car-detection.mp4"
    result = run_ovdemo("detect", "-m", DETECTOR, "-i", video, "-i", video, "--no-show", "--json", "all.jsonl",
                        *flags, env=shared_env(models_dir, videos_dir), cwd=tmp_path)
    assert result.returncode == 2
    assert one_line_error(result) == f"error: {error}"
    assert list(tmp_path.iterdir()) == []


def test_clip_windows_fill_from_their_own_stream(tmp_path):
    """A clip model (the synthetic asl-recognition-0004 of test_action_clip) on two frame sequences whose red
    levels step at different frames: each stream's windows span its own frames and read its own levels."""
    models = tmp_path / "models"
    build_clip_model(models / "asl-recognition-0004" / "FP16" / "asl-recognition-0004.xml", "input",
                     [1, 3, 16, 224, 224], "output", 100, "NCTHW")
    count = 72
    reds = [red_levels(count), red_levels(count)[::-1].copy()]  # stepping down first, then up
    for s, red in enumerate(reds):
        (tmp_path / f"frames{s}").mkdir()
        for f, r in enumerate(red):
            cv2.imwrite(str(tmp_path / f"frames{s}" / f"f_{f:04d}.png"), make_frame(r))
    out = tmp_path / "clips.jsonl"
    result = run_ovdemo("action", "-m", "asl-recognition-0004", "--models-dir", models, "--offline", "--no-show",
                        "-i", tmp_path / "frames0" / "f_%04d.png", "-i", tmp_path / "frames1" / "f_%04d.png",
                        "--stride", "3", "--json", out)
    assert result.returncode == 0, result.stderr
    for s, mine in enumerate(by_stream(read_jsonl(out), 2)):
        assert [r["frame"] for r in mine] == list(range(count))
        windows = expected_windows(reds[s], 16, 2, 3)
        ran = {r["frame"]: r["window"] for r in mine if r["window"] is not None}
        assert sorted(ran) == sorted(windows)
        for f, (first, level) in windows.items():
            assert ran[f]["frames"] == [first, f]
            assert ran[f]["top_k"][0]["label_id"] == int(round(level)), (s, f, level)
        assert {int(round(level)) for _, level in windows.values()} != {50}  # the levels do move


def test_python_api_streams_several_sources(videos_dir, models_dir):
    import ovdemo

    sources = [videos_dir / "car-detection.mp4", videos_dir / "preview-people-detection.gif"]  # two sizes
    detector = ovdemo.load(DETECTOR, models_dir=str(models_dir), offline=True, infer_precision="f32")
    seen: dict[int, list[tuple[int, int]]] = {0: [], 1: []}
    for stream, image, result in detector.stream(sources, max_frames=5):
        seen[stream].append((image.shape[1], image.shape[0]))
        assert result.inferred
    assert seen == {0: [(768, 432)] * 5, 1: [(480, 270)] * 5}
    pairs = list(detector.stream(str(sources[1]), max_frames=2))  # one source: (image, result) as before
    assert len(pairs) == 2 and len(pairs[0]) == 2


def test_the_mosaic_puts_each_stream_in_its_tile(videos_dir):
    from ovdemo.common.io.video import letterbox
    from ovdemo.common.io.window import Mosaic

    frames = [read_video(videos_dir / name, 1)[0] for name in
              ("car-detection.mp4", "preview-people-detection.gif", "bottle-detection.mp4")]
    mosaic = Mosaic(["car", "people", "bottles"])
    for s, frame in enumerate(frames):
        canvas = mosaic.put(s, frame)
    tw, th = mosaic.tile
    assert (mosaic.columns, mosaic.rows) == (2, 2) and (tw, th) == (768, 432)
    assert canvas.shape == (2 * th, 2 * tw, 3)
    for s, frame in enumerate(frames):
        x, y = (s % 2) * tw, (s // 2) * th
        tile = canvas[y:y + th - 30, x:x + tw].astype(int)  # above the caption
        assert np.abs(tile - letterbox(frame, (tw, th))[:th - 30].astype(int)).max() == 0, s
    assert not canvas[th:, tw:].any()  # the fourth tile waits for a fourth stream


@pytest.mark.parametrize("flags", [(), ("--workers", "2")], ids=["one process", "two workers"])
def test_ctrl_c_ends_every_stream_with_its_video_playable(flags, videos_dir, models_dir, tmp_path):
    if flags and len(os.sched_getaffinity(0)) < 2:
        pytest.skip("two workers need two cores")
    records = tmp_path / "all.jsonl"
    code, stderr = interrupt_when_ready(
        ["detect", "-m", DETECTOR, "--no-show", "--loop", "-i", videos_dir / "preview-people-detection.gif",
         "-i", videos_dir / "preview-store-aisle-detection.gif", "--output", tmp_path / "out_{stream}.mp4",
         "--json", records, *flags], lambda: min(map(len, by_stream(records_so_far(records), 2))) >= 5,
        shared_env(models_dir, videos_dir), timeout=180)
    assert code == 130, stderr
    assert "Traceback" not in stderr
    streams = by_stream(read_jsonl(records), 2)
    for s, mine in enumerate(streams):
        assert mine and [r["frame"] for r in mine] == list(range(len(mine)))
        assert len(read_video(tmp_path / f"out_{s}.mp4")) == len(mine), s  # finished: every frame written plays
    assert not list(tmp_path.glob("*partial*"))


def records_so_far(path: Path) -> list[dict]:
    """The whole lines written so far (in the file aside while the run goes on)."""
    written = [p for p in (path, *path.parent.glob(f"{path.stem}.partial-*{path.suffix}")) if p.is_file()]
    return [json.loads(ln) for p in written for ln in p.read_text().splitlines()[:-1]]  # (the last may be half)


def written_lines(path: Path) -> int:
    """Lines written so far: while the run goes on they are in the file aside (<stem>.partial-<pid><suffix>)."""
    written = [path, *path.parent.glob(f"{path.stem}.partial-*{path.suffix}")]
    return max((len(p.read_text().splitlines()) for p in written if p.is_file()), default=0)


def test_the_window_shows_the_streams_side_by_side(videos_dir, models_dir, tmp_path):
    from xdisplay import Xvfb

    with Xvfb() as x:
        records = tmp_path / "all.jsonl"
        env = {**os.environ, **shared_env(models_dir, videos_dir), **x.env}
        cmd = [sys.executable, "-m", "ovdemo", "detect", "-m", DETECTOR, "--loop", "--json", records, "-i",
               videos_dir / "preview-people-detection.gif", "-i", videos_dir / "preview-store-aisle-detection.gif"]
        proc = subprocess.Popen(list(map(str, cmd)), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                                env=env)
        try:
            window = x.wait_window("ovdemo detect")
            assert window, "no window appeared"
            geometry = x.xdotool("getwindowgeometry", str(window))
            x.press(window, "q")
            code = proc.wait(timeout=60)
        finally:
            if proc.poll() is None:
                proc.kill()
    assert code == 0, proc.stderr.read()
    width, height = (int(v) for v in geometry.split("Geometry:")[1].split()[0].split("x"))
    assert width == 2 * 480 and height >= 270, geometry  # two 480x270 tiles side by side (Qt may add a status bar)
