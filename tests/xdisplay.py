"""A real X display for window tests: Debian's Xvfb, keys typed with xdotool, and the message a window manager
sends when the user clicks a window's close button (WM_DELETE_WINDOW), sent with libX11 itself."""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import shutil
import subprocess
import time

import pytest

CLIENT_MESSAGE = 33  # X11's ClientMessage event type


def needs_x() -> None:
    missing = [tool for tool in ("Xvfb", "xdotool") if shutil.which(tool) is None]
    if missing or ctypes.util.find_library("X11") is None:
        pytest.skip(f"needs a virtual X display: apt-get install xvfb xdotool ({', '.join(missing) or 'libX11'} "
                    "missing; .ci/run installs them)")


class Xvfb:
    """A virtual screen on the first free display number; `env` for programs that should use it."""

    def __init__(self, size: str = "1280x800x24"):
        needs_x()
        read, write = os.pipe()
        self.proc = subprocess.Popen(["Xvfb", "-displayfd", str(write), "-screen", "0", size, "-nolisten", "tcp"],
                                     pass_fds=(write,), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        os.close(write)
        with os.fdopen(read) as pipe:
            number = pipe.readline().strip()
        if not number:
            self.proc.kill()
            raise AssertionError("Xvfb did not start")
        self.display = f":{number}"
        self.env = {"DISPLAY": self.display}

    def xdotool(self, *args, timeout: float = 30.0) -> str:
        result = subprocess.run(["xdotool", *args], capture_output=True, text=True, timeout=timeout,
                                env={**os.environ, **self.env})
        return result.stdout.strip() if result.returncode == 0 else ""

    def wait_window(self, name: str, timeout: float = 120.0) -> int | None:
        """The id of a visible window whose title is `name`, once it appears."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = self.xdotool("search", "--onlyvisible", "--name", f"^{name}$")
            if found:
                return int(found.split()[0])
            time.sleep(0.25)
        return None

    def press(self, window: int, key: str) -> None:
        """Give `window` the keyboard and type `key` as a real key press (XTEST)."""
        self.xdotool("windowfocus", "--sync", str(window))
        self.xdotool("key", key)

    def close_button(self, window: int) -> None:
        """What a window manager does when the close button is clicked: send WM_DELETE_WINDOW to the window."""
        x11 = ctypes.cdll.LoadLibrary(ctypes.util.find_library("X11"))
        x11.XOpenDisplay.restype = ctypes.c_void_p
        x11.XOpenDisplay.argtypes = [ctypes.c_char_p]
        x11.XInternAtom.restype = ctypes.c_ulong
        x11.XInternAtom.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_int]
        x11.XSendEvent.argtypes = [ctypes.c_void_p, ctypes.c_ulong, ctypes.c_int, ctypes.c_long,
                                   ctypes.POINTER(_XEvent)]
        x11.XFlush.argtypes = x11.XCloseDisplay.argtypes = [ctypes.c_void_p]
        display = x11.XOpenDisplay(self.display.encode())
        assert display, f"cannot open display {self.display}"
        try:
            event = _XEvent()
            event.xclient.type = CLIENT_MESSAGE
            event.xclient.window = window
            event.xclient.message_type = x11.XInternAtom(display, b"WM_PROTOCOLS", 0)
            event.xclient.format = 32
            event.xclient.data[0] = x11.XInternAtom(display, b"WM_DELETE_WINDOW", 0)
            event.xclient.data[1] = 0  # CurrentTime
            assert x11.XSendEvent(display, window, 0, 0, ctypes.byref(event))
            x11.XFlush(display)
        finally:
            x11.XCloseDisplay(display)

    def close(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()

    def __enter__(self) -> Xvfb:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class _XClientMessageEvent(ctypes.Structure):
    _fields_ = [("type", ctypes.c_int), ("serial", ctypes.c_ulong), ("send_event", ctypes.c_int),
                ("display", ctypes.c_void_p), ("window", ctypes.c_ulong), ("message_type", ctypes.c_ulong),
                ("format", ctypes.c_int), ("data", ctypes.c_long * 5)]


class _XEvent(ctypes.Union):
    _fields_ = [("xclient", _XClientMessageEvent), ("pad", ctypes.c_long * 24)]
