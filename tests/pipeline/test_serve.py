"""`--serve`: the annotated stream and live metrics on a web page, seen by real viewers (headless Chromium, raw
sockets) while a real run goes on."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request

import cv2
import numpy as np
import pytest
from browser import Chromium
from conftest import REPO
from helpers import one_line_error, run_ovdemo, shared_env

from ovdemo.common.errors import DemoError
from ovdemo.common.io.serve import BOUNDARY, LiveView, parse_address

ARTIFACTS = REPO / "test-output"  # screenshots a person can look at after the run


def test_address_forms():
    assert parse_address("8080") == ("127.0.0.1", 8080)  # this machine only, unless a host is given
    assert parse_address("0.0.0.0:9000") == ("0.0.0.0", 9000)
    assert parse_address("[::1]:0") == ("::1", 0)
    for bad in ("", "x", "host:", "1.2.3.4:99999", "a:b:c"):
        with pytest.raises(DemoError):
            parse_address(bad)


class MjpegViewer:
    """A raw-socket viewer of /stream.mjpg that reads only when asked to."""

    def __init__(self, url: str):
        host, port = url.split("//")[1].rstrip("/").rsplit(":", 1)
        self.sock = socket.create_connection((host, int(port)), timeout=10)
        self.sock.sendall(b"GET /stream.mjpg HTTP/1.1\r\nHost: x\r\n\r\n")
        self.data = b""

    def frames(self, count: int, timeout: float = 20.0) -> list[np.ndarray]:
        self.sock.settimeout(timeout)
        frames = []
        while len(frames) < count:
            start = self.data.find(f"--{BOUNDARY}".encode())
            head = self.data.find(b"\r\n\r\n", start) if start >= 0 else -1
            match = re.search(rb"Content-Length: (\d+)", self.data[start:head]) if head >= 0 else None
            if match and len(self.data) >= head + 4 + int(match[1]):
                body = self.data[head + 4: head + 4 + int(match[1])]
                frames.append(cv2.imdecode(np.frombuffer(body, np.uint8), cv2.IMREAD_COLOR))
                self.data = self.data[head + 4 + int(match[1]):]
                continue
            chunk = self.sock.recv(1 << 20)
            if not chunk:
                break
            self.data += chunk
        return frames

    def close(self) -> None:
        self.sock.close()


def _numbered(i: int) -> np.ndarray:
    """A 640x360 frame whose brightness says which it is (JPEG keeps a flat grey within a level or two)."""
    return np.full((360, 640, 3), (i * 7) % 250, np.uint8)


def test_a_stalled_viewer_never_holds_up_the_pipeline_and_others_get_the_newest_frame():
    view = LiveView("0")
    try:
        assert view.url.startswith("http://127.0.0.1:")
        stalled = MjpegViewer(view.url)  # connects and never reads: its socket buffers fill within frames
        reader = MjpegViewer(view.url)
        published = 0

        def pipeline():  # big noisy frames, as fast as it can: far more than a stalled socket can buffer
            nonlocal published
            noise = np.random.default_rng(0).integers(0, 255, (720, 1280, 3), np.uint8)
            for i in range(300):
                view.publish(noise if i % 2 else _numbered(i // 2), {"frames": i + 1})
                published += 1
                time.sleep(0.002)

        thread = threading.Thread(target=pipeline)
        thread.start()
        thread.join(timeout=60)
        assert not thread.is_alive() and published == 300, "publish() waited on a viewer"
        # the reader then gets the newest frame, not the backlog: the last one published was noise (i = 299)
        view.publish(_numbered(77), {"frames": 301})
        frames = reader.frames(1)
        deadline = time.monotonic() + 20
        while abs(float(frames[-1].mean()) - (77 * 7) % 250) > 3 and time.monotonic() < deadline:
            frames += reader.frames(1)
        assert abs(float(frames[-1].mean()) - (77 * 7) % 250) <= 3
        # what the sockets' buffers held (about 10 frames here), not the 300 published while it was not reading
        assert len(frames) < 60
        assert view.numbers()["viewers"] == 2 and view.numbers()["frames"] == 301
        stalled.close()
        reader.close()
    finally:
        view.close()
    assert view.numbers()["running"] is False


def test_a_port_in_use_is_one_line_and_exit_2(models_dir, videos_dir):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = run_ovdemo("detect", "-i", "car-detection", "--serve", str(port), "--no-show", "--max-frames", "2",
                            env=shared_env(models_dir, videos_dir))
    assert result.returncode == 2
    assert f"cannot serve on 127.0.0.1:{port}" in one_line_error(result)


class _Run:
    """`ovdemo ARGS` in the background; `url` once it says where it serves."""

    def __init__(self, *args, env: dict):
        self.proc = subprocess.Popen([sys.executable, "-m", "ovdemo", *args], stdout=subprocess.DEVNULL,
                                     stderr=subprocess.PIPE, text=True, env={**os.environ, **env})
        self.lines: list[str] = []
        self.url: str | None = None
        self._found = threading.Event()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for line in self.proc.stderr:
            self.lines.append(line)
            match = re.search(r"on (http://\S+/)", line)
            if match:
                self.url = match[1]
                self._found.set()
        self._found.set()

    def wait_url(self, timeout: float = 120.0) -> str:
        self._found.wait(timeout)
        assert self.url, "".join(self.lines)
        return self.url

    def stop(self) -> int:
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout=60)


def _json(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=10) as r:
        return json.load(r)


@pytest.mark.slow
def test_the_page_shows_the_annotated_stream_and_live_numbers_in_chromium(models_dir, videos_dir, tmp_path):
    with Chromium() as browser:
        run = _Run("detect", "-i", "one-by-one-person-detection", "--serve", "127.0.0.1:0", "--loop", "--no-show",
                   "--track", "--line", "0,250,768,250", "--infer-precision", "f32",
                   env=shared_env(models_dir, videos_dir))
        try:
            url = run.wait_url()
            second = MjpegViewer(url)  # another viewer at the same time
            browser.open(url)
            # the stream is playing (the image has the video's size) and the table has live numbers
            browser.wait_for("const i = document.getElementById('stream');"
                             "return i.complete && i.naturalWidth === 768 && i.naturalHeight === 432;", timeout=90)
            browser.wait_for("const f = document.getElementById('frames');"
                             "return f && Number(f.textContent) >= 10 && Number(document.getElementById('fps')"
                             ".textContent) > 0;", timeout=90)
            second_frames = second.frames(3)
            assert len(second_frames) == 3 and second_frames[0].shape == (432, 768, 3)
            page = browser.run("""
                const cells = [...document.querySelectorAll('#numbers tr')]
                    .map(r => [...r.cells].map(c => c.textContent));
                const rect = document.getElementById('stream').getBoundingClientRect();
                return {rows: cells, rect: [rect.x, rect.y, rect.width, rect.height],
                        dpr: window.devicePixelRatio, title: document.getElementById('title').textContent};""")
            ARTIFACTS.mkdir(exist_ok=True)
            shot = browser.screenshot(ARTIFACTS / "serve-page.png")
            server = _json(url + "metrics.json")
            newest = cv2.imdecode(np.frombuffer(urllib.request.urlopen(url + "frame.jpg", timeout=10).read(),
                                                np.uint8), cv2.IMREAD_COLOR)
            second.close()
        finally:
            code = run.stop()
    print(f"screenshot of the page: {shot}")
    assert code == 130, "".join(run.lines)  # SIGTERM: stopped between frames, summary printed
    rows = dict((r[0].strip(), r[1]) for r in page["rows"])
    # every number the issue asks for, as the server counts them
    for name in ("FPS", "latency", "decode", "infer", "render", "objects", "line 0", "frames", "device"):
        assert name in rows, rows
    assert float(rows["FPS"]) > 0 and float(rows["latency"].split()[0]) > 0
    assert float(rows["infer"].split()[0]) > 0
    assert int(rows["frames"]) <= server["frames"] and server["viewers"] >= 2
    assert re.fullmatch(r"in \d+, out \d+", rows["line 0"])
    assert "person-detection-0202" in page["title"] and server["model"] == "person-detection-0202"
    # the screenshot shows the frame: the image area matches the newest served frame (a fixed camera)
    image = cv2.imread(str(shot))
    x, y, w, h = (int(round(v * page["dpr"])) for v in page["rect"])
    assert abs(w - 768) <= 2 and abs(h - 432) <= 2, (w, h)  # shown at its own size
    shown = cv2.cvtColor(cv2.resize(image[y:y + h, x:x + w], (768, 432)), cv2.COLOR_BGR2GRAY).astype(np.float32)
    served = cv2.cvtColor(newest, cv2.COLOR_BGR2GRAY).astype(np.float32)
    assert np.corrcoef(shown.ravel(), served.ravel())[0, 1] > 0.8
    assert shown.std() > 20  # a picture, not a blank box
    # the numbers are in the screenshot too: the table's area is not empty
    table_area = image[y:y + h, x + w + 8:]
    assert (table_area > 128).mean() > 0.002
