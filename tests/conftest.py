"""Shared test fixtures: real models and videos from ../shared, found through environment variables."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
_SHARED = REPO.parent / "shared"


def _dir(env: str, fallback: Path) -> Path | None:
    value = os.environ.get(env)
    path = Path(value) if value else fallback
    return path if path.is_dir() else None


MODELS_DIR = _dir("OVDEMO_MODELS_DIR", _SHARED / "models")
VIDEOS_DIR = _dir("OVDEMO_SAMPLES_DIR", _SHARED / "videos")
IMAGES_DIR = _dir("OVDEMO_IMAGES_DIR", _SHARED / "images")


@pytest.fixture(scope="session")
def models_dir() -> Path:
    if MODELS_DIR is None:
        pytest.skip("real models not available: set OVDEMO_MODELS_DIR to the shared models folder")
    return MODELS_DIR


@pytest.fixture(scope="session")
def videos_dir() -> Path:
    if VIDEOS_DIR is None:
        pytest.skip("sample videos not available: set OVDEMO_SAMPLES_DIR to the shared videos folder")
    return VIDEOS_DIR


@pytest.fixture(scope="session")
def images_dir() -> Path:
    if IMAGES_DIR is None:
        pytest.skip("sample images not available: set OVDEMO_IMAGES_DIR to the shared images folder")
    return IMAGES_DIR


@pytest.fixture(scope="session")
def ppocr(models_dir) -> Path:
    """The folder of the PaddleOCR PP-OCRv5 det and rec ONNX models and their dictionary."""
    folder = models_dir / "ppocrv5" / "onnx"
    if not (folder / "ppocrv5_det.onnx").is_file():
        pytest.skip(f"PP-OCRv5 ONNX models are not in {folder}")
    return folder


def model_path(models_dir: Path, name: str, precision: str = "FP16") -> Path:
    path = models_dir / name / precision / f"{name}.xml"
    if not path.is_file():
        pytest.skip(f"{name} {precision} is not in {models_dir}")
    return path


@pytest.fixture(autouse=True)
def _isolated_home(tmp_path_factory, monkeypatch):
    """No test reads or writes the user's real cache, and no run saves into the repository's runs/ (a headless
    run without outputs keeps its results there: tests/pipeline/test_saved_runs.py runs those in folders of their
    own)."""
    monkeypatch.setenv("OVDEMO_HOME", str(tmp_path_factory.mktemp("ovdemo-home")))
    monkeypatch.setenv("OVDEMO_NO_SAVE", "1")
    # No compiled-model cache shared between runs: three CI runs in four, one entry of a shared cache served a
    # PP-OCRv5 recognizer that read garbage at bf16 to every later text test (tests/pipeline/test_model_cache.py
    # checks the cache itself, in folders of its own)
    monkeypatch.delenv("OVDEMO_CACHE_DIR", raising=False)


# The longest modules, longest first (measured one module at a time, on 2 cores): `make test` hands modules to its
# workers in this order, then the rest in file order, so no long module starts last while the other worker idles.
LONGEST_FIRST = ("test_precision_sweep.py", "test_fresh_clone.py", "test_cpus.py", "test_classify.py", "test_api.py",
                 "test_action.py", "test_action_clip.py")


def pytest_collection_modifyitems(items):
    rank = {name: i for i, name in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))  # stable: each module's tests keep their order
