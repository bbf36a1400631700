"""The shared pipeline through `ovdemo detect`: inputs, ordering, outputs, interruption, errors."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import cv2
import numpy as np
import pytest
from helpers import one_line_error, read_jsonl, read_video, run_ovdemo
from synthetic import brightness_probe, fixed_size_only, unfit_model

FRAMES = 40
STEP = 6  # frame k is a flat image of brightness STEP * k


@pytest.fixture(scope="module")
def probe(tmp_path_factory):
    return brightness_probe(tmp_path_factory.mktemp("model") / "brightness-probe.xml")


@pytest.fixture(scope="module")
def flat_frames(tmp_path_factory):
    """img_000.png ... img_039.png: 96x64 frames, each one flat grey level so its content names it."""
    folder = tmp_path_factory.mktemp("seq")
    for k in range(FRAMES):
        cv2.imwrite(str(folder / f"img_{k:03d}.png"), np.full((64, 96, 3), STEP * k, np.uint8))
    return folder


def encoded_level(record: dict) -> float:
    (obj,) = record["objects"]
    return obj["bbox"][0] / 96 * 510  # the probe puts x1 at brightness / 510 of the width


def test_results_come_out_in_input_order_with_four_requests(probe, flat_frames, tmp_path):
    result = run_ovdemo("detect", "-m", probe, "-i", flat_frames / "img_%03d.png", "--nireq", 4, "--nstreams", 4,
                        "--hint", "throughput", "--json", tmp_path / "o.jsonl", "-o", tmp_path / "out_%03d.png",
                        "--no-show")
    assert result.returncode == 0, result.stderr
    records = read_jsonl(tmp_path / "o.jsonl")
    assert [r["frame"] for r in records] == list(range(FRAMES))
    for k, record in enumerate(records):
        assert encoded_level(record) == pytest.approx(STEP * k, abs=0.6)
    for k in range(FRAMES):  # the written images are the input frames, in order (away from drawings)
        image = cv2.imread(str(tmp_path / f"out_{k:03d}.png"))
        assert image.shape == (64, 96, 3)
        assert int(image[60, 90, 0]) == STEP * k


def test_loop_and_max_frames(probe, flat_frames, tmp_path):
    result = run_ovdemo("detect", "-m", probe, "-i", flat_frames, "--loop", "--max-frames", 100,
                        "--json", tmp_path / "o.jsonl", "--no-show")
    assert result.returncode == 0, result.stderr
    records = read_jsonl(tmp_path / "o.jsonl")
    assert [r["frame"] for r in records] == list(range(100))
    assert [round(encoded_level(r) / STEP) for r in records] == [k % FRAMES for k in range(100)]


@pytest.mark.parametrize("pattern", ["*.png", "img_0[0-1]?.png"])
def test_glob_inputs(probe, flat_frames, tmp_path, pattern):
    result = run_ovdemo("detect", "-m", probe, "-i", str(flat_frames / pattern), "--json", tmp_path / "o.jsonl",
                        "--no-show", "--raw")
    assert result.returncode == 0, result.stderr
    records = read_jsonl(tmp_path / "o.jsonl")
    expected = FRAMES if pattern == "*.png" else 20
    assert len(records) == expected
    assert records[-1]["source"].endswith(pattern)
    assert result.stdout.count("frame ") == expected  # --raw prints every frame
    assert "#1 (1) 0.900" in result.stdout


@pytest.mark.parametrize("suffix", [".mp4", ".avi", ".mkv"])
def test_output_video_has_every_frame_at_input_size(models_dir, videos_dir, tmp_path, suffix):
    source = videos_dir / "preview-people-detection.gif"
    expected = len(read_video(source))
    out = tmp_path / f"out{suffix}"
    result = run_ovdemo("detect", "-m", "person-detection-0202", "-i", source, "-o", out, "--no-show",
                        "--metrics-json", tmp_path / "m.json", env={"OVDEMO_MODELS_DIR": str(models_dir)})
    assert result.returncode == 0, result.stderr
    frames = read_video(out)
    assert len(frames) == expected == 23
    assert frames[0].shape == (270, 480, 3)
    cap = cv2.VideoCapture(str(out))
    assert cap.get(cv2.CAP_PROP_FPS) == pytest.approx(12.5, abs=0.1)  # the source's FPS
    metrics = json.loads((tmp_path / "m.json").read_text())
    assert metrics["frames"] == expected and metrics["fps"] > 0 and metrics["device"] == "CPU"
    assert set(metrics["stages_ms"]) == {"decode", "preprocess", "infer", "postprocess", "render", "write"}
    # the pipeline's own cost: every thread that runs Python for the frames spent some CPU on them; the whole
    # process (inference and the decoder's threads too) spent more than those threads together
    cpu = metrics["cpu_ms_per_frame"]
    assert set(cpu) == {"main", "capture", "requests", "process"} and all(ms > 0 for ms in cpu.values())
    assert cpu["process"] > cpu["main"] + cpu["capture"] + cpu["requests"]


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_interrupted_recording_is_playable_with_every_processed_frame(models_dir, videos_dir, tmp_path, sig):
    out, log = tmp_path / "out.mp4", tmp_path / "out.jsonl"
    proc = subprocess.Popen([sys.executable, "-m", "ovdemo", "detect", "-m", "person-detection-0202",
                             "-i", str(videos_dir / "people-detection.264"), "-o", str(out), "--json", str(log),
                             "--no-show", "--models-dir", str(models_dir)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        partial = list(tmp_path.glob("out.partial-*.jsonl"))  # written aside until the run ends
        if partial and partial[0].read_text().count("\n") >= 40:
            break
        time.sleep(0.1)
    assert proc.poll() is None, "finished before it could be interrupted"
    proc.send_signal(sig)
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130, stderr
    assert "Traceback" not in stderr
    assert "(interrupted)" in stderr  # the summary is still printed
    records = read_jsonl(log)  # every line whole
    assert 40 <= len(records) < 596
    assert [r["frame"] for r in records] == list(range(len(records)))
    frames = read_video(out)
    assert len(frames) == len(records)
    assert frames[0].shape == (432, 768, 3)


def test_errors_are_one_line_with_exit_code_2_and_leave_nothing_behind(models_dir, images_dir, probe, tmp_path):
    image = images_dir / "astronaut.png"
    unfit = unfit_model(tmp_path / "unfit.xml")
    bad_video = tmp_path / "notes.mp4"
    bad_video.write_text("not a video")
    out, log = tmp_path / "out.mp4", tmp_path / "out.jsonl"
    env = {"OVDEMO_MODELS_DIR": str(models_dir)}
    cases = [
        (["-i", tmp_path / "missing.mp4"], "input not found"),
        (["-i", bad_video], "cannot read video"),
        (["-i", "cam9"], "camera 9 could not be opened"),
        (["-i", str(tmp_path / "nothing" / "*.jpg")], "no images match"),
        (["-m", "no-such-model-0000", "-i", image], "no-such-model-0000"),
        (["-m", tmp_path / "absent.xml", "-i", image], "model file not found"),
        (["-m", unfit, "-i", image], "do not fit the detect demo"),
        (["-m", probe, "-i", image, "-d", "GPU"], "device 'GPU' is not available here: available devices: CPU"),
        (["-m", probe, "-i", image, "-o", tmp_path / "no" / "dir" / "x.mp4"], "does not exist"),
        (["-m", probe, "-i", image, "-o", tmp_path / "x.xyz"], "unknown output type"),
        (["-m", probe, "-i", image, "--classes", "unicorn", "--labels", _labels(tmp_path)], "unknown class"),
    ]
    for args, expected in cases:
        extra = [] if "-o" in args else ["-o", out]
        result = run_ovdemo("detect", *args, *extra, "--json", log, "--no-show", env=env)
        assert result.returncode == 2, (args, result.stderr)
        line = one_line_error(result)
        assert expected in line, (args, line)
        assert not out.exists() and not log.exists(), args  # nothing half-written


def _labels(tmp_path):
    path = tmp_path / "labels.txt"
    path.write_text("background\nthing\n")
    return path


def test_unfit_model_error_names_expected_and_actual_outputs(images_dir, tmp_path):
    unfit = unfit_model(tmp_path / "unfit.xml")
    result = run_ovdemo("detect", "-m", unfit, "-i", images_dir / "astronaut.png", "--no-show")
    line = one_line_error(result)
    assert "expected DetectionOutput [1,1,N,7]" in line and "prob" in line and "[1,10]" in line


def test_verbose_shows_the_traceback(images_dir, tmp_path):
    result = run_ovdemo("detect", "-m", tmp_path / "absent.xml", "-i", images_dir / "astronaut.png", "--verbose")
    assert result.returncode == 2
    assert "Traceback" in result.stderr and "model file not found" in result.stderr


@pytest.mark.parametrize("attempt", range(3))  # it raced: the failure could surface while submitting the next frame
def test_a_request_that_fails_at_inference_time_is_an_error_not_a_hang(tmp_path, attempt):
    # OpenVINO skips the callback of a failed request: the pipeline must notice and say so
    model = fixed_size_only(tmp_path / "fixed-size-only.xml")
    folder = tmp_path / "imgs"
    folder.mkdir()
    for k, side in enumerate([64, 64, 48, 64]):
        cv2.imwrite(str(folder / f"{k}.png"), np.full((side, side, 3), 100, np.uint8))
    result = run_ovdemo("detect", "-m", model, "-i", folder, "--no-show", "--json", tmp_path / "o.jsonl",
                        timeout=60)
    assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr
    errors = [ln for ln in result.stderr.splitlines() if ln.startswith("error:")]
    assert len(errors) == 1 and errors[0].startswith("error: inference failed: [cpu]reshape"), result.stderr
    assert len(read_jsonl(tmp_path / "o.jsonl")) == 2  # the frames before the failure were written whole


def test_a_message_of_many_lines_is_shown_on_one():
    from ovdemo.common.errors import one_line

    assert one_line("Exception from src/core.cpp:1:\n\n  check failed\n[cpu] reshape: bad size") == \
        "Exception from src/core.cpp:1: | [cpu] reshape: bad size"
    assert one_line("cannot open x") == "cannot open x"


def test_second_stages_get_a_stream_per_core_of_the_process_under_the_throughput_hint():
    from ovdemo.common.engine.inference import InferenceConfig
    from ovdemo.common.engine.pipeline import stage_streams

    cores = len(os.sched_getaffinity(0))
    assert stage_streams(InferenceConfig(device="CPU", hint="throughput")) == str(cores)
    # what the user set, another hint or another device: the hint's own choice stands
    assert stage_streams(InferenceConfig(device="CPU", hint="throughput", nthreads=1)) is None
    assert stage_streams(InferenceConfig(device="CPU", hint="throughput", nstreams="1")) is None
    assert stage_streams(InferenceConfig(device="CPU", hint="latency")) is None
    assert stage_streams(InferenceConfig(device="GPU", hint="throughput")) is None
