"""Frame sources (`-i`) and the reader thread that feeds the pipeline."""

from __future__ import annotations

import errno
import glob
import os
import re
import stat
import threading
import time
from collections import deque
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from ..errors import DemoError
from ..models.catalog import SAMPLE_SCHEME, sample_for_input

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp", ".pgm", ".ppm", ".jp2"}
RAW_STREAM_SUFFIXES = {".264", ".h264", ".265", ".h265", ".hevc"}  # frame count unknown to OpenCV
STREAM_SCHEMES = ("rtsp", "rtsps", "rtmp", "rtmps", "http", "https", "udp", "tcp", "srt")
DEFAULT_FPS = 30.0
STREAM_TIMEOUT_S = 5.0  # opening a camera or stream, and waiting for one of its frames
RESYNC_GRABS = 30  # failed reads past the frames the header still promises before a file is taken to end early
FILE_BUFFER, LIVE_BUFFER = 8, 2  # frames a reader holds: a file reads ahead, a live source keeps the newest


@dataclass
class Frame:
    index: int  # position in the input (live sources skip the indices of dropped frames)
    image: np.ndarray
    timestamp: float  # seconds since the start of the source
    captured: float  # time.perf_counter() when the frame was read
    decode_ms: float
    stream: int = 0  # which input (-i given several times: their order on the command line)


@dataclass(frozen=True)
class InputDamage:
    """A file input that gave fewer frames than it promised: read against expected, and where it first failed."""

    read: int
    expected: int
    first_bad: int  # the position (0-based frame) of the first frame that could not be read
    what: str  # why, in words: "it ends before ...", "skipped 2 frames that do not decode (positions 170-171)"

    def text(self, name: str) -> str:
        return (f"input {name} is damaged: {self.what}; read {self.read} of {self.expected} frames, "
                f"the first bad one at position {self.first_bad}")


def _spans(positions: list[int], most: int = 4) -> str:
    """[170, 171, 200] -> '170-171, 200' (the first `most` spans, then how many more)."""
    spans: list[list[int]] = []
    for p in positions:
        if spans and p == spans[-1][1] + 1:
            spans[-1][1] = p
        else:
            spans.append([p, p])
    text = ", ".join(f"{a}" if a == b else f"{a}-{b}" for a, b in spans[:most])
    return text + (f" and {len(spans) - most} more" if len(spans) > most else "")


def skipped_text(positions: list[int]) -> str:
    n = len(positions)
    return (f"skipped {n} frame{'s' if n > 1 else ''} that do{'' if n > 1 else 'es'} not decode "
            f"(position{'s' if n > 1 else ''} {_spans(positions)})")


def _sane_fps(value: float) -> float:
    return float(value) if value and 0 < value < 1000 else DEFAULT_FPS


class Source:
    """A thing frames come from. `read()` returns None at the end (or when a live source drops)."""

    name: str
    live = False
    fps = DEFAULT_FPS
    total: int | None = None  # frames in one pass, when known

    def read(self) -> np.ndarray | None:
        raise NotImplementedError

    @property
    def frame_size(self) -> tuple[int, int] | None:
        """(w, h) every frame will have, when the source can promise it (fixes the model's input shape)."""
        return None

    def end_of_pass(self) -> InputDamage | None:
        """Called when `read()` returned None for a file input: what was missing from this pass, if anything."""
        return None

    def rewind(self) -> bool:
        """Start again from the first frame (for --loop); False if this source cannot."""
        return False

    def reconnect(self) -> bool:
        return False

    def close(self) -> None:
        pass


def _bounded(work, seconds: float):
    """`work()` on a helper thread, waited for at most `seconds` (plus a margin): a camera or server that never
    answers must not hold the run, and the wait stays interruptible (Ctrl+C acts at once). None on time-out."""
    box: list = []
    thread = threading.Thread(target=lambda: box.append(work()), name="ovdemo-open", daemon=True)
    thread.start()
    thread.join(seconds + 2.0)  # OpenCV's own time-outs end it first; the margin covers the ones it lacks
    return box[0] if box else None


class CaptureSource(Source):
    """Anything cv2.VideoCapture opens: files, cameras, network streams."""

    def __init__(self, target: str | int, name: str, live: bool, open_error: DemoError):
        self.target, self.name, self.live = target, name, live
        started = time.monotonic()
        opened = _bounded(self._open_and_read, STREAM_TIMEOUT_S) if live else self._open_and_read()
        if opened is None:
            if live and time.monotonic() - started >= STREAM_TIMEOUT_S - 0.5:
                raise DemoError(f"{open_error.message}: no answer within {STREAM_TIMEOUT_S:g} s", open_error.hint)
            raise open_error
        self._cap, self._first = opened
        self.fps = _sane_fps(self._cap.get(cv2.CAP_PROP_FPS))
        count = int(self._cap.get(cv2.CAP_PROP_FRAME_COUNT))
        is_raw = isinstance(target, str) and Path(target).suffix.lower() in RAW_STREAM_SUFFIXES
        self.total = count if (not live and not is_raw and 0 < count < 10**8) else None
        self._size = (self._first.shape[1], self._first.shape[0])
        self._pass_read = self._pass_position = 0  # frames decoded / frames consumed (decoded or not) this pass
        self._skipped: list[int] = []  # positions of the frames that did not decode, this pass
        self._ended_early = False  # this pass ended on reads that failed up to the end
        self._first_bad: int | None = None  # where they began

    def _open(self) -> cv2.VideoCapture | None:
        if isinstance(self.target, int):
            cap = cv2.VideoCapture(self.target)
        else:  # live: FFmpeg's own time-outs, so that a server that never answers gives up in seconds
            ms = int(STREAM_TIMEOUT_S * 1000)
            timeouts = [cv2.CAP_PROP_OPEN_TIMEOUT_MSEC, ms, cv2.CAP_PROP_READ_TIMEOUT_MSEC, ms] if self.live else []
            cap = cv2.VideoCapture(self.target, cv2.CAP_FFMPEG, timeouts)
            if not cap.isOpened() and "://" not in self.target:  # a file or device another backend may read
                cap = cv2.VideoCapture(self.target)
        if not cap.isOpened():
            cap.release()
            return None
        if self.live:
            cap.set(cv2.CAP_PROP_BUFFERSIZE, 1)  # the driver's queue adds latency; we keep our own
        return cap

    def _open_and_read(self) -> tuple[cv2.VideoCapture, np.ndarray] | None:
        """The capture and its first frame: a source that opens but gives no frame is no source."""
        cap = self._open()
        if cap is None:
            return None
        ok, image = cap.read()
        if not ok or image is None or not image.size:
            cap.release()
            return None
        return cap, image

    def _read_checked(self) -> np.ndarray | None:
        ok, image = self._cap.read()
        return image if ok and image is not None and image.size else None

    @property
    def frame_size(self) -> tuple[int, int] | None:
        return self._size

    def read(self) -> np.ndarray | None:
        if self._first is not None:
            image, self._first = self._first, None
        else:
            image = self._read_checked()
            if image is None and not self.live:
                image = self._resync()
        if image is not None:
            self._pass_read += 1
            self._pass_position += 1
        return image

    def _resync(self) -> np.ndarray | None:
        """A file whose header promises more frames than were read: skip undecodable data to the next frame
        that decodes (a damaged middle: each failed read moves FFmpeg's demuxer on by a packet, so reading goes
        on from the next keyframe), or give up (a file that ends early: reads fail for as many packets as the
        header still promises, twice over for the audio between them, at some 30 us each)."""
        if self.total is None or self._pass_position >= self.total:
            return None
        start = self._pass_position
        for failures in range(1, 2 * (self.total - start) + RESYNC_GRABS + 1):
            image = self._read_checked()
            if image is not None:
                self._pass_position = min(start + failures, self.total - 1)
                self._skipped += range(start, self._pass_position)
                return image  # (read() counts it)
        self._first_bad = start
        self._ended_early = True
        return None

    def end_of_pass(self) -> InputDamage | None:
        read, skipped, ended_early, first_bad = self._pass_read, self._skipped, self._ended_early, self._first_bad
        self._pass_read = self._pass_position = 0
        self._skipped, self._ended_early, self._first_bad = [], False, None
        if self.live or self.total is None or (read >= self.total and not skipped):
            return None
        what = [skipped_text(skipped)] if skipped else []
        if ended_early or not skipped:
            what.append("it ends before the frame count its header gives")
        first = skipped[0] if skipped else read if first_bad is None else first_bad
        return InputDamage(read, self.total, first, "; ".join(what))

    def rewind(self) -> bool:
        return not self.live and self.reconnect()

    def reconnect(self) -> bool:
        self._cap.release()
        cap = self._open()
        if cap is None:
            return False
        self._cap = cap
        return True

    def close(self) -> None:
        self._cap.release()


class ImageListSource(Source):
    def __init__(self, paths: list[Path], name: str, fps: float = DEFAULT_FPS):
        self.paths, self.name, self.fps = paths, name, fps
        self.total = len(paths)
        self._next = 0
        self.skipped: list[Path] = []
        self._size = None
        if len(paths) == 1:
            image = cv2.imread(str(paths[0]))
            if image is None:
                raise DemoError(f"cannot read image '{paths[0]}'", "the file is not an image OpenCV can decode")
            self._size = (image.shape[1], image.shape[0])

    @property
    def frame_size(self) -> tuple[int, int] | None:
        return self._size

    def read(self) -> np.ndarray | None:
        while self._next < len(self.paths):
            path = self.paths[self._next]
            self._next += 1
            image = cv2.imread(str(path), cv2.IMREAD_COLOR)
            if image is not None:
                return image
            if path not in self.skipped:
                self.skipped.append(path)
        return None

    def end_of_pass(self) -> InputDamage | None:
        if not self.skipped:
            return None
        bad = self.paths.index(self.skipped[0])
        return InputDamage(len(self.paths) - len(self.skipped), len(self.paths), bad,
                           f"{len(self.skipped)} image(s) do not decode, e.g. {self.skipped[0]}")

    def rewind(self) -> bool:
        self._next = 0
        return True


def _natural_key(path: Path):
    return [int(t) if t.isdigit() else t.lower() for t in re.split(r"(\d+)", str(path))]


def _images_in(paths) -> list[Path]:
    return sorted((p for p in map(Path, paths) if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES),
                  key=_natural_key)


def _sequence_files(pattern: str) -> list[Path]:
    """Files matching a printf-style image sequence such as frames/img_%04d.png, in numeric order."""
    match = re.search(r"%(0?)(\d*)d", pattern)
    assert match
    head, tail = pattern[: match.start()], pattern[match.end() :]
    width = match.group(2)
    digits = rf"\d{{{width}}}" if match.group(1) and width else r"\d+"
    regex = re.compile(re.escape(head) + f"({digits})" + re.escape(tail) + "$")
    candidates = glob.glob(glob.escape(head) + "*" + glob.escape(tail))
    found = [(int(m.group(1)), Path(c)) for c in candidates if (m := regex.match(c))]
    return [p for _, p in sorted(found)]


@dataclass(frozen=True)
class InputSpec:
    """What `-i` names, before anything is opened: a camera, a stream, a video file, or a list of images."""

    kind: str  # "camera", "stream", "video", "images"
    target: str | int
    name: str
    files: tuple[Path, ...] = ()  # the files it reads (a video file, or every image)


def resolve_input(spec: str, offline: bool = False) -> InputSpec:
    """Read `-i` (camera, video file, image, folder, glob, image sequence, URL, or a sample video by name:
    `sample:car-detection`, or `car-detection.mp4` where no such file exists, downloaded unless `offline`)
    without opening it: the files it names are known before set-up, so no output can be written over them."""
    try:
        return _resolve_input(spec, offline)
    except OSError as e:  # a name too long, a folder that may not be listed...
        raise DemoError(f"cannot read input '{spec}': {e.strerror or e}",
                        "check the name and that you may read it") from None


SPECIAL_FILES = {stat.S_IFCHR: "a character device", stat.S_IFBLK: "a block device", stat.S_IFIFO: "a named pipe",
                 stat.S_IFSOCK: "a socket"}


def _readable_file(path: Path, text: str) -> None:
    """What is at `path` is a file ovdemo may read: not a device or pipe, not one it has no permission for."""
    kind = SPECIAL_FILES.get(stat.S_IFMT(path.stat().st_mode))
    if kind is not None:
        raise DemoError(f"input '{text}' is {kind}, not a file",
                        "give a video or image file; a camera is cam0 or /dev/videoN, a stream a URL")
    if not os.access(path, os.R_OK):
        raise PermissionError(errno.EACCES, os.strerror(errno.EACCES))


def _resolve_input(spec: str, offline: bool) -> InputSpec:
    text = spec.strip()
    if text.startswith(SAMPLE_SCHEME) or not Path(text).expanduser().exists():
        sample = sample_for_input(text, offline)
        if sample is not None:
            return resolve_input(str(sample))
    cam = re.fullmatch(r"(?:cam)?(\d+)", text)
    if cam:
        return InputSpec("camera", int(cam.group(1)), f"camera {cam.group(1)}")
    if text.startswith("/dev/video"):
        return InputSpec("camera", text, text)
    scheme = text.split("://", 1)[0].lower() if "://" in text else None
    if scheme in STREAM_SCHEMES:
        return InputSpec("stream", text, text)
    if scheme == "file":
        text = text[len("file://"):]

    path = Path(text).expanduser()
    if path.is_dir():
        files = _images_in(path.iterdir())
        if not files:
            suffixes = ", ".join(sorted(IMAGE_SUFFIXES))
            raise DemoError(f"no images in folder '{text}'", f"expected files ending in {suffixes}")
        return InputSpec("images", text, text, tuple(files))
    if path.exists() and not path.is_dir():
        _readable_file(path, text)
    if path.is_file():
        if path.suffix.lower() in IMAGE_SUFFIXES:
            return InputSpec("images", text, text, (path,))
        return InputSpec("video", str(path), text, (path,))
    if re.search(r"%0?\d*d", text):
        files = _sequence_files(str(path))
        if not files:
            raise DemoError(f"no files match the image sequence '{text}'", "check the folder and the number pattern")
        return InputSpec("images", text, text, tuple(files))
    if any(c in text for c in "*?["):
        files = _images_in(glob.glob(str(path), recursive=True))
        if not files:
            raise DemoError(f"no images match '{text}'", "check the pattern (quote it so the shell does not expand it)")
        return InputSpec("images", text, text, tuple(files))
    raise DemoError(f"input not found: {text}",
                    "give a video or image file, a folder, a glob, an image sequence, a camera (cam0) or a URL")


def open_source(spec: str | InputSpec, offline: bool = False) -> Source:
    """Open `-i`: camera, video file, image, folder, glob, image sequence, URL or sample name."""
    found = spec if isinstance(spec, InputSpec) else resolve_input(spec, offline)
    if found.kind == "camera":
        hint = ("check that it is connected and not used by another program" if isinstance(found.target, int)
                else "check that it exists and that you may read it")
        return CaptureSource(found.target, found.name, live=True,
                             open_error=DemoError(f"{found.name} could not be opened", hint))
    if found.kind == "stream":
        source = CaptureSource(found.target, found.name, live=True, open_error=DemoError(
            f"cannot open stream {found.name}", "check the URL, the network and the credentials"))
        if source.total is None and str(found.target).split("://", 1)[0].lower() in ("http", "https"):
            count = int(source._cap.get(cv2.CAP_PROP_FRAME_COUNT))
            if 0 < count < 10**8:  # a file served over HTTP: read it like a file, every frame
                source.live, source.total = False, count
        return source
    if found.kind == "video":
        return CaptureSource(found.target, found.name, live=False, open_error=DemoError(
            f"cannot read video '{found.name}'", "the file is not a video OpenCV can decode"))
    return ImageListSource(list(found.files), found.name)


def read_image(spec: str, offline: bool = False) -> np.ndarray:
    """The one image `spec` names (an image file, an image's URL), read as `-i` reads it; anything with more
    frames than one (a video, a folder, a camera) is an error that says how to read it all."""
    found = resolve_input(spec, offline)
    if found.kind == "stream" or (found.kind == "images" and len(found.files) == 1):
        source = open_source(found, offline)
        try:
            if found.kind == "images" or not source.total or source.total == 1:
                image = source.read()
                if image is not None:
                    return image
                raise DemoError(f"cannot read an image from {found.name}", "check the address")
            what = f"has {source.total} frames"
        finally:
            source.close()
    else:
        what = f"names {len(found.files)} images" if found.kind == "images" else f"is a {found.kind}"
    raise DemoError(f"'{spec}' {what}, not one image", "read every frame with predictor.stream(...)")


class FrameReader:
    """Reads a source on its own thread.

    Files lose no frame: when the buffer is full the reader waits (back-pressure). Live sources keep
    only the newest frames: when the buffer is full the oldest frame is dropped and counted, so
    latency never grows. A live source that stops delivering is reopened with exponential backoff.

    `wakeup` is the consumer's condition: notified when a frame lands in an empty buffer and when reading ends
    (a frame added behind others changes nothing the consumer waits on, and waking it for nothing costs its
    thread CPU on every frame). `room` (a condition on the same lock; default `wakeup`) is the one the reader
    waits on for space, notified by `take`.

    `realtime` paces a file as a camera would deliver it: frame N is read no sooner than N / fps seconds
    after the first (a slower pipeline is not held back further; it still loses no frame).
    """

    def __init__(self, source: Source, wakeup: threading.Condition, loop: bool = False,
                 limit: int | None = None, capacity: int | None = None, reconnect_attempts: int = 5,
                 stream: int = 0, room: threading.Condition | None = None, realtime: bool = False):
        self.source, self.wakeup, self.loop, self.limit = source, wakeup, loop, limit
        self.room = room or wakeup
        self.realtime = realtime and not source.live  # a live source delivers in real time already
        self.stream = stream  # stamped on every frame it reads
        self.capacity = capacity or (LIVE_BUFFER if source.live else FILE_BUFFER)
        self.reconnect_attempts = reconnect_attempts
        self.buffer: deque[Frame] = deque()
        self.dropped = 0
        self.reconnects = 0
        self.finished = False
        self.damage: InputDamage | None = None  # the first pass of a file input that came up short
        self.error: DemoError | None = None
        self._stop = False
        self.cpu_s = 0.0  # the reader thread's CPU time (decoding, converting, queueing), once it has ended
        self._thread = threading.Thread(target=self._run, name=f"ovdemo-capture-{stream}", daemon=True)

    def start(self) -> None:
        self._start_time = time.perf_counter()
        self._thread.start()

    def stop(self) -> None:
        with self.wakeup:
            self._stop = True
            self.wakeup.notify_all()
            self.room.notify_all()
        self._thread.join(timeout=5)
        self.source.close()

    def take(self) -> Frame | None:
        """The next frame, if one is buffered. Call with `wakeup` held."""
        if not self.buffer:
            return None
        frame = self.buffer.popleft()
        self.room.notify_all()  # room for a waiting reader (the readers of several streams share `room`)
        return frame

    def _run(self) -> None:
        index, cpu_start = 0, time.thread_time()
        try:
            while not self._stop and (self.limit is None or index < self.limit):
                if self.realtime:
                    self._wait_until(self._start_time + index / self.source.fps)
                t0 = time.perf_counter()
                image = self.source.read()
                t1 = time.perf_counter()
                if image is None:
                    if self.source.live and self._reconnect():
                        continue
                    if not self.source.live:
                        damage = self.source.end_of_pass()  # (every pass: it starts the next one's count)
                        self.damage = self.damage or damage
                    if self.loop and not self.source.live and index > 0 and self.source.rewind():
                        continue
                    break
                stamp = (t1 - self._start_time) if self.source.live else index / self.source.fps
                frame = Frame(index, image, stamp, t1, (t1 - t0) * 1000.0, self.stream)
                index += 1
                with self.wakeup:
                    if self.source.live:
                        while len(self.buffer) >= self.capacity:
                            self.buffer.popleft()
                            self.dropped += 1
                    else:
                        while len(self.buffer) >= self.capacity and not self._stop:
                            self.room.wait()
                    self.buffer.append(frame)
                    if len(self.buffer) == 1:
                        self.wakeup.notify_all()
        except Exception as e:  # a decoder crash must end the run, not hang it
            self.error = DemoError(f"reading {self.source.name} failed", str(e))
        finally:
            with self.wakeup:
                self.finished = True
                self.cpu_s = time.thread_time() - cpu_start
                self.wakeup.notify_all()

    def _wait_until(self, due: float) -> None:
        """Sleep until `due` (perf_counter seconds), waking at once when the reader is stopped."""
        with self.room:  # (the reader's own condition: `stop` notifies it, the consumer's events do not)
            while not self._stop and (left := due - time.perf_counter()) > 0:
                self.room.wait(left)

    def _reconnect(self) -> bool:
        delay = 0.5
        for _ in range(self.reconnect_attempts):
            if self._stop:
                return False
            time.sleep(delay)
            if self.source.reconnect():
                self.reconnects += 1
                return True
            delay = min(delay * 2, 8.0)
        self.error = DemoError(f"lost {self.source.name}",
                               f"it did not come back after {self.reconnect_attempts} reconnection attempts")
        return False
