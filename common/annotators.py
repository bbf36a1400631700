"""Drawing a result on a frame: a list of annotators applied in order, each drawing one thing (zones and lines,
trails, boxes and captions, a family's keypoints or masks), as supervision's annotators do.

A family says which it draws (`Family.annotators()`); a tracked stream draws its zones, lines and trails under
them (`scene_annotators`). The command line's video, window and live view and the Python API's
`Predictor.annotate` all draw through `annotate` with that one list.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Protocol

import cv2
import numpy as np

from .draw import Style, color_for, draw_objects
from .results import Detections, Result


class Annotator(Protocol):
    def annotate(self, scene: np.ndarray, result: Result, style: Style) -> None:
        """Draw on `scene` (a BGR frame, in place)."""


def annotate(scene: np.ndarray, result: Result, style: Style, annotators: Sequence[Annotator]) -> np.ndarray:
    """`scene` with every annotator's drawing, in order (drawn in place; returned for convenience)."""
    for annotator in annotators:
        annotator.annotate(scene, result, style)
    return scene


class ObjectAnnotator:
    """Boxes with captions (track id, class, score, then a family's extras or the objects' attributes), tracks
    the detector missed dashed. `extras(objects)` gives each object's caption tail, `colors(objects)` its colour
    (default: its track's or class's). Objects that carry `data[outlined_by]` (e.g. an oriented box's "quad") are
    outlined by another annotator: only their captions are drawn here."""

    def __init__(self, extras: Callable[[Detections], list[str]] | None = None,
                 colors: Callable[[Detections], list | None] | None = None, outlined_by: str | None = None):
        self.extras, self.colors, self.outlined_by = extras, colors, outlined_by

    def annotate(self, scene: np.ndarray, result: Result, style: Style) -> None:
        objects = result.objects
        if self.outlined_by is not None and self.outlined_by in objects.data:
            style = replace(style, boxes=False)
        draw_objects(scene, objects, style, extras=self.extras(objects) if self.extras else None,
                     colors=self.colors(objects) if self.colors else None)


class RegionAnnotator:
    """A tracked stream's counting lines and zones, with their counts (under the objects)."""

    def __init__(self, counter):
        self.counter = counter

    def annotate(self, scene: np.ndarray, result: Result, style: Style) -> None:
        self.counter.draw(scene, style)


class TrailAnnotator:
    """Each shown track's recent path, in its track's colour."""

    def annotate(self, scene: np.ndarray, result: Result, style: Style) -> None:
        objects = result.objects
        trails = objects.data.get("trail")
        if trails is None or objects.tracker_id is None:
            return
        states = objects.data["track_state"]
        for i, trail in enumerate(trails):
            if len(trail) > 1 and states[i] != "tentative":
                cv2.polylines(scene, [np.asarray(trail, np.int32).reshape(-1, 1, 2)], False,
                              color_for(int(objects.tracker_id[i])), style.thickness, cv2.LINE_AA)


def scene_annotators(family, tracking=None) -> list[Annotator]:
    """What a stream's frames show: its tracker's zones, lines and trails (with --track), then the family's."""
    under: list[Annotator] = []
    if tracking is not None:
        if tracking.counter:
            under.append(RegionAnnotator(tracking.counter))
        under.append(TrailAnnotator())
    return [*under, *family.annotators()]
