"""The live window: frames shown as they are written (several streams: a mosaic of them); `q`, Esc or the window's
close button end the run."""

from __future__ import annotations

import math
import os
from pathlib import Path

import cv2
import numpy as np

from .video import letterbox

QUIT_KEYS = {ord("q"), ord("Q"), 27}  # 27: Esc
FONT_SUFFIXES = {".ttf", ".otf", ".ttc", ".pfb"}
DEJAVU = Path("/usr/share/fonts/truetype/dejavu")  # Debian's and Ubuntu's usual one
FONT_ROOTS = ("/usr/share/fonts", "/usr/local/share/fonts", "~/.local/share/fonts", "~/.fonts")


def _system_font_dir() -> Path | None:
    """A folder holding font files (DejaVu first): Qt reads one folder, without its subfolders."""
    if DEJAVU.is_dir():
        return DEJAVU
    found = []
    for root in map(Path, (os.path.expanduser(r) for r in FONT_ROOTS)):
        if root.is_dir():
            found += sorted({p.parent for p in root.rglob("*") if p.suffix.lower() in FONT_SUFFIXES})
    return next((d for d in found if "dejavu" in str(d).lower()), found[0] if found else None)


def _has_fonts(folder: str | None) -> bool:
    return bool(folder) and Path(folder).is_dir() and any(p.suffix.lower() in FONT_SUFFIXES
                                                          for p in Path(folder).iterdir())


def quiet_qt_fonts() -> None:
    """OpenCV's wheels bundle Qt without fonts, yet point QT_QPA_FONTDIR at their own (absent) font folder when cv2
    is imported; Qt then warns five times. Point it at the system's fonts before the first window (Qt reads it
    once), or, with none on the system, mute that note."""
    if _has_fonts(os.environ.get("QT_QPA_FONTDIR")):
        return
    folder = _system_font_dir()
    if folder is not None:
        os.environ["QT_QPA_FONTDIR"] = str(folder)
    else:
        os.environ.setdefault("QT_LOGGING_RULES", "default.warning=false")


class Window:
    """One OpenCV window. `show` returns True once the user asked to stop: `q`, Esc, or the close button (which
    would otherwise only hide the window until the next frame brings it back)."""

    def __init__(self, title: str):
        self.title = title
        self._opened = False

    def show(self, image: np.ndarray) -> bool:
        if not self._opened:
            quiet_qt_fonts()
            cv2.namedWindow(self.title, cv2.WINDOW_AUTOSIZE)
            self._opened = True
        cv2.imshow(self.title, image)
        key = cv2.waitKey(1) & 0xFF
        if key in QUIT_KEYS:
            return True
        try:
            return cv2.getWindowProperty(self.title, cv2.WND_PROP_VISIBLE) < 1
        except cv2.error:  # Qt destroys a closed window, and with the last one its whole GUI state
            self._opened = False
            return True

    def close(self) -> None:
        if self._opened:
            cv2.destroyWindow(self.title)
            cv2.waitKey(1)  # let the GUI loop take the window down
            self._opened = False


MOSAIC_MAX = (1920, 1080)  # the mosaic fits a full-HD screen: tiles shrink, never grow
MOSAIC_LABEL_SCALE = 0.5


class Mosaic:
    """Several streams in one picture: a grid of tiles (columns first, as square as it goes), each showing its
    stream's latest frame letterboxed into it with a caption naming the stream at its bottom left. The tile size
    comes from the first frame shown; a tile is redrawn only when its stream brings a frame."""

    def __init__(self, names: list[str]):
        self.names = names
        self.columns = math.ceil(math.sqrt(len(names)))
        self.rows = math.ceil(len(names) / self.columns)
        self.canvas: np.ndarray | None = None
        self.tile: tuple[int, int] = (0, 0)

    def put(self, stream: int, image: np.ndarray) -> np.ndarray:
        """The mosaic with `image` as the latest frame of `stream`."""
        if self.canvas is None:
            h, w = image.shape[:2]
            scale = min(1.0, MOSAIC_MAX[0] / (self.columns * w), MOSAIC_MAX[1] / (self.rows * h))
            self.tile = (max(2, int(w * scale)), max(2, int(h * scale)))
            self.canvas = np.zeros((self.tile[1] * self.rows, self.tile[0] * self.columns, 3), np.uint8)
        tw, th = self.tile
        x, y = (stream % self.columns) * tw, (stream // self.columns) * th
        tile = self.canvas[y:y + th, x:x + tw]
        tile[:] = letterbox(image, self.tile)
        caption = f"{stream}: {self.names[stream]}"
        (cw, ch), base = cv2.getTextSize(caption, cv2.FONT_HERSHEY_SIMPLEX, MOSAIC_LABEL_SCALE, 1)
        top = th - ch - base - 6  # bottom left: the frame's own readout is top left
        cv2.rectangle(tile, (0, top), (min(cw + 6, tw - 1), th - 1), (0, 0, 0), cv2.FILLED)
        cv2.putText(tile, caption, (3, top + ch + 3), cv2.FONT_HERSHEY_SIMPLEX, MOSAIC_LABEL_SCALE, (255, 255, 255),
                    1, cv2.LINE_AA)
        return self.canvas
