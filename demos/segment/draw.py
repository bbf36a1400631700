"""Drawing segmentation: class maps blended with a palette, a legend of class shares, instance masks."""

from __future__ import annotations

import re
from pathlib import Path

import cv2
import numpy as np

from ovdemo.common.draw import FONT, Style, color_for, object_color
from ovdemo.common.errors import DemoError
from ovdemo.common.models.specs import ASSETS, read_user_text
from ovdemo.common.results import BoxMask, ClassMap, Detections

# classes that mean "nothing here": never painted, left out of the legend (still in the JSON shares)
BACKGROUND_NAMES = {"bg", "background", "unlabeled", "unlabelled", "void", "__background__"}
LEGEND_ROWS = 10
_NUMBER = re.compile(r"-?\d+(?:\.\d+)?")


def parse_colors(ref: str | Path) -> list[tuple[int, int, int]]:
    """A palette file: one colour per class id, one per line, in RGB: `(128, 64, 128)`, `128 64 128` or
    `#804080`; text after `#` + space is a comment (Open Model Zoo's *_colors.txt files read as they are).
    `ref` is a path or a file name in assets/labels. Returns BGR tuples."""
    path = Path(ref)
    if not path.exists() and not path.is_absolute() and (ASSETS / "labels" / path).exists():
        path = ASSETS / "labels" / path
    lines = read_user_text(path, "colours file").splitlines()
    colors = []
    for number, line in enumerate(lines, 1):
        text = line.strip()
        if not text:
            continue
        hex_match = re.fullmatch(r"#([0-9a-fA-F]{6})(\s.*)?", text)
        if hex_match:
            r, g, b = (int(hex_match.group(1)[i:i + 2], 16) for i in (0, 2, 4))
        else:
            values = _NUMBER.findall(text.split("# ", 1)[0])
            if len(values) != 3 or not all(0 <= float(v) <= 255 for v in values):
                raise DemoError(f"{path.name} line {number}: '{text}' is not a colour",
                                "write one R G B colour (0-255) per class line, e.g. (128, 64, 128) or #804080")
            r, g, b = (int(float(v)) for v in values)
        colors.append((b, g, r))
    if not colors:
        raise DemoError(f"colours file '{ref}' is empty", "write one R G B colour per class line")
    return colors


def class_colors(value) -> list[tuple[int, int, int]]:
    """Class colours as --colors, a keyword or a spec gives them: a palette file (see `parse_colors`) or a
    list of R, G, B triples. Returns BGR tuples."""
    if isinstance(value, str | Path):
        return parse_colors(value)
    colors = [tuple(int(c) for c in rgb) for rgb in value]
    if not colors or any(len(c) != 3 or not all(0 <= v <= 255 for v in c) for c in colors):
        raise DemoError(f"colours {value!r} are not R, G, B triples", "give one (r, g, b) of 0-255 per class")
    return [(b, g, r) for r, g, b in colors]


def build_palette(colors: list[tuple[int, int, int]] | None) -> np.ndarray:
    """(256, 3) uint8 BGR: the given colours by class id, the shared per-class colours after them."""
    palette = np.array([color_for(i) for i in range(256)], np.uint8)
    if colors:
        palette[: len(colors)] = np.asarray(colors[:256], np.uint8)
    return palette


def background_ids(names: tuple[str, ...] | None) -> np.ndarray:
    """(256,) bool: which class ids are background."""
    background = np.zeros(256, bool)
    for i, name in enumerate((names or ())[:256]):
        background[i] = name.strip().lower() in BACKGROUND_NAMES
    return background


def blend_class_map(image: np.ndarray, result: ClassMap, palette: np.ndarray, background: np.ndarray,
                    opacity: float, only_masks: bool) -> None:
    # OpenCV's table lookups and masked copy: several times faster than numpy fancy indexing at 1080p
    colored = cv2.applyColorMap(result.classes, palette.reshape(256, 1, 3))
    painted = cv2.LUT(result.classes, np.where(background, 0, 255).astype(np.uint8))
    if only_masks:
        image[:] = 0
        cv2.copyTo(colored, painted, image)
        return
    blended = cv2.addWeighted(image, 1.0 - opacity, colored, opacity, 0.0)
    cv2.copyTo(blended, painted, image)


def draw_legend(image: np.ndarray, entries: list[tuple[str, tuple[int, int, int], float]], style: Style) -> None:
    """Class name, colour swatch and share of the frame, in the top-right corner, largest share first."""
    if not entries:
        return
    rows = [(f"{name} {share * 100:.1f}%", color) for name, color, share in entries[:LEGEND_ROWS]]
    (_, th), base = cv2.getTextSize("Ag", FONT, style.font_scale, 1)
    row_h = th + base + 6
    swatch = th + base
    text_w = max(cv2.getTextSize(text, FONT, style.font_scale, 1)[0][0] for text, _ in rows)
    panel_w, panel_h = swatch + text_w + 18, row_h * len(rows) + 8
    x0 = max(image.shape[1] - panel_w - 6, 0)
    y0 = 6
    region = image[y0:y0 + panel_h, x0:x0 + panel_w]
    region[:] = (region * 0.35).astype(np.uint8)  # darken behind the text
    for k, (text, color) in enumerate(rows):
        top = y0 + 4 + k * row_h
        cv2.rectangle(image, (x0 + 6, top), (x0 + 6 + swatch, top + swatch), tuple(int(c) for c in color), cv2.FILLED)
        cv2.putText(image, text, (x0 + 12 + swatch, top + th + 1), FONT, style.font_scale, (255, 255, 255), 1,
                    cv2.LINE_AA)


def legend_entries(result: ClassMap, palette: np.ndarray, background: np.ndarray, shares: dict[int, float]):
    entries = [(result.label_name(i), tuple(int(c) for c in palette[i]), share)
               for i, share in shares.items() if i < 256 and not background[i] and share >= 0.001]
    return sorted(entries, key=lambda e: -e[2])


def instance_colors(objects: Detections) -> list[tuple[int, int, int]]:
    """Tracked instances keep their track's colour; otherwise each instance of a frame gets its own (two
    people of one class must not look like one)."""
    return [object_color(objects, i) if objects.tracker_id is not None and objects.tracker_id[i] >= 0
            else color_for(i) for i in range(len(objects))]


def _visible(mask: BoxMask, height: int, width: int) -> tuple[tuple[slice, slice], np.ndarray] | None:
    """The frame region a mask covers and the part of the mask inside the frame (a tracker's prediction can
    move a mask partly out of it), or None when nothing of it is inside."""
    x, y = mask.origin
    h, w = mask.array.shape
    x1, y1, x2, y2 = max(x, 0), max(y, 0), min(x + w, width), min(y + h, height)
    if x2 <= x1 or y2 <= y1:
        return None
    return (slice(y1, y2), slice(x1, x2)), mask.array[y1 - y:y2 - y, x1 - x:x2 - x]


def blend_instances(image: np.ndarray, objects: Detections, colors: list[tuple[int, int, int]], opacity: float,
                    only_masks: bool) -> None:
    """Each instance's mask in its colour, outlined; a tracker's predicted instance (the detector missed it
    on this frame) as its outline only."""
    if only_masks:
        image[:] = 0
    states = objects.data.get("track_state")
    height, width = image.shape[:2]
    for i, box_mask in enumerate(objects.mask or []):
        visible = _visible(box_mask, height, width)
        if visible is None or not visible[1].any():
            continue
        (rows, cols), mask = visible
        region = image[rows, cols]
        color = np.array(colors[i], np.float32)
        if states is None or states[i] != "predicted":
            if only_masks:
                region[mask] = color.astype(np.uint8)
                continue
            region[mask] = (region[mask] * (1.0 - opacity) + color * opacity).astype(np.uint8)
        contours, _ = cv2.findContours(mask.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
        cv2.drawContours(region, contours, -1, colors[i], 1, cv2.LINE_AA)
