"""Captions in any script: OpenCV's Hershey fonts draw ASCII only, so non-ASCII words are drawn with
Pillow and a TrueType font (--font FILE, else a system font fontconfig says covers the text, else
common system paths). Without either, non-ASCII characters become '?' after a one-time warning."""

from __future__ import annotations

import shutil
import subprocess
from functools import cache
from pathlib import Path

import cv2
import numpy as np

from ovdemo.common.draw import FONT, Style, caption_place, draw_label, ink_for
from ovdemo.common.errors import DemoError

COMMON_FONTS = (
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/noto-cjk/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc",
    "/usr/share/fonts/truetype/droid/DroidSansFallbackFull.ttf",
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    "/System/Library/Fonts/PingFang.ttc",
    "C:/Windows/Fonts/msyh.ttc",
    "C:/Windows/Fonts/arial.ttf",
)


def check_font(path: str | None) -> None:
    if path is not None and not Path(path).is_file():
        raise DemoError(f"font file not found: {path}", "pass a .ttf/.otf/.ttc file to --font")


@cache
def fontconfig_font(char: str) -> str | None:
    """A font file fontconfig lists as covering `char`, if fontconfig is installed."""
    if shutil.which("fc-list") is None:
        return None
    try:
        out = subprocess.run(["fc-list", f":charset={ord(char):x}", "file"], capture_output=True, text=True,
                             timeout=10).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    files = sorted(line.strip().rstrip(":") for line in out.splitlines() if line.strip())
    # prefer a regular weight when there is one
    regular = [f for f in files if "Regular" in f or "Book" in f or not any(s in f for s in ("Bold", "Italic"))]
    return (regular or files or [None])[0]


class Captioner:
    """Draws one caption per word: Hershey for ASCII, Pillow for the rest."""

    def __init__(self, font_path: str | None = None, warn=None):
        self.font_path = font_path
        self.warn = warn or (lambda message: None)
        self._warned = False
        self._fonts: dict[tuple[str, int], object] = {}

    def _truetype(self, text: str, size: int):
        try:
            from PIL import ImageFont
        except ImportError:
            return None
        path = self.font_path
        if path is None:
            first = next(c for c in text if ord(c) > 127)
            if shutil.which("fc-list"):  # fontconfig knows which fonts cover the character
                path = fontconfig_font(first)
            else:
                path = next((p for p in COMMON_FONTS if Path(p).is_file()), None)
        if path is None:
            return None
        key = (path, size)
        if key not in self._fonts:
            try:
                self._fonts[key] = ImageFont.truetype(path, size)
            except OSError:
                self._fonts[key] = None
        return self._fonts[key]

    def draw(self, frame: np.ndarray, text: str, x: int, y: int, color, style: Style, own=None) -> None:
        """Text on a filled box meant to sit with its bottom-left corner at (x, y), placed like every caption
        (inside the frame, off the other captions: `caption_place`); `own` is the word's box."""
        if text.isascii():
            return draw_label(frame, text, x, y, color, style, own)
        (_, th), base = cv2.getTextSize("Ag", FONT, style.font_scale, 1)
        font = self._truetype(text, th + base + 2)
        if font is None:
            if not self._warned:
                self.warn("no TrueType font (or Pillow) for non-ASCII text: drawing '?' instead; "
                          "pass a font that covers it with --font FILE")
                self._warned = True
            return draw_label(frame, "".join(c if c.isascii() else "?" for c in text), x, y, color, style, own)
        self._pillow(frame, text, x, y, color, font, style, own)

    def _pillow(self, frame, text, x, y, color, font, style, own) -> None:
        from PIL import Image, ImageDraw

        left, top, right, bottom = font.getbbox(text)
        tw, th = right - left + 4, bottom - top + 4
        x, y = caption_place(frame, tw, th, x, y, style, own)
        y += th  # the patch's bottom edge
        patch = Image.new("RGB", (tw, th), tuple(int(c) for c in color[::-1]))
        ImageDraw.Draw(patch).text((2 - left, 2 - top), text, font=font, fill=ink_for(color)[::-1])
        region = frame[y - th:y, x:x + tw]
        region[:] = np.asarray(patch)[:region.shape[0], :region.shape[1], ::-1]
