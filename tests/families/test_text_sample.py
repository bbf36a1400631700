"""`ovdemo text` out of the box: text-sample.png ships with ovdemo (the sample videos have no words to read), the
samples commands know it without a download, the default detector reads its six signs in reading order, and a
missing default recognizer is named in the one line that fails."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
from helpers import one_line_error, read_jsonl, run_ovdemo

from ovdemo.common.models.specs import ASSETS

# the signs of assets/make_text_sample.py, as a reader reads them: lines top to bottom, each left to right
WORDS = ["OPEN", "BOOKS", "BAKERY", "EXIT", "MARKET", "2026"]
RECOGNIZER = "text-recognition-0012"


def _saving_env(models_dir: Path) -> dict[str, str]:
    """Offline, the shared models, no display, and saving as a user's run saves (no OVDEMO_NO_SAVE)."""
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY", "OVDEMO_NO_SAVE",
                                                            "OVDEMO_SAMPLES_DIR")}
    return {**env, "OVDEMO_MODELS_DIR": str(models_dir), "OVDEMO_OFFLINE": "1"}


def _run_saving(cwd: Path, env: dict, *args) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "ovdemo", *map(str, args)], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=300)


def _has_recognizer(models_dir: Path) -> bool:
    return any((models_dir / base / RECOGNIZER).is_dir() for base in ("", "intel"))


def test_the_samples_commands_know_the_shipped_picture(tmp_path):
    env = {"OVDEMO_SAMPLES_DIR": str(tmp_path), "OVDEMO_OFFLINE": "1"}  # an empty samples folder, no network
    where = run_ovdemo("samples", "path", "text-sample", "--offline", env=env)
    assert where.returncode == 0, where.stderr
    assert Path(where.stdout.strip()) == ASSETS / "text-sample.png" and (ASSETS / "text-sample.png").is_file()
    listed = run_ovdemo("samples", "list", "text", env=env)
    assert [ln.split()[:2] for ln in listed.stdout.splitlines()] == [["*", "text-sample"]]  # * = on disk


def test_the_default_detector_reads_the_signs_and_the_run_keeps_them(models_dir, ppocr, tmp_path):
    """horizontal-text-detection-0001 (the default) with the shared PP-OCRv5 recognizer; headless without outputs,
    so the words and the captioned picture are kept under runs/text/1/."""
    result = _run_saving(tmp_path, _saving_env(models_dir), "text", "-i", "text-sample.png", "--recognizer-model",
                         ppocr / "ppocrv5_rec.onnx", "--alphabet", ppocr / "ppocr_keys_v5.txt")
    assert result.returncode == 0, result.stderr
    assert "warning" not in result.stderr.lower(), result.stderr  # (no glyph beyond ASCII: no font needed)
    assert result.stderr.strip().splitlines()[-1].startswith("saved to runs/text/1/: text-sample.jpg, "
                                                             "text-sample.jsonl")
    [record] = read_jsonl(tmp_path / "runs" / "text" / "1" / "text-sample.jsonl")
    assert [o["text"] for o in record["objects"]] == WORDS
    assert all(o["text_confidence"] > 0.8 for o in record["objects"]), record["objects"]
    drawn = cv2.imread(str(tmp_path / "runs" / "text" / "1" / "text-sample.jpg"))
    shipped = cv2.imread(str(ASSETS / "text-sample.png"))
    assert drawn.shape == shipped.shape
    for word in record["objects"]:  # each word's outline is drawn on the kept picture
        x1, y1, x2, y2 = (int(round(v)) for v in word["bbox"])
        change = np.abs(drawn[y1:y2, x1:x2].astype(int) - shipped[y1:y2, x1:x2].astype(int)).max(axis=2)
        assert (change > 60).mean() > 0.02, word


def test_the_default_models_read_the_signs(models_dir, tmp_path):
    """The README's `ovdemo text -i text-sample.png` as written (text-recognition-0012 reads lower case)."""
    if not _has_recognizer(models_dir):
        pytest.skip(f"{RECOGNIZER} is not among the shared models (make demo fetches it with a network)")
    result = run_ovdemo("text", "-i", "text-sample.png", "--json", tmp_path / "w.jsonl", "--no-show",
                        env={"OVDEMO_MODELS_DIR": str(models_dir), "OVDEMO_OFFLINE": "1"})
    assert result.returncode == 0, result.stderr
    [record] = read_jsonl(tmp_path / "w.jsonl")
    assert [o["text"] for o in record["objects"]] == [w.lower() for w in WORDS]


def test_a_missing_default_recognizer_is_named_in_one_line(models_dir, tmp_path):
    if _has_recognizer(models_dir):
        pytest.skip(f"{RECOGNIZER} is among the shared models")
    result = _run_saving(tmp_path, _saving_env(models_dir), "text", "-i", "text-sample.png")
    assert result.returncode == 2
    line = one_line_error(result)
    assert f"'{RECOGNIZER}' is not downloaded" in line and f"ovdemo models download {RECOGNIZER}" in line, line
    assert list(tmp_path.iterdir()) == []  # nothing ran, nothing kept
