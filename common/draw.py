"""Drawing primitives. Annotators share one signature: draw(frame, objects, style)."""

from __future__ import annotations

import colorsys
from dataclasses import dataclass, field, replace
from functools import cache

import cv2
import numpy as np

from .results import Detections, caption_parts, has_caption_parts

FONT = cv2.FONT_HERSHEY_SIMPLEX


Rect = tuple[int, int, int, int]  # x1, y1, x2, y2 (exclusive)


def as_rect(values) -> Rect:
    """Four numbers (a box, a row of an array) as a Rect of whole pixels."""
    x1, y1, x2, y2 = (int(v) for v in values)
    return x1, y1, x2, y2


def _overlap(a: Rect, b: Rect) -> int:
    return max(0, min(a[2], b[2]) - max(a[0], b[0])) * max(0, min(a[3], b[3]) - max(a[1], b[1]))


class LabelLayout:
    """Where the captions of one frame go: each as near its anchor as it fits, inside the frame and clear of
    every caption and reserved area (the status readout, a legend) placed before it. Objects' boxes may be
    given as `obstacles`: a caption prefers a place that covers none of them (a dense page of words)."""

    NEAR = 2  # rows (caption heights) from its anchor a caption may move to find a clear place

    def __init__(self, width: int, height: int):
        self.width, self.height = width, height
        self.taken: list[Rect] = []
        self.obstacles: list[Rect] = []

    def reserve(self, rect: Rect) -> None:
        self.taken.append(as_rect(rect))

    @staticmethod
    def _covered(rects: np.ndarray, others: list[Rect]) -> np.ndarray:
        """For each candidate rect (K, 4), the area it shares with `others`."""
        if not others:
            return np.zeros(len(rects))
        o = np.asarray(others, np.int64)[None]
        r = rects[:, None]
        w = np.clip(np.minimum(r[..., 2], o[..., 2]) - np.maximum(r[..., 0], o[..., 0]), 0, None)
        h = np.clip(np.minimum(r[..., 3], o[..., 3]) - np.maximum(r[..., 1], o[..., 1]), 0, None)
        return (w * h).sum(axis=1)

    def place(self, w: int, h: int, x: int, y: int, own: Rect | None = None) -> tuple[int, int]:
        """The top-left corner for a w x h caption that would sit with its bottom-left corner at (x, y).

        Places are tried one caption height apart up and down the frame. Within NEAR rows of the anchor, the
        nearest that covers least of the captions placed so far, then of the obstacles, wins; a caption
        strays farther only when every near place would cover another caption."""
        x = int(min(max(x, 0), max(self.width - w, 0)))
        wanted = int(y - h)
        span = max(self.height - h, 0)
        if 0 <= wanted <= span:  # the anchor's own place, when it is clear, is the best: no search (most frames)
            rect = (x, wanted, x + w, wanted + h)
            if not _shared_area(rect, self.taken) and not _shared_area(rect, [o for o in self.obstacles if o != own]):
                self.taken.append(rect)
                return x, wanted
        rows = np.arange(-(span // (h + 1) + 2), span // (h + 1) + 3)
        tops = np.unique(np.clip(wanted + rows * (h + 1) + (rows > 0), 0, span))  # row 1: just below the anchor
        rects = np.stack([np.full(len(tops), x), tops, np.full(len(tops), x + w), tops + h], axis=1)
        hard = self._covered(rects, self.taken)
        soft = self._covered(rects, [o for o in self.obstacles if o != own])
        distance = np.abs(tops - wanted)
        near = distance <= self.NEAR * (h + 1)
        if not (near & (hard == 0)).any():
            near[:] = True  # only a far place is clear of the other captions
        candidates = np.flatnonzero(near)
        best = int(candidates[np.lexsort((distance[candidates], soft[candidates], hard[candidates]))[0]])
        rect = as_rect(rects[best])
        self.taken.append(rect)
        return rect[0], rect[1]


def _shared_area(rect: Rect, others: list[Rect]) -> int:
    """The area `rect` shares with `others` (plain Python: a few rectangles cost less than numpy's calls)."""
    x1, y1, x2, y2 = rect
    return sum(max(0, min(x2, o[2]) - max(x1, o[0])) * max(0, min(y2, o[3]) - max(y1, o[1])) for o in others)


@dataclass(frozen=True)
class Style:
    thickness: int = 2
    font_scale: float = 0.5
    labels: bool = True  # caption boxes with their class
    confidence: bool = True  # and their score
    boxes: bool = True  # draw the boxes themselves
    layout: LabelLayout | None = field(default=None, compare=False)  # this frame's captions, when laid out

    def for_image(self, image: np.ndarray) -> Style:
        """This style with a fresh caption layout for one frame."""
        return replace(self, layout=LabelLayout(image.shape[1], image.shape[0]))

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


def ink_for(color) -> tuple[int, int, int]:
    """Black or white, whichever reads better on `color`."""
    luma = 0.114 * color[0] + 0.587 * color[1] + 0.299 * color[2]
    return (0, 0, 0) if luma > 140 else (255, 255, 255)


def caption_place(frame: np.ndarray, w: int, h: int, x: int, y: int, style: Style,
                  own: Rect | None = None) -> tuple[int, int]:
    """Top-left corner of a w x h caption meant to sit with its bottom-left corner at (x, y): laid out among
    the frame's other captions when the style has a layout, else only kept inside the frame."""
    if style.layout is not None:
        return style.layout.place(w, h, x, y, own)
    x = int(min(max(x, 0), max(frame.shape[1] - w, 0)))
    return x, int(min(max(y - h, 0), max(frame.shape[0] - h, 0)))


def draw_label(frame: np.ndarray, text: str, x: int, y: int, color, style: Style, own: Rect | None = None) -> None:
    """Text on a filled box meant to sit with its bottom-left corner at (x, y), kept inside the frame and, with a
    layout, off the frame's other captions."""
    draw_lines(frame, [text], x, y, color, style, own)


def draw_lines(frame: np.ndarray, lines: list[str], x: int, y: int, color, style: Style,
               own: Rect | None = None) -> None:
    """Lines of text on one filled box (placed as `draw_label` places one line)."""
    sizes = [cv2.getTextSize(text, FONT, style.font_scale, 1) for text in lines]
    (_, th), base = sizes[0]
    line_h = th + base + 2
    w = max(tw for (tw, _), _ in sizes) + 2
    left, top = caption_place(frame, w, line_h * len(lines), x, y, style, own)
    cv2.rectangle(frame, (left, top), (left + w, top + line_h * len(lines)), color, cv2.FILLED)
    for k, text in enumerate(lines):
        cv2.putText(frame, text, (left + 1, top + k * line_h + th + 1), FONT, style.font_scale, ink_for(color), 1,
                    cv2.LINE_AA)


def text_width(text: str, style: Style) -> int:
    """Pixels a caption line of `text` takes, its box's margin included."""
    return cv2.getTextSize(text, FONT, style.font_scale, 1)[0][0] + 2


def caption_lines(head: str, parts: list[str], width: int, style: Style) -> list[str]:
    """A caption broken into lines of at most `width` pixels: `head` (id, class, score) whole, then the parts
    (`bag: no`), as many to a line as fit, apart by commas. A part wider than `width` goes over lines of its own,
    broken between its words; a word wider than `width` still stays whole (never cut mid-word)."""
    lines = [head] if head else []
    joinable, separator = bool(head), " "
    for part in parts:
        if text_width(part, style) > width:
            words = part.split()
            lines.append(words[0])
            for word in words[1:]:  # the part's own words, as many a line as fit; no other part joins them
                if text_width(f"{lines[-1]} {word}", style) <= width:
                    lines[-1] += f" {word}"
                else:
                    lines.append(word)
            joinable = False
        elif joinable and text_width(lines[-1] + separator + part, style) <= width:
            lines[-1] += separator + part
        else:
            lines.append(part)
            joinable = True
        separator = ", "
    return lines


def draw_box(frame: np.ndarray, box, color, style: Style, caption: str | list[str] | None = None) -> None:
    """A box with its caption above it (a list: one caption over several lines)."""
    x1, y1, x2, y2 = (int(round(v)) for v in box)
    cv2.rectangle(frame, (x1, y1), (x2, y2), color, style.thickness)
    if caption:
        draw_lines(frame, [caption] if isinstance(caption, str) else caption, x1 - style.thickness // 2, y1,
                   color, style)


def caption(objects: Detections, i: int, style: Style, extra: str = "") -> str | None:
    """An object's caption: its track id, class and score as the style asks, then `extra`."""
    return " ".join([p for p in (caption_head(objects, i, style), extra) if p]) or None


def caption_head(objects: Detections, i: int, style: Style) -> str:
    """What an object's caption starts with: its track id, class and score as the style asks."""
    parts = []
    if objects.tracker_id is not None and objects.tracker_id[i] >= 0 and _confirmed(objects, i):
        parts.append(f"#{objects.tracker_id[i]}")
    if style.labels:
        parts.append(objects.label_name(int(objects.class_id[i])))
    if style.confidence:
        parts.append(f"{objects.confidence[i]:.2f}")
    return " ".join(parts)


def _confirmed(objects: Detections, i: int) -> bool:
    states = objects.data.get("track_state")
    return states is None or states[i] != "tentative"


def object_color(objects: Detections, i: int) -> tuple[int, int, int]:
    """A tracked object keeps its track's colour; others take their class's."""
    if objects.tracker_id is not None and objects.tracker_id[i] >= 0:
        return color_for(int(objects.tracker_id[i]))
    return color_for(int(objects.class_id[i]))


def draw_predicted_box(frame: np.ndarray, box, color, style: Style, caption_text: str | list[str] | None) -> None:
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
        draw_lines(frame, [caption_text] if isinstance(caption_text, str) else caption_text,
                   x1 - style.thickness // 2, y1, color, style)


def draw_objects(frame: np.ndarray, objects: Detections, style: Style, extras: list[str] | None = None,
                 colors: list[tuple[int, int, int]] | None = None) -> None:
    """Boxes with captions (track id, class, score, then `extras[i]`); predicted tracks dashed. `colors[i]`,
    when given, overrides an object's track or class colour (e.g. a face's identity). What per-object models
    said (the data keys whose `caption` results.OBJECT_KEYS gives, e.g. `attributes`), when the family says
    nothing, follows as named parts over as many lines as keep the caption within its box's width."""
    states = objects.data.get("track_state")
    named = extras is None and has_caption_parts(objects)
    for i in range(len(objects)):
        color = colors[i] if colors is not None else object_color(objects, i)
        text: str | list[str] | None
        if named:
            x1, _, x2, _ = objects.xyxy[i]
            width = int(round(x2 - x1)) + style.thickness  # (the caption starts at the box line's outer edge)
            text = caption_lines(caption_head(objects, i, style), caption_parts(objects, i), width, style) or None
        else:
            text = caption(objects, i, style, extras[i] if extras else "")
        if states is not None and states[i] == "predicted":
            draw_predicted_box(frame, objects.xyxy[i], color, style, text)
        elif style.boxes:
            draw_box(frame, objects.xyxy[i], color, style, text)
        elif text:
            x1, y1 = objects.xyxy[i][:2]
            draw_lines(frame, [text] if isinstance(text, str) else text, int(x1), int(y1), color, style)


def status_rect(lines: list[str], style: Style, frame_size: tuple[int, int],
                boxes: np.ndarray | None = None) -> Rect:
    """Where the status readout goes: the corner of the frame its rectangle covers least of `boxes` in (the
    objects of the frame), top-left when it is a tie, so it never hides what a still image is about."""
    scale = style.font_scale * 1.1
    (_, th), base = cv2.getTextSize("Ag", FONT, scale, 1)
    w = max((cv2.getTextSize(line, FONT, scale, 1)[0][0] for line in lines), default=0) + 8
    h = len(lines) * (th + base + 6) + 4
    fw, fh = frame_size
    corners = [(4, 4), (fw - w - 4, 4), (4, fh - h - 4), (fw - w - 4, fh - h - 4)]
    rects = [(max(x, 0), max(y, 0), max(x, 0) + w, max(y, 0) + h) for x, y in corners]
    if boxes is None or not len(boxes):
        return rects[0]
    covered = LabelLayout._covered(np.asarray(rects, np.int64), [as_rect(b) for b in boxes])
    return rects[int(np.argmin(covered))]


def draw_status(frame: np.ndarray, lines: list[str], style: Style, rect: Rect | None = None) -> None:
    """The FPS / latency readout (top-left unless `rect` says where), on a dark backing that reads on any wall."""
    scale = style.font_scale * 1.1
    (_, th), base = cv2.getTextSize("Ag", FONT, scale, 1)
    x1, y1, x2, y2 = rect or status_rect(lines, style, (frame.shape[1], frame.shape[0]))
    x2, y2 = min(x2, frame.shape[1]), min(y2, frame.shape[0])
    if x2 > x1 and y2 > y1:
        region = frame[y1:y2, x1:x2]
        np.copyto(region, (region * 0.35).astype(np.uint8))
    y = y1 + th + 6
    for line in lines:
        cv2.putText(frame, line, (x1 + 4, y), FONT, scale, (255, 255, 255), 1, cv2.LINE_AA)
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
