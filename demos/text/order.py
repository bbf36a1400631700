"""Reading order of the words a text detector found: lines top to bottom, each line's words left to right.

Detectors give words in their own order (PaddleOCR's contours come bottom up, SSD boxes by score). Lines are
found along the text's own direction, so a page photographed a few degrees askew, whose lines drop by more
than a line's spacing from one end to the other, still reads line by line:
  1. neighbours: each word is linked to the nearest word ahead of it along its own direction whose centre is
     level with it (within half a word height) and close (a gap of at most two word heights); linked words
     form runs along a line;
  2. tilt: the median slope of the runs of two words or more (a line through their centres), and of the single
     words whose own box is turned (rotated detectors give each word its angle); none: level;
  3. lines: word centres turned level by that tilt, sorted top to bottom, a word starting a new line when its
     centre is more than half a word height below the current line's; words of a line left to right.
"""

from __future__ import annotations

import numpy as np

NEIGHBOUR_GAP = 2.0  # largest gap between neighbouring words of a line, in word heights
LEVEL = 0.5  # how far (in word heights) a neighbour's centre may sit above or below a word's own line
MAX_TILT_DEG = 45.0  # steeper "lines" are columns of scattered words: read them level
TURNED_DEG = 0.5  # a word box turned less than this is upright (an axis-aligned detector's): it says nothing


def _shape(quads: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Each word's own angle (of its top edge, radians), width and height."""
    def side(a: int, b: int) -> np.ndarray:
        return np.linalg.norm(quads[:, b] - quads[:, a], axis=1)

    top = quads[:, 1] - quads[:, 0]
    return np.arctan2(top[:, 1], top[:, 0]), (side(0, 1) + side(3, 2)) / 2, (side(0, 3) + side(1, 2)) / 2


def _runs(centres: np.ndarray, angles: np.ndarray, widths: np.ndarray, heights: np.ndarray) -> list[list[int]]:
    """Words linked to their next neighbour along their own line, as runs of word indices: the nearest word
    ahead along the word's direction whose centre is level with it and whose gap is small."""
    n = len(centres)
    parent = list(range(n))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for i in range(n):
        offset = centres - centres[i]
        along = offset[:, 0] * np.cos(angles[i]) + offset[:, 1] * np.sin(angles[i])
        across = offset[:, 1] * np.cos(angles[i]) - offset[:, 0] * np.sin(angles[i])
        gap = along - (widths + widths[i]) / 2
        size = np.maximum(heights, heights[i])
        candidates = np.flatnonzero((along > 0) & (np.abs(across) <= LEVEL * (heights + heights[i]) / 2)
                                    & (gap <= NEIGHBOUR_GAP * size) & (gap >= -size))
        if len(candidates):
            j = int(candidates[np.argmin(gap[candidates])])
            parent[root(j)] = root(i)
    runs: dict[int, list[int]] = {}
    for i in range(n):
        runs.setdefault(root(i), []).append(i)
    return list(runs.values())


def _tilt(centres: np.ndarray, angles: np.ndarray, runs: list[list[int]]) -> float:
    """The text's tilt in radians (positive: lines fall to the right)."""
    slopes = []
    for run in runs:
        if len(run) >= 2:
            x, y = centres[run, 0], centres[run, 1]
            if np.ptp(x) > 0:
                slopes.append(np.arctan(np.polyfit(x, y, 1)[0]))
        elif abs(np.degrees(angles[run[0]])) >= TURNED_DEG:
            slopes.append(angles[run[0]])
    tilt = float(np.median(slopes)) if slopes else 0.0
    return tilt if abs(np.degrees(tilt)) <= MAX_TILT_DEG else 0.0


def reading_order(quads: np.ndarray) -> np.ndarray:
    """Indices of the words (quads (N, 4, 2): top-left, top-right, bottom-right, bottom-left) in reading order."""
    quads = np.asarray(quads, np.float64).reshape(-1, 4, 2)
    if len(quads) < 2:
        return np.arange(len(quads))
    centres = quads.mean(axis=1)
    angles, widths, heights = _shape(quads)
    tilt = _tilt(centres, angles, _runs(centres, angles, widths, heights))
    cos, sin = np.cos(tilt), np.sin(tilt)
    along = centres[:, 0] * cos + centres[:, 1] * sin  # the centres turned level
    down = centres[:, 1] * cos - centres[:, 0] * sin
    lines: list[list[int]] = []
    for i in np.argsort(down, kind="stable"):
        line = lines[-1] if lines else None
        if line is not None and down[i] - down[line].mean() <= 0.5 * max(np.median(heights[line]), heights[i]):
            line.append(int(i))
        else:
            lines.append([int(i)])
    return np.array([i for line in lines for i in sorted(line, key=lambda k: along[k])], np.int64)
