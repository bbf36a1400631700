"""What a new user meets first, from a fresh copy of the repository: `make install` says nothing it need not,
`make demo` without data or network ends with one line naming both ways out, and with the shared folders it
writes an out.mp4 that plays in a browser."""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
from pathlib import Path

import cv2
import pytest
from browser import Chromium
from conftest import MODELS_DIR, REPO, VIDEOS_DIR

pytestmark = pytest.mark.slow  # a fresh virtual environment: about two minutes

DEMO_FRAMES = 300  # the Makefile's --max-frames
# This workplace's pip configuration names index folders that may not exist; pip's notes about them are about the
# machine, not the project.
MACHINE_PIP_NOTE = re.compile(r"^WARNING: Location '[^']*' is ignored: it is neither a file nor a directory\.$")


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _clean_env(**extra) -> dict[str, str]:
    # A fresh shell: no ovdemo settings, and none of the variables an outer make (CI runs `make test`) hands down,
    # which would make the inner make print "make[1]: Entering directory" lines a user never sees.
    inherited = ("MAKEFLAGS", "MFLAGS", "MAKELEVEL", "MAKEOVERRIDES")
    env = {k: v for k, v in os.environ.items() if not k.startswith("OVDEMO_") and k not in inherited}
    return {**env, **extra}


@pytest.fixture(scope="module")
def clone(tmp_path_factory) -> tuple[Path, subprocess.CompletedProcess]:
    """The repository's files as a clone has them (tracked, plus new files not ignored), installed with make."""
    if shutil.which("make") is None or shutil.which("git") is None:
        pytest.skip("needs make and git")
    listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=REPO,
                            capture_output=True)
    if listed.returncode != 0:
        pytest.skip("not a git checkout")
    root = tmp_path_factory.mktemp("fresh") / "ovdemo"
    for name in filter(None, listed.stdout.decode().split("\0")):
        if (REPO / name).is_file():
            (root / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / name, root / name)
    home = tmp_path_factory.mktemp("home")
    installed = subprocess.run(["make", "install"], cwd=root, capture_output=True, text=True, timeout=900,
                               env=_clean_env(OVDEMO_HOME=str(home), SHARED="/nonexistent"))
    assert installed.returncode == 0, installed.stdout + installed.stderr
    return root, installed


def test_install_prints_no_warning(clone):
    _, installed = clone
    said = [ln for ln in (installed.stdout + installed.stderr).splitlines()
            if ln.strip() and not MACHINE_PIP_NOTE.match(ln) and not ln.startswith(("python3 -m venv", "PYTHONWARN",
                                                                                     ".venv/bin/pip"))]
    assert said == [], "\n".join(said)


def test_demo_without_data_or_network_ends_with_one_line_naming_both_ways_out(clone, tmp_path):
    root, _ = clone
    dead = f"http://127.0.0.1:{_closed_port()}/"  # nothing listens: as good as no network, and quick
    result = subprocess.run(["make", "--no-print-directory", "demo", "SHARED=/nonexistent"], cwd=root,
                            capture_output=True, text=True, timeout=300,
                            env=_clean_env(OVDEMO_HOME=str(tmp_path), OVDEMO_SAMPLE_BASE_URL=dead,
                                           OVDEMO_MODEL_BASE_URL=dead, OVDEMO_FETCH_RETRIES="0"))
    assert result.returncode != 0
    ours = [ln for ln in (result.stdout + result.stderr).splitlines() if ln.strip() and not ln.startswith("make: ***")]
    assert len(ours) == 1, ours
    assert "network" in ours[0] and "OVDEMO_SAMPLES_DIR" in ours[0] and "OVDEMO_MODELS_DIR" in ours[0]
    assert "Traceback" not in result.stderr and not (root / "out.mp4").exists()


def test_demo_with_the_shared_folders_writes_a_video_that_plays_in_chromium(clone, tmp_path):
    if MODELS_DIR is None or VIDEOS_DIR is None:
        pytest.skip("the shared models and videos are not available")
    root, _ = clone
    result = subprocess.run(["make", "--no-print-directory", "demo", f"SHARED={MODELS_DIR.parent}"], cwd=root,
                            capture_output=True, text=True, timeout=900,
                            env=_clean_env(OVDEMO_HOME=str(tmp_path), OVDEMO_MODELS_DIR=str(MODELS_DIR),
                                           OVDEMO_SAMPLES_DIR=str(VIDEOS_DIR), OVDEMO_OFFLINE="1"))
    assert result.returncode == 0, result.stderr
    video, records = root / "out.mp4", (root / "out.jsonl").read_text().splitlines()
    assert len(records) == DEMO_FRAMES and json.loads(records[-1])["frame"] == DEMO_FRAMES - 1
    cap = cv2.VideoCapture(str(video))
    fps = cap.get(cv2.CAP_PROP_FPS)
    fourcc = int(cap.get(cv2.CAP_PROP_FOURCC)).to_bytes(4, "little").decode(errors="replace").lower()
    decoded = 0
    while cap.read()[0]:
        decoded += 1
    cap.release()
    assert decoded == DEMO_FRAMES and fps == pytest.approx(10.0)  # every frame, at the sample's 10 FPS
    if fourcc not in ("avc1", "h264"):
        pytest.xfail(f"out.mp4 is '{fourcc}', not H.264: browsers play only H.264 (the PyAV writer of issue 19)")
    page = tmp_path / "play.html"
    page.write_text(f'<!doctype html><video id="v" src="{video.as_uri()}" muted preload="auto"></video>')
    with Chromium() as browser:
        browser.open(page.as_uri())
        state = browser.wait_for("const v = document.getElementById('v');"
                                 "return v.error ? {error: v.error.code} : (v.readyState === 4 && "
                                 "{duration: v.duration, width: v.videoWidth, height: v.videoHeight});", timeout=60)
    assert "error" not in state, f"Chromium cannot play out.mp4 (MediaError code {state.get('error')})"
    assert (state["width"], state["height"]) == (768, 432)
    assert state["duration"] == pytest.approx(DEMO_FRAMES / fps, abs=1.0 / fps)
