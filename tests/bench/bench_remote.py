"""`make bench`: ovdemo detect with its model on a model server over loopback gRPC against the same model local.

Not a test: it prints numbers. A real Triton server (tests/model_server.py) on 127.0.0.1 runs
person-detection-0202 with OpenVINO on this machine's CPU, two instances (as the local run's two throughput
streams on two cores); both runs compute at f32 (the server's precision) and share the same cores, so the
difference is what the round trip costs: serialisation, loopback, Triton's queue and Python stub.
  1. `ovdemo detect -m person-detection-0202` local, end to end, headless;
  2. `ovdemo detect -m grpc://127.0.0.1:PORT/person-detection-0202`, same video, same number of requests;
  3. the remote run's round trip per request against the server's own time (its statistics endpoint).
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

import benchlib
from model_server import ModelServer, Unavailable, model_entry

MODEL = "person-detection-0202"
VIDEO = "people-detection.264"
REQUESTS = 4  # --nireq of both runs


def run(model: str) -> dict:
    """One headless run; its --metrics-json summary."""
    with tempfile.TemporaryDirectory() as tmp:
        metrics = Path(tmp) / "metrics.json"
        cmd = [sys.executable, "-m", "ovdemo", "detect", "-m", model, "-i", str(benchlib.videos_dir() / VIDEO),
               "--models-dir", str(benchlib.models_dir()), "--hint", "throughput", "--nireq", str(REQUESTS),
               "--infer-precision", "f32", "--no-show", "--metrics-json", str(metrics)]
        done = subprocess.run(cmd, capture_output=True, text=True)
        if done.returncode != 0:
            sys.exit(f"{' '.join(cmd)} failed ({done.returncode}):\n{done.stderr.strip()}")
        return json.loads(metrics.read_text())


def main() -> None:
    xml = benchlib.model_xml(MODEL)
    benchlib.require_files(xml, benchlib.videos_dir() / VIDEO)
    print(f"{MODEL} FP16 at f32 on CPU, {REQUESTS} requests in flight, input {VIDEO} (596 frames, 768x432)")
    with tempfile.TemporaryDirectory() as tmp:
        try:
            server = ModelServer([model_entry(benchlib.models_dir(), MODEL, instances=2)], Path(tmp) / "server.log")
        except Unavailable as e:
            sys.exit(f"bench_remote needs the test model server: {e}")
        try:
            local = run(MODEL)
            remote = run(server.grpc(MODEL))
        finally:
            server.stop()
    (row,) = remote["remote"]
    width = 34
    print(f"{'measurement':{width}} {'FPS':>7} {'ratio':>6} {'latency p50':>12}")
    print(f"{'ovdemo detect, local model':{width}} {local['fps']:7.1f} {1.0:6.2f} {local['latency_ms']['p50']:9.0f} ms")
    print(f"{'ovdemo detect, loopback gRPC':{width}} {remote['fps']:7.1f} {remote['fps'] / local['fps']:6.2f} "
          f"{remote['latency_ms']['p50']:9.0f} ms")
    added = 1000.0 / remote["fps"] - 1000.0 / local["fps"]
    print(f"added per frame: {added:.1f} ms of wall time (1/FPS), "
          f"{remote['latency_ms']['p50'] - local['latency_ms']['p50']:.0f} ms of latency p50")
    server_ms = "server time n/a" if row["server_ms"] is None else \
        f"on the server {row['server_ms']:.1f} ms, network and client {row['network_ms']:.1f} ms"
    print(f"remote round trip per request: {row['round_trip_ms']:.1f} ms ({server_ms}); local infer stage "
          f"{local['stages_ms']['infer']:.1f} ms")


if __name__ == "__main__":
    main()
