"""The fault matrix: what a hostile user (or a hostile machine) does to a run, and what must be true afterwards.

Every case states the message and exit code the user sees and the state of the files: the input untouched, no
mixed file, no torn line, no lock or partial file left behind (or, after a kill, a partial file that plays and
that the next run points to). Cases that depend on the family run for each of the seven families where they
apply; the families other than detect are marked slow (`make quick` runs detect's).
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import signal
import socket
import stat
import subprocess
import sys
import threading
import time
from fractions import Fraction
from pathlib import Path

import av
import click
import cv2
import numpy as np
import pytest
from _http_mirror import Mirror
from conftest import model_path
from helpers import one_line_error, read_jsonl, run_ovdemo
from synthetic import brightness_probe

from ovdemo.demos import FAMILIES

FAMILY_MODELS = {
    "detect": "person-detection-0202",
    "face": "face-detection-retail-0004",
    "track": "person-detection-0202",
    "pose": "human-pose-estimation-0001",
    "segment": "road-segmentation-adas-0001",
    "text": "ppocrv5",  # the PaddleOCR det model beside its rec model (text-recognition-0012 is not shared)
    "action": "person-detection-action-recognition-0005",
}


def each_family(*names: str):
    """Parameters over the families, detect in the quick set, the others slow."""
    names = names or tuple(FAMILY_MODELS)
    return [pytest.param(n, marks=() if n == "detect" else pytest.mark.slow) for n in names]


def family_args(family: str, models_dir: Path) -> list:
    if family == "text":
        model = models_dir / "ppocrv5" / "onnx" / "ppocrv5_det.onnx"
        if not model.is_file():
            pytest.skip(f"PP-OCRv5 is not in {models_dir}")
    else:
        model = FAMILY_MODELS[family]
        if not list(models_dir.glob(f"{model}/*/{model}.xml")):  # any precision: -m falls back FP16 -> FP16-INT8
            pytest.skip(f"{model} is not in {models_dir}")
    return [family, "-m", model, "--models-dir", models_dir, "--offline", "--no-show"]


def ovdemo_main(capsys, *args) -> tuple[int, str]:
    """`ovdemo ARGS` through its entry point, in this process: for the refusals that come before any model is
    loaded, without paying an interpreter start and OpenVINO's import for each. Returns (exit code, stderr)."""
    from ovdemo.cli import main

    capsys.readouterr()
    with pytest.raises(SystemExit) as ended:
        main([str(a) for a in args])
    return ended.value.code, capsys.readouterr().err


def one_line(stderr: str) -> str:
    lines = [ln for ln in stderr.splitlines() if ln.strip()]
    assert "Traceback" not in stderr and len(lines) == 1 and lines[0].startswith("error: "), stderr
    return lines[0]


def digest(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def leftovers(folder: Path) -> list[str]:
    """Lock files and partial files a run must not leave behind."""
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".lock") or ".partial-" in p.name)


def decoded(path: Path) -> tuple[str, list[np.ndarray]]:
    """The codec and every frame FFmpeg decodes from a video file."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        return stream.codec_context.name, [f.to_ndarray(format="bgr24") for f in container.decode(stream)]


def whole_lines(path: Path) -> list[dict]:
    text = Path(path).read_text()
    assert text == "" or text.endswith("\n"), "a torn last line"
    return [json.loads(line) for line in text.splitlines()]


# -- inputs

@pytest.fixture(scope="module")
def probe(tmp_path_factory) -> Path:
    """A tiny detector: the quick cases exercise the pipeline, not a network."""
    return brightness_probe(tmp_path_factory.mktemp("probe") / "brightness-probe.xml")


@pytest.fixture(scope="module")
def people(videos_dir) -> list[np.ndarray]:
    """17 frames of real people (one-by-one-person-detection.mp4 frames 150..198, every third), 384x216."""
    cap = cv2.VideoCapture(str(videos_dir / "one-by-one-person-detection.mp4"))
    frames = []
    for k in range(200):
        ok, image = cap.read()
        assert ok
        if k >= 150 and k % 3 == 0:
            frames.append(cv2.resize(image, (384, 216)))
    cap.release()
    return frames


@pytest.fixture(scope="module")
def clips(people, tmp_path_factory) -> dict[str, Path]:
    """A whole clip (its header says 17 frames), the same cut after 9 frames, and one whose 7th frame is garbage."""
    folder = tmp_path_factory.mktemp("clips")
    whole = folder / "whole.mp4"
    with av.open(str(whole), "w", format="mp4", options={"movflags": "faststart"}) as out:  # index first
        stream = out.add_stream("libx264", rate=Fraction(10))
        stream.width, stream.height, stream.pix_fmt = 384, 216, "yuv420p"
        stream.codec_context.gop_size = 4
        stream.options = {"preset": "veryfast", "bf": "0"}
        for i, image in enumerate(people):
            frame = av.VideoFrame.from_ndarray(image, format="bgr24")
            frame.pts = i
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    with av.open(str(whole)) as container:
        samples = [(p.pos, p.size) for p in container.demux(video=0) if p.size]
    assert len(samples) == len(people) == 17
    data = whole.read_bytes()
    (folder / "truncated.mp4").write_bytes(data[: samples[9][0] + 10])
    broken = bytearray(data)
    pos, size = samples[6]
    broken[pos:pos + size] = b"\xff" * size
    (folder / "corrupted.mp4").write_bytes(bytes(broken))
    return {"whole": whole, "truncated": folder / "truncated.mp4", "corrupted": folder / "corrupted.mp4"}


@pytest.fixture(scope="module")
def mixed(people, tmp_path_factory) -> Path:
    """4 images in 3 sizes: 384x216, 320x240, 384x216, 200x300."""
    folder = tmp_path_factory.mktemp("mixed")
    for k, size in enumerate([(384, 216), (320, 240), (384, 216), (200, 300)]):
        cv2.imwrite(str(folder / f"img_{k}.png"), cv2.resize(people[4 * k], size))
    return folder


@pytest.fixture(scope="module")
def flat(tmp_path_factory) -> Path:
    """8 flat 96x64 frames for quick looping runs."""
    folder = tmp_path_factory.mktemp("flat")
    for k in range(8):
        cv2.imwrite(str(folder / f"f_{k}.png"), np.full((64, 96, 3), 20 * k, np.uint8))
    return folder


# -- outputs that would destroy data are refused before anything runs

REFUSALS = [
    (["--output", "{input}"], "--output '{input}' is the input"),
    (["--json", "{input}"], "--json '{input}' is the input"),
    (["--output", "{tmp}/same.mp4", "--json", "{tmp}/same.mp4"], "--json '{tmp}/same.mp4' is also --output"),
    (["--json", "{tmp}/same.jsonl", "--metrics-json", "{tmp}/./same.jsonl"], "is also --json"),
    (["--output", "{tmp}/link.mp4"], "is the input"),  # a symbolic link to the input
]


@pytest.mark.parametrize("family", FAMILY_MODELS)
def test_an_output_that_is_an_input_or_another_output_is_refused(family, models_dir, clips, tmp_path, capsys):
    source = tmp_path / "in.mp4"
    source.write_bytes(clips["whole"].read_bytes())
    (tmp_path / "link.mp4").symlink_to(source)
    before = digest(source)
    for flags, message in REFUSALS:
        fill = {"input": str(source), "tmp": str(tmp_path)}
        code, stderr = ovdemo_main(capsys, *family_args(family, models_dir), "-i", source,
                                   *(f.format(**fill) for f in flags))
        assert code == 2, (flags, stderr)
        assert message.format(**fill) in one_line(stderr), flags
        assert digest(source) == before, "the input was touched"
        assert sorted(p.name for p in tmp_path.iterdir()) == ["in.mp4", "link.mp4"], flags


def test_an_image_pattern_over_the_input_images_is_refused(probe, flat, capsys):
    before = {p.name: digest(p) for p in flat.iterdir()}
    code, stderr = ovdemo_main(capsys, "detect", "-m", probe, "-i", flat / "f_%d.png", "--output", flat / "f_%d.png",
                               "--no-show")
    assert code == 2 and "is the input" in one_line(stderr)
    assert {p.name: digest(p) for p in flat.iterdir()} == before


def test_a_second_run_on_the_same_outputs_is_refused_while_the_first_writes(models_dir, probe, flat, tmp_path,
                                                                            capsys):
    out, log = tmp_path / "out.mp4", tmp_path / "out.jsonl"
    first = subprocess.Popen([sys.executable, "-m", "ovdemo", "detect", "-m", str(probe), "-i", str(flat), "--loop",
                              "--max-frames", "100000", "-o", str(out), "--json", str(log), "--no-show"],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        _wait_for(lambda: list(tmp_path.glob("out.partial-*.jsonl")), first)
        for family in FAMILY_MODELS:  # a second run of any family
            for flag, path, what in (("--json", log, "JSON lines"), ("--output", out, "video")):
                code, stderr = ovdemo_main(capsys, *family_args(family, models_dir), "-i", flat, flag, path)
                assert code == 2, stderr
                assert f"{what} '{path}' is being written by another ovdemo run (pid {first.pid})" in one_line(stderr)
    finally:
        first.send_signal(signal.SIGINT)
        first.communicate(timeout=60)
    assert first.returncode == 130
    records = whole_lines(log)  # the first run's file alone: one run's frames, in order
    assert [r["frame"] for r in records] == list(range(len(records)))
    assert len(decoded(out)[1]) == len(records)
    assert leftovers(tmp_path) == []


def _wait_for(condition, proc: subprocess.Popen, seconds: float = 120) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert proc.poll() is None, proc.communicate()[1]
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


# -- frames of many sizes are fitted, never dropped

@pytest.mark.parametrize("family", each_family())
def test_frames_of_other_sizes_are_letterboxed_into_the_video(family, models_dir, mixed, tmp_path):
    out, log, metrics = tmp_path / "out.mp4", tmp_path / "out.jsonl", tmp_path / "m.json"
    result = run_ovdemo(*family_args(family, models_dir), "-i", mixed, "-o", out, "--json", log,
                        "--metrics-json", metrics)
    assert result.returncode == 0, result.stderr
    assert len(read_jsonl(log)) == 4
    codec, frames = decoded(out)
    assert codec == "h264" and len(frames) == 4
    assert {f.shape for f in frames} == {(216, 384, 3)}
    summary = json.loads(metrics.read_text())
    assert summary["fitted"] == 2 and summary["input_complete"] is True and "damaged" not in result.stderr
    assert "2 frame(s) of another size were fitted into the video's 384x216 (letterboxed)" in result.stderr
    # a 320x240 frame in a 384x216 video: scaled to 288x216, black bars of 48 px on both sides
    second = frames[1].astype(int)
    assert second[:, :40].max() < 30 and second[:, -40:].max() < 30 and second[:, 60:320].mean() > 40


# -- damaged inputs are said to be damaged

@pytest.mark.parametrize("family", each_family())
def test_a_damaged_video_is_reported_with_frames_read_and_the_first_bad_one(family, models_dir, clips, tmp_path):
    for name, read, first_bad, what in (("truncated", 9, 9, "it ends before the frame count its header gives"),
                                        ("corrupted", 16, 6, "skipped 1 frame that does not decode (position 6)")):
        metrics, log = tmp_path / f"{name}.json", tmp_path / f"{name}.jsonl"
        result = run_ovdemo(*family_args(family, models_dir), "-i", clips[name], "--metrics-json", metrics,
                            "--json", log)
        assert result.returncode == 0, result.stderr
        assert (f"warning: input {clips[name]} is damaged: {what}; read {read} of 17 frames, the first bad one at "
                f"position {first_bad}") in result.stderr
        summary = json.loads(metrics.read_text())
        assert summary["input_complete"] is False
        assert summary["input_damage"] == {"frames_read": read, "frames_expected": 17, "first_bad_frame": first_bad,
                                           "what": what}
        assert len(read_jsonl(log)) == summary["frames"] == read


@pytest.fixture(scope="module")
def damaged_middle(videos_dir, tmp_path_factory) -> Path:
    """car-detection.mp4 (377 frames) with 20,000 random bytes written over its middle."""
    data = bytearray((videos_dir / "car-detection.mp4").read_bytes())
    middle = len(data) // 2
    data[middle:middle + 20_000] = np.random.default_rng(27).integers(0, 256, 20_000, np.uint8).tobytes()
    path = tmp_path_factory.mktemp("damaged") / "car-damaged.mp4"
    path.write_bytes(bytes(data))
    return path


@pytest.mark.parametrize("family", each_family("detect", "face"))
def test_a_damaged_middle_is_skipped_and_reading_goes_on(family, models_dir, damaged_middle, tmp_path):
    metrics, log = tmp_path / "m.json", tmp_path / "out.jsonl"
    result = run_ovdemo(*family_args(family, models_dir), "-i", damaged_middle, "--metrics-json", metrics,
                        "--json", log)
    assert result.returncode == 0, result.stderr
    damage = json.loads(metrics.read_text())["input_damage"]
    assert damage["frames_read"] >= 370 and damage["frames_expected"] == 377
    assert len(read_jsonl(log)) == damage["frames_read"]
    skipped = damage["frames_expected"] - damage["frames_read"]
    warning = next(ln for ln in result.stderr.splitlines() if "is damaged" in ln)
    assert f"skipped {skipped} frame" in warning and f"position {damage['first_bad_frame']}" in warning
    assert 150 < damage["first_bad_frame"] < 230  # in the middle, where the bytes were written
    assert "ends before" not in warning


# -- write failures: one line naming the file and the cause

WRITE_FAILURES = [
    (["--json", "/proc/ovdemo.jsonl"], "cannot write JSON lines '/proc/ovdemo.jsonl': No such file or directory"),
    (["--metrics-json", "/proc/m.json"], "cannot write metrics file '/proc/m.json': No such file or directory"),
    (["-o", "/proc/x.mp4"], "cannot write video '/proc/x.mp4': No such file or directory"),
    (["--track", "--mot", "/proc/t.txt"], "cannot write MOT file '/proc/t.txt': No such file or directory"),
    (["--json", "{tmp}/file/x.jsonl"], "folder '{tmp}/file' does not exist"),
    (["--json", "{tmp}"], "it is a folder"),
]


def test_an_unwritable_output_is_one_line_naming_the_file_and_the_cause(probe, flat, tmp_path, capsys):
    (tmp_path / "file").write_text("a file, not a folder")
    for flags, message in WRITE_FAILURES:
        args = [f.format(tmp=tmp_path) for f in flags]
        code, stderr = ovdemo_main(capsys, "detect", "-m", probe, "-i", flat, "--no-show", *args)
        assert code == 2, (flags, stderr)
        assert message.format(tmp=tmp_path) in one_line(stderr), flags
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file"]


def test_an_unwritable_gallery_is_one_line(models_dir, images_dir, capsys):
    code, stderr = ovdemo_main(capsys, "face", "-i", images_dir / "astronaut.png", "--gallery", "/proc/ovdemo-faces",
                               "--enroll", "--models-dir", models_dir, "--offline", "--no-show")
    assert code == 2
    assert "cannot write to the gallery folder /proc/ovdemo-faces: No such file or directory" in one_line(stderr)


def in_small_filesystem(tmp_path: Path, size: str, command: list, read_only: bool = False):
    """Run `command` with a tmpfs of `size` mounted at tmp_path/fs (its own mount namespace); what the tmpfs
    holds afterwards is copied to tmp_path/after."""
    fs, after = tmp_path / "fs", tmp_path / "after"
    fs.mkdir()
    after.mkdir()
    unshare = ["unshare", "--mount"] if os.geteuid() == 0 else ["unshare", "--user", "--map-root-user", "--mount"]
    if subprocess.run([*unshare, "true"], capture_output=True).returncode != 0:
        pytest.skip("no mount namespaces here (unshare) to make a small filesystem")
    options = f"size={size}" + (",ro" if read_only else "")
    script = (f'mount -t tmpfs -o {options} tmpfs "{fs}" || exit 99; "$@"; code=$?; '
              f'cp -a "{fs}/." "{after}/"; exit $code')
    result = subprocess.run([*unshare, "sh", "-c", script, "sh", *map(str, command)], capture_output=True,
                            text=True, timeout=300)
    assert result.returncode != 99, result.stderr
    return result, fs, after


def test_a_full_disk_keeps_whole_lines_and_the_summary(probe, flat, tmp_path):
    result, fs, after = in_small_filesystem(tmp_path, "64k", [
        sys.executable, "-m", "ovdemo", "detect", "-m", probe, "-i", flat, "--loop", "--max-frames", "100000",
        "--json", tmp_path / "fs" / "out.jsonl", "--no-show"])
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert "Traceback" not in result.stderr
    assert lines[-1] == f"error: cannot write JSON lines '{fs / 'out.jsonl'}': No space left on device: free some " \
                        "space or choose another place; the lines written before stay, each whole"
    assert "ovdemo summary" in result.stderr  # the summary still prints
    records = whole_lines(after / "out.jsonl")  # moved into place, ending on a whole line
    assert len(records) > 50 and [r["frame"] for r in records] == list(range(len(records)))
    assert leftovers(after) == []


def test_text_files_that_are_not_utf8_are_named(models_dir, images_dir, tmp_path, capsys):
    bad = tmp_path / "latin1.txt"
    bad.write_bytes("personne\nvélo\n".encode("latin-1"))
    image = images_dir / "astronaut.png"
    for family, flag in (("detect", "--labels"), ("segment", "--colors"), ("text", "--alphabet")):
        code, stderr = ovdemo_main(capsys, *family_args(family, models_dir), "-i", image, flag, bad)
        assert code == 2, (family, stderr)
        assert f"'{bad}': it is not UTF-8 text (byte 0xe9 at offset 10): save it with the UTF-8 encoding" in \
            one_line(stderr), family


# -- bounds, degenerate geometry

def test_every_numeric_option_has_an_upper_bound():
    for family in FAMILIES.values():
        if not isinstance(family, type):
            continue
        for opt in family.options():
            assert opt.type not in (int, float), f"{family.name} {opt.flags[-1]} has no bounds"
            if isinstance(opt.type, click.IntRange | click.FloatRange):
                assert opt.type.max is not None, f"{family.name} {opt.flags[-1]} has no upper bound"


@pytest.mark.parametrize(("flags", "message"), [
    (["text", "--input-size", "20000"], "20000 is not in the range 16<=x<=4096"),
    (["text", "--det-size", "20000"], "20000 is not in the range 16<=x<=4096"),
    (["detect", "--nireq", "100000"], "100000 is not in the range 0<=x<=64"),
    (["detect", "--nstreams", "1000"], "a number from 1 to 64, or AUTO"),
    (["track", "--line", "10,10,10,10"], "has zero length"),
    (["track", "--zone", "0,0,100,0,200,0"], "has no area"),
    # NaN passes every comparison a range makes; infinities and 1e308 overflow OpenCV's integers
    (["detect", "-t", "nan"], "'-t' / '--threshold': 'nan' is not a finite number"),
    (["track", "--reid-threshold", "nan"], "'--reid-threshold': 'nan' is not a finite number"),
    (["detect", "--remote-timeout", "inf"], "'--remote-timeout': 'inf' is not a finite number"),
    (["segment", "--opacity", "nan"], "'--opacity': 'nan' is not a finite number"),
    (["action", "--action-threshold", "nan"], "'--action-threshold': 'nan' is not a finite number"),
    (["pose", "--kp-threshold", "-inf"], "'--kp-threshold': '-inf' is not a finite number"),
    (["track", "--reid-window", "nan"], "'--reid-window': 'nan' is not a finite number"),
    (["track", "--line", "nan,1,2,3"], "--line 'nan,1,2,3': a coordinate 'nan' is out of range"),
    (["track", "--line", "1,1,inf,3"], "--line '1,1,inf,3': a coordinate 'inf' is out of range"),
    (["track", "--line", "0,0,1e308,1e308"], "--line '0,0,1e308,1e308': a coordinate '1e+308' is out of range"),
    (["track", "--zone", "0,0,100,0,nan,50"], "--zone '0,0,100,0,nan,50': a coordinate 'nan' is out of range"),
])
def test_numbers_past_their_bounds_and_degenerate_shapes_are_refused(flags, message, images_dir, capsys):
    code, stderr = ovdemo_main(capsys, *flags, "-i", images_dir / "astronaut.png", "--no-show", "--offline")
    assert code == 2 and "Traceback" not in stderr
    assert message in stderr


# -- signals

def _handles_signals(pid: int) -> bool:
    """ovdemo has taken over SIGTERM (Python itself leaves it alone): its handlers are in place."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return False
    caught = next(int(ln.split()[1], 16) for ln in status.splitlines() if ln.startswith("SigCgt:"))
    return bool(caught & (1 << (signal.SIGTERM - 1)))


@pytest.mark.slow
def test_ctrl_c_in_the_first_seconds_is_never_lost(probe, flat, tmp_path):
    """50 runs, each interrupted at another moment of its first three seconds: imports, set-up, first frames.
    Five run side by side (the load makes the moments vary more, and the test takes a minute, not two)."""
    runs = list(range(50))
    for batch in (runs[i:i + 5] for i in range(0, len(runs), 5)):
        started = {}
        for k in batch:
            folder = tmp_path / f"run{k}"
            folder.mkdir()
            started[k] = (folder, subprocess.Popen(
                [sys.executable, "-m", "ovdemo", "detect", "-m", str(probe), "-i", str(flat), "--loop", "--no-show",
                 "-o", str(folder / "out.mp4"), "--json", str(folder / "out.jsonl")],
                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
        sent = {}
        for k, (_, proc) in started.items():
            _wait_for(lambda p=proc: _handles_signals(p.pid), proc, seconds=30)
            sent[k] = time.monotonic() + 3.0 * k / 49  # when its signal is due
        for k in sorted(sent, key=sent.get):
            time.sleep(max(0.0, sent[k] - time.monotonic()))
            started[k][1].send_signal(signal.SIGINT)
            sent[k] = time.monotonic()
        for k, (folder, proc) in started.items():
            try:
                _, stderr = proc.communicate(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                pytest.fail(f"run {k}: the signal was lost ({3.0 * k / 49:.2f} s in)")
            assert proc.returncode == 130, (k, stderr)
            assert "Traceback" not in stderr and "Error" not in stderr, (k, stderr)
            assert time.monotonic() - sent[k] < 15, k
            assert leftovers(folder) == [], k
            if (folder / "out.jsonl").exists():  # interrupted after frames: the outputs are whole
                assert len(decoded(folder / "out.mp4")[1]) == len(whole_lines(folder / "out.jsonl"))


def test_sigkill_leaves_a_playable_partial_file_that_the_next_run_points_to(probe, flat, tmp_path):
    out, log = tmp_path / "out.mp4", tmp_path / "out.jsonl"
    proc = subprocess.Popen([sys.executable, "-m", "ovdemo", "detect", "-m", str(probe), "-i", str(flat), "--loop",
                             "-o", str(out), "--json", str(log), "--no-show"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    _wait_for(lambda: any(p.read_text().count("\n") >= 150 for p in tmp_path.glob("out.partial-*.jsonl")), proc)
    proc.kill()
    proc.communicate()
    video = tmp_path / f"out.partial-{proc.pid}.mp4"
    lines = whole_lines(tmp_path / f"out.partial-{proc.pid}.jsonl")
    codec, frames = decoded(video)
    assert codec == "h264" and 60 <= len(frames) <= len(lines) and frames[0].shape == (64, 96, 3)
    assert not out.exists() and not log.exists()
    kept = digest(video)
    result = run_ovdemo("detect", "-m", probe, "-i", flat, "-o", out, "--json", log, "--no-show")
    assert result.returncode == 0, result.stderr
    assert f"warning: a run writing {out} was killed before it finished: what it wrote is in '{video}'" in \
        result.stderr
    assert digest(video) == kept and len(decoded(out)[1]) == 8
    assert leftovers(tmp_path) == sorted([video.name, f"out.partial-{proc.pid}.jsonl"])


def test_a_broken_pipe_ends_quietly(probe, flat):
    proc = subprocess.run(f"{sys.executable} -m ovdemo detect -m {probe} -i {flat} --loop --max-frames 5000 -r "
                          "--no-show | head -1", shell=True, capture_output=True, text=True, timeout=120,
                          executable="/bin/bash")
    assert proc.stdout == "frame 0: 1 object\n"
    assert "Traceback" not in proc.stderr and "BrokenPipe" not in proc.stderr and "error" not in proc.stderr


def test_json_to_stdout(probe, flat):
    result = run_ovdemo("detect", "-m", probe, "-i", flat, "--json", "-", "--no-show")
    assert result.returncode == 0, result.stderr
    records = [json.loads(line) for line in result.stdout.splitlines()]  # nothing else on stdout
    assert [r["frame"] for r in records] == list(range(8))
    assert "ovdemo summary" in result.stderr and not Path("-").exists()
    clash = run_ovdemo("detect", "-m", probe, "-i", flat, "--json", "-", "-r", "--no-show")
    assert clash.returncode == 2 and "--json - and -r would both write to standard output" in one_line_error(clash)
    assert clash.stdout == ""


@pytest.fixture
def silent_server():
    """A TCP server on loopback that accepts connections and never says a word."""
    server = socket.create_server(("127.0.0.1", 0))
    accepted: list[socket.socket] = []

    def serve():
        while True:
            try:
                accepted.append(server.accept()[0])
            except OSError:
                return

    threading.Thread(target=serve, daemon=True).start()
    yield server.getsockname()[1], accepted
    server.close()
    for conn in accepted:
        conn.close()


@pytest.mark.slow
def test_a_stream_that_never_answers_times_out_and_ctrl_c_acts_at_once(probe, silent_server):
    port, accepted = silent_server
    url = f"http://127.0.0.1:{port}/live.mp4"
    started = time.monotonic()
    result = run_ovdemo("detect", "-m", probe, "-i", url, "--no-show", timeout=60)
    assert result.returncode == 2
    assert f"cannot open stream {url}: no answer within 5 s" in one_line_error(result)
    assert time.monotonic() - started < 30
    proc = subprocess.Popen([sys.executable, "-m", "ovdemo", "detect", "-m", str(probe), "-i", url, "--no-show"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    count = len(accepted)
    _wait_for(lambda: len(accepted) > count, proc, seconds=60)  # it is waiting on the server
    sent = time.monotonic()
    proc.send_signal(signal.SIGINT)
    _, stderr = proc.communicate(timeout=30)
    assert proc.returncode == 130 and "Traceback" not in stderr
    assert time.monotonic() - sent < 2.0


# -- downloads: network, HTTP, checksum and local failures told apart

DOWNLOAD_MODEL = "face-detection-retail-0004"


def last_error(stderr: str) -> str:
    """The error line a download ends with (the lines before it say what is being fetched, and each retry)."""
    assert "Traceback" not in stderr, stderr
    line = stderr.strip().splitlines()[-1]
    assert line.startswith("error: ") and stderr.count("error: ") == 1, stderr
    return line


def test_download_failures_say_which_kind_they_are(models_dir, tmp_path, monkeypatch, capsys):
    model_path(models_dir, DOWNLOAD_MODEL)
    monkeypatch.delenv("OVDEMO_MODELS_DIR", raising=False)
    monkeypatch.setenv("OVDEMO_FETCH_BACKOFF", "0.01")
    with Mirror(models_dir=models_dir) as mirror:
        monkeypatch.setenv("OVDEMO_MODEL_BASE_URL", mirror.base + "/models")
        mirror.fail(f"{DOWNLOAD_MODEL}.bin", "404")
        code, stderr = ovdemo_main(capsys, "models", "download", DOWNLOAD_MODEL)
        line = last_error(stderr)
        assert code == 2 and "HTTP 404 Not Found" in line
        assert "network" not in line and "check the mirror OVDEMO_MODEL_BASE_URL points at" in line
        assert len(mirror.requests_for(f"{DOWNLOAD_MODEL}.bin")) == 1

        mirror.fail(f"{DOWNLOAD_MODEL}.bin", "corrupt")
        code, stderr = ovdemo_main(capsys, "models", "download", DOWNLOAD_MODEL)
        line = last_error(stderr)
        assert code == 2 and "sha384 mismatch" in line and "network" not in line and "retrying" not in stderr
    closed = socket.create_server(("127.0.0.1", 0))
    port = closed.getsockname()[1]
    closed.close()  # nothing listens there: connection refused
    monkeypatch.setenv("OVDEMO_MODEL_BASE_URL", f"http://127.0.0.1:{port}/models")
    monkeypatch.setenv("OVDEMO_FETCH_RETRIES", "2")
    code, stderr = ovdemo_main(capsys, "models", "download", DOWNLOAD_MODEL)
    assert code == 2
    assert stderr.count("retrying") == 2  # told in a log too, not only on a terminal
    assert "gave up after 3 attempts" in last_error(stderr) and "check the network and proxy settings" in stderr


@pytest.mark.parametrize(("size", "read_only", "cause"), [("256k", False, "No space left on device"),
                                                         ("1m", True, "Read-only file system")])
def test_a_cache_that_cannot_take_the_file_fails_at_once_and_keeps_no_partial_file(models_dir, tmp_path, size,
                                                                                  read_only, cause):
    model_path(models_dir, DOWNLOAD_MODEL)
    with Mirror(models_dir=models_dir) as mirror:
        fs = tmp_path / "fs"
        result, _, after = in_small_filesystem(tmp_path, size, [
            "env", f"OVDEMO_HOME={fs}", f"OVDEMO_MODEL_BASE_URL={mirror.base}/models", "OVDEMO_FETCH_BACKOFF=0.01",
            "OVDEMO_MODELS_DIR=", sys.executable, "-m", "ovdemo", "models", "download", DOWNLOAD_MODEL],
            read_only=read_only)
        requests = len(mirror.requests)
    line = last_error(result.stderr)
    assert result.returncode == 2 and f"cannot write {fs}" in line and cause in line
    assert "network" not in line and "retrying" not in result.stderr
    assert requests <= 2  # the .xml and the .bin at most once each: a local failure is not retried
    assert not [p for p in after.rglob("*") if p.name.endswith(".part")]


# -- outputs that are devices, pipes or links are written where they point, and stay what they were

def _device(path: Path) -> Path:
    """A character device with /dev/null's numbers, made in the test's folder (never the machine's /dev)."""
    try:
        os.mknod(path, 0o666 | stat.S_IFCHR, os.makedev(1, 3))
    except PermissionError:
        pytest.skip("mknod needs root (CAP_MKNOD)")
    return path


def _drain(path: Path) -> tuple[threading.Thread, bytearray]:
    """A reader of a FIFO that keeps every byte it reads."""
    data = bytearray()

    def read():
        with open(path, "rb") as fifo:
            while chunk := fifo.read(65536):
                data.extend(chunk)

    thread = threading.Thread(target=read, daemon=True)
    thread.start()
    return thread, data


OUTPUT_FLAGS = {"--json": "out.jsonl", "--metrics-json": "metrics.json", "--output": "out.mp4"}


def test_outputs_that_are_devices_are_written_in_place_and_stay_devices(probe, flat, tmp_path):
    nodes = {flag: _device(tmp_path / name) for flag, name in OUTPUT_FLAGS.items()}
    result = run_ovdemo("detect", "-m", probe, "-i", flat, "--no-show", *(a for f, p in nodes.items() for a in (f, p)))
    assert result.returncode == 0, result.stderr
    for path in nodes.values():
        assert stat.S_ISCHR(path.lstat().st_mode) and path.lstat().st_rdev == os.makedev(1, 3), path
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(OUTPUT_FLAGS.values()), "no lock, no file aside"


def test_an_output_that_is_a_block_device_is_refused(probe, flat, tmp_path, capsys):
    disk = tmp_path / "disk.jsonl"
    try:
        os.mknod(disk, 0o600 | stat.S_IFBLK, os.makedev(7, 0))  # a loop device's numbers: never opened
    except PermissionError:
        pytest.skip("mknod needs root (CAP_MKNOD)")
    code, stderr = ovdemo_main(capsys, "detect", "-m", probe, "-i", flat, "--no-show", "--json", disk)
    assert code == 2 and f"cannot write JSON lines '{disk}': it is a block device (a disk)" in one_line(stderr)
    assert stat.S_ISBLK(disk.lstat().st_mode) and [p.name for p in tmp_path.iterdir()] == ["disk.jsonl"]


def test_outputs_that_are_fifos_give_their_readers_everything(probe, flat, tmp_path):
    readers = {}
    for flag, name in OUTPUT_FLAGS.items():
        os.mkfifo(tmp_path / name)
        readers[flag] = _drain(tmp_path / name)
    result = run_ovdemo("detect", "-m", probe, "-i", flat, "--no-show",
                        *(a for f, n in OUTPUT_FLAGS.items() for a in (f, tmp_path / n)), timeout=120)
    assert result.returncode == 0, result.stderr
    for thread, _ in readers.values():
        thread.join(timeout=10)
    assert [json.loads(line)["frame"] for line in readers["--json"][1].decode().splitlines()] == list(range(8))
    assert json.loads(readers["--metrics-json"][1])["frames"] == 8
    with av.open(io.BytesIO(bytes(readers["--output"][1]))) as container:
        assert len(list(container.decode(video=0))) == 8
    assert all(stat.S_ISFIFO((tmp_path / n).lstat().st_mode) for n in OUTPUT_FLAGS.values())
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(OUTPUT_FLAGS.values())


def test_outputs_through_symbolic_links_write_the_target_and_keep_the_link(probe, flat, tmp_path):
    (tmp_path / "real").mkdir()
    links = {}
    for flag, name in OUTPUT_FLAGS.items():
        links[flag] = tmp_path / f"latest-{name}"
        links[flag].symlink_to(Path("real") / name)
    result = run_ovdemo("detect", "-m", probe, "-i", flat, "--no-show", *(a for f, p in links.items() for a in (f, p)))
    assert result.returncode == 0, result.stderr
    for flag, link in links.items():
        assert link.is_symlink() and os.readlink(link) == f"real/{OUTPUT_FLAGS[flag]}", flag
    assert len(whole_lines(tmp_path / "real" / "out.jsonl")) == 8
    assert json.loads((tmp_path / "real" / "metrics.json").read_text())["frames"] == 8
    assert len(decoded(tmp_path / "real" / "out.mp4")[1]) == 8
    assert leftovers(tmp_path) == [] and leftovers(tmp_path / "real") == []


def test_json_to_a_standard_stream_by_name(probe, flat, tmp_path):
    """/proc/self/fd/1 (like /dev/stdout, which the test leaves alone): the process's own standard output."""
    result = run_ovdemo("detect", "-m", probe, "-i", flat, "--no-show", "--json", "/proc/self/fd/1",
                        "--metrics-json", "/proc/self/fd/2")
    assert result.returncode == 0, result.stderr
    assert [json.loads(line)["frame"] for line in result.stdout.splitlines()] == list(range(8))
    assert '"frames": 8' in result.stderr
    piped = subprocess.run(f"{sys.executable} -m ovdemo detect -m {probe} -i {flat} --loop --max-frames 5000 "
                           "--no-show --json /proc/self/fd/1 | head -1", shell=True, capture_output=True, text=True,
                           timeout=120, executable="/bin/bash")
    assert json.loads(piped.stdout)["frame"] == 0
    assert "Traceback" not in piped.stderr and "error" not in piped.stderr


# -- every signal finishes the outputs, and nothing aborts on the way out

def _text_run(ppocr: Path, images_dir: Path, folder: Path) -> subprocess.Popen:
    """PP-OCRv5 on a page of text, looped: the recognizer's stage falls behind the detector (a backlog of
    words), the case where a thread inside OpenVINO outlived the interpreter."""
    return subprocess.Popen([sys.executable, "-m", "ovdemo", "text", "-m", str(ppocr / "ppocrv5_det.onnx"), "-i",
                             str(images_dir / "page.png"), "--loop", "--no-show", "-o", str(folder / "o.mp4"),
                             "--json", str(folder / "o.jsonl")], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)


def _partial_lines(folder: Path) -> int:
    return sum(p.read_bytes().count(b"\n") for p in folder.glob("o.partial-*.jsonl"))


@pytest.mark.slow
@pytest.mark.parametrize(("sig", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 130), (signal.SIGHUP, 129)])
def test_a_signal_mid_run_of_a_backlogged_stage_finishes_the_outputs(sig, code, ppocr, images_dir, tmp_path):
    proc = _text_run(ppocr, images_dir, tmp_path)
    _wait_for(lambda: _partial_lines(tmp_path) >= 6, proc, seconds=180)
    proc.send_signal(sig)
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == code, stderr[-2000:]  # not 134: SIGABRT, "terminate called without an active exception"
    assert "terminate called" not in stderr and "Traceback" not in stderr
    records = whole_lines(tmp_path / "o.jsonl")
    assert len(records) >= 6 and len(decoded(tmp_path / "o.mp4")[1]) == len(records)
    assert leftovers(tmp_path) == []


@pytest.mark.slow
def test_a_slow_run_killed_outright_keeps_its_video(ppocr, images_dir, tmp_path):
    """Text at a few FPS on a 30 FPS source: a second of video is many seconds of the run, and fragments come by
    the clock as well, so a SIGKILL loses a second of the run's frames, not every frame."""
    proc = _text_run(ppocr, images_dir, tmp_path)
    _wait_for(lambda: _partial_lines(tmp_path) >= 24, proc, seconds=240)
    proc.kill()
    proc.communicate()
    lines = whole_lines(tmp_path / f"o.partial-{proc.pid}.jsonl")
    frames = decoded(tmp_path / f"o.partial-{proc.pid}.mp4")[1]
    assert len(lines) >= 24 and len(frames) >= len(lines) // 2, (len(frames), len(lines))


# -- a video whose writing fails keeps what plays

def _limited(size: int):
    """For a child process: files may not grow past `size` bytes (`ulimit -f`), and a write past it fails with
    EFBIG instead of killing the process (SIGXFSZ ignored)."""
    def limit():
        import resource

        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (size, size))
    return limit


@pytest.mark.parametrize(("limit", "kept"), [(150_000, "in place"), (12_000, "aside")])
def test_a_video_that_cannot_be_written_to_the_end_keeps_what_plays(limit, kept, probe, clips, tmp_path):
    out, log = tmp_path / "out.mp4", tmp_path / "out.jsonl"
    result = subprocess.run([sys.executable, "-m", "ovdemo", "detect", "-m", str(probe), "-i", str(clips["whole"]),
                             "--loop", "--max-frames", "5000", "-o", str(out), "--json", str(log), "--no-show"],
                            capture_output=True, text=True, timeout=300, preexec_fn=_limited(limit))
    assert result.returncode == 2, result.stderr
    error = result.stderr.strip().splitlines()[-1]
    assert "Traceback" not in result.stderr and error.startswith(f"error: cannot write video '{out}': File too large")
    records = whole_lines(log)
    if kept == "in place":  # whole fragments, moved into place: every frame in it plays
        frames = decoded(out)[1]
        assert f"the {len(frames)} frames written before it are in place (they play)" in error
        assert 10 <= len(frames) <= len(records) and leftovers(tmp_path) == []
    else:  # not a frame that plays: the file stays aside, and the error says where
        assert not out.exists() and leftovers(tmp_path) == [partial.name for partial in tmp_path.glob("out.partial-*")]
        assert f"what was written is in '{next(tmp_path.glob('out.partial-*.mp4'))}'" in error


# -- numbers that are no numbers: NaN, infinities, values the code cannot use

def test_a_nan_threshold_from_python_is_refused():
    import ovdemo
    from ovdemo.common.errors import DemoError

    with pytest.raises(DemoError, match="threshold=nan is out of range"):
        ovdemo.load("person-detection-0202", family="detect", threshold=float("nan"))


@pytest.mark.parametrize(("name", "value"), [
    ("OVDEMO_FETCH_TIMEOUT", "-5"), ("OVDEMO_FETCH_TIMEOUT", "nan"), ("OVDEMO_FETCH_TIMEOUT", "0"),
    ("OVDEMO_FETCH_RETRIES", "-1"), ("OVDEMO_FETCH_RETRIES", "1e12"), ("OVDEMO_FETCH_RETRIES", "1.5"),
    ("OVDEMO_MODEL_BASE_URL", "not-a-url"),
])
def test_download_settings_that_cannot_work_are_one_line_naming_the_variable(name, value, monkeypatch, capsys):
    monkeypatch.delenv("OVDEMO_MODELS_DIR", raising=False)
    monkeypatch.setenv(name, value)
    code, stderr = ovdemo_main(capsys, "models", "download", DOWNLOAD_MODEL)
    assert code == 2, stderr
    assert f"{name} '{value}'" in last_error(stderr) and "Traceback" not in stderr


# -- what goes wrong is said in one line, exit 2, naming the real cause

def test_inputs_and_outputs_that_cannot_be_used_are_one_line_naming_the_cause(probe, flat, models_dir, tmp_path,
                                                                              capsys):
    image = flat / "f_0.png"
    long_name = tmp_path / ("x" * 300 + ".jsonl")
    fifo = tmp_path / "fifo.mp4"
    os.mkfifo(fifo)
    cases = [
        (["-i", image, "--json", long_name], f"cannot write JSON lines '{long_name}': File name too long"),
        (["-i", tmp_path / ("x" * 300 + ".mp4")], "File name too long"),
        (["-i", fifo], f"input '{fifo}' is a named pipe, not a file"),
        (["-i", image, "-m", "grpc://[::1/m"], "'grpc://[::1/m' is not a model URL (Invalid IPv6 URL)"),
        (["-i", image, "--serve", ""], "--serve '' is not [HOST:]PORT"),
    ]
    with contextlib.suppress(PermissionError):
        os.mknod(tmp_path / "null", 0o666 | stat.S_IFCHR, os.makedev(1, 3))
        cases.append((["-i", tmp_path / "null"], f"input '{tmp_path / 'null'}' is a character device, not a file"))
    for flags, message in cases:
        code, stderr = ovdemo_main(capsys, "detect", "-m", probe, "--no-show", *flags)
        assert code == 2 and message in one_line(stderr), (flags, stderr)
    face = family_args("face", models_dir)
    for flags, message in (
            (["--age-gender", "--age-gender-model", "emotions-recognition-retail-0003"],
             "--age-gender-model emotions-recognition-retail-0003 answers emotion, not age and gender"),
            (["--emotions", "--emotions-model", "person-detection-0202"],
             "--emotions-model person-detection-0202 answers no attribute ovdemo knows, not emotion")):
        code, stderr = ovdemo_main(capsys, *face, "-i", image, *flags)
        assert code == 2 and message in one_line(stderr), (flags, stderr)


def test_standard_output_closed_or_full_is_one_line(probe, flat, tmp_path):
    closed = subprocess.run(f"{sys.executable} -m ovdemo detect -m {probe} -i {flat} --no-show --json - >&-",
                            shell=True, capture_output=True, text=True, timeout=120, executable="/bin/bash")
    assert closed.returncode == 2
    assert "--json - writes to standard output, and it is closed" in one_line_error(closed)
    try:
        os.mknod(tmp_path / "full", 0o666 | stat.S_IFCHR, os.makedev(1, 7))  # /dev/full's numbers
    except PermissionError:
        pytest.skip("mknod needs root (CAP_MKNOD)")
    for flag, what in (("--json", "JSON lines"), ("--metrics-json", "metrics file")):
        full = subprocess.run(f"{sys.executable} -m ovdemo detect -m {probe} -i {flat} --no-show {flag} - "
                              f"> {tmp_path / 'full'}", shell=True, capture_output=True, text=True, timeout=120,
                              executable="/bin/bash")
        assert full.returncode == 2 and "Traceback" not in full.stderr, full.stderr
        assert full.stderr.strip().splitlines()[-1] == (f"error: cannot write {what} to standard output: No space "
                                                        "left on device: free some space, or give a file name")


def _without_privileges(command: list) -> subprocess.CompletedProcess:
    """`command` in a user namespace of its own with no mapping: the same user, without root's capabilities, so
    file permissions hold for it (as for any user who is not root)."""
    if subprocess.run(["unshare", "--user", "true"], capture_output=True).returncode != 0:
        pytest.skip("no user namespaces here (unshare --user)")
    return subprocess.run(["unshare", "--user", *map(str, command)], capture_output=True, text=True, timeout=120)


def test_unreadable_inputs_and_dev_null_without_root(probe, flat, tmp_path):
    locked_file, locked_folder = tmp_path / "a.png", tmp_path / "frames"
    locked_file.write_bytes((flat / "f_0.png").read_bytes())
    locked_folder.mkdir()
    locked_file.chmod(0)
    locked_folder.chmod(0)
    try:
        for source in (locked_file, locked_folder):
            result = _without_privileges([sys.executable, "-m", "ovdemo", "detect", "-m", probe, "-i", source,
                                          "--no-show"])
            assert result.returncode == 2
            assert f"cannot read input '{source}': Permission denied" in one_line_error(result)
    finally:
        locked_folder.chmod(0o755)
    # the usual way to discard output, for a user who may not create files in /dev (nothing there is touched)
    result = _without_privileges([sys.executable, "-m", "ovdemo", "detect", "-m", probe, "-i", flat, "--no-show",
                                  "--json", "/dev/null", "--metrics-json", "/dev/null"])
    assert result.returncode == 0, result.stderr
