"""Writing results: the annotated video (or images), JSON lines, MOT rows and the metrics file, all through
`safefile` (claimed and locked before set-up, written aside, moved into place when the run ends).

`RunOutputs` claims every output of a run at once, after checking that none of them is an input of the run or
another of its outputs (by real path), so that a run can never write over what it reads.

Files a run writes per stream name it with `{stream}` (out_{stream}.mp4 -> out_0.mp4, out_1.mp4, ...).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import stat
import sys
from collections.abc import Collection, Iterator
from pathlib import Path

import cv2
import numpy as np

from ..engine.interrupt import STOP
from ..errors import DemoError
from .capture import InputSpec
from .safefile import OutputFile, cause, claim, real, same_file, write_all, write_whole, written_in_place
from .video import FORMATS, EncoderThread, letterbox, open_encoder, playable_frames, whole_fragments

STREAM_FIELD = "{stream}"
# options naming a file that holds one stream's frames only: with several inputs they need {stream}
PER_STREAM_FILES = {"output": "--output", "mot": "--mot"}
IMAGE_PATTERN = re.compile(r"%0?\d*d")
STDOUT = "-"
# option -> (flag, what the file is): every file a run writes
OUTPUT_OPTIONS = {"output": ("--output", "video"), "json": ("--json", "JSON lines"),
                  "metrics_json": ("--metrics-json", "metrics file"), "mot": ("--mot", "MOT file")}
STREAM_FORMAT = ".mkv"  # a video to a stream without an extension: Matroska, which needs no seeking back
IMAGE_OUTPUTS = {".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp"}


def check_writable(path: str, what: str) -> Path:
    """Fail before any work starts if `path` cannot be created (its folder is missing, or it is a folder)."""
    target = OutputFile(path, what)
    target.check()
    return target.path


def output_kind(path: str) -> str:
    """'video', 'images' (a numbered pattern) or 'image' (one picture), from the name; DemoError otherwise."""
    name = Path(path).name
    suffix = Path(path).suffix.lower()
    if IMAGE_PATTERN.search(name):
        if suffix not in IMAGE_OUTPUTS:
            raise DemoError(f"unknown image type for pattern '{path}'", "end it with .jpg or .png")
        return "images"
    if suffix in FORMATS:
        return "video"
    if suffix in IMAGE_OUTPUTS:
        return "image"
    if written_in_place(Path(path)):  # /dev/stdout, a FIFO, a device: a video in STREAM_FORMAT
        return "video"
    raise DemoError(f"unknown output type '{suffix or path}'",
                    f"use a video extension ({', '.join(FORMATS)}), an image (.png, .jpg) for a single image in, "
                    "or an image pattern such as out_%04d.jpg")


def _pattern_regex(pattern: Path) -> re.Pattern:
    name = pattern.name
    match = IMAGE_PATTERN.search(name)
    assert match is not None  # called only for an "images" output, whose name output_kind found the pattern in
    return re.compile(re.escape(name[: match.start()]) + r"\d+" + re.escape(name[match.end():]))


def _option_files(opts, skip: set[str]) -> list[Path]:
    """Files the run reads besides -i: every option naming an existing file (model, labels, alphabet, font...)."""
    found = []
    for name, value in opts.as_dict().items():
        if name in skip:
            continue
        for item in value if isinstance(value, tuple) else (value,):
            if isinstance(item, str | Path) and item and os.path.isfile(item):
                found.append(Path(item))
                if Path(item).suffix == ".xml":
                    found.append(Path(item).with_suffix(".bin"))
    return found


def _stdout_open() -> bool:
    try:
        os.fstat(sys.stdout.fileno())
    except (AttributeError, ValueError, OSError):  # (Python sets sys.stdout to None when fd 1 is closed)
        return False
    return True


def write_stdout(text: str, what: str) -> None:
    """`text` on standard output; a write that fails (a full disk behind `> file`) is a DemoError, and standard
    output is pointed at /dev/null so that Python's flush at exit meets no failure either. A reader that left
    (BrokenPipeError) is the caller's: that run ends quietly."""
    try:
        sys.stdout.write(text)
        sys.stdout.flush()
    except BrokenPipeError:
        raise
    except OSError as e:
        detach_stdout()
        raise DemoError(f"cannot write {what} to standard output: {cause(e)}",
                        "free some space, or give a file name") from None


def stream_path(path: str, stream: int) -> str:
    """A per-stream file's name for one stream: `{stream}` replaced by its index."""
    return path.replace(STREAM_FIELD, str(stream))


def check_stream_names(opts, count: int) -> None:
    """Several inputs and a file that holds one stream (a video, a MOT file) without `{stream}` in its name, or
    `{stream}` in the name of the one metrics file: refused before anything is written."""
    metrics = opts.get("metrics_json")
    if metrics and STREAM_FIELD in str(metrics):
        raise DemoError(f"--metrics-json '{metrics}' is one file for the whole run",
                        f"drop {STREAM_FIELD} from its name: it holds a row per stream")
    if count < 2:
        return
    for name, flag in PER_STREAM_FILES.items():
        path = opts.get(name)
        if path and STREAM_FIELD not in str(path):
            raise DemoError(f"{flag} '{path}' would hold {count} streams in one file",
                            f"put {STREAM_FIELD} in its name for one file per stream, e.g. "
                            f"{_example(str(path))}")


def _example(path: str) -> str:
    stem, dot, suffix = path.rpartition(".")
    return f"{stem}_{STREAM_FIELD}.{suffix}" if dot and "/" not in suffix else f"{path}_{STREAM_FIELD}"


def per_stream(path: str | None, count: int, make, mine: Collection[int] | None = None) -> list:
    """The writers of one output option, by stream: one per stream when its name has {stream}, else one that
    every stream writes to (JSON lines: each record names its stream); None for each without the option, and
    for the streams another process runs (those not in `mine`)."""
    ours = range(count) if mine is None else [index for index in range(count) if index in mine]
    if not path or not ours:
        return [None] * count
    if STREAM_FIELD in path:
        writers = {index: make(stream_path(path, index)) for index in ours}
    else:
        shared = make(path)
        writers = dict.fromkeys(ours, shared)
    return [writers.get(index) for index in range(count)]


def detach_stdout() -> None:
    """Point standard output at /dev/null, so that Python's flush at exit meets no closed pipe either."""
    with contextlib.suppress(OSError, ValueError):
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())


def _shared_sink(path: Path) -> bool:
    """A character device several outputs may all be written to (/dev/null, a terminal)."""
    with contextlib.suppress(OSError):
        return written_in_place(path) and stat.S_ISCHR(os.stat(path).st_mode)
    return False


def check_outputs(opts, sources: list[InputSpec]) -> list[tuple[str, Path]]:
    """The run's output paths with their options (a name with {stream}: one path per stream), refused when one
    of them is an input or another output, or holds several streams where it can hold one."""
    check_stream_names(opts, len(sources))
    outputs = [(name, Path(path).expanduser()) for name in OUTPUT_OPTIONS
               if opts.get(name) and opts.get(name) != STDOUT
               for path in dict.fromkeys(stream_path(opts.get(name), i) for i in range(len(sources)))]
    on_stdout = [OUTPUT_OPTIONS[n][0] + " -" for n in ("json", "metrics_json") if opts.get(n) == STDOUT]
    on_stdout += ["-r"] if opts.get("raw") else []
    if len(on_stdout) > 1:
        raise DemoError(f"{' and '.join(on_stdout)} would both write to standard output", "keep one of them")
    if on_stdout and not _stdout_open():
        raise DemoError(f"{on_stdout[0]} writes to standard output, and it is closed",
                        "leave standard output open (no >&-), or give a file name")
    read = [file for source in sources for file in source.files]
    inputs = [*read, *_option_files(opts, set(OUTPUT_OPTIONS) | {"input"})]
    names = outputs
    for i, (name, path) in enumerate(names):
        flag = OUTPUT_OPTIONS[name][0]
        for other, other_path in names[:i]:
            if same_file(path, other_path) and not _shared_sink(path):
                raise DemoError(f"{flag} '{path}' is also {OUTPUT_OPTIONS[other][0]}",
                                "give each output a file of its own")
        pattern = _pattern_regex(path) if name == "output" and output_kind(str(path)) == "images" else None
        for item in inputs:
            if same_file(path, item) or (pattern and real(item.parent) == real(path.parent)
                                         and pattern.fullmatch(item.name)):
                what = "the input" if item in read else "a file the run reads"
                raise DemoError(f"{flag} '{path}' is {what} ('{item}')",
                                "writing it would destroy it: choose another file name")
    for path, source in zip([path for name, path in outputs if name == "output"], sources, strict=False):
        if output_kind(str(path)) == "image":
            single = source.kind == "images" and len(source.files) == 1 and not opts.get("loop")
            if not single:
                raise DemoError(f"--output '{path}' is one image, and the input gives many frames",
                                "use an image pattern such as out_%04d.png, or a video extension such as .mp4")
    return outputs


class RunOutputs:
    """Every output file of one run, claimed (checked and locked) before set-up and released at its end."""

    def __init__(self, opts, sources: list[InputSpec], warn):
        self.paths = check_outputs(opts, sources)
        self.warn = warn
        self.claimed: list[OutputFile] = []

    @contextlib.contextmanager
    def claimed_for_run(self) -> Iterator[RunOutputs]:
        try:
            with STOP.deferred():  # a lock taken but not yet in `claimed` would outlive an interrupted run
                for name, path in self.paths:
                    target, leftovers = claim(path, OUTPUT_OPTIONS[name][1])
                    self.claimed.append(target)
                    for left in leftovers:
                        self.warn(f"a run writing {path} was killed before it finished: what it wrote is in "
                                  f"'{left}' (move or delete it)")
            yield self
        finally:
            for target in self.claimed:
                if target.temp is not None and target.temp.exists():  # a writer that could not finish
                    self.warn(f"{target.what} '{target.path}' was not finished: what was written is in "
                              f"'{target.temp}'")
                    target.temp = None
                target.release()


class VideoOutput:
    """Every frame it is given, at the source's FPS, in a video, a numbered image pattern or one image.

    Opened on the first frame (to learn its size), so a run that fails before producing a frame leaves no file
    behind. Frames of another size than the first (a folder of mixed images, a stream that changes resolution)
    are fitted into it (letterboxed), never dropped, and counted in `fitted`."""

    def __init__(self, path: str, fps: float, warn=print):
        self.kind = output_kind(path)
        self.file, _ = claim(path, "video" if self.kind == "video" else "image")
        self.path = self.file.path
        self.fps, self.warn = fps, warn
        self._encoder: EncoderThread | None = None
        self.size: tuple[int, int] | None = None
        self.codec: str | None = None
        self.frames = self.fitted = 0

    def write(self, image: np.ndarray) -> None:
        try:
            if self.kind == "images":
                name = IMAGE_PATTERN.sub(lambda m: m.group(0) % self.frames, self.path.name)
                write_whole(self.path.with_name(name), self._encoded(image), "image")
            elif self.kind == "image":  # one image in (check_outputs made sure), one image out
                write_whole(self.path, self._encoded(image), "image")
            else:
                self._write_video(image)
        except OSError as e:
            if self._encoder is not None:
                raise self._salvaged(cause(e)) from None
            raise self.file.error(cause(e), "check free space and permissions") from None
        self.frames += 1

    def _salvaged(self, reason: str) -> DemoError:
        """A video whose writing failed (a full disk, `ulimit -f`): the encoder finished as far as it can, and
        what was written moved into place if it plays (every fragment before the failure does); else the error
        says where it is."""
        encoder, self._encoder = self._encoder, None
        if encoder is not None:  # (None: the file failed before the first frame opened it)
            with contextlib.suppress(Exception):
                encoder.close()
        kept = self.file.temp
        if kept is None:  # written in place (a device, a pipe): nothing aside to keep
            return self.file.error(reason, "check free space and permissions")
        with contextlib.suppress(OSError):
            whole_fragments(kept)
        frames = playable_frames(kept)
        if frames:
            with contextlib.suppress(DemoError):
                self.file.commit()
                return self.file.error(f"{reason}; the {frames} frames written before it are in place (they play)",
                                       "free some space, or choose another place, and run again for the rest")
        self.file.temp = None  # (said here: the run's end need not say it again)
        return self.file.error(f"{reason}; what was written is in '{kept}'", "check free space and permissions")

    def _encoded(self, image: np.ndarray) -> bytes:
        ok, data = cv2.imencode(self.path.suffix.lower(), image)
        if not ok:
            raise self.file.error(f"OpenCV cannot encode a {image.shape[1]}x{image.shape[0]} image as "
                                  f"{self.path.suffix}", "try .png or .jpg")
        return data.tobytes()

    def _write_video(self, image: np.ndarray) -> None:
        size = (image.shape[1], image.shape[0])
        if self._encoder is None:
            self.size = size
            suffix = self.path.suffix.lower() if self.path.suffix.lower() in FORMATS else STREAM_FORMAT
            self._encoder = EncoderThread(open_encoder(self.file.temp_path(), suffix, self.fps, size, self.warn))
            self.codec = self._encoder.codec
        elif size != self.size:
            assert self.size is not None  # set above when the first frame opened the encoder
            image = letterbox(image, self.size)
            self.fitted += 1
        self._encoder.write(image)

    def close(self) -> None:
        """Finish the file and move it into place; on failure, say where the partial file is."""
        if self._encoder is not None:
            try:
                self._encoder.close()
                self._encoder = None
            except Exception as e:
                reason = cause(e) if isinstance(e, OSError) else str(e)
                try:
                    raise self._salvaged(reason) from None
                finally:
                    self.file.release()
            try:
                self.file.commit()
            finally:
                self.file.release()
        else:
            self.file.release()


class LineFile:
    """Text lines written as they come (a file aside, moved into place at the end; or standard output), flushed
    line by line so a reader sees whole lines. A failed write (a full disk) cuts the file back to its last
    whole line, so what is kept always parses."""

    def __init__(self, path: str, what: str):
        self.stdout, self.what = path == STDOUT, what
        self.file: OutputFile | None = None if self.stdout else claim(path, what)[0]
        self.path = Path(path)
        self._fd: int | None = None
        self._whole = 0  # bytes up to the end of the last whole line
        self.failed: DemoError | None = None

    @property
    def opened(self) -> bool:
        return self.stdout or self._fd is not None

    def write(self, text: str) -> None:
        if self.failed is not None:
            raise self.failed
        if self.stdout:
            write_stdout(text, self.what)
            return
        data = text.encode("utf-8")
        assert self.file is not None  # claimed in __init__ for every path but standard output, handled above
        try:
            if self._fd is None:
                self._fd = self.file.open()
            write_all(self._fd, data)
        except OSError as e:
            if isinstance(e, BrokenPipeError) and self.file.in_place:
                raise  # a pipe's reader left (`--json /dev/stdout | head`): the run ends quietly, as with `-`
            if self._fd is not None and not self.file.in_place:  # (a stream in place is not ours to cut)
                with contextlib.suppress(OSError):
                    os.ftruncate(self._fd, self._whole)
            self.failed = self.file.error(cause(e), "free some space or choose another place; the lines written "
                                          "before stay, each whole")
            raise self.failed from None
        self._whole += len(data)

    def close(self) -> None:
        if self.file is None:
            return
        try:
            if self._fd is not None:
                os.close(self._fd)
                self._fd = None
                self.file.commit()
        finally:
            self.file.release()


class JsonLines:
    """One JSON object per line (`-`: standard output)."""

    def __init__(self, path: str):
        self.lines = LineFile(path, "JSON lines")
        self.path = self.lines.path

    def write(self, record: dict) -> None:
        self.lines.write(json.dumps(record, separators=(",", ":")) + "\n")

    def close(self) -> None:
        self.lines.close()


class MotWriter:
    """Confirmed tracks in MOTChallenge format (frame,id,x,y,w,h,conf,-1,-1,-1), 1-based frame numbers, a
    frame's rows at a time."""

    def __init__(self, path: str):
        self.lines = LineFile(path, "MOT file")
        self.path = self.lines.path

    def write(self, index: int, objects) -> None:
        states = objects.data.get("track_state", ())
        rows = []
        for i in range(len(objects)):
            if states[i] != "confirmed":
                continue
            x1, y1, x2, y2 = (float(v) for v in objects.xyxy[i])
            rows.append(f"{index + 1},{int(objects.tracker_id[i])},{x1:.2f},{y1:.2f},{x2 - x1:.2f},"
                        f"{y2 - y1:.2f},{float(objects.confidence[i]):.4f},-1,-1,-1\n")
        if rows or not self.lines.opened:  # the file exists from the first frame on, rows or not
            self.lines.write("".join(rows))

    def close(self) -> None:
        self.lines.close()


def write_json_file(path: str, data: dict, what: str) -> None:
    """A whole JSON document (`-`: standard output)."""
    text = json.dumps(data, indent=2) + "\n"
    if path == STDOUT:
        write_stdout(text, what)
        return
    target, _ = claim(path, what)
    try:
        write_whole(target.path, text.encode("utf-8"), what)
    finally:
        target.release()
