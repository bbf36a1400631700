"""OpenVINO's compiled-model cache (--cache-dir, or OVDEMO_CACHE_DIR): a run that loads its model from the cache
answers exactly as one that compiled it. (The suite no longer shares one cache across its runs: tests/conftest.py
says why.)"""

from __future__ import annotations

from helpers import read_jsonl, run_ovdemo, shared_env

from ovdemo.common.options import CACHE_DIR_ENV

RUN = ("detect", "-i", "preview-people-detection", "--max-frames", "4", "--no-show")


def _objects(tmp_path, name: str, env: dict) -> list:
    log = tmp_path / f"{name}.jsonl"
    result = run_ovdemo(*RUN, "--json", log, env=env)
    assert result.returncode == 0, result.stderr
    return [record["objects"] for record in read_jsonl(log)]


def test_a_run_from_the_cache_answers_as_a_compiled_one(models_dir, videos_dir, tmp_path, monkeypatch):
    monkeypatch.delenv(CACHE_DIR_ENV, raising=False)
    env = shared_env(models_dir, videos_dir)
    compiled = _objects(tmp_path, "compiled", env)
    cache = tmp_path / "cache"
    filled = _objects(tmp_path, "filled", {**env, CACHE_DIR_ENV: str(cache)})  # compiles, and writes the cache
    assert list(cache.glob("*.blob")), "nothing was cached"
    loaded = _objects(tmp_path, "loaded", {**env, CACHE_DIR_ENV: str(cache)})
    assert any(compiled), "no person found: nothing compared"
    assert filled == compiled and loaded == compiled
