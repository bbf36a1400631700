"""The live window on a real (virtual) X display: `q`, Esc and the close button end the run with exit 0 and
finalised outputs, and Qt says nothing about fonts."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from helpers import read_jsonl, read_video, shared_env
from xdisplay import Xvfb


def _lines(path: Path) -> int:
    """Lines written so far: while the run goes on they are in the file aside (<stem>.partial-<pid><suffix>)."""
    written = [path, *path.parent.glob(f"{path.stem}.partial-*{path.suffix}")]
    return max((len(p.read_text().splitlines()) for p in written if p.is_file()), default=0)


@pytest.mark.parametrize("how", ["q", pytest.param("Escape", marks=pytest.mark.slow),
                                 pytest.param("close button", marks=pytest.mark.slow)])
def test_the_user_ends_the_run_from_the_window(how, models_dir, videos_dir, tmp_path):
    with Xvfb() as x:
        out, records = tmp_path / "out.mp4", tmp_path / "out.jsonl"
        env = {**os.environ, **shared_env(models_dir, videos_dir), **x.env}
        env.pop("QT_QPA_FONTDIR", None)
        proc = subprocess.Popen([sys.executable, "-m", "ovdemo", "detect", "-i", "car-detection", "--loop",
                                 "--output", out, "--json", records], stdout=subprocess.DEVNULL,
                                stderr=subprocess.PIPE, text=True, env=env)
        try:
            window = x.wait_window("ovdemo detect")
            assert window, "no window appeared"
            deadline = time.monotonic() + 60
            while _lines(records) < 5 and time.monotonic() < deadline:
                time.sleep(0.2)
            if how == "close button":
                x.close_button(window)
            else:
                x.press(window, how)
            code = proc.wait(timeout=60)  # the run ends: the window neither comes back nor keeps running unseen
        finally:
            if proc.poll() is None:
                proc.kill()
        stderr = proc.stderr.read()
        assert code == 0, stderr
        assert not x.xdotool("search", "--onlyvisible", "--name", "^ovdemo detect$")
    assert "QFont" not in stderr and "font" not in stderr.lower(), stderr
    assert "ovdemo summary" in stderr and "interrupted" not in stderr
    written = read_jsonl(records)
    assert len(written) >= 5
    assert len(read_video(out)) == len(written)  # finalised: every frame processed plays
