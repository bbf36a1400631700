"""Known words rendered onto real video frames (cv2.putText on a light sign, rotated), for ovdemo text's
tests and benchmark: the truth is what was drawn, where it was drawn."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import cv2
import jsonschema
import numpy as np
from helpers import read_jsonl

SCHEMA = json.loads((Path(__file__).resolve().parents[2] / "assets" / "schema" / "frame.schema.json").read_text())

FONT = cv2.FONT_HERSHEY_DUPLEX


@dataclass
class Sign:
    text: str
    centre: tuple[float, float]
    scale: float  # cv2.putText font scale
    angle: float  # degrees, counter-clockwise as cv2.getRotationMatrix2D counts them


def render(frame: np.ndarray, sign: Sign) -> np.ndarray:
    """Paste the sign onto the frame; returns the text's own corners (4, 2) in frame pixels."""
    thickness = max(1, int(round(sign.scale * 1.6)))
    (tw, th), base = cv2.getTextSize(sign.text, FONT, sign.scale, thickness)
    pad = int(th * 0.6)
    w, h = tw + 2 * pad, th + base + 2 * pad
    patch = np.full((h, w, 3), 235, np.uint8)
    cv2.putText(patch, sign.text, (pad, pad + th), FONT, sign.scale, (20, 20, 20), thickness, cv2.LINE_AA)
    cx, cy = sign.centre
    rotation = cv2.getRotationMatrix2D((w / 2, h / 2), sign.angle, 1.0)
    rotation[:, 2] += (cx - w / 2, cy - h / 2)
    size = (frame.shape[1], frame.shape[0])
    warped = cv2.warpAffine(patch, rotation, size, flags=cv2.INTER_LINEAR)
    mask = cv2.warpAffine(np.full((h, w), 255, np.uint8), rotation, size, flags=cv2.INTER_LINEAR)
    alpha = (mask.astype(np.float32) / 255)[..., None]
    frame[:] = (frame * (1 - alpha) + warped * alpha).astype(np.uint8)
    text_corners = np.array([[pad, pad], [pad + tw, pad], [pad + tw, pad + th + base], [pad, pad + th + base]],
                            np.float32)
    return cv2.transform(text_corners[None], rotation)[0]


# Several sizes and angles; per frame, signs placed apart so each is one word.
SCENES = [
    [Sign("OpenVINO", (200, 90), 1.4, 0), Sign("spotting", (560, 110), 1.0, 12),
     Sign("camera", (190, 300), 0.9, -10), Sign("Recognition", (540, 330), 1.2, 5)],
    [Sign("Station", (210, 120), 1.6, 8), Sign("exit 42", (560, 90), 0.8, 0),
     Sign("Bakery", (200, 320), 1.1, -15), Sign("parking", (560, 300), 1.3, 20)],
    [Sign("Hello", (160, 100), 2.0, 0), Sign("world", (520, 120), 1.5, -8),
     Sign("Platform", (220, 310), 1.0, 15), Sign("Tickets", (560, 330), 0.9, -5)],
]


def make_frames(video: Path, folder: Path, scenes=SCENES, start: int = 30) -> list[list[tuple[str, np.ndarray]]]:
    """Frames start, start+1, ... of the video with each scene's signs rendered, written as folder/f_NNN.png
    (lossless). Returns, per frame, each word and its corners."""
    cap = cv2.VideoCapture(str(video))
    for _ in range(start):
        cap.read()
    truth = []
    folder.mkdir(parents=True, exist_ok=True)
    for i, scene in enumerate(scenes):
        ok, frame = cap.read()
        assert ok, f"{video} ended early"
        truth.append([(sign.text, render(frame, sign)) for sign in scene])
        cv2.imwrite(str(folder / f"f_{i:03d}.png"), frame)
    cap.release()
    return truth


def read_records(path: Path) -> list[dict]:
    """The JSON lines ovdemo text wrote, each checked against the frame schema, and every object a word."""
    records = read_jsonl(path)
    for record in records:
        jsonschema.validate(record, SCHEMA)
        for word in record["objects"]:
            assert word["label"] == "text" and word["label_id"] == 0, word
            assert {"text", "text_confidence", "quad"} <= set(word), word
            x1, y1, x2, y2 = word["bbox"]  # the box is the quad's bounding box
            xs, ys = [p[0] for p in word["quad"]], [p[1] for p in word["quad"]]
            assert (x1, y1, x2, y2) == (min(xs), min(ys), max(xs), max(ys)), word
    return records


def edit_distance(a: str, b: str) -> int:
    """Levenshtein distance: insertions, deletions and substitutions each cost 1."""
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        current = [i]
        for j, cb in enumerate(b, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ca != cb)))
        previous = current
    return previous[-1]


def inside(point, corners: np.ndarray) -> bool:
    return cv2.pointPolygonTest(corners.astype(np.float32), (float(point[0]), float(point[1])), False) >= 0


def test_edit_distance_counts_single_character_edits():
    assert edit_distance("kitten", "sitting") == 3
    assert edit_distance("", "abc") == 3 and edit_distance("abc", "abc") == 0


def test_rendered_corners_hold_the_dark_text_pixels():
    frame = np.full((200, 300, 3), 128, np.uint8)
    corners = render(frame, Sign("Word", (150, 100), 1.0, 30))
    dark = np.argwhere(frame.min(axis=2) < 60)[:, ::-1]
    assert len(dark) > 100
    assert np.mean([inside(p, corners) for p in dark]) > 0.97  # the text lies within its corners
