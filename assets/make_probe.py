"""Draw assets/probe.png and assets/probe.json: the image a second-stage model's batch check runs on.

A check on seeded noise hides kernels that go wrong only on image-like input (a smooth face moves a landmark
model's points much further than noise does), so the probe is a drawn scene with what second stages are run on:
faces of several sizes and skin tones, standing people, a car, words on signs, over a smooth background.
Everything is drawn here (no photograph, nothing third-party); the output is deterministic, and the committed
files are what `python assets/make_probe.py` writes. probe.json lists the regions the check cuts, each as
(x1, y1, x2, y2) in pixels of probe.png.
"""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np

W, H = 640, 360
HERE = Path(__file__).parent


def background(rng: np.random.Generator) -> np.ndarray:
    yy, xx = np.mgrid[0:H, 0:W].astype(np.float32)
    base = np.stack([150 + 60 * xx / W, 140 + 40 * yy / H, 120 + 50 * (1 - xx / W)], axis=-1)
    texture = cv2.GaussianBlur(rng.normal(0, 25, (H, W, 3)).astype(np.float32), (0, 0), 6)
    return np.clip(base + texture, 0, 255)


def face(img: np.ndarray, cx: int, cy: int, r: int, skin, hair) -> tuple[int, int, int, int]:
    """A frontal face of radius `r` about (cx, cy); returns its box as a face detector would draw it."""
    cv2.ellipse(img, (cx, cy - r // 3), (int(r * 1.05), int(r * 1.1)), 0, 180, 360, hair, -1)  # hair
    cv2.ellipse(img, (cx, cy), (int(r * 0.85), r), 0, 0, 360, skin, -1)
    for side in (-1, 1):
        ex, ey = cx + side * int(r * 0.35), cy - int(r * 0.15)
        cv2.ellipse(img, (ex, ey), (int(r * 0.17), int(r * 0.09)), 0, 0, 360, (235, 235, 235), -1)
        cv2.circle(img, (ex, ey), max(2, int(r * 0.07)), (40, 30, 25), -1)
        cv2.line(img, (ex - int(r * 0.2), ey - int(r * 0.2)), (ex + int(r * 0.18), ey - int(r * 0.24)),
                 tuple(int(c * 0.4) for c in hair), max(1, r // 14))
        cv2.circle(img, (cx + side * int(r * 0.5), cy + int(r * 0.3)), int(r * 0.15),
                   tuple(min(255, int(c * 1.05)) for c in skin), -1)  # cheeks
    shade = tuple(int(c * 0.75) for c in skin)
    cv2.line(img, (cx, cy - int(r * 0.05)), (cx - int(r * 0.08), cy + int(r * 0.25)), shade, max(1, r // 12))
    cv2.ellipse(img, (cx, cy + int(r * 0.5)), (int(r * 0.3), int(r * 0.12)), 0, 10, 170, (60, 60, 150),
                max(1, r // 10))
    return cx - int(r * 0.9), cy - int(r * 1.1), cx + int(r * 0.9), cy + int(r * 1.05)


def person(img: np.ndarray, x: int, y: int, height: int, shirt, trousers, skin) -> tuple[int, int, int, int]:
    """A standing person whose feet are at (x, y + height); returns its box."""
    head = height // 8
    w = height // 4
    face(img, x, y + head, head, skin, (40, 40, 50))
    top = y + 2 * head + 2
    cv2.rectangle(img, (x - w // 2, top), (x + w // 2, top + int(height * 0.38)), shirt, -1)
    for side in (-1, 1):  # arms and legs
        cv2.line(img, (x + side * w // 2, top + 4), (x + side * (w // 2 + head // 2), top + int(height * 0.35)),
                 shirt, max(3, head // 2))
        cv2.line(img, (x + side * w // 4, top + int(height * 0.38)), (x + side * w // 3, y + height),
                 trousers, max(4, head * 2 // 3))
    return x - w // 2 - head, y, x + w // 2 + head, y + height


def car(img: np.ndarray, x: int, y: int, w: int, colour) -> tuple[int, int, int, int]:
    h = w // 2
    cv2.rectangle(img, (x, y + h // 3), (x + w, y + h - h // 6), colour, -1)
    cv2.rectangle(img, (x + w // 5, y), (x + 4 * w // 5, y + h // 3 + 2), tuple(int(c * 0.85) for c in colour), -1)
    cv2.rectangle(img, (x + w // 4, y + 4), (x + 3 * w // 4, y + h // 3 - 2), (200, 190, 170), -1)  # windows
    for wx in (x + w // 5, x + 4 * w // 5):
        cv2.circle(img, (wx, y + h - h // 6), h // 5, (30, 30, 30), -1)
        cv2.circle(img, (wx, y + h - h // 6), h // 10, (150, 150, 150), -1)
    return x, y, x + w, y + h


def sign(img: np.ndarray, x: int, y: int, text: str, scale: float) -> tuple[int, int, int, int]:
    (tw, th), base = cv2.getTextSize(text, cv2.FONT_HERSHEY_DUPLEX, scale, 2)
    box = (x - 6, y - th - 8, x + tw + 6, y + base + 6)
    cv2.rectangle(img, box[:2], box[2:], (235, 240, 245), -1)
    cv2.putText(img, text, (x, y), cv2.FONT_HERSHEY_DUPLEX, scale, (25, 25, 25), 2, cv2.LINE_AA)
    return box


def main() -> None:
    rng = np.random.default_rng(20261204)
    img = background(rng).astype(np.uint8)
    regions = [
        face(img, 70, 80, 42, (150, 180, 225), (30, 40, 60)),
        face(img, 180, 70, 26, (90, 120, 170), (20, 20, 25)),
        face(img, 270, 90, 55, (120, 160, 210), (60, 90, 130)),
        face(img, 560, 300, 34, (170, 200, 235), (110, 140, 170)),
        person(img, 360, 40, 300, (160, 60, 40), (60, 50, 40), (120, 160, 210)),
        person(img, 450, 120, 200, (40, 150, 60), (90, 80, 70), (90, 120, 170)),
        car(img, 40, 230, 220, (40, 40, 190)),
        sign(img, 480, 40, "OPEN 24h", 0.9),
        sign(img, 20, 200, "Exit 3", 0.7),
        sign(img, 470, 95, "Sale -50%", 0.6),
    ]
    img = cv2.GaussianBlur(img, (0, 0), 0.7)  # a camera's softness: no drawn edge is a single pixel
    regions.append((0, 0, W, H))
    cv2.imwrite(str(HERE / "probe.png"), img)
    (HERE / "probe.json").write_text(json.dumps({
        "image": "probe.png", "made_by": "assets/make_probe.py",
        "regions": [[int(v) for v in r] for r in regions]}, indent=1) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
