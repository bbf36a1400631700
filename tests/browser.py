"""Headless Chromium (Debian's chromium + chromium-driver) driven over the W3C WebDriver protocol with the
standard library: open pages, run JavaScript in them, take screenshots. `.ci/run` installs both packages."""

from __future__ import annotations

import base64
import contextlib
import json
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

CHROMIUM_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--disable-dev-shm-usage", "--autoplay-policy=no-user-gesture-required")


def chromium_binaries() -> tuple[str, str]:
    """(chromium, chromedriver), or a skip that says how to get them."""
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    driver = shutil.which("chromedriver")
    if not browser or not driver:
        pytest.skip("headless Chromium is not installed: apt-get install chromium chromium-driver "
                    "(.ci/run installs them)")
    return browser, driver


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Chromium:
    """One chromedriver process and one browser session with a fresh profile. Every call is bounded in time."""

    def __init__(self, window: tuple[int, int] = (1280, 800)):
        browser, driver = chromium_binaries()
        self.profile = Path(tempfile.mkdtemp(prefix="ovdemo-chromium-"))
        self.port = _free_port()
        self.driver = subprocess.Popen([driver, f"--port={self.port}"], stdout=subprocess.DEVNULL,
                                       stderr=subprocess.DEVNULL)
        self.base = f"http://127.0.0.1:{self.port}"
        self._wait_for_driver()
        args = [*CHROMIUM_FLAGS, f"--user-data-dir={self.profile}", f"--window-size={window[0]},{window[1]}"]
        caps = {"capabilities": {"alwaysMatch": {"browserName": "chrome",
                                                 "goog:chromeOptions": {"binary": browser, "args": args}}}}
        self.session = self._call("POST", "/session", caps)["sessionId"]

    def _wait_for_driver(self, timeout: float = 20.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(self.base + "/status", timeout=2) as r:
                    if json.load(r)["value"].get("ready"):
                        return
            except OSError:
                time.sleep(0.2)
        self.close()
        raise AssertionError("chromedriver did not start")

    def _call(self, method: str, path: str, body: dict | None = None, timeout: float = 60.0):
        data = json.dumps(body if body is not None else {}).encode() if method == "POST" else None
        request = urllib.request.Request(self.base + path, data=data, method=method,
                                         headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=timeout) as r:
                return json.load(r)["value"]
        except urllib.error.HTTPError as e:
            raise AssertionError(f"WebDriver {method} {path}: {e.read().decode(errors='replace')[:500]}") from e

    def _session(self, method: str, path: str, body: dict | None = None):
        return self._call(method, f"/session/{self.session}{path}", body)

    def open(self, url: str) -> None:
        self._session("POST", "/url", {"url": url})

    def run(self, script: str, *args):
        """Run `script` (a function body: use `return`) in the page and return its value."""
        return self._session("POST", "/execute/sync", {"script": script, "args": list(args)})

    def wait_for(self, script: str, timeout: float = 30.0, interval: float = 0.25):
        """Poll `script` until it returns something truthy; that value, or an AssertionError at the deadline."""
        deadline = time.monotonic() + timeout
        while True:
            value = self.run(script)
            if value:
                return value
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out after {timeout:g} s waiting for: {script}")
            time.sleep(interval)

    def screenshot(self, path: Path) -> Path:
        Path(path).write_bytes(base64.b64decode(self._session("GET", "/screenshot")))
        return Path(path)

    def close(self) -> None:
        if getattr(self, "session", None):
            with contextlib.suppress(OSError, AssertionError):
                self._call("DELETE", f"/session/{self.session}", timeout=20)
            self.session = None
        self.driver.terminate()
        try:
            self.driver.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.driver.kill()
        shutil.rmtree(self.profile, ignore_errors=True)

    def __enter__(self) -> Chromium:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
