"""What `ovdemo models` shows of the models on disk, and what a run says it runs: models found in the models
folder and the cache, `download --for` using the models folder, the header's model file and precision, the
note of a precision fallback, and download progress bars that fit a terminal of 80 columns."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from _http_mirror import Mirror
from click.testing import CliRunner
from conftest import model_path
from helpers import run_ovdemo

from ovdemo.cli import cli as main_cli
from ovdemo.common.models import catalog

ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


@pytest.fixture
def mirror(models_dir):
    with Mirror(models_dir=models_dir) as server:
        yield server


def clean_env(mirror: Mirror, home: Path, **extra: str) -> dict[str, str]:
    """A user's environment without the models folder, downloading from the loopback mirror into `home`."""
    env = {k: v for k, v in os.environ.items() if k not in ("OVDEMO_MODELS_DIR", "OVDEMO_OFFLINE")}
    env.update(OVDEMO_MODEL_BASE_URL=f"{mirror.base}/models", OVDEMO_HOME=str(home), OVDEMO_FETCH_BACKOFF="0.01",
               **extra)
    return env


def ovdemo(*args, env: dict[str, str]) -> subprocess.CompletedProcess:
    run = subprocess.run([sys.executable, "-m", "ovdemo", *map(str, args)], env=env, capture_output=True, text=True,
                         timeout=120)
    assert run.returncode == 0, run.stderr
    return run


def cli(*args) -> str:
    """`ovdemo ARGS` in this process (the environment as monkeypatched); its standard output."""
    result = CliRunner().invoke(main_cli, list(map(str, args)), catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.stdout


def test_list_marks_models_in_the_models_folder_and_in_the_cache(models_dir, mirror, tmp_path, monkeypatch):
    for key, value in clean_env(mirror, tmp_path / "home", OVDEMO_MODELS_DIR=str(models_dir)).items():
        monkeypatch.setenv(key, value)
    names = cli("models", "list", "--downloaded", "--names").split()
    shared_irs = {p.parent.parent.name for p in models_dir.glob("*/*/*.xml")} & set(catalog.models())
    assert len(names) >= 24 and {"person-detection-0202", "face-detection-retail-0004"} <= set(names)
    assert set(names) >= shared_irs and "ssdlite_mobilenet_v2" in names  # (and its TensorFlow graph)
    rows = cli("models", "list", "--task", "detection")
    row = next(line for line in rows.splitlines() if line.startswith("person-detection-0202 "))
    assert "FP16*" in row and "FP16-INT8*" in row and "FP32*" not in row and row.endswith("local"), row

    monkeypatch.delenv("OVDEMO_MODELS_DIR")
    assert cli("models", "list", "--downloaded", "--names") == ""
    cli("models", "download", "face-detection-retail-0004")
    header, *rows = cli("models", "list", "--downloaded").splitlines()  # (issue 26: a header, then the rows)
    assert header.startswith("model ") and header.endswith("where"), header
    assert len(rows) == 1 and rows[0].startswith("face-detection-retail-0004 ") and rows[0].endswith("cache"), rows
    assert "FP16*" in rows[0] and "FP32*" not in rows[0]


def test_download_for_a_family_skips_what_the_models_folder_holds(models_dir, mirror, tmp_path):
    """The face family's six models: five in the models folder, one (whose shared bytes are the catalog's) fetched."""
    family = catalog.families()["face"]["models"]
    fetched_one = "face-detection-retail-0004"
    folder = tmp_path / "models"
    folder.mkdir()
    for name in family:
        if not (models_dir / name).is_dir():
            pytest.skip(f"{name} is not in {models_dir}")
        if name != fetched_one:
            (folder / name).symlink_to(models_dir / name)
    env = clean_env(mirror, tmp_path / "home", OVDEMO_MODELS_DIR=str(folder))
    run = ovdemo("models", "download", "--for", "face", env=env)
    assert all(f"{name}: in the models folder" in run.stderr for name in family if name != fetched_one), run.stderr
    assert {path.rsplit("/", 1)[-1] for path, _ in mirror.requests} == {f"{fetched_one}.xml", f"{fetched_one}.bin"}
    assert run.stdout.split() == [str(tmp_path / "home" / "models" / "intel" / fetched_one / "FP16"
                                      / f"{fetched_one}.xml")]
    everything_local = ovdemo("models", "download", "--for", "face", env={**env, "OVDEMO_MODELS_DIR": str(models_dir)})
    assert len(mirror.requests) == 2 and everything_local.stdout == ""


def test_the_header_names_the_model_file_and_precision_and_a_fallback_is_noted(models_dir, images_dir):
    model_path(models_dir, "person-detection-0202")
    run = run_ovdemo("detect", "-m", "person-detection-0202", "--precision", "FP32", "-i", images_dir / "astronaut.png",
                     "--no-show", env={"OVDEMO_MODELS_DIR": str(models_dir)})
    assert run.returncode == 0, run.stderr
    notes = [line for line in run.stderr.splitlines() if "FP32" in line]
    assert notes == ["note: person-detection-0202: FP32 not found, using FP16"], run.stderr
    header = " ".join(run.stderr.split())  # the console wraps long lines
    assert "detect: person-detection-0202 (person-detection-0202.xml, FP16) on CPU" in header


def test_download_progress_bars_fit_80_columns(mirror, tmp_path):
    """In a terminal of 80 columns each bar stays on one line and shows its counts whole."""
    mirror.chunk_delay = 0.02  # a few refreshes per file
    env = clean_env(mirror, tmp_path / "home", FORCE_COLOR="1", COLUMNS="80", TERM="xterm")
    run = ovdemo("models", "download", "face-detection-retail-0004", "landmarks-regression-retail-0009", env=env)
    lines = [line for line in re.split(r"[\r\n]", ANSI.sub("", run.stderr)) if line.strip()]
    bars = [line for line in lines if "━" in line]
    assert len(bars) >= 4, lines
    assert all(line in bars for line in lines), [line for line in lines if line not in bars]  # nothing wrapped
    for line in bars:
        assert len(line) <= 80, line
        assert re.search(r"\d+(\.\d+)?/\d+(\.\d+)? (kB|MB|bytes)", line), line
    assert any(line.startswith("2 models ") for line in bars)
