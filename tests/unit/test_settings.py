"""The folders `make demo` used are remembered in $OVDEMO_HOME/config.toml and found by a later shell that sets
nothing; --models-dir and the variables still win over them; a broken file is one line naming it."""

from __future__ import annotations

import os
import subprocess
import sys

from helpers import one_line_error

MODEL = "person-detection-0202"


def _bare(home, **extra) -> dict[str, str]:
    """A shell with none of ovdemo's variables but OVDEMO_HOME (every test has its own home)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("OVDEMO_")}
    return {**env, "OVDEMO_HOME": str(home), **extra}


def _remember(home, models_dir, videos_dir) -> subprocess.CompletedProcess:
    """What `make demo` runs after its run: the variables it was given become the settings."""
    return subprocess.run([sys.executable, "-m", "ovdemo.common.settings"], capture_output=True, text=True,
                          env=_bare(home, OVDEMO_MODELS_DIR=str(models_dir), OVDEMO_SAMPLES_DIR=str(videos_dir)))


def _run(env, *args) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "ovdemo", *map(str, args)], capture_output=True, text=True,
                          env=env, timeout=120)


def test_a_later_shell_finds_the_remembered_folders(models_dir, videos_dir, tmp_path):
    home = tmp_path / "home"
    said = _remember(home, models_dir, videos_dir)
    assert said.returncode == 0 and str(home / "config.toml") in said.stderr, said.stderr
    later = _bare(home)  # nothing set, and no network needed
    model = _run(later, "models", "path", MODEL, "--offline")
    assert model.returncode == 0, model.stderr
    assert model.stdout.strip() == str(models_dir.resolve() / MODEL / "FP16" / f"{MODEL}.xml")
    sample = _run(later, "samples", "path", "car-detection", "--offline")
    assert sample.returncode == 0 and sample.stdout.strip() == str(videos_dir.resolve() / "car-detection.mp4")


def test_the_option_and_the_variables_win_over_the_settings(models_dir, videos_dir, tmp_path):
    home, empty = tmp_path / "home", tmp_path / "empty"
    empty.mkdir()
    assert _remember(home, models_dir, videos_dir).returncode == 0
    for env, args in ((_bare(home, OVDEMO_MODELS_DIR=str(empty)), ()), (_bare(home), ("--models-dir", empty))):
        result = _run(env, "models", "path", MODEL, "--offline", *args)
        assert result.returncode == 2 and f"looked in {empty}" in one_line_error(result), result.stderr
    sample = _run(_bare(home, OVDEMO_SAMPLES_DIR=str(empty)), "samples", "path", "car-detection", "--offline")
    assert sample.returncode == 2 and "OVDEMO_SAMPLES_DIR" in one_line_error(sample)


def test_a_broken_settings_file_is_one_line_naming_it(tmp_path):
    (tmp_path / "config.toml").write_text("models_dir = /no/quotes\n")
    result = _run(_bare(tmp_path), "models", "path", MODEL, "--offline")
    assert result.returncode == 2
    line = one_line_error(result)
    assert str(tmp_path / "config.toml") in line and "delete it" in line, line


def test_remembering_keeps_what_it_is_not_given(models_dir, videos_dir, tmp_path):
    assert _remember(tmp_path, models_dir, videos_dir).returncode == 0
    again = subprocess.run([sys.executable, "-m", "ovdemo.common.settings"], capture_output=True, text=True,
                           env=_bare(tmp_path, OVDEMO_MODELS_DIR=str(tmp_path)))
    assert again.returncode == 0, again.stderr
    text = (tmp_path / "config.toml").read_text()
    assert f'models_dir = "{tmp_path.resolve()}"' in text and f'samples_dir = "{videos_dir.resolve()}"' in text
