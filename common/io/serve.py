"""`--serve [HOST:]PORT`: the annotated stream and live metrics on a small web page, for boxes without a display.

The pipeline only ever drops its newest frame and numbers into one slot (`publish`: no copy, no encoding, never a
wait). An encoder thread turns the newest frame into JPEG once, whoever watches; each viewer's own thread sends
the newest JPEG when it is ready for one, so a slow viewer skips frames and never holds anyone else up.

    GET /              the page: the stream and a table of numbers, refreshed twice a second
    GET /stream.mjpg   the annotated frames as an MJPEG stream (multipart/x-mixed-replace)
    GET /frame.jpg     the newest annotated frame
    GET /metrics.json  the newest numbers: FPS, latency, per-stage times, object counts, line and zone totals
"""

from __future__ import annotations

import json
import re
import threading
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import cv2
import numpy as np

from ..errors import DemoError

DEFAULT_HOST = "127.0.0.1"  # only this machine, unless a host is given
JPEG_QUALITY = 80
SEND_TIMEOUT_S = 10.0  # a viewer that takes no data for this long is dropped
BOUNDARY = "ovdemo-frame"


def parse_address(value: str) -> tuple[str, int]:
    """`PORT`, `HOST:PORT` or `[IPv6]:PORT` -> (host, port); port 0 picks a free one."""
    match = re.fullmatch(r"(?:\[(?P<v6>[^\]]+)\]:|(?P<host>[^:\[\]]*):)?(?P<port>\d{1,5})", value.strip())
    if not match or int(match["port"]) > 65535:
        raise DemoError(f"--serve '{value}' is not [HOST:]PORT", "e.g. --serve 8080 or --serve 0.0.0.0:8080")
    return match["v6"] or match["host"] or DEFAULT_HOST, int(match["port"])


class _Server(ThreadingHTTPServer):
    daemon_threads = True  # viewers never keep the process alive
    block_on_close = False

    def __init__(self, address: tuple[str, int], handler, view: LiveView):
        if ":" in address[0]:
            import socket

            self.address_family = socket.AF_INET6
        self.view = view
        super().__init__(address, handler)

    def handle_error(self, request, client_address):
        """A viewer that goes away mid-frame is normal, not an error worth a traceback."""


class LiveView:
    """The newest frame and numbers of a run, served over HTTP until `close()`."""

    def __init__(self, address: str):
        host, port = parse_address(address)
        try:
            self._server = _Server((host, port), _Handler, self)
        except OSError as e:
            raise DemoError(f"cannot serve on {host}:{port}: {e.strerror or e}",
                            "choose another port (or 0 for any free one) or host") from e
        self._lock = threading.Condition()
        self._raw: np.ndarray | None = None  # newest frame, not yet encoded
        self._raw_seq = 0
        self._jpeg: bytes | None = None  # newest encoded frame
        self._jpeg_seq = 0
        self._numbers: dict = {"running": True, "frames": 0}
        self._closed = False
        self.viewers = 0
        self._threads = [threading.Thread(target=self._server.serve_forever, name="ovdemo-serve", daemon=True),
                         threading.Thread(target=self._encode_loop, name="ovdemo-serve-jpeg", daemon=True)]
        for thread in self._threads:
            thread.start()

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        shown = f"[{host}]" if ":" in host else host
        return f"http://{shown}:{port}/"

    # -- the pipeline's side: never blocks on a viewer
    def publish(self, image: np.ndarray, numbers: dict) -> None:
        """The newest annotated frame (kept by reference: the caller does not draw on it again) and its numbers."""
        with self._lock:
            self._raw, self._raw_seq = image, self._raw_seq + 1
            self._numbers = {**numbers, "running": True}
            self._lock.notify_all()

    def close(self, numbers: dict | None = None) -> None:
        with self._lock:
            if numbers is not None:
                self._numbers = {**numbers}
            self._numbers["running"] = False
            self._closed = True
            self._lock.notify_all()
        self._server.shutdown()
        self._server.server_close()

    # -- the server's side
    def _encode_loop(self) -> None:
        seen = 0
        while True:
            with self._lock:
                while self._raw_seq == seen and not self._closed:
                    self._lock.wait()
                if self._closed:
                    return
                image, seen = self._raw, self._raw_seq
            ok, jpeg = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
            if ok:
                with self._lock:
                    self._jpeg, self._jpeg_seq = jpeg.tobytes(), seen
                    self._lock.notify_all()

    def next_jpeg(self, after: int, timeout: float = 1.0) -> tuple[bytes | None, int]:
        """A JPEG newer than `after` (waiting up to `timeout`), or (None, after) when none came or the run ended."""
        with self._lock:
            self._lock.wait_for(lambda: self._jpeg_seq > after or self._closed, timeout)
            if self._jpeg_seq > after:
                return self._jpeg, self._jpeg_seq
            return None, after

    def count_viewer(self, change: int) -> None:
        with self._lock:
            self.viewers += change

    def newest_jpeg(self) -> bytes | None:
        with self._lock:
            return self._jpeg

    def numbers(self) -> dict:
        with self._lock:
            return {**self._numbers, "viewers": self.viewers}

    @property
    def closed(self) -> bool:
        return self._closed


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"

    def setup(self):
        super().setup()
        self.connection.settimeout(SEND_TIMEOUT_S)

    def log_message(self, format, *args):  # noqa: A002 - the base class's name
        """Requests are not logged: the terminal belongs to the run's progress and summary."""

    def _send(self, body: bytes, content_type: str, status: HTTPStatus = HTTPStatus.OK) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        view = self.server.view
        path = self.path.split("?", 1)[0]
        if path == "/":
            self._send(PAGE.encode(), "text/html; charset=utf-8")
        elif path == "/metrics.json":
            self._send(json.dumps(view.numbers()).encode(), "application/json")
        elif path == "/frame.jpg":
            jpeg = view.newest_jpeg()
            if jpeg is None:
                self._send(b"no frame yet\n", "text/plain", HTTPStatus.SERVICE_UNAVAILABLE)
            else:
                self._send(jpeg, "image/jpeg")
        elif path == "/stream.mjpg":
            self._stream(view)
        else:
            self._send(b"not found\n", "text/plain", HTTPStatus.NOT_FOUND)

    def _stream(self, view: LiveView) -> None:
        self.send_response(HTTPStatus.OK)
        self.send_header("Content-Type", f"multipart/x-mixed-replace; boundary={BOUNDARY}")
        self.send_header("Cache-Control", "no-store")
        self.send_header("Connection", "close")
        self.end_headers()
        self.close_connection = True
        view.count_viewer(+1)
        try:
            seen = 0
            while not view.closed:
                jpeg, seen = view.next_jpeg(seen)
                if jpeg is None:
                    continue
                self.wfile.write(f"--{BOUNDARY}\r\nContent-Type: image/jpeg\r\nContent-Length: {len(jpeg)}\r\n\r\n"
                                 .encode() + jpeg + b"\r\n")
                self.wfile.flush()
        except OSError:
            pass  # the viewer left, or stopped reading for SEND_TIMEOUT_S
        finally:
            view.count_viewer(-1)


def live_numbers(metrics, result, source_name: str, model: str, recent: int = 30) -> dict:
    """What the page shows: the run's live FPS and latency, each stage's mean over the last `recent` frames, the
    objects of the newest frame by label, and line and zone totals when counting."""
    window = list(metrics.recent_timings)[-recent:]
    names = dict.fromkeys(name for timings, _ in window for name in timings)
    stages = {name: round(float(np.mean([t[name] for t, _ in window if name in t])), 2) for name in names}
    latency = [ms for _, ms in window]
    labels: dict[str, int] = {}
    for label in result.objects.labels if len(result.objects) else ():
        labels[label] = labels.get(label, 0) + 1
    return {
        "frames": metrics.frames, "fps": round(metrics.live_fps(), 2),
        "latency_ms": round(float(np.mean(latency)), 1) if latency else None,
        "stages_ms": stages, "objects": len(result.objects), "labels": labels,
        "counts": result.counts or None, "dropped": metrics.dropped, "device": metrics.device,
        "source": source_name, "model": model,
    }


PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>ovdemo live</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
 body { margin: 0; font: 14px/1.4 system-ui, sans-serif; background: #111; color: #eee; display: flex;
        flex-wrap: wrap; gap: 16px; padding: 16px; }
 img { display: block; max-width: min(100%, 960px); height: auto; background: #222; }
 table { border-collapse: collapse; min-width: 260px; align-self: flex-start; }
 td { padding: 2px 10px; border-bottom: 1px solid #333; }
 td.v { text-align: right; font-variant-numeric: tabular-nums; }
 caption { text-align: left; font-weight: bold; padding-bottom: 6px; } .ended { color: #f90; }
</style></head>
<body>
<img id="stream" src="/stream.mjpg" alt="annotated stream">
<table><caption id="title">ovdemo</caption><tbody id="numbers"></tbody></table>
<script>
const rows = document.getElementById("numbers"), title = document.getElementById("title");
function row(name, value, id) {
  const tr = rows.insertRow(), k = tr.insertCell(), v = tr.insertCell();
  k.textContent = name; v.textContent = value; v.className = "v"; if (id) v.id = id;
}
function fmt(x, digits) { return x === null || x === undefined ? "-" : Number(x).toFixed(digits); }
async function refresh() {
  let m;
  try { m = await (await fetch("/metrics.json", {cache: "no-store"})).json(); }
  catch (e) { title.textContent = "ovdemo: the run has ended"; title.className = "ended"; return; }
  title.textContent = `${m.model || "ovdemo"} | ${m.source || ""}` + (m.running ? "" : " (ended)");
  rows.replaceChildren();
  row("FPS", fmt(m.fps, 1), "fps");
  row("latency", fmt(m.latency_ms, 1) + " ms", "latency");
  for (const [stage, ms] of Object.entries(m.stages_ms || {})) row("  " + stage, fmt(ms, 2) + " ms", "stage-" + stage);
  row("objects", m.objects ?? "-", "objects");
  for (const [label, n] of Object.entries(m.labels || {})) row("  " + label, n);
  for (const line of (m.counts && m.counts.lines) || [])
    row(`line ${line.line}`, `in ${Object.values(line.in).reduce((a, b) => a + b, 0)}, ` +
        `out ${Object.values(line.out).reduce((a, b) => a + b, 0)}`);
  for (const zone of (m.counts && m.counts.zones) || [])
    row(`zone ${zone.zone}`, `${zone.occupancy} inside, ${zone.entries} in, ${zone.exits} out`);
  row("frames", m.frames, "frames");
  row("dropped", m.dropped ?? "-");
  row("device", m.device || "-");
  row("viewers", m.viewers ?? "-");
  if (m.running) setTimeout(refresh, 500);
}
refresh();
</script>
</body></html>
"""
