"""`-i` takes a sample video by name: `sample:NAME`, or a bare sample name or file name where no such file
exists; from OVDEMO_SAMPLES_DIR first, else downloaded into the cache (verified)."""

from __future__ import annotations

import hashlib

import cv2
import numpy as np
import pytest
from _http_mirror import Mirror
from helpers import one_line_error, read_jsonl, run_ovdemo, shared_env

from ovdemo.common.io.capture import open_source
from ovdemo.common.models import catalog


def test_a_sample_by_name_on_the_command_line(models_dir, videos_dir, tmp_path):
    out = tmp_path / "out.jsonl"
    result = run_ovdemo("detect", "-i", "car-detection.mp4", "--max-frames", "2", "--no-show", "--json", out,
                        env=shared_env(models_dir, videos_dir), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    records = read_jsonl(out)
    assert len(records) == 2 and records[0]["image"] == {"width": 768, "height": 432}
    assert records[0]["source"] == str(videos_dir / "car-detection.mp4")


@pytest.mark.parametrize("spec", ["sample:car-detection", "car-detection", "car-detection.mp4"])
def test_every_spelling_of_a_sample(spec, videos_dir, tmp_path, monkeypatch):
    monkeypatch.setenv("OVDEMO_SAMPLES_DIR", str(videos_dir))
    monkeypatch.chdir(tmp_path)
    source = open_source(spec, offline=True)
    try:
        assert source.name == str(videos_dir / "car-detection.mp4") and source.frame_size == (768, 432)
        assert source.total == 377
    finally:
        source.close()


def test_a_file_of_that_name_comes_first(videos_dir, tmp_path, monkeypatch):
    monkeypatch.setenv("OVDEMO_SAMPLES_DIR", str(videos_dir))
    monkeypatch.chdir(tmp_path)
    writer = cv2.VideoWriter("car-detection.mp4", cv2.VideoWriter_fourcc(*"mp4v"), 10, (320, 240))
    for _ in range(3):
        writer.write(np.zeros((240, 320, 3), np.uint8))
    writer.release()
    source = open_source("car-detection.mp4", offline=True)
    try:
        assert source.name == "car-detection.mp4" and source.frame_size == (320, 240)
    finally:
        source.close()


def test_a_sample_not_on_disk_is_downloaded_and_verified(videos_dir, tmp_path, monkeypatch):
    monkeypatch.setenv("OVDEMO_SAMPLES_DIR", str(tmp_path / "empty"))
    monkeypatch.setenv("OVDEMO_HOME", str(tmp_path / "home"))
    with Mirror(samples_dir=videos_dir) as mirror:
        monkeypatch.setenv("OVDEMO_SAMPLE_BASE_URL", mirror.base + "/samples")
        source = open_source("sample:asl-thanks")
        source.close()
        assert len(mirror.requests_for("asl-thanks.mkv")) == 1
    cached = tmp_path / "home" / "samples" / "asl-thanks.mkv"
    assert source.name == str(cached) and source.frame_size == (640, 480)
    assert hashlib.sha384(cached.read_bytes()).hexdigest() == catalog.get_sample("asl-thanks").sha384


def test_unknown_and_offline_samples_are_one_line_errors(models_dir, tmp_path):
    env = {**shared_env(models_dir), "OVDEMO_SAMPLES_DIR": str(tmp_path)}
    result = run_ovdemo("detect", "-i", "sample:car-detecton", "--no-show", env=env)
    assert result.returncode == 2
    assert "'car-detecton' is not a known sample: did you mean car-detection" in one_line_error(result)
    result = run_ovdemo("detect", "-i", "car-detection", "--no-show", env=env)  # OVDEMO_OFFLINE=1
    assert result.returncode == 2
    assert "sample 'car-detection' is not downloaded and --offline forbids fetching it" in one_line_error(result)
    result = run_ovdemo("detect", "-i", "no-such-video.mp4", "--no-show", env=env)
    assert result.returncode == 2 and "input not found: no-such-video.mp4" in one_line_error(result)
