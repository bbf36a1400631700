"""Ctrl+C, SIGTERM and SIGHUP (a closed terminal, a dropped ssh session), handled from the first line of the
process to its last.

The handler is installed before the imports that take seconds (OpenVINO, OpenCV), so no signal ever meets
Python's default handler: a KeyboardInterrupt raised inside an extension module's initialisation surfaces as
an ImportError, and one raised inside a callback or a destructor is swallowed, and the signal is lost.

What a signal does depends on the phase of the run (`STOP.phase`):
  DEFER     (imports, finalising outputs): only remembered; the code checks `STOP.requested` when it is safe.
  RAISE     (set-up: resolving, downloading, compiling, opening the source): KeyboardInterrupt at once;
            nothing has been written yet, so nothing needs finishing.
  FRAMES    (the frame loop): the first signal asks the loop to stop between frames, so every output is
            finalised; a second one interrupts at once.
Whatever the phase, a signal once received is never forgotten: `requested` stays set. The exit code says which
came first: 130 for Ctrl+C and SIGTERM (as always), 129 (128 + 1) for SIGHUP.

This module imports nothing heavy: `ovdemo.__main__` imports it first.
"""

from __future__ import annotations

import signal
import threading
from contextlib import contextmanager

DEFER, RAISE, FRAMES = "defer", "raise", "frames"
SIGNALS = (signal.SIGINT, signal.SIGTERM, *([signal.SIGHUP] if hasattr(signal, "SIGHUP") else []))
INTERRUPTED = 130  # Ctrl+C's exit code, SIGTERM's too


class StopRequest:
    def __init__(self) -> None:
        self.requested = False
        self.signum: int | None = None  # the first signal
        self.count = 0
        self.phase = DEFER
        self.installed = False
        self._wakers: list = []  # called when a signal arrives: a loop waiting on a condition looks at once

    @contextmanager
    def waking(self, wake):
        """For a block: `wake()` is called from the handler when a signal arrives, so a loop that waits on a
        condition for other work can wait without polling `requested`. It runs on the main thread between any
        two of its bytecodes (perhaps while that thread holds a lock), so it must take no lock: write to a pipe
        that a thread of its own waits on, for instance."""
        self._wakers.append(wake)
        try:
            yield self
        finally:
            self._wakers.remove(wake)

    @property
    def exit_code(self) -> int:
        hangup = getattr(signal, "SIGHUP", None)
        return 128 + hangup if hangup is not None and self.signum == hangup else INTERRUPTED

    def _handle(self, signum, frame):
        self.requested = True
        self.signum = self.signum or signum
        self.count += 1
        for wake in self._wakers:
            wake()
        if self.phase == RAISE or (self.phase == FRAMES and self.count > 1):
            raise KeyboardInterrupt

    def install(self) -> None:
        """Take over SIGINT, SIGTERM and SIGHUP for the rest of the process (main thread only)."""
        if threading.current_thread() is threading.main_thread():
            for sig in SIGNALS:
                signal.signal(sig, self._handle)
            self.installed = True

    @contextmanager
    def phase_of(self, phase: str):
        """Run a block in `phase`; a signal already received counts at once in a RAISE phase."""
        previous, self.phase = self.phase, phase
        try:
            if phase == RAISE and self.requested:
                raise KeyboardInterrupt
            yield self
        finally:
            self.phase = previous

    @contextmanager
    def deferred(self):
        """A block a signal must not cut in two (taking a lock and recording it, so that it is released): a
        signal that comes meanwhile is remembered, and acts when the block ends as the phase it came in would
        have it act (a RAISE phase: KeyboardInterrupt then)."""
        previous, self.phase = self.phase, DEFER
        count = self.count
        try:
            yield self
        finally:
            self.phase = previous
        if self.count > count and (previous == RAISE or (previous == FRAMES and self.count > 1)):
            raise KeyboardInterrupt

    @contextmanager
    def handling(self):
        """Install the handlers for a block if the process has not (a run started from Python, not `ovdemo`),
        and put the previous ones back after it."""
        if self.installed or threading.current_thread() is not threading.main_thread():
            yield self
            return
        previous = {sig: signal.getsignal(sig) for sig in SIGNALS}
        self.install()
        try:
            yield self
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
            self.installed = False


STOP = StopRequest()  # the process's one stop request: signals are per process
