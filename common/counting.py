"""Counting for `ovdemo track`: lines crossed (in/out per class) and zones (occupancy, entries, exits, dwell).

A track is represented by one anchor point of its box (bottom centre by default: where a person stands).
Line crossing: the anchor's move between two consecutive sightings intersects the line segment; its direction
is the sign of the cross product (p2 - p1) x (anchor - p1). "in" is a move from the line's right-hand side to
its left-hand side walking from p1 to p2 as seen on screen: for a line drawn left to right, moving up the frame.
A tentative track's crossings wait until it is confirmed (and are dropped with it if it never is), so detector
noise is not counted.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

import cv2
import numpy as np
from ovdemo.common.errors import DemoError

from .track_tracker import State, Track

ANCHORS = ("bottom", "center")


def parse_points(text: str, option: str, min_points: int, max_points: int | None = None) -> np.ndarray:
    """'x1,y1,x2,y2,...' in pixels -> (N, 2) float array; a DemoError naming the flag otherwise."""
    try:
        values = [float(v) for v in text.replace(" ", "").split(",") if v != ""]
    except ValueError:
        raise DemoError(f"{option} '{text}' is not a list of numbers",
                        f"write it as {option} x1,y1,x2,y2,...") from None
    if len(values) % 2 or len(values) < 2 * min_points or (max_points and len(values) > 2 * max_points):
        count = f"{min_points}" if max_points == min_points else f"at least {min_points}"
        raise DemoError(f"{option} '{text}' has {len(values)} numbers",
                        f"it takes {count} x,y points in pixels, e.g. {option} 100,400,700,400")
    points = np.asarray(values, np.float64).reshape(-1, 2)
    if (points < 0).any():
        raise DemoError(f"{option} '{text}' has a negative coordinate", "points are pixels of the frame")
    return points


def anchor_of(box: np.ndarray, anchor: str) -> np.ndarray:
    x1, y1, x2, y2 = (float(v) for v in box)
    return np.array([(x1 + x2) / 2, y2 if anchor == "bottom" else (y1 + y2) / 2])


def _cross(a: np.ndarray, b: np.ndarray, p: np.ndarray) -> float:
    return float((b[0] - a[0]) * (p[1] - a[1]) - (b[1] - a[1]) * (p[0] - a[0]))


@dataclass
class CountingLine:
    index: int
    p1: np.ndarray
    p2: np.ndarray
    counts: dict[str, dict[str, int]] = field(default_factory=lambda: {"in": {}, "out": {}})

    def crossing(self, before: np.ndarray, after: np.ndarray) -> str | None:
        """'in', 'out' or None for an anchor moving from `before` to `after`."""
        s0, s1 = _cross(self.p1, self.p2, before), _cross(self.p1, self.p2, after)
        if s0 == 0 or s1 == 0 or (s0 > 0) == (s1 > 0):
            return None  # stayed on one side (a point on the line has not crossed yet)
        # the move must pass between the line's end points, not beyond them
        t0, t1 = _cross(before, after, self.p1), _cross(before, after, self.p2)
        if (t0 > 0) == (t1 > 0) and t0 != 0 and t1 != 0:
            return None
        return "in" if s0 > 0 else "out"

    def total(self, direction: str) -> int:
        return sum(self.counts[direction].values())


@dataclass
class Zone:
    index: int
    polygon: np.ndarray  # (N, 2)
    members: dict[int, float] = field(default_factory=dict)  # track id -> timestamp it entered
    entries: int = 0
    exits: int = 0
    occupancy: int = 0  # members seen on the latest frame

    def contains(self, point: np.ndarray) -> bool:
        contour = self.polygon.astype(np.float32).reshape(-1, 1, 2)
        return cv2.pointPolygonTest(contour, (float(point[0]), float(point[1])), False) >= 0


class Counter:
    """Feeds every frame's tracks through the lines and zones; `update` returns that frame's events."""

    def __init__(self, lines: Iterable[np.ndarray], zones: Iterable[np.ndarray], anchor: str = "bottom"):
        self.lines = [CountingLine(i, pts[0], pts[1]) for i, pts in enumerate(lines)]
        self.zones = [Zone(i, pts) for i, pts in enumerate(zones)]
        self.anchor = anchor
        self._last: dict[int, np.ndarray] = {}  # track id -> anchor at its latest sighting
        self._pending: dict[int, list[dict]] = {}  # tentative tracks' crossings, counted once confirmed

    def __bool__(self) -> bool:
        return bool(self.lines or self.zones)

    def merge(self, merged: dict[int, int]) -> None:
        """A lost track took over a young one (re-identified late): it carries on from the young one's
        last position, crossings still waiting for confirmation and zone stays."""
        for young, old in merged.items():
            if young in self._last:
                self._last[old] = self._last.pop(young)
            if young in self._pending:
                self._pending[old] = [{**e, "track": old} for e in self._pending.pop(young)]
            for zone in self.zones:
                if young in zone.members:
                    entered = zone.members.pop(young)
                    if old in zone.members:  # it never left: the young track's entry was this same stay
                        zone.entries -= 1
                    else:
                        zone.members[old] = entered

    def update(self, tracks: list[Track], timestamp: float, label_name) -> list[dict]:
        events: list[dict] = []
        alive = {t.id for t in tracks}
        for track in tracks:
            if track.state == State.LOST:
                self._last.pop(track.id, None)  # unseen for a while: its next sighting starts afresh
                continue
            if not track.updated:
                continue
            point = anchor_of(track.box, self.anchor)
            before = self._last.get(track.id)
            self._last[track.id] = point
            if before is not None:
                for line in self.lines:
                    direction = line.crossing(before, point)
                    if direction:
                        self._pending.setdefault(track.id, []).append(
                            {"type": "line_cross", "line": line.index, "track": track.id, "direction": direction,
                             "label": label_name(track.label)})
            if track.state == State.CONFIRMED and track.id in self._pending:
                for event in self._pending.pop(track.id):
                    counts = self.lines[event["line"]].counts[event["direction"]]
                    counts[event["label"]] = counts.get(event["label"], 0) + 1
                    events.append(event)
        for zone in self.zones:
            events += self._update_zone(zone, tracks, timestamp)
        for gone in set(self._last) - alive:
            del self._last[gone]
        for gone in set(self._pending) - alive:
            del self._pending[gone]
        return events

    def _update_zone(self, zone: Zone, tracks: list[Track], timestamp: float) -> list[dict]:
        """Membership changes only when a track is seen; a track that ends inside the zone exits with it."""
        events = []
        seen_inside = 0
        alive = set()
        for track in tracks:
            alive.add(track.id)
            if not track.visible:
                continue
            inside = zone.contains(anchor_of(track.box, self.anchor))
            if inside and track.id not in zone.members:
                zone.members[track.id] = timestamp
                zone.entries += 1
                events.append({"type": "zone_enter", "zone": zone.index, "track": track.id})
            elif not inside and track.id in zone.members:
                events.append(self._exit(zone, track.id, timestamp))
            seen_inside += inside
        for track_id in [i for i in zone.members if i not in alive]:
            events.append(self._exit(zone, track_id, timestamp))
        zone.occupancy = seen_inside
        return events

    @staticmethod
    def _exit(zone: Zone, track_id: int, timestamp: float) -> dict:
        entered = zone.members.pop(track_id)
        zone.exits += 1
        return {"type": "zone_exit", "zone": zone.index, "track": track_id, "dwell_s": round(timestamp - entered, 3)}

    def dwell(self, zone: Zone, timestamp: float) -> dict[int, float]:
        return {tid: round(timestamp - t0, 3) for tid, t0 in zone.members.items()}

    def summary(self, timestamp: float) -> dict:
        """The running totals for the frame's JSON record."""
        out: dict = {}
        if self.lines:
            out["lines"] = [{"line": ln.index, "in": dict(ln.counts["in"]), "out": dict(ln.counts["out"])}
                            for ln in self.lines]
        if self.zones:
            out["zones"] = [{"zone": z.index, "occupancy": z.occupancy, "entries": z.entries, "exits": z.exits,
                             "dwell_s": {str(k): v for k, v in self.dwell(z, timestamp).items()}}
                            for z in self.zones]
        return out
