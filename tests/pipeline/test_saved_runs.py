"""A run that shows nothing and is given no output keeps its results under runs/<family>/<n>/ and says where, as
Ultralytics' CLI does; --no-save keeps nothing, and neither does a run with outputs of its own or a window.
Each run here is in its own folder (its runs/ is that folder's), without a display and without the OVDEMO_NO_SAVE
that every other test runs under (tests/conftest.py)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import interrupt_when_ready, read_jsonl, read_video, shared_env
from xdisplay import Xvfb

SAMPLE = "preview-people-detection.gif"  # the example: 480x270, 45 frames
FRAMES = 8


def _env(models_dir, videos_dir, **extra) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY", "OVDEMO_NO_SAVE")}
    return {**env, **shared_env(models_dir, videos_dir), **extra}


def _ovdemo(cwd: Path, env: dict, *args) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "ovdemo", *map(str, args)], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=300)


def _last_line(stderr: str) -> str:
    return [ln for ln in stderr.splitlines() if ln.strip()][-1]


def test_a_headless_run_without_outputs_saves_its_video_and_json_lines(models_dir, videos_dir, tmp_path):
    env = _env(models_dir, videos_dir)
    first = _ovdemo(tmp_path, env, "detect", "-i", SAMPLE, "--max-frames", FRAMES)
    assert first.returncode == 0, first.stderr
    folder = tmp_path / "runs" / "detect" / "1"
    assert _last_line(first.stderr).startswith("saved to runs/detect/1/: "), first.stderr
    video, jsonl = folder / "preview-people-detection.mp4", folder / "preview-people-detection.jsonl"
    assert sorted(p.name for p in folder.iterdir()) == sorted([video.name, jsonl.name])  # no lock or partial file
    records = read_jsonl(jsonl)
    assert [r["frame"] for r in records] == list(range(FRAMES))
    assert any(o["label"] == "person" for r in records for o in r["objects"])
    assert len(read_video(video)) == FRAMES
    before = jsonl.read_bytes()

    second = _ovdemo(tmp_path, env, "detect", "-i", SAMPLE, "--max-frames", 3)  # the next n: nothing overwritten
    assert second.returncode == 0, second.stderr
    assert _last_line(second.stderr).startswith("saved to runs/detect/2/: "), second.stderr
    assert len(read_jsonl(tmp_path / "runs" / "detect" / "2" / jsonl.name)) == 3
    assert jsonl.read_bytes() == before


def test_a_still_image_is_saved_as_an_image(models_dir, images_dir, tmp_path):
    result = _ovdemo(tmp_path, _env(models_dir, None), "detect", "-i", images_dir / "astronaut.png")
    assert result.returncode == 0, result.stderr
    saved = tmp_path / "runs" / "detect" / "1" / "astronaut.jpg"
    assert _last_line(result.stderr).startswith("saved to runs/detect/1/: astronaut.jpg, astronaut.jsonl")
    assert len(read_video(saved)) == 1 and len(read_jsonl(saved.with_suffix(".jsonl"))) == 1


@pytest.mark.parametrize("keep", [("--no-save",), ("--json", "mine.jsonl"), ("-r",)])
def test_no_save_or_an_output_of_its_own_keeps_no_runs_folder(keep, models_dir, videos_dir, tmp_path):
    result = _ovdemo(tmp_path, _env(models_dir, videos_dir), "detect", "-i", SAMPLE, "--max-frames", 2, *keep)
    assert result.returncode == 0, result.stderr
    assert not (tmp_path / "runs").exists() and "saved to" not in result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == (["mine.jsonl"] if "--json" in keep else [])


def test_the_environment_variable_keeps_nothing(models_dir, videos_dir, tmp_path):
    result = _ovdemo(tmp_path, _env(models_dir, videos_dir, OVDEMO_NO_SAVE="1"), "detect", "-i", SAMPLE,
                     "--max-frames", 2)
    assert result.returncode == 0, result.stderr
    assert list(tmp_path.iterdir()) == []


def test_a_run_that_fails_at_set_up_leaves_no_folder(models_dir, videos_dir, tmp_path):
    result = _ovdemo(tmp_path, _env(models_dir, videos_dir), "detect", "-i", SAMPLE, "-m", "no-such-model-0001")
    assert result.returncode == 2 and len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert list(tmp_path.iterdir()) == []


def test_an_interrupted_run_keeps_a_playable_video(models_dir, videos_dir, tmp_path):
    """Ctrl+C once frames are being written: exit 130, and what was written is finished, named and said."""
    folder = tmp_path / "runs" / "detect" / "1"

    def writing() -> bool:
        partial = list(folder.glob("*.partial-*.jsonl")) if folder.is_dir() else []
        return bool(partial) and len(partial[0].read_text().splitlines()) >= 10

    returncode, stderr = interrupt_when_ready(["detect", "-i", "one-by-one-person-detection.mp4"], writing,
                                              cwd=tmp_path, whole_env=_env(models_dir, videos_dir))
    assert returncode == 130, stderr
    assert _last_line(stderr).startswith("saved to runs/detect/1/: "), stderr
    records = read_jsonl(folder / "one-by-one-person-detection.jsonl")
    assert len(records) >= 10
    assert len(read_video(folder / "one-by-one-person-detection.mp4")) == len(records)


def test_a_window_run_saves_nothing(models_dir, videos_dir, tmp_path):
    with Xvfb() as x:
        env = {**_env(models_dir, videos_dir), **x.env}
        result = _ovdemo(tmp_path, env, "detect", "-i", SAMPLE, "--max-frames", 3)
    assert result.returncode == 0, result.stderr
    assert list(tmp_path.iterdir()) == []
