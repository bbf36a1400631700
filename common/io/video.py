"""Video encoders: PyAV (FFmpeg's libraries, with the H.264 and VP9 encoders its wheels carry) first, OpenCV's
writer as the fallback.

`.mp4` is H.264 in a fragmented MP4: every fragment (about a second of video) is complete on disk as soon as it
is written, so a process killed outright still leaves a file that plays up to its last fragment, and browsers
play the finished file (its index is written when it closes). `.mkv` is H.264 in Matroska and `.webm` VP9 in
WebM, both written in clusters of about a second for the same reason; `.avi` is MPEG-4 Part 2.
"""

from __future__ import annotations

import queue
import threading
import time
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import cv2
import numpy as np

from ..errors import DemoError


@dataclass(frozen=True)
class Format:
    container: str
    codec: str  # FFmpeg encoder
    name: str  # what users call it
    muxer: dict
    encoder: dict
    fourccs: tuple[str, ...]  # OpenCV's fallback, best first


FRAGMENTED = {"movflags": "frag_keyframe+empty_moov+default_base_moof", "flush_packets": "1"}
CLUSTERED = {"cluster_time_limit": "1000", "flush_packets": "1"}
# no B-frames: without an edit list (a fragmented file has none) their reordering delay makes browsers report
# one frame more than the file holds, and they would hold frames back from a file cut short by a kill
# ultrafast: the encoder shares the cores with inference, so its CPU time is taken from the model. On
# people-detection.264 (768x432): veryfast 9.0 ms of CPU a frame, ultrafast 4.4 ms, at about the same picture
# (PSNR 39.8 against 39.6 dB at crf 23) in files 2.5 times larger (0.65 Mbit/s).
X264 = {"preset": "ultrafast", "crf": "23", "bf": "0"}
FORMATS = {
    ".mp4": Format("mp4", "libx264", "H.264", FRAGMENTED, X264, ("avc1", "mp4v")),
    ".m4v": Format("mp4", "libx264", "H.264", FRAGMENTED, X264, ("avc1", "mp4v")),
    ".mov": Format("mov", "libx264", "H.264", FRAGMENTED, X264, ("avc1", "mp4v")),
    ".mkv": Format("matroska", "libx264", "H.264", CLUSTERED, X264, ("avc1", "XVID", "MJPG")),
    ".webm": Format("webm", "libvpx-vp9", "VP9", CLUSTERED,
                    {"deadline": "realtime", "cpu-used": "8", "row-mt": "1", "crf": "32", "b": "0"}, ("VP90", "VP80")),
    ".avi": Format("avi", "mpeg4", "MPEG-4 Part 2", {"flush_packets": "1"}, {}, ("XVID", "MJPG")),
}
FOURCC_NAMES = {"avc1": "H.264", "mp4v": "MPEG-4 Part 2", "XVID": "MPEG-4 Part 2 (Xvid)", "MJPG": "Motion JPEG",
                "VP90": "VP9", "VP80": "VP8"}
# a fragment per keyframe: what a killed run can lose at most, besides the encoder's queue. A keyframe comes every
# second of video, and every second of the run's own time as well: a slow run (text at 4 FPS on a 30 FPS source)
# would otherwise wait 7 s for each fragment, and a kill would take every frame of it
KEYFRAME_SECONDS = 1.0


def letterbox(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """`image` scaled to fit (w, h) with its aspect ratio kept, centred on black."""
    w, h = size
    ih, iw = image.shape[:2]
    scale = min(w / iw, h / ih)
    nw, nh = max(1, round(iw * scale)), max(1, round(ih * scale))
    out = np.zeros((h, w, 3), np.uint8)
    x, y = (w - nw) // 2, (h - nh) // 2
    out[y:y + nh, x:x + nw] = cv2.resize(image, (nw, nh), interpolation=cv2.INTER_AREA if scale < 1 else
                                         cv2.INTER_LINEAR)
    return out


def _even(image: np.ndarray) -> np.ndarray:
    """4:2:0 chroma needs even sides: one black row or column where a side is odd."""
    h, w = image.shape[:2]
    if h % 2 == 0 and w % 2 == 0:
        return image
    return cv2.copyMakeBorder(image, 0, h % 2, 0, w % 2, cv2.BORDER_CONSTANT, value=(0, 0, 0))


class PyAvEncoder:
    def __init__(self, path: Path, fmt: Format, fps: float, size: tuple[int, int]):
        import av  # FFmpeg's libraries load only when a video is written

        self.av = av
        rate = Fraction(fps).limit_denominator(1001)
        self.container = av.open(str(path), "w", format=fmt.container, options=dict(fmt.muxer))
        try:
            stream = self.container.add_stream(fmt.codec, rate=rate)
            stream.width, stream.height = size[0] + size[0] % 2, size[1] + size[1] % 2
            stream.pix_fmt = "yuv420p"  # what every player and browser decodes
            stream.codec_context.gop_size = max(1, round(fps * KEYFRAME_SECONDS))
            stream.options = dict(fmt.encoder)
            if fmt.codec == "mpeg4":
                stream.bit_rate = 4_000_000
            stream.codec_context.open()  # fails here, not on the first frame, when the encoder cannot run
        except BaseException:
            self.container.close()
            raise
        self.stream, self.frames = stream, 0
        self.codec = fmt.name
        self._gop, self._last_key = stream.codec_context.gop_size, time.monotonic()

    def write(self, image: np.ndarray) -> None:
        frame = self.av.VideoFrame.from_ndarray(_even(image), format="bgr24")
        now = time.monotonic()
        if self.frames % self._gop == 0:
            self._last_key = now
        elif now - self._last_key >= KEYFRAME_SECONDS:  # (by the clock: the frame count has not come round)
            frame.pict_type = self.av.video.frame.PictureType.I
            self._last_key = now
        frame.pts = self.frames
        self.frames += 1
        self.container.mux(self.stream.encode(frame))

    def close(self) -> None:
        try:
            self.container.mux(self.stream.encode(None))  # the frames the encoder still holds
        finally:
            self.container.close()  # writes the index: the file plays every frame


class OpenCvEncoder:
    def __init__(self, path: Path, fmt: Format, fps: float, size: tuple[int, int]):
        level = cv2.utils.logging.getLogLevel()
        cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_SILENT)  # failed probes are expected
        self.writer = None
        try:
            for fourcc in fmt.fourccs:
                writer = cv2.VideoWriter(str(path), cv2.CAP_FFMPEG, cv2.VideoWriter_fourcc(*fourcc), fps, size)
                if writer.isOpened():
                    self.writer, self.codec = writer, FOURCC_NAMES[fourcc]
                    break
                writer.release()
        finally:
            cv2.utils.logging.setLogLevel(level)
        if self.writer is None:
            raise DemoError(f"cannot write video '{path}'", f"OpenCV has no encoder for {', '.join(fmt.fourccs)} "
                            "either; try another extension or an image pattern such as out_%04d.jpg")

    def write(self, image: np.ndarray) -> None:
        self.writer.write(image)

    def close(self) -> None:
        self.writer.release()


class EncoderThread:
    """An encoder on its own thread, so encoding a frame overlaps the inference of the next ones. A few frames
    may queue; the pipeline waits only when the encoder falls behind by more (no frame is ever dropped). An
    encoding error surfaces at the next frame or at close."""

    DEPTH = 4

    def __init__(self, encoder: PyAvEncoder | OpenCvEncoder):
        self.encoder, self.codec = encoder, encoder.codec
        self._frames: queue.Queue[np.ndarray | None] = queue.Queue(maxsize=self.DEPTH)
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="ovdemo-encoder", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while (image := self._frames.get()) is not None:
            if self._error is None:
                try:
                    self.encoder.write(image)
                except BaseException as e:  # handed to the pipeline's thread
                    self._error = e

    def write(self, image: np.ndarray) -> None:
        """Queue a frame; the caller does not change `image` afterwards (each frame is a new array)."""
        if self._error is not None:
            raise self._error
        self._frames.put(image)

    def close(self) -> None:
        """Encode what is queued, then finish the file (also after an error: what was written stays valid)."""
        self._frames.put(None)
        self._thread.join()
        try:
            self.encoder.close()
        finally:
            if self._error is not None:
                raise self._error


def whole_fragments(path: Path) -> None:
    """An MP4 written in fragments and cut short (a full disk) ends in half a fragment, which players stumble
    on: cut the file back to the end of its last whole one (its top-level boxes read as far as they are whole)."""
    if path.suffix.lower() not in (".mp4", ".m4v", ".mov"):
        return
    size = path.stat().st_size
    with open(path, "r+b") as f:
        pos = end = before_moof = 0
        last = b""
        while pos + 8 <= size:
            f.seek(pos)
            header = f.read(16)
            length, kind = int.from_bytes(header[:4], "big"), header[4:8]
            if length == 1:
                length = int.from_bytes(header[8:16], "big")
            if length < 8 or pos + length > size:
                break
            if kind == b"moof":
                before_moof = end
            pos = end = pos + length
            last = kind
        f.truncate(before_moof if last == b"moof" else end)


def playable_frames(path: Path) -> int:
    """The frames FFmpeg decodes from a video file, up to the first that does not; 0 when it does not open."""
    frames = 0
    try:
        import av

        with av.open(str(path)) as container:
            for packet in container.demux(video=0):
                frames += len(packet.decode())
    except Exception:
        pass
    return frames


def open_encoder(path: Path, suffix: str, fps: float, size: tuple[int, int], warn) -> PyAvEncoder | OpenCvEncoder:
    """PyAV's encoder for `suffix`, else OpenCV's (with one warning saying what the file becomes)."""
    fmt = FORMATS[suffix]
    try:
        return PyAvEncoder(path, fmt, fps, size)
    except ImportError as e:
        why = f"PyAV is not installed ({e})"
    except OSError:
        raise  # the file itself cannot be written: no other encoder will do better
    except Exception as e:  # an FFmpeg build without this encoder
        why = f"PyAV cannot encode {fmt.name} here ({e})"
    if path.is_file() and not path.is_symlink():  # PyAV's start of a file aside (never a device written in place)
        path.unlink()
    encoder = OpenCvEncoder(path, fmt, fps, size)
    warn(f"{why}: writing {fmt.name if encoder.codec == fmt.name else encoder.codec} with OpenCV instead"
         + ("" if encoder.codec == fmt.name else ", which browsers may not play"))
    return encoder
