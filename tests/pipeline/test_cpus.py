"""Several ovdemo processes on one machine, each on its own cores (`--cpus`, or the mask it was started with), and
`--workers`: the streams of one command in several processes, with the outputs one process writes (Ctrl+C
with --workers: test_streams.py).

Where threads run is read from the kernel (`/proc/PID/task/*/status`, Cpus_allowed_list) while the processes
run, on person-detection-0202 and a real video: never from timings."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from helpers import one_line_error, read_jsonl, read_video, run_ovdemo, shared_env
from test_streams import by_stream, written_lines

from ovdemo.common.engine import cpus

DETECTOR = "person-detection-0202"
MASK = sorted(os.sched_getaffinity(0))
two_cores = pytest.mark.skipif(len(MASK) < 2, reason="needs a process mask of two cores or more")


def thread_cores(pid: int) -> dict[int, set[int]]:
    """Each live thread of a process -> the cores the kernel lets it run on."""
    found = {}
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            status = (task / "status").read_text()
        except OSError:  # the thread ended meanwhile
            continue
        line = next(ln for ln in status.splitlines() if ln.startswith("Cpus_allowed_list"))
        found[int(task.name)] = set(cpus.parse(line.split(":", 1)[1].strip()))
    return found


def start_detect(tmp_path: Path, name: str, videos_dir, models_dir, *flags) -> tuple[subprocess.Popen, Path]:
    """A detect run on a few hundred frames of a real video, its JSON lines written as it goes."""
    records = tmp_path / f"{name}.jsonl"
    cmd = [sys.executable, "-m", "ovdemo", "detect", "-m", DETECTOR, "--no-show", "--loop", "--max-frames", "300",
           "-i", videos_dir / "one-by-one-person-detection.mp4", "--json", records, *flags]
    proc = subprocess.Popen(list(map(str, cmd)), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, **shared_env(models_dir, videos_dir)})
    return proc, records


def sample_while_running(procs: list[tuple[subprocess.Popen, Path]], samples: int = 10) -> list[list[dict]]:
    """Every thread's cores of each process, sampled `samples` times while all of them infer frames."""
    deadline = time.monotonic() + 180
    while any(written_lines(records) < 5 for _, records in procs) and time.monotonic() < deadline:
        assert all(p.poll() is None for p, _ in procs), [p.communicate()[1] for p, _ in procs]
        time.sleep(0.2)
    seen = []
    for _ in range(samples):
        if any(p.poll() is not None for p, _ in procs):
            break
        seen.append([thread_cores(p.pid) for p, _ in procs])
        time.sleep(0.2)
    assert len(seen) >= 3, "the runs ended before their threads could be read"
    return seen


def finish(procs: list[tuple[subprocess.Popen, Path]]) -> None:
    for proc, records in procs:
        _, stderr = proc.communicate(timeout=300)
        assert proc.returncode == 0, stderr
        assert len(read_jsonl(records)) == 300


@two_cores
@pytest.mark.slow
def test_processes_given_their_own_cores_run_only_there(videos_dir, models_dir, tmp_path):
    first, second = MASK[0], MASK[1]
    procs = [start_detect(tmp_path, "a", videos_dir, models_dir, "--nthreads", "1", "--cpus", first),
             start_detect(tmp_path, "b", videos_dir, models_dir, "--nthreads", "1", "--cpus", second)]
    try:
        for a, b in sample_while_running(procs):
            assert all(cores == {first} for cores in a.values()), a  # every thread: OpenVINO's, Python's
            assert all(cores == {second} for cores in b.values()), b
    finally:
        for proc, _ in procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGINT)
    for proc, _ in procs:
        proc.communicate(timeout=120)


@two_cores
@pytest.mark.slow
def test_processes_with_fewer_threads_than_cores_pin_no_thread(videos_dir, models_dir, tmp_path):
    """Two runs of one inference thread each, started side by side: OpenVINO's pinning would put both threads
    on the first core; left unpinned, every thread may use every core of the mask, and the kernel spreads them."""
    procs = [start_detect(tmp_path, name, videos_dir, models_dir, "--nthreads", "1") for name in ("a", "b")]
    try:
        for sample in sample_while_running(procs):
            for threads in sample:
                assert all(cores == set(MASK) for cores in threads.values()), threads
    except BaseException:
        for proc, _ in procs:
            proc.kill()
        raise
    finish(procs)


def test_cpu_lists_read_as_taskset_writes_them():
    assert cpus.parse("0,2,4-6") == (0, 2, 4, 5, 6)
    assert cpus.describe({0, 1, 2, 5, 7, 8}) == "0-2,5,7-8"
    assert cpus.split(range(16), 4) == [tuple(range(k, k + 4)) for k in (0, 4, 8, 12)]
    assert [len(s) for s in cpus.split(range(5), 2)] == [3, 2]


@pytest.mark.parametrize("given, problem", [
    ("abc", "is not a list of cores"), ("3-1", "is not a list of cores"), ("0,,1", "is not a list of cores"),
    ("0-99999999", "is not a list of cores"), (str(max(MASK) + 1), "names cores this process may not use"),
])
def test_bad_cpu_lists_are_one_line_naming_the_option(given, problem, videos_dir, tmp_path):
    result = run_ovdemo("detect", "-i", videos_dir / "one-by-one-person-detection.mp4", "--cpus", given,
                        "--json", tmp_path / "out.jsonl", "--no-show")
    assert result.returncode == 2
    line = one_line_error(result)
    assert f"--cpus '{given}' {problem}" in line and ("0-3" in line or "choose among" in line), line
    assert not list(tmp_path.iterdir())  # nothing written


# -- --workers

TWO = ("one-by-one-person-detection.mp4", "people-detection.264")


def two_streams(videos_dir) -> list[str]:
    return [arg for name in TWO for arg in ("-i", str(videos_dir / name))]


def same_boxes(got: list[dict], want: list[dict]) -> bool:
    return len(got) == len(want) and all(
        max(abs(a - b) for a, b in zip(g["bbox"], w["bbox"], strict=True)) <= 1.0 for g, w in zip(
            sorted(got, key=lambda o: o["bbox"]), sorted(want, key=lambda o: o["bbox"]), strict=True))


@two_cores
@pytest.mark.slow
def test_workers_write_what_one_process_writes(videos_dir, models_dir, tmp_path):
    env = shared_env(models_dir, videos_dir)
    runs = {}
    for name, flags in (("one", ()), ("two", ("--workers", "2"))):
        folder = tmp_path / name
        folder.mkdir()
        result = run_ovdemo("detect", "-m", DETECTOR, *two_streams(videos_dir), "--max-frames", "40",
                            "--infer-precision", "f32", "--no-show", "--json", folder / "all.jsonl",
                            "--output", folder / "out_{stream}.mp4", "--metrics-json", folder / "metrics.json",
                            *flags, env=env)
        assert result.returncode == 0, result.stderr
        runs[name] = (folder, result.stderr)
    (one, _), (two, stderr) = runs["one"], runs["two"]
    assert "2 workers" in stderr
    want, got = (by_stream(read_jsonl(folder / "all.jsonl"), 2) for folder in (one, two))
    for s in range(2):
        assert [r["frame"] for r in got[s]] == list(range(40)), s  # each stream's frames, in order
        for g, w in zip(got[s], want[s], strict=True):
            assert g.keys() == w.keys() and g["source"] == w["source"]
            assert same_boxes(g["objects"], w["objects"]), (s, g["frame"])
        assert len(read_video(two / f"out_{s}.mp4")) == 40
    assert sum(len(r["objects"]) for s in got for r in s) > 10  # people were found
    rows = json.loads((two / "metrics.json").read_text())
    assert rows["frames"] == 80 and [r["stream"] for r in rows["streams"]] == [0, 1]
    assert [r["frames"] for r in rows["streams"]] == [40, 40]


def test_workers_beyond_the_streams_are_clamped_with_a_note(videos_dir, models_dir, tmp_path):
    result = run_ovdemo("detect", "-m", DETECTOR, "-i", videos_dir / "one-by-one-person-detection.mp4",
                        "--workers", "4", "--max-frames", "3", "--no-show", "--json", tmp_path / "out.jsonl",
                        env=shared_env(models_dir, videos_dir))
    assert result.returncode == 0, result.stderr
    assert "--workers 4: 1 stream, so 1 worker (one process runs it)" in result.stderr
    assert [r["frame"] for r in read_jsonl(tmp_path / "out.jsonl")] == [0, 1, 2]


def test_workers_with_serve_is_refused(videos_dir, tmp_path):
    result = run_ovdemo("detect", *two_streams(videos_dir), "--workers", "2", "--serve", "0", "--no-show")
    assert result.returncode == 2
    assert "--serve" in one_line_error(result)


@two_cores
def test_the_python_api_keeps_to_the_cores_it_is_given(models_dir):
    code = (f"import os, ovdemo; p = ovdemo.load('person-detection-0202', cpus='{MASK[-1]}'); "
            "print(sorted(os.sched_getaffinity(0)))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                            env={**os.environ, **shared_env(models_dir)})
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == [f"[{MASK[-1]}]"]
