"""Remote models (-m grpc://..., -m http://...) against a real Triton Inference Server on 127.0.0.1.

The server (tests/model_server.py) runs Open Model Zoo IRs with OpenVINO at f32, as the local runs here do
(--infer-precision f32): a remote model must give exactly what the same model gives locally.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import av
import pytest
from _stalling_proxy import StallingProxy
from helpers import one_line_error, read_jsonl, run_ovdemo, shared_env
from model_server import ModelServer, Unavailable, free_port, model_entry

from ovdemo.common.errors import DemoError
from ovdemo.common.models.remote import RemoteModel, TensorInfo
from ovdemo.common.models.remote_ref import RemoteModelRef, parse_ref

DETECTOR = "person-detection-0202"
FACES = "face-detection-retail-0004"
AGE_GENDER = "age-gender-recognition-retail-0013"
SLOW = "slow-person-detector"  # person-detection-0202 behind a callable that sleeps SLOW_S per request
SLOW_S = 3.0
WRONG = "misdescribed-detector"  # person-detection-0202 (512x512 only) described as taking any height and width
FRAMES = 30  # people-detection.264: the first person walks in at frame 23


def start_server(models: list[dict], log) -> ModelServer:
    try:
        return ModelServer(models, log)
    except Unavailable as e:
        pytest.skip(str(e))


@pytest.fixture(scope="module")
def server(models_dir, tmp_path_factory):
    served = [model_entry(models_dir, DETECTOR), model_entry(models_dir, FACES),
              model_entry(models_dir, AGE_GENDER, "FP16-INT8", max_batch=8),
              model_entry(models_dir, DETECTOR, served=SLOW, sleep=SLOW_S),
              model_entry(models_dir, DETECTOR, served=WRONG, declare={"image": [1, 3, -1, -1]})]
    server = start_server(served, tmp_path_factory.mktemp("server") / "server.log")
    yield server
    server.stop()


@pytest.fixture(scope="module")
def video(videos_dir):
    return videos_dir / "people-detection.264"


@pytest.fixture(scope="module")
def local_detections(models_dir, video, tmp_path_factory):
    out = tmp_path_factory.mktemp("local") / "local.jsonl"
    done = run_ovdemo("detect", "-m", DETECTOR, "-i", video, "--no-show", "--max-frames", FRAMES, "--json", out,
                      "--infer-precision", "f32", env=shared_env(models_dir))
    assert done.returncode == 0, done.stderr
    return read_jsonl(out)


def same_detections(remote: list[dict], local: list[dict]) -> None:
    assert [r["frame"] for r in remote] == [r["frame"] for r in local] == list(range(FRAMES))
    assert sum(len(r["objects"]) for r in local) >= 5  # the comparison covers people, not only empty frames
    for got, want in zip(remote, local, strict=True):
        assert [o["label"] for o in got["objects"]] == [o["label"] for o in want["objects"]], got["frame"]
        for a, b in zip(got["objects"], want["objects"], strict=True):
            assert a["bbox"] == pytest.approx(b["bbox"], abs=0.2)
            assert a["confidence"] == pytest.approx(b["confidence"], abs=2e-3)


@pytest.mark.parametrize("protocol", ["grpc", pytest.param("http", marks=pytest.mark.slow)])
def test_a_remote_detector_finds_what_the_local_one_finds(protocol, server, models_dir, video, local_detections,
                                                          tmp_path):
    out, metrics = tmp_path / "remote.jsonl", tmp_path / "metrics.json"
    url = server.grpc(DETECTOR) if protocol == "grpc" else server.http(DETECTOR)
    done = run_ovdemo("detect", "-m", url, "-i", video, "--no-show", "--max-frames", FRAMES, "--json", out,
                      "--metrics-json", metrics, "--infer-precision", "f32", env=shared_env(models_dir))
    assert done.returncode == 0, done.stderr
    assert url in done.stderr  # the header says where the model runs
    same_detections(read_jsonl(out), local_detections)
    summary = json.loads(metrics.read_text())
    (row,) = summary["remote"]
    assert row["model"] == url and row["requests"] == FRAMES
    # the server's own time (from its statistics) is part of the round trip; the rest is the network's
    assert 0 < row["server_ms"] <= row["round_trip_ms"]
    assert row["network_ms"] == pytest.approx(row["round_trip_ms"] - row["server_ms"], abs=0.02)


def test_a_face_pipeline_with_a_remote_detector_and_a_remote_batched_stage(server, models_dir, videos_dir,
                                                                           tmp_path):
    """Remote detector, remote age-gender (the server batches: one request per frame), local landmarks: the same
    faces, landmarks, ages and genders as all local."""
    clip = videos_dir / "preview-face-demographics-walking-and-pause.gif"
    runs = {}
    for where, detector, stage in (("local", FACES, AGE_GENDER),
                                   ("remote", server.grpc(FACES), server.grpc(AGE_GENDER))):
        out, metrics = tmp_path / f"{where}.jsonl", tmp_path / f"{where}.json"
        done = run_ovdemo("face", "-m", detector, "--age-gender", "--age-gender-model", stage, "-i", clip,
                          "--no-show", "--max-frames", 8, "--json", out, "--metrics-json", metrics,
                          "--infer-precision", "f32", env=shared_env(models_dir))
        assert done.returncode == 0, done.stderr
        runs[where] = (read_jsonl(out), json.loads(metrics.read_text()))
    (local, _), (remote, summary) = runs["local"], runs["remote"]
    faces = [o for r in local for o in r["objects"]]
    assert len(faces) >= 8 and all("landmarks" in f and "age" in f["attributes"] for f in faces)
    for got, want in zip(remote, local, strict=True):
        assert len(got["objects"]) == len(want["objects"])
        for a, b in zip(got["objects"], want["objects"], strict=True):
            assert a["bbox"] == pytest.approx(b["bbox"], abs=0.2)
            assert sum(a["landmarks"], []) == pytest.approx(sum(b["landmarks"], []), abs=0.5)
            assert a["attributes"]["age"]["value"] == pytest.approx(b["attributes"]["age"]["value"], abs=0.05)
            assert a["attributes"]["gender"]["label"] == b["attributes"]["gender"]["label"]
    rows = {row["model"]: row for row in summary["remote"]}
    frames_with_faces = sum(1 for r in remote if r["objects"])
    assert rows[server.grpc(AGE_GENDER)]["requests"] == frames_with_faces  # a frame's faces go as one batch


def test_the_python_api_takes_a_model_url(server, models_dir, video, local_detections, monkeypatch):
    """ovdemo.load(URL): one image at a time (a blocking request) gives the local model's detections."""
    import cv2

    import ovdemo

    monkeypatch.setenv("OVDEMO_MODELS_DIR", str(models_dir))
    capture = cv2.VideoCapture(str(video))
    images = [capture.read()[1] for _ in range(FRAMES)]
    capture.release()
    predictor = ovdemo.load(server.http(DETECTOR), infer_precision="f32")
    for index in (23, 29):  # frames with a person
        result = predictor(images[index])
        want = local_detections[index]["objects"]
        assert len(result.objects) == len(want) >= 1
        assert result.objects.xyxy.tolist()[0] == pytest.approx(want[0]["bbox"], abs=0.2)


def expect_error(models_dir, video, *args, started: bool = False) -> str:
    """The one error line of a run that fails: at set-up (nothing else on stderr), or once `started` (after the
    run's header and above its summary, as any failure mid-run)."""
    done = run_ovdemo("detect", *args, "-i", video, "--no-show", "--max-frames", 5, env=shared_env(models_dir),
                      timeout=120)
    assert done.returncode == 2, done.stderr
    return error_after_start(done.stderr) if started else one_line_error(done)


def error_after_start(stderr: str) -> str:
    assert "Traceback" not in stderr, stderr
    errors = [ln for ln in stderr.splitlines() if ln.startswith("error: ")]
    assert len(errors) == 1 and stderr.rstrip().endswith(errors[0]), stderr
    return errors[0]


def test_a_server_that_is_not_running(models_dir, video):
    port = free_port()  # nothing listens there
    for url in (f"grpc://127.0.0.1:{port}/{DETECTOR}", f"http://127.0.0.1:{port}/v2/models/{DETECTOR}"):
        line = expect_error(models_dir, video, "-m", url)
        assert f"the model server at 127.0.0.1:{port} is not answering (connection refused)" in line


def test_an_unknown_model_or_version(server, models_dir, video):
    line = expect_error(models_dir, video, "-m", server.grpc("no-such-model"))
    assert f"the model server at 127.0.0.1:{server.grpc_port} has no model 'no-such-model'" in line
    line = expect_error(models_dir, video, "-m", server.http(DETECTOR) + "/versions/7")
    assert f"the model server at 127.0.0.1:{server.http_port} has no model '{DETECTOR}' version 7" in line


def test_a_model_whose_outputs_do_not_fit_the_family(server, models_dir, video):
    line = expect_error(models_dir, video, "-m", server.grpc(AGE_GENDER))
    assert "the model's outputs do not fit the detect demo" in line
    assert "the model has prob [?,2,1,1]; age_conv3 [?,1,1,1]" in line  # what the server said it gives


def test_a_request_of_a_shape_the_server_refuses(server, models_dir, video):
    """The server says any frame size will do, then refuses the 768x432 frames: its reason, in one line."""
    line = expect_error(models_dir, video, "-m", server.grpc(WRONG), started=True)
    assert line == (f"error: inference failed: the model server at 127.0.0.1:{server.grpc_port} refused {WRONG}: "
                    "The input tensor size is not equal to the model input type: got [1,3,432,768] expecting "
                    "[1,3,512,512]: check the server's log")


@pytest.mark.parametrize("protocol", ["grpc", pytest.param("http", marks=pytest.mark.slow)])
def test_a_slow_server_times_out(protocol, server, models_dir, video):
    started = time.monotonic()
    url, port = (server.grpc(SLOW), server.grpc_port) if protocol == "grpc" else (server.http(SLOW), server.http_port)
    line = expect_error(models_dir, video, "-m", url, "--remote-timeout", "1", started=True)
    assert f"the model server at 127.0.0.1:{port} did not answer {SLOW} within 1 s" in line
    assert "--remote-timeout" in line
    assert time.monotonic() - started < 60


@pytest.mark.slow
def test_a_server_killed_mid_run_ends_the_run_with_its_outputs_whole(models_dir, video, tmp_path):
    """The server dies while frames are in flight: the request is tried again, then one line names the server,
    exit 2, and the video and JSON lines written so far are whole (the video plays to its last frame)."""
    server = start_server([model_entry(models_dir, DETECTOR)], tmp_path / "server.log")
    out, lines = tmp_path / "out.mp4", tmp_path / "out.jsonl"
    try:
        proc = subprocess.Popen([sys.executable, "-m", "ovdemo", "detect", "-m", server.grpc(DETECTOR), "-i", video,
                                 "--no-show", "--output", out, "--json", lines, "--infer-precision", "f32"],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                env={**os.environ, **shared_env(models_dir)})
        deadline = time.monotonic() + 120
        while len(list(tmp_path.glob("out*.jsonl"))) == 0 or _lines(tmp_path) < 10:
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, "the run wrote no frames"
            time.sleep(0.2)
    finally:
        server.kill()
    stdout, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 2, stderr
    line = error_after_start(stderr)
    assert line.startswith(f"error: inference failed: the model server at 127.0.0.1:{server.grpc_port} stopped "
                           "answering"), line
    records = read_jsonl(lines)
    assert len(records) >= 10 and [r["frame"] for r in records] == list(range(len(records)))
    with av.open(str(out)) as container:
        frames = sum(1 for _ in container.decode(video=0))
    assert frames == len(records)


def _lines(folder) -> int:
    return sum(len(p.read_bytes().splitlines()) for p in folder.glob("out*.jsonl"))


@pytest.mark.parametrize("url, want", [
    ("grpc://10.0.0.5:9000/person-detection-0202", RemoteModelRef("grpc", "10.0.0.5:9000", "person-detection-0202")),
    ("grpc://server:9000/resnet:3", RemoteModelRef("grpc", "server:9000", "resnet", "3")),
    ("http://server:8000/v2/models/resnet/versions/2", RemoteModelRef("http", "server:8000", "resnet", "2")),
    ("https://models.example.com/v2/models/resnet", RemoteModelRef("http", "models.example.com:443", "resnet", "",
                                                                   True)),
    ("grpc://[::1]:9000/m", RemoteModelRef("grpc", "[::1]:9000", "m")),
])
def test_model_urls(url, want):
    assert parse_ref(url) == want
    assert parse_ref(want.url) == want  # the URL a run's header shows reads back as the same model


def test_how_many_items_a_request_may_carry():
    """A server's max_batch_size; without one (OpenVINO Model Server has no configuration call), any number when
    the batch dimension is open, else one."""
    ref = parse_ref("grpc://h:1/m")
    out = (TensorInfo("y", "FP32", (-1, 2)),)
    assert RemoteModel(ref, (TensorInfo("x", "FP32", (-1, 3, 8, 8)),), out, 8).batch_limit == 8
    assert RemoteModel(ref, (TensorInfo("x", "FP32", (-1, 3, 8, 8)),), out, 0).batch_limit > 32
    assert RemoteModel(ref, (TensorInfo("x", "FP32", (1, 3, 8, 8)),), out, 0).batch_limit == 1


@pytest.mark.parametrize("url", ["grpc://server/resnet", "http://server:8000/resnet", "grpc://server:9000/",
                                 "http://server:8000/v2/models/a/b", "grpc://:9000/m"])
def test_malformed_model_urls(url):
    with pytest.raises(DemoError):
        parse_ref(url)


@pytest.fixture
def stalling(server):
    proxies = []

    def proxy(protocol: str) -> tuple[StallingProxy, str]:
        made = StallingProxy(server.grpc_port if protocol == "grpc" else server.http_port)
        proxies.append(made)
        url = (f"grpc://127.0.0.1:{made.port}/{DETECTOR}" if protocol == "grpc"
               else f"http://127.0.0.1:{made.port}/v2/models/{DETECTOR}")
        return made, url

    yield proxy
    for made in proxies:
        made.close()


def _interrupted(proc: subprocess.Popen) -> tuple[float, str]:
    """SIGINT, then how long the run took to end, and its stderr."""
    sent = time.monotonic()
    proc.send_signal(signal.SIGINT)
    _, stderr = proc.communicate(timeout=60)
    return time.monotonic() - sent, stderr


@pytest.mark.parametrize("protocol", ["grpc", "http"])
def test_ctrl_c_ends_a_run_on_a_hung_server_at_once(protocol, stalling, models_dir, video, tmp_path):
    """The server stops answering mid-run (a proxy that stops relaying); --remote-timeout is 30 s: Ctrl+C ends the
    run within 2 s, its outputs whole, exit 130, no client library's traceback. The same for a hang at start-up."""
    proxy, url = stalling(protocol)
    log = tmp_path / "out.jsonl"
    proc = subprocess.Popen([sys.executable, "-m", "ovdemo", "detect", "-m", url, "-i", video, "--loop", "--no-show",
                             "--json", log, "--remote-timeout", "30"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env={**os.environ, **shared_env(models_dir)})
    deadline = time.monotonic() + 120
    while sum(p.read_bytes().count(b"\n") for p in tmp_path.glob("out.partial-*.jsonl")) < 10:
        assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
        time.sleep(0.1)
    proxy.stall()
    time.sleep(1.0)  # every request in flight now waits on the server
    took, stderr = _interrupted(proc)
    assert proc.returncode == 130 and took < 2.0, (took, stderr[-2000:])
    assert "Traceback" not in stderr and "KeyboardInterrupt" not in stderr
    records = read_jsonl(log)
    assert len(records) >= 10 and [r["frame"] for r in records] == list(range(len(records)))

    hung, url = stalling(protocol)
    hung.stall()  # from the start: the model's description never comes
    proc = subprocess.Popen([sys.executable, "-m", "ovdemo", "detect", "-m", url, "-i", video, "--no-show",
                             "--remote-timeout", "30"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, **shared_env(models_dir)})
    assert hung.connected.wait(60), proc.communicate()
    time.sleep(1.0)
    took, stderr = _interrupted(proc)
    assert proc.returncode == 130 and took < 2.0, (took, stderr[-2000:])
    assert "Traceback" not in stderr and "KeyboardInterrupt" not in stderr
