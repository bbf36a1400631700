"""A real HTTP server on loopback that serves local model and video folders under the catalog's URL layout,
and can misbehave on request (corrupt, truncate, drop, stall, 404, 500) to test the downloader."""

from __future__ import annotations

import re
import sys
import threading
import time
from collections import defaultdict
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

FAULTS = {"ok", "corrupt", "truncate", "drop", "stall", "404", "500"}


class _QuietServer(ThreadingHTTPServer):
    def handle_error(self, request, client_address):
        """Clients that hang up early (they refused the content, or timed out) are part of the tests."""
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


class Mirror:
    """`<base>/models/<release>/models_bin/1/[<composite>/]<name>/<PREC>/<file>` -> `<models_dir>/<name>/<PREC>/<file>`,
    `<base>/samples/<file>` -> `<samples_dir>/<file>`, and any other `<base>/<host>/<path>` -> `<origins_dir>/<host>/
    <path>` (files laid out as their original URLs have them)."""

    def __init__(self, models_dir: Path | None = None, samples_dir: Path | None = None, stall_seconds: float = 3.0,
                 origins_dir: Path | None = None):
        self.models_dir, self.samples_dir, self.stall_seconds = models_dir, samples_dir, stall_seconds
        self.origins_dir = origins_dir
        self.requests: list[tuple[str, str | None]] = []  # (path, Range header)
        self.faults: dict[str, list[str]] = defaultdict(list)  # file name -> faults for its next requests
        self.chunk_delay = 0.0  # seconds between 64 KiB chunks, to make downloads overlap
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        self.server = _QuietServer(("127.0.0.1", 0), self._handler())
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def __enter__(self) -> Mirror:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stopping.set()
        self.server.shutdown()
        self.server.server_close()

    def fail(self, file_name: str, *faults: str) -> None:
        """Make the next requests for `file_name` misbehave, one fault per request, then serve normally."""
        assert set(faults) <= FAULTS, faults
        with self.lock:
            self.faults[file_name].extend(faults)

    def url(self, original: str) -> str:
        """Where this mirror serves a file whose original URL is `original` (from `origins_dir`)."""
        return f"{self.base}/{original.split('://', 1)[1].split('?')[0]}"

    def requests_for(self, file_name: str) -> list[str | None]:
        return [rng for path, rng in self.requests if path.rsplit("/", 1)[-1] == file_name]

    def _local(self, url_path: str) -> Path | None:
        parts = url_path.strip("/").split("/")
        if parts[0] == "models" and self.models_dir and len(parts) >= 4:
            return self.models_dir.joinpath(*parts[-3:])
        if parts[0] == "samples" and self.samples_dir and len(parts) == 2:
            return self.samples_dir / parts[1]
        if self.origins_dir and ".." not in parts:
            return self.origins_dir.joinpath(*parts)
        return None

    def _next_fault(self, file_name: str) -> str:
        with self.lock:
            queue = self.faults.get(file_name)
            return queue.pop(0) if queue else "ok"

    def _handler(self):
        mirror = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):  # keep test output clean
                pass

            def do_GET(self):  # noqa: N802 (http.server's naming)
                rng = self.headers.get("Range")
                with mirror.lock:
                    mirror.requests.append((self.path, rng))
                local = mirror._local(self.path)
                fault = mirror._next_fault(self.path.rsplit("/", 1)[-1])
                if local is None or not local.is_file() or fault == "404":
                    return self._status(404, "Not Found")
                if fault == "500":
                    return self._status(500, "Internal Server Error")
                data = local.read_bytes()
                if fault == "corrupt":
                    data = data[: len(data) // 2] + bytes([data[len(data) // 2] ^ 0xFF]) + data[len(data) // 2 + 1:]
                if fault == "truncate":
                    data = data[: len(data) // 2]
                start = 0
                match = re.fullmatch(r"bytes=(\d+)-", rng or "")
                if match:
                    start = int(match.group(1))
                    if start >= len(data):
                        self.send_response(416)
                        self.send_header("Content-Range", f"bytes */{len(data)}")
                        self.send_header("Content-Length", "0")
                        self.end_headers()
                        return
                    self.send_response(206)
                    self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
                else:
                    self.send_response(200)
                body = data[start:]
                self.send_header("Content-Length", str(len(body)))
                self.send_header("Accept-Ranges", "bytes")
                self.end_headers()
                if fault in ("drop", "stall"):
                    self.wfile.write(body[: len(body) // 2])
                    self.wfile.flush()
                    if fault == "stall":
                        mirror.stopping.wait(mirror.stall_seconds)
                    self.close_connection = True
                    return
                for i in range(0, len(body), 1 << 16):
                    self.wfile.write(body[i:i + (1 << 16)])
                    if mirror.chunk_delay:
                        time.sleep(mirror.chunk_delay)

            def _status(self, code: int, text: str):
                body = text.encode()
                self.send_response(code)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        return Handler
