"""Writing results: a video (codec chosen by extension), an image sequence, JSON lines."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import IO

import cv2
import numpy as np

from .errors import DemoError

# Preferred codec first; later ones are fallbacks for OpenCV builds without the first encoder.
VIDEO_CODECS = {
    ".mp4": ("avc1", "mp4v"),
    ".m4v": ("avc1", "mp4v"),
    ".mov": ("avc1", "mp4v"),
    ".mkv": ("avc1", "XVID", "MJPG"),
    ".avi": ("XVID", "MJPG"),
    ".webm": ("VP90", "VP80"),
}
CODEC_NAMES = {"avc1": "H.264", "mp4v": "MPEG-4 Part 2", "XVID": "MPEG-4 Part 2 (Xvid)", "MJPG": "Motion JPEG",
               "VP90": "VP9", "VP80": "VP8"}
IMAGE_PATTERN = re.compile(r"%0?\d*d")


def check_writable(path: str, what: str) -> Path:
    """Fail before any work starts if `path` cannot be created."""
    target = Path(path).expanduser()
    folder = target.parent if str(target.parent) else Path(".")
    if target.is_dir():
        raise DemoError(f"cannot write {what} '{path}': it is a folder", "give a file name")
    if not folder.is_dir():
        raise DemoError(f"cannot write {what} '{path}': folder '{folder}' does not exist", "create it first")
    if not os.access(folder, os.W_OK):
        raise DemoError(f"cannot write {what} '{path}': folder '{folder}' is not writable", "choose another place")
    return target


class VideoOutput:
    """Every frame it is given, at the source's FPS. Opened on the first frame (to learn its size),
    so a run that fails before producing a frame leaves no file behind."""

    def __init__(self, path: str, fps: float, warn=print):
        self.path = check_writable(path, "output")
        self.fps = fps
        self.warn = warn
        self.pattern = bool(IMAGE_PATTERN.search(self.path.name))
        suffix = self.path.suffix.lower()
        if not self.pattern and suffix not in VIDEO_CODECS:
            known = ", ".join(VIDEO_CODECS)
            raise DemoError(f"unknown output type '{suffix or path}'",
                            f"use a video extension ({known}) or an image pattern such as out_%04d.jpg")
        if self.pattern and suffix not in {".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp"}:
            raise DemoError(f"unknown image type for pattern '{path}'", "end it with .jpg or .png")
        self._writer: cv2.VideoWriter | None = None
        self.codec: str | None = None
        self.frames = 0

    def _open(self, width: int, height: int) -> None:
        codecs = VIDEO_CODECS[self.path.suffix.lower()]
        level = cv2.utils.logging.getLogLevel()
        cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_SILENT)  # failed probes are expected
        try:
            for codec in codecs:
                writer = cv2.VideoWriter(str(self.path), cv2.CAP_FFMPEG, cv2.VideoWriter_fourcc(*codec),
                                         self.fps, (width, height))
                if writer.isOpened():
                    self._writer, self.codec = writer, codec
                    break
                writer.release()
        finally:
            cv2.utils.logging.setLogLevel(level)
        if self._writer is None:
            raise DemoError(f"cannot write video '{self.path}'",
                            f"no encoder for {', '.join(codecs)} in this OpenCV build; try .avi or an image pattern")
        if self.codec != codecs[0]:
            self.warn(f"{CODEC_NAMES[codecs[0]]} encoder not available in this OpenCV build: "
                      f"writing {self.path.name} as {CODEC_NAMES[self.codec]}")

    def write(self, image: np.ndarray) -> None:
        if self.pattern:
            name = str(self.path.parent / IMAGE_PATTERN.sub(lambda m: m.group(0) % self.frames, self.path.name))
            if not cv2.imwrite(name, image):
                raise DemoError(f"cannot write image '{name}'", "check free space and permissions")
        else:
            if self._writer is None:
                self._open(image.shape[1], image.shape[0])
            self._writer.write(image)
        self.frames += 1

    def close(self) -> None:
        if self._writer is not None:
            self._writer.release()  # finalises the container: the file plays up to the last frame
            self._writer = None


class JsonLines:
    """One JSON object per line, flushed as it goes so a reader (or a crash) sees whole lines."""

    def __init__(self, path: str):
        self.path = check_writable(path, "JSON output")
        self._file: IO[str] | None = None

    def write(self, record: dict) -> None:
        if self._file is None:
            self._file = open(self.path, "w", encoding="utf-8")  # noqa: SIM115 - closed in close()
        self._file.write(json.dumps(record, separators=(",", ":")) + "\n")
        self._file.flush()

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None


class MotWriter:
    """Confirmed tracks in MOTChallenge format (frame,id,x,y,w,h,conf,-1,-1,-1), 1-based frame numbers.
    Opened with the first frame (a run that fails to start leaves no file) and flushed every frame, so an
    interrupted run leaves whole lines."""

    def __init__(self, path: str):
        self.path = check_writable(path, "MOT file")
        self._file: IO[str] | None = None

    def write(self, index: int, objects) -> None:
        if self._file is None:
            self._file = open(self.path, "w", encoding="utf-8")  # noqa: SIM115 - closed in close()
        states = objects.data.get("track_state", ())
        for i in range(len(objects)):
            if states[i] != "confirmed":
                continue
            x1, y1, x2, y2 = (float(v) for v in objects.xyxy[i])
            self._file.write(f"{index + 1},{int(objects.tracker_id[i])},{x1:.2f},{y1:.2f},{x2 - x1:.2f},"
                             f"{y2 - y1:.2f},{float(objects.confidence[i]):.4f},-1,-1,-1\n")
        self._file.flush()

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
