"""Counting tracked objects: lines crossed (in/out per class) and zones (occupancy, entries, exits, dwell).

The counter reads the tracker's output, a `Detections` with track ids and `track_state` (tentative,
confirmed, or predicted for a track the detector missed on this frame). A track is represented by one
anchor point of its box (bottom centre by default: where a person stands).
Line crossing: the anchor's move between two consecutive sightings intersects the line segment; its direction
is the sign of the cross product (p2 - p1) x (anchor - p1). "in" is a move from the line's right-hand side to
its left-hand side walking from p1 to p2 as seen on screen: for a line drawn left to right, moving up the frame.
A tentative track's crossings wait until it is confirmed (and are dropped with it if it never is), so detector
noise is not counted.

Zones: a confirmed track seen inside is a member. It leaves when it is seen outside, or when it has not been
seen for ZONE_GRACE_S (hidden, or gone from the frame: a person briefly behind someone stays in). Its dwell time
runs from entering to the last moment it was seen inside, so time unseen is never counted. Occupancy counts the
members, so occupancy = entries - exits on every frame.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

import cv2
import numpy as np

from ..draw import Style, draw_label
from ..errors import DemoError
from ..options import number
from ..results import Detections

ANCHORS = ("bottom", "center")
ZONE_GRACE_S = 2.0  # an unseen zone member leaves after this long
MAX_COORDINATE = 100_000  # pixels: past any frame a camera or file gives


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
    for value in values:  # NaN, infinities and 1e308 are no pixels (OpenCV's integers overflow on them)
        number(str(value), f"{option} '{text}': a coordinate", 0, MAX_COORDINATE)
    if len(points) == 2 and np.allclose(points[0], points[1]):
        raise DemoError(f"{option} '{text}' has zero length", "give two different points")
    if len(points) >= 3 and abs(cv2.contourArea(points.astype(np.float32))) < 1.0:
        raise DemoError(f"{option} '{text}' has no area", "give at least three points that are not on one line")
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
    members: dict[int, list[float]] = field(default_factory=dict)  # track id -> [entered, last seen inside]
    entries: int = 0
    exits: int = 0

    @property
    def occupancy(self) -> int:
        return len(self.members)

    def contains(self, point: np.ndarray) -> bool:
        contour = self.polygon.astype(np.float32).reshape(-1, 1, 2)
        return cv2.pointPolygonTest(contour, (float(point[0]), float(point[1])), False) >= 0


class Counter:
    """Feeds every frame's tracked objects through the lines and zones; `update` returns that frame's events."""

    def __init__(self, lines: Iterable[np.ndarray], zones: Iterable[np.ndarray], anchor: str = "bottom"):
        self.lines = [CountingLine(i, pts[0], pts[1]) for i, pts in enumerate(lines)]
        self.zones = [Zone(i, pts) for i, pts in enumerate(zones)]
        self.anchor = anchor
        self._last: dict[int, np.ndarray] = {}  # track id -> anchor at its latest sighting
        self._pending: dict[int, list[dict]] = {}  # tentative tracks' crossings, counted once confirmed

    def __bool__(self) -> bool:
        return bool(self.lines or self.zones)

    def merge(self, merged: dict[int, int]) -> None:
        """Tracks that carry on under another id: a lost track that took over a young one (re-identified
        late), or a tentative track numbered on confirmation. The id `merged` maps to carries on from the
        other's last position, crossings still waiting for confirmation and zone stays."""
        for young, old in merged.items():
            if young in self._last:
                self._last[old] = self._last.pop(young)
            if young in self._pending:
                self._pending[old] = [{**e, "id": old} for e in self._pending.pop(young)]
            for zone in self.zones:
                if young in zone.members:
                    stay = zone.members.pop(young)
                    if old in zone.members:  # it never left: the young track's entry was this same stay
                        zone.entries -= 1
                        zone.members[old][1] = max(zone.members[old][1], stay[1])
                    else:
                        zone.members[old] = stay

    def update(self, objects: Detections, timestamp: float) -> list[dict]:
        """This frame's events; `objects` carry `tracker_id` and `data["track_state"]`."""
        events: list[dict] = []
        ids = [int(i) for i in objects.tracker_id] if objects.tracker_id is not None else []
        states = objects.data.get("track_state", ["confirmed"] * len(objects))
        for i, track_id in enumerate(ids):
            if states[i] == "predicted":  # not seen on this frame: nothing crossed, nobody moved
                continue
            point = anchor_of(objects.xyxy[i], self.anchor)
            before = self._last.get(track_id)
            self._last[track_id] = point
            if before is not None:
                for line in self.lines:
                    direction = line.crossing(before, point)
                    if direction:
                        self._pending.setdefault(track_id, []).append(
                            {"type": "line_cross", "line": line.index, "id": track_id, "direction": direction,
                             "label": objects.label_name(int(objects.class_id[i]))})
            if states[i] == "confirmed" and track_id in self._pending:
                for event in self._pending.pop(track_id):
                    counts = self.lines[event["line"]].counts[event["direction"]]
                    counts[event["label"]] = counts.get(event["label"], 0) + 1
                    events.append(event)
        for zone in self.zones:
            events += self._update_zone(zone, objects, ids, states, timestamp)
        held = set(ids)
        for gone in set(self._last) - held:  # lost: its next sighting starts afresh
            del self._last[gone]
        for gone in set(self._pending) - held:
            del self._pending[gone]
        return events

    def _update_zone(self, zone: Zone, objects: Detections, ids: list[int], states, timestamp: float) -> list[dict]:
        events = []
        for i, track_id in enumerate(ids):
            if states[i] != "confirmed":
                continue
            inside = zone.contains(anchor_of(objects.xyxy[i], self.anchor))
            if inside and track_id not in zone.members:
                zone.members[track_id] = [timestamp, timestamp]
                zone.entries += 1
                events.append({"type": "zone_enter", "zone": zone.index, "id": track_id})
            elif inside:
                zone.members[track_id][1] = timestamp
            elif track_id in zone.members:
                events.append(self._exit(zone, track_id))
        for track_id in [i for i, (_, seen) in zone.members.items() if timestamp - seen > ZONE_GRACE_S]:
            events.append(self._exit(zone, track_id))
        return events

    @staticmethod
    def _exit(zone: Zone, track_id: int) -> dict:
        entered, last_inside = zone.members.pop(track_id)
        zone.exits += 1
        return {"type": "zone_exit", "zone": zone.index, "id": track_id, "dwell_s": round(last_inside - entered, 3)}

    def dwell(self) -> dict[int, float]:
        """Seconds each zone member has been seen inside so far (the longest, for a track in several zones)."""
        out: dict[int, float] = {}
        for zone in self.zones:
            for track_id, (entered, seen) in zone.members.items():
                out[track_id] = max(out.get(track_id, 0.0), round(seen - entered, 3))
        return out

    def summary(self) -> dict:
        """The running totals for the frame's JSON record."""
        out: dict = {}
        if self.lines:
            out["lines"] = [{"line": ln.index, "in": dict(ln.counts["in"]), "out": dict(ln.counts["out"])}
                            for ln in self.lines]
        if self.zones:
            out["zones"] = [{"zone": z.index, "occupancy": z.occupancy, "entries": z.entries, "exits": z.exits,
                             "dwell_s": {str(k): round(seen - entered, 3) for k, (entered, seen) in z.members.items()}}
                            for z in self.zones]
        return out

    def totals_text(self) -> list[str]:
        """One line per line and zone, for the run's summary."""
        out = [f"line {ln.index}: in {ln.total('in')}, out {ln.total('out')}" for ln in self.lines]
        out += [f"zone {z.index}: {z.entries} entries, {z.exits} exits, {z.occupancy} inside" for z in self.zones]
        return out

    def draw(self, image: np.ndarray, style: Style) -> None:
        """Zones (tinted inside their bounding box only) and lines with an arrow towards their 'in' side."""
        for zone in self.zones:
            pts = zone.polygon.astype(np.int32)
            x1, y1 = np.maximum(pts.min(axis=0), 0)
            x2, y2 = np.minimum(pts.max(axis=0) + 1, (image.shape[1], image.shape[0]))
            if x2 > x1 and y2 > y1:
                region = image[y1:y2, x1:x2]
                mask = np.zeros(region.shape[:2], np.uint8)
                cv2.fillPoly(mask, [(pts - (x1, y1)).reshape(-1, 1, 2)], 1)
                tinted = cv2.addWeighted(region, 0.85, np.full_like(region, (0, 200, 255)), 0.15, 0)
                np.copyto(region, tinted, where=mask[..., None].astype(bool))
            cv2.polylines(image, [pts.reshape(-1, 1, 2)], True, (0, 200, 255), style.thickness, cv2.LINE_AA)
            x, y = zone.polygon[:, 0].min(), zone.polygon[:, 1].max()  # bottom left: clear of heads and captions
            draw_label(image, f"zone {zone.index}: {zone.occupancy} now, in {zone.entries} out {zone.exits}",
                       int(x), int(y), (0, 200, 255), style)
        for line in self.lines:
            p1, p2 = (tuple(int(v) for v in p) for p in (line.p1, line.p2))
            cv2.line(image, p1, p2, (255, 255, 0), style.thickness + 1, cv2.LINE_AA)
            d = line.p2 - line.p1
            normal = np.array([d[1], -d[0]]) / max(np.hypot(*d), 1e-9)
            mid = (line.p1 + line.p2) / 2
            tip = mid + normal * 25
            cv2.arrowedLine(image, tuple(int(v) for v in mid), tuple(int(v) for v in tip), (255, 255, 0),
                            style.thickness, cv2.LINE_AA, tipLength=0.4)
            draw_label(image, f"line {line.index}: in {line.total('in')} out {line.total('out')}",
                       p1[0], p1[1] - 4, (255, 255, 0), style)
