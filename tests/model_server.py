"""A real Triton Inference Server on 127.0.0.1 for the remote-model tests and bench (tests/remote_server.py in it).

nvidia-pytriton pins numpy<2, so the server runs in a virtual environment of its own, built once with Debian's
/usr/bin/python3.11 (the wheel's Python-backend stub links the system libpython3.11: a venv of a newer 3.11 fails
at model load with `'_thread.RLock' object has no attribute '_recursion_count'`) and cached between runs under
~/.cache/ovdemo-tests (OVDEMO_TEST_CACHE), keyed by the versions it pins. Its OpenVINO is the client's version, so
the server computes what a local run computes.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import socket
import subprocess
import time
import urllib.request
from importlib.metadata import version
from pathlib import Path

SYSTEM_PYTHON = Path(os.environ.get("OVDEMO_SERVER_PYTHON", "/usr/bin/python3.11"))
PYTRITON = "nvidia-pytriton==0.7.0"
SCRIPT = Path(__file__).with_name("remote_server.py")
START_TIMEOUT_S = 240  # Triton and one Python stub per model, on a loaded 2-core machine
INSTALL_TIMEOUT_S = 900


class Unavailable(Exception):
    """The server's environment cannot be built here (no system Python 3.11, no wheel): tests skip."""


def requirements() -> list[str]:
    return [PYTRITON, f"openvino=={version('openvino')}", "numpy<2"]


def server_venv() -> Path:
    """The cached virtual environment with pytriton and OpenVINO; built on first use (about a minute and a half)."""
    pins = requirements()
    key = hashlib.sha256(f"{SYSTEM_PYTHON}|{'|'.join(pins)}".encode()).hexdigest()[:12]
    root = Path(os.environ.get("OVDEMO_TEST_CACHE", "~/.cache/ovdemo-tests")).expanduser()
    venv = root / f"pytriton-{key}"
    if (venv / "ready").is_file():
        return venv
    if not SYSTEM_PYTHON.is_file():
        raise Unavailable(f"the test model server needs Debian's {SYSTEM_PYTHON} (pytriton's stub links it)")
    building = root / f"pytriton-{key}.{os.getpid()}.part"
    shutil.rmtree(building, ignore_errors=True)
    building.parent.mkdir(parents=True, exist_ok=True)
    steps = ([str(SYSTEM_PYTHON), "-m", "venv", str(building)],
             [str(building / "bin" / "python"), "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
              *pins])
    for step in steps:
        done = subprocess.run(step, capture_output=True, text=True, timeout=INSTALL_TIMEOUT_S)
        if done.returncode != 0:
            shutil.rmtree(building, ignore_errors=True)
            lines = [ln for ln in (done.stderr or done.stdout).splitlines() if ln.strip()
                     and not ln.startswith("WARNING: Location")]
            raise Unavailable(f"cannot install {' '.join(pins)}: {lines[-1] if lines else done.returncode}")
    (building / "ready").write_text(" ".join(pins) + "\n")
    try:
        building.rename(venv)
    except OSError:  # another run built it at the same time: theirs is as good
        shutil.rmtree(building, ignore_errors=True)
    return venv


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def model_entry(models_dir: Path, name: str, precision: str = "FP16", served: str | None = None, **extra) -> dict:
    """One model for the server: an IR from the models folder, served under `served` (default: its own name)."""
    return {"name": served or name, "xml": str(models_dir / name / precision / f"{name}.xml"), **extra}


class ModelServer:
    """A running server: `grpc(name)` and `http(name)` give the model URLs ovdemo takes; `kill()` ends it at once
    (Triton and its Python stubs, the whole process group), `stop()` politely."""

    def __init__(self, models: list[dict], log: Path):
        venv = server_venv()
        self.grpc_port, self.http_port = free_port(), free_port()
        self.models = [m["name"] for m in models]
        self.log = log
        with open(log, "wb") as out:
            self.proc = subprocess.Popen(
                [str(venv / "bin" / "python"), str(SCRIPT), "--grpc-port", str(self.grpc_port),
                 "--http-port", str(self.http_port), *(json.dumps(m) for m in models)],
                stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            self._wait_ready()
        except BaseException:
            self.kill()
            raise

    def _wait_ready(self) -> None:
        """Until every model itself answers ready (not only the server), bounded."""
        deadline = time.monotonic() + START_TIMEOUT_S
        waiting = list(self.models)
        while waiting:
            if self.proc.poll() is not None:
                raise RuntimeError(f"the test model server exited ({self.proc.returncode}): {self.log_tail()}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"the test model server was not ready in {START_TIMEOUT_S} s: {self.log_tail()}")
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.http_port}/v2/models/{waiting[0]}/ready",
                                            timeout=2) as answer:
                    if answer.status == 200:
                        waiting.pop(0)
                        continue
            except OSError:
                pass
            time.sleep(0.5)

    def log_tail(self, lines: int = 5) -> str:
        text = self.log.read_text(errors="replace") if self.log.is_file() else ""
        return " | ".join(text.splitlines()[-lines:])

    def grpc(self, model: str) -> str:
        return f"grpc://127.0.0.1:{self.grpc_port}/{model}"

    def http(self, model: str) -> str:
        return f"http://127.0.0.1:{self.http_port}/v2/models/{model}"

    def kill(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(30)

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.kill()
