"""Drawing primitives. Annotators share one signature: draw(frame, objects, style)."""

from __future__ import annotations

import colorsys
from dataclasses import dataclass, replace
from functools import cache

import cv2
import numpy as np

from .results import Detections

FONT = cv2.FONT_HERSHEY_SIMPLEX


@dataclass(frozen=True)
class Style:
    thickness: int = 2
    font_scale: float = 0.5
    labels: bool = True  # caption boxes with their class
    confidence: bool = True  # and their score
    boxes: bool = True  # draw the boxes themselves

    @classmethod
    def for_frame(cls, width: int, height: int, shown: Style | None = None) -> Style:
        """Line and text sizes that stay readable from 480p to 4K; what is shown comes from `shown`."""
        unit = max(width, height) / 1280.0
        sized = cls(thickness=max(1, round(2 * unit)), font_scale=max(0.4, 0.55 * unit))
        if shown is None:
            return sized
        return replace(sized, labels=shown.labels, confidence=shown.confidence, boxes=shown.boxes)


@cache
def color_for(label_id: int) -> tuple[int, int, int]:
    """A stable, well-separated BGR colour per class (golden-ratio hue steps)."""
    hue = (label_id * 0.618033988749895 + 0.1) % 1.0
    r, g, b = colorsys.hsv_to_rgb(hue, 0.85, 0.95)
    return int(b * 255), int(g * 255), int(r * 255)


def draw_label(frame: np.ndarray, text: str, x: int, y: int, color, style: Style) -> None:
    """Text on a filled box whose top-left corner sits at (x, y - height), kept inside the frame."""
    (tw, th), base = cv2.getTextSize(text, FONT, style.font_scale, 1)
    x = int(min(max(x, 0), max(frame.shape[1] - tw - 2, 0)))
    y = int(max(y, th + base + 2))
    cv2.rectangle(frame, (x, y - th - base - 2), (x + tw + 2, y), color, cv2.FILLED)
    luma = 0.114 * color[0] + 0.587 * color[1] + 0.299 * color[2]
    ink = (0, 0, 0) if luma > 140 else (255, 255, 255)
    cv2.putText(frame, text, (x + 1, y - base - 1), FONT, style.font_scale, ink, 1, cv2.LINE_AA)


def draw_box(frame: np.ndarray, box, color, style: Style, caption: str | None = None) -> None:
    x1, y1, x2, y2 = (int(round(v)) for v in box)
    cv2.rectangle(frame, (x1, y1), (x2, y2), color, style.thickness)
    if caption:
        draw_label(frame, caption, x1 - style.thickness // 2, y1, color, style)


def caption(objects: Detections, i: int, style: Style, extra: str = "") -> str | None:
    """An object's caption: its track id, class and score as the style asks, then `extra`."""
    parts = []
    if objects.tracker_id is not None and objects.tracker_id[i] >= 0 and _confirmed(objects, i):
        parts.append(f"#{objects.tracker_id[i]}")
    if style.labels:
        parts.append(objects.label_name(int(objects.class_id[i])))
    if style.confidence:
        parts.append(f"{objects.confidence[i]:.2f}")
    if extra:
        parts.append(extra)
    return " ".join(parts) or None


def _confirmed(objects: Detections, i: int) -> bool:
    states = objects.data.get("track_state")
    return states is None or states[i] != "tentative"


def object_color(objects: Detections, i: int) -> tuple[int, int, int]:
    """A tracked object keeps its track's colour; others take their class's."""
    if objects.tracker_id is not None and objects.tracker_id[i] >= 0:
        return color_for(int(objects.tracker_id[i]))
    return color_for(int(objects.class_id[i]))


def draw_predicted_box(frame: np.ndarray, box, color, style: Style, caption_text: str | None) -> None:
    """A box the tracker predicts on a frame the detector did not see it: dashed, so it reads as a guess."""
    x1, y1, x2, y2 = (int(round(v)) for v in box)
    dash = max(4, 4 * style.thickness)
    for a, b in (((x1, y1), (x2, y1)), ((x2, y1), (x2, y2)), ((x2, y2), (x1, y2)), ((x1, y2), (x1, y1))):
        length = max(abs(b[0] - a[0]), abs(b[1] - a[1]))
        for start in range(0, length, 2 * dash):
            t0, t1 = start / max(length, 1), min(start + dash, length) / max(length, 1)
            p = (int(a[0] + (b[0] - a[0]) * t0), int(a[1] + (b[1] - a[1]) * t0))
            q = (int(a[0] + (b[0] - a[0]) * t1), int(a[1] + (b[1] - a[1]) * t1))
            cv2.line(frame, p, q, color, style.thickness, cv2.LINE_AA)
    if caption_text:
        draw_label(frame, caption_text, x1 - style.thickness // 2, y1, color, style)


def draw_objects(frame: np.ndarray, objects: Detections, style: Style, extras: list[str] | None = None,
                 colors: list[tuple[int, int, int]] | None = None) -> None:
    """Boxes with captions (track id, class, score, then `extras[i]`); predicted tracks dashed. `colors`
    gives each object's colour when the family chooses them (default: `object_color`)."""
    states = objects.data.get("track_state")
    for i in range(len(objects)):
        color = colors[i] if colors is not None else object_color(objects, i)
        text = caption(objects, i, style, extras[i] if extras else "")
        if states is not None and states[i] == "predicted":
            draw_predicted_box(frame, objects.xyxy[i], color, style, text)
        elif style.boxes:
            draw_box(frame, objects.xyxy[i], color, style, text)
        elif text:
            x1, y1 = objects.xyxy[i][:2]
            draw_label(frame, text, int(x1), int(y1), color, style)


def draw_status(frame: np.ndarray, lines: list[str], style: Style) -> None:
    """The FPS / latency overlay in the top-left corner."""
    scale = style.font_scale * 1.1
    (_, th), base = cv2.getTextSize("Ag", FONT, scale, 1)
    y = th + 8
    for line in lines:
        cv2.putText(frame, line, (8, y), FONT, scale, (0, 0, 0), 3, cv2.LINE_AA)
        cv2.putText(frame, line, (8, y), FONT, scale, (255, 255, 255), 1, cv2.LINE_AA)
        y += th + base + 6


def draw_score_bar(frame: np.ndarray, x: int, y: int, width: int, score: float, color, style: Style) -> int:
    """A horizontal bar filled to `score` (0..1) with its top-left corner at (x, y), kept inside the
    frame: a confidence at a glance under a label. Returns the y just below the bar."""
    height = max(4, round(6 * style.font_scale / 0.5))
    x = int(min(max(x, 0), max(frame.shape[1] - width - 1, 0)))
    y = int(min(max(y, 0), max(frame.shape[0] - height - 1, 0)))
    fill = int(round(width * min(max(float(score), 0.0), 1.0)))
    cv2.rectangle(frame, (x, y), (x + width, y + height), (40, 40, 40), cv2.FILLED)
    if fill > 0:
        cv2.rectangle(frame, (x, y), (x + fill, y + height), color, cv2.FILLED)
    return y + height + 1
