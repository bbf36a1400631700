"""Draw assets/text-sample.png: the picture `ovdemo text -i text-sample.png` reads out of the box.

No sample video has readable words (PP-OCRv5 finds junk on bottle-detection.mp4, nothing on car-detection.mp4), so
ovdemo ships this one: a shop front drawn here with OpenCV's own Hershey fonts (nothing third-party), signs of
several sizes and colours, one slightly tilted, over a smooth background. WORDS are what a recognizer must
read (tests/families/test_text_sample.py checks that the default models do). The output is deterministic: the
committed file is what `python assets/make_text_sample.py` writes.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

W, H = 800, 450
HERE = Path(__file__).parent
OUT = HERE / "text-sample.png"
# (text, centre x, centre y, font scale, thickness, ink BGR, board BGR, tilt in degrees)
SIGNS = (
    ("OPEN", 400, 70, 2.6, 6, (255, 255, 255), (40, 110, 30), 0.0),
    ("BOOKS", 210, 205, 1.9, 5, (30, 30, 30), (190, 230, 245), 0.0),
    ("BAKERY", 590, 205, 1.9, 5, (250, 250, 250), (60, 60, 170), -4.0),
    ("EXIT", 130, 350, 1.5, 4, (255, 255, 255), (50, 140, 50), 0.0),
    ("MARKET", 420, 350, 1.5, 4, (20, 20, 120), (235, 235, 235), 0.0),
    ("2026", 670, 350, 1.5, 4, (0, 0, 0), (80, 200, 240), 0.0),
)
WORDS = tuple(sign[0] for sign in SIGNS)
FONT = cv2.FONT_HERSHEY_DUPLEX


def background() -> np.ndarray:
    yy, xx = np.mgrid[0:H, 0:W].astype(np.float32)
    wall = np.stack([120 + 50 * yy / H, 135 + 40 * xx / W, 150 + 30 * (1 - yy / H)], axis=-1)
    return wall.astype(np.uint8)


def sign(img: np.ndarray, text: str, cx: int, cy: int, scale: float, thickness: int, ink, board,
         tilt: float) -> None:
    """A board with `text` on it, centred on (cx, cy), turned by `tilt` degrees."""
    (tw, th), base = cv2.getTextSize(text, FONT, scale, thickness)
    pad = int(th * 0.6)
    bw, bh = tw + 2 * pad, th + base + 2 * pad
    tile = np.full((bh, bw, 3), board, np.uint8)
    cv2.rectangle(tile, (0, 0), (bw - 1, bh - 1), tuple(int(c * 0.6) for c in board), 3)
    cv2.putText(tile, text, (pad, pad + th), FONT, scale, ink, thickness, cv2.LINE_AA)
    mask = np.full((bh, bw), 255, np.uint8)
    turn = cv2.getRotationMatrix2D((bw / 2, bh / 2), tilt, 1.0)
    turn[:, 2] += (cx - bw / 2, cy - bh / 2)
    warped = cv2.warpAffine(tile, turn, (W, H), flags=cv2.INTER_LINEAR)
    covered = cv2.warpAffine(mask, turn, (W, H), flags=cv2.INTER_LINEAR)[..., None] / 255.0
    img[:] = (img * (1 - covered) + warped * covered).astype(np.uint8)


def draw() -> np.ndarray:
    img = background()
    for args in SIGNS:
        sign(img, *args)
    return img


if __name__ == "__main__":
    cv2.imwrite(str(OUT), draw())
    print(f"wrote {OUT}")
