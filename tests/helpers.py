"""Helpers for running the real `ovdemo` command and reading what it wrote."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import cv2
import numpy as np


def run_ovdemo(*args, env: dict | None = None, timeout: float = 300, cwd: Path | None = None):
    """Run `python -m ovdemo ARGS` as a user would; returns the CompletedProcess (text mode)."""
    full_env = {**os.environ, **(env or {})}
    return subprocess.run([sys.executable, "-m", "ovdemo", *map(str, args)], capture_output=True, text=True,
                          timeout=timeout, env=full_env, cwd=cwd)


def interrupt_when_ready(args, ready, env: dict | None = None, timeout: float = 120, cwd: Path | None = None,
                         whole_env: dict | None = None) -> tuple[int, str]:
    """Start `python -m ovdemo ARGS`, send it SIGINT (Ctrl+C) once `ready()` says so (or after `timeout`
    seconds); returns its exit code and standard error once it has ended. `env` is added to this process's
    environment; `whole_env`, when given, is the child's whole environment instead (to leave variables out)."""
    cmd = [sys.executable, "-m", "ovdemo", *map(str, args)]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, cwd=cwd,
                            env=whole_env if whole_env is not None else {**os.environ, **(env or {})})
    try:
        deadline = time.monotonic() + timeout
        while not ready() and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.2)
        proc.send_signal(signal.SIGINT)
        _, stderr = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    return proc.returncode, stderr


def shared_env(models_dir: Path, videos_dir: Path | None = None) -> dict[str, str]:
    """The environment that lets `-m NAME` and `-i SAMPLE` find the shared models and videos without a network."""
    env = {"OVDEMO_MODELS_DIR": str(models_dir), "OVDEMO_OFFLINE": "1"}
    return {**env, "OVDEMO_SAMPLES_DIR": str(videos_dir)} if videos_dir else env


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in Path(path).read_text().splitlines()]


def read_video(path: Path, limit: int | None = None) -> list[np.ndarray]:
    """Every frame of a video (the first `limit` of them)."""
    cap = cv2.VideoCapture(str(path))
    frames = []
    while limit is None or len(frames) < limit:
        ok, frame = cap.read()
        if not ok:
            break
        frames.append(frame)
    cap.release()
    return frames


def iou(a, b) -> float:
    ax1, ay1, ax2, ay2 = a
    bx1, by1, bx2, by2 = b
    iw, ih = max(0.0, min(ax2, bx2) - max(ax1, bx1)), max(0.0, min(ay2, by2) - max(ay1, by1))
    inter = iw * ih
    union = (ax2 - ax1) * (ay2 - ay1) + (bx2 - bx1) * (by2 - by1) - inter
    return inter / union if union > 0 else 0.0


def one_line_error(result) -> str:
    """The error a user sees: exactly one line on stderr, no traceback."""
    lines = [ln for ln in result.stderr.splitlines() if ln.strip()]
    assert "Traceback" not in result.stderr, result.stderr
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: "), lines[0]
    return lines[0]
