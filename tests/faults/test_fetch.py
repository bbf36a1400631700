"""The downloader against a real HTTP server on loopback serving the real shared models: official checksums,
network faults, concurrency, and `ovdemo detect` from an empty cache."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from _http_mirror import Mirror

from ovdemo.common.errors import DemoError
from ovdemo.common.models import catalog

MODEL = "face-detection-retail-0004"  # the shared FP16 files are byte-identical to OMZ release 2023.0
XML, BIN = f"{MODEL}.xml", f"{MODEL}.bin"


def sha384(path: Path) -> str:
    return hashlib.sha384(path.read_bytes()).hexdigest()


@pytest.fixture
def mirror(models_dir, monkeypatch):
    with Mirror(models_dir=models_dir, stall_seconds=2.0) as server:
        monkeypatch.setenv("OVDEMO_MODEL_BASE_URL", server.base + "/models")
        monkeypatch.setenv("OVDEMO_FETCH_BACKOFF", "0.01")
        monkeypatch.setenv("OVDEMO_FETCH_TIMEOUT", "5")
        yield server


def cache_dir(precision: str = "FP16") -> Path:
    return catalog.models_cache() / "intel" / MODEL / precision


def download() -> Path:
    return catalog.download(catalog.get_model(MODEL), "FP16", strict=True)[0]


def assert_verified() -> None:
    entry = catalog.get_model(MODEL)
    for f in entry.files["FP16"]:
        assert sha384(catalog.models_cache() / entry.dir / f.path) == f.sha384
    assert not list(cache_dir().glob("*.part"))


def test_official_checksums_verify_through_mirror(mirror, models_dir):
    xml = download()
    assert xml == cache_dir() / XML
    assert_verified()
    assert sha384(xml) == sha384(models_dir / MODEL / "FP16" / XML)
    # the mirror keeps the published relative path, release folder included
    assert all(path.startswith("/models/2023.0/models_bin/1/face-detection-retail-0004/FP16/")
               for path, _ in mirror.requests)
    before = len(mirror.requests)
    download()
    assert len(mirror.requests) == before, "files already valid must not be fetched again"


def test_file_changed_in_cache_is_fetched_again(mirror):
    xml = download()
    xml.write_bytes(xml.read_bytes().replace(b"<net", b"<NET", 1))  # same size, different bytes
    assert not catalog.is_cached(catalog.get_model(MODEL), "FP16")
    download()
    assert_verified()
    assert len(mirror.requests_for(XML)) == 2 and len(mirror.requests_for(BIN)) == 1


def test_corrupted_byte_is_refused(mirror):
    mirror.fail(BIN, "corrupt")
    with pytest.raises(DemoError) as err:
        download()
    text = str(err.value)
    assert "sha384 mismatch" in text and "/FP16/" + BIN in text
    assert f"curl -fL -o {cache_dir() / BIN}" in text
    assert not (cache_dir() / BIN).exists() and not (cache_dir() / XML).exists()
    assert not (cache_dir() / (BIN + ".part")).exists()
    download()  # the mirror behaves again: a clean download follows
    assert_verified()


def test_truncated_file_is_never_installed(mirror):
    mirror.fail(BIN, "truncate")
    with pytest.raises(DemoError) as err:
        download()
    size = catalog.get_model(MODEL).files["FP16"][1].size
    assert f"the server's file has {size // 2:,} bytes, the catalog expects {size:,}" in str(err.value)
    assert not (cache_dir() / BIN).exists()
    assert len(mirror.requests_for(BIN)) == 1, "a file of the wrong size is not worth retrying"


def test_shared_person_detection_bytes_are_not_the_catalogs(mirror, models_dir):
    """../shared holds person-detection-0202 from release 2021.2: a mirror serving it must not pass."""
    if not (models_dir / "person-detection-0202" / "FP16").is_dir():
        pytest.skip("person-detection-0202 not in the shared models")
    with pytest.raises(DemoError, match="catalog expects"):
        catalog.download(catalog.get_model("person-detection-0202"))
    assert not list((catalog.models_cache() / "intel" / "person-detection-0202" / "FP16").glob("*.bin"))


def test_dropped_connection_resumes_with_range(mirror):
    mirror.fail(BIN, "drop")
    download()
    assert_verified()
    ranges = mirror.requests_for(BIN)
    assert ranges[0] is None and ranges[1] and ranges[1].startswith("bytes=") and ranges[1] != "bytes=0-"


def test_not_found_fails_at_once_with_a_curl_command(mirror):
    mirror.fail(BIN, "404")
    with pytest.raises(DemoError) as err:
        download()
    text = str(err.value)
    assert "HTTP 404" in text and mirror.base + "/models/2023.0/models_bin/1/" in text and "curl -fL -o" in text
    assert len(mirror.requests_for(BIN)) == 1
    assert not (cache_dir() / BIN).exists()


def test_server_error_then_success(mirror):
    mirror.fail(BIN, "500")
    download()
    assert_verified()
    assert len(mirror.requests_for(BIN)) == 2


def test_stall_past_timeout_resumes(mirror, monkeypatch):
    monkeypatch.setenv("OVDEMO_FETCH_TIMEOUT", "0.5")
    mirror.fail(BIN, "stall")
    download()
    assert_verified()
    assert mirror.requests_for(BIN)[1].startswith("bytes=")


def test_stall_every_time_gives_a_clear_error(mirror, monkeypatch):
    monkeypatch.setenv("OVDEMO_FETCH_TIMEOUT", "0.3")
    monkeypatch.setenv("OVDEMO_FETCH_RETRIES", "1")
    mirror.fail(BIN, "stall", "stall")
    with pytest.raises(DemoError) as err:
        download()
    assert "timed out" in str(err.value) and "gave up after 2 attempts" in str(err.value)
    assert not (cache_dir() / BIN).exists()


def _cli(*args: str, env: dict[str, str]) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "ovdemo", *args], env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("OVDEMO_MODELS_DIR", "OVDEMO_OFFLINE")}
    env.update(extra)
    return env


def test_two_processes_download_the_same_model(mirror):
    mirror.chunk_delay = 0.05  # slow enough that the two runs overlap
    env = _env()
    runs = [_cli("models", "download", MODEL, env=env) for _ in range(2)]
    outputs = [run.communicate(timeout=60) for run in runs]
    assert [run.returncode for run in runs] == [0, 0], outputs
    assert all(out.strip() == str(cache_dir() / XML) for out, _ in outputs)
    assert_verified()
    assert len(mirror.requests_for(BIN)) == 1 and len(mirror.requests_for(XML)) == 1


def _detect(image: Path, *extra: str, env: dict[str, str], tmp_path: Path) -> tuple[subprocess.CompletedProcess, Path]:
    out = tmp_path / f"faces{len(list(tmp_path.glob('faces*')))}.jsonl"
    run = subprocess.run([sys.executable, "-m", "ovdemo", "detect", "-m", MODEL, "-i", str(image), "--no-show",
                          "--json", str(out), *extra], env=env, capture_output=True, text=True, timeout=120)
    return run, out


def _faces(jsonl: Path) -> list[dict]:
    return [o for line in jsonl.read_text().splitlines() for o in json.loads(line)["objects"]]


def test_detect_downloads_then_runs_offline(mirror, images_dir, tmp_path):
    image = images_dir / "astronaut.png"
    env = _env()
    run, out = _detect(image, env=env, tmp_path=tmp_path)
    assert run.returncode == 0, run.stderr
    assert _faces(out), "a face must be found in astronaut.png"
    assert_verified()
    fetched = len(mirror.requests)
    run, out = _detect(image, "--offline", env=env, tmp_path=tmp_path)
    assert run.returncode == 0, run.stderr
    assert _faces(out) and len(mirror.requests) == fetched


def test_offline_with_empty_cache_names_the_download_command(images_dir, tmp_path):
    env = _env(OVDEMO_HOME=str(tmp_path / "empty-home"))
    run, _ = _detect(images_dir / "astronaut.png", "--offline", env=env, tmp_path=tmp_path)
    assert run.returncode == 2
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ")
    assert f"ovdemo models download {MODEL}" in lines[0] and "--offline" in lines[0]
