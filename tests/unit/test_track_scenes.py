"""Synthetic tracking scenes with exact ground truth, scored with py-motmetrics; and the scorer's own checks.

People are cut out of real frames of one-by-one-person-detection.mp4 (the difference to the empty room,
which the first 50 frames show) and pasted on that empty room, walking along scripted paths: crossing,
passing behind one another, leaving the frame and coming back. The ground truth is the script itself.
`tests/families/test_track.py` runs the real `ovdemo track` on these scenes; `tests/bench/bench_track.py` reuses them.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from pathlib import Path

import cv2
import numpy as np
from scipy.optimize import linear_sum_assignment

VIDEO = "one-by-one-person-detection.mp4"
# The six people of the video and frames where each stands alone in the room (checked by looking at a
# contact sheet of the cut-outs): 1 blonde, grey cardigan; 2 black jacket; 3 long hair, black; 4 black
# T-shirt, glasses; 5 dark hair, grey cardigan; 6 grey shirt, jeans.
PERSON_FRAMES = {1: (90, 120, 150, 175), 2: (260, 300, 360, 410), 3: (540, 580, 620, 660),
                 4: (780, 800, 820, 840), 5: (960, 1020, 1080, 1140), 6: (1260, 1280, 1300, 1330)}
EMPTY_FRAMES = range(0, 50, 5)
SIZE = (640, 360)
SCALE = 0.55  # cut-outs come from 768x432 frames; people end up about 210 px tall
MIN_VISIBLE = 0.4  # less of a person than this visible: neither a miss nor a false positive (MOTChallenge)


@dataclass(frozen=True)
class Cutout:
    image: np.ndarray  # BGR, tight around the person
    mask: np.ndarray  # bool, same size


@cache
def people(video: Path) -> tuple[np.ndarray, dict[int, list[Cutout]]]:
    """The empty room (resized to SIZE) and each person's cut-outs, from the real video."""
    wanted = {f: p for p, frames in PERSON_FRAMES.items() for f in frames}
    cap = cv2.VideoCapture(str(video))
    empty, shots, index = [], {}, 0
    while index <= max(wanted):
        ok, frame = cap.read()
        if not ok:
            raise RuntimeError(f"{video} ended at frame {index}")
        if index in EMPTY_FRAMES:
            empty.append(frame)
        if index in wanted:
            shots[index] = frame
        index += 1
    cap.release()
    room = np.median(np.stack(empty), axis=0).astype(np.uint8)
    cutouts: dict[int, list[Cutout]] = {}
    for index, frame in sorted(shots.items()):
        moved = (cv2.absdiff(frame, room).max(axis=2) > 35).astype(np.uint8)
        moved = cv2.morphologyEx(moved, cv2.MORPH_OPEN, np.ones((3, 3), np.uint8))
        moved = cv2.morphologyEx(moved, cv2.MORPH_CLOSE, np.ones((9, 9), np.uint8))
        _, labels, stats, _ = cv2.connectedComponentsWithStats(moved)
        k = 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))  # the person: by far the largest change
        x, y, w, h = stats[k, :4]
        size = (round(w * SCALE), round(h * SCALE))
        image = cv2.resize(frame[y:y + h, x:x + w], size, interpolation=cv2.INTER_AREA)
        mask = cv2.resize((labels[y:y + h, x:x + w] == k).astype(np.uint8), size, cv2.INTER_NEAREST) > 0
        cutouts.setdefault(wanted[index], []).append(Cutout(image, mask))
    return cv2.resize(room, SIZE, interpolation=cv2.INTER_AREA), cutouts


@dataclass(frozen=True)
class Walk:
    """One person's appearance in a scene: feet centre x moves linearly from x0 to x1 over frames f0..f1."""

    person: int
    f0: int
    f1: int
    x0: float
    x1: float
    feet_y: float  # larger is nearer the camera: drawn in front


@dataclass(frozen=True)
class Scene:
    name: str
    frames: int
    walks: tuple[Walk, ...]


SCENES = {
    # two people cross twice (each passes fully behind the other), a third walks behind a standing fourth
    "crossing": Scene("crossing", 120, (
        Walk(2, 0, 119, 40, 600, 345),
        Walk(6, 0, 119, 600, 40, 330),
        Walk(3, 0, 59, 660, 420, 320),
        Walk(3, 60, 119, 420, 180, 320),
        Walk(1, 0, 119, 300, 330, 350),
    )),
    # people leave the frame for a second and come back, past a person standing in the middle
    "reentry": Scene("reentry", 140, (
        Walk(5, 0, 44, 60, 700, 340),
        Walk(5, 75, 119, 700, 200, 340),
        Walk(4, 0, 37, 560, -60, 325),
        Walk(4, 70, 139, -60, 420, 325),
        Walk(1, 0, 139, 330, 340, 350),
    )),
}


def render(scene: Scene, video: Path, folder: Path) -> np.ndarray:
    """Write the scene as folder/frame_0000.png ... and return its ground truth rows
    (frame 1-based, person, x, y, w, h, visible fraction)."""
    room, cutouts = people(video)
    folder.mkdir(parents=True, exist_ok=True)
    rows = []
    width, height = SIZE
    for f in range(scene.frames):
        canvas = room.copy()
        owner = np.zeros((height, width), np.int16)  # which person each pixel shows (0: the room)
        placed = []
        for walk in sorted((w for w in scene.walks if w.f0 <= f <= w.f1), key=lambda w: w.feet_y):
            t = (f - walk.f0) / max(walk.f1 - walk.f0, 1)
            shots = cutouts[walk.person]
            shot = shots[(f // 4) % len(shots)]  # a different real frame every few frames: posture changes
            h, w = shot.mask.shape
            x = round(walk.x0 + t * (walk.x1 - walk.x0) - w / 2)
            y = round(walk.feet_y - h + 2 * np.sin(f * 0.8))  # a slight bob of the gait
            sx0, sy0, sx1, sy1 = max(x, 0), max(y, 0), min(x + w, width), min(y + h, height)
            if sx1 <= sx0 or sy1 <= sy0:
                continue
            piece = shot.mask[sy0 - y:sy1 - y, sx0 - x:sx1 - x]
            canvas[sy0:sy1, sx0:sx1][piece] = shot.image[sy0 - y:sy1 - y, sx0 - x:sx1 - x][piece]
            owner[sy0:sy1, sx0:sx1][piece] = walk.person
            placed.append((walk.person, shot, x, y))
        for person, shot, x, y in placed:
            visible = np.count_nonzero(owner == person) / np.count_nonzero(shot.mask)
            ys, xs = np.nonzero(shot.mask)
            x1, y1 = max(x + xs.min(), 0), max(y + ys.min(), 0)
            x2, y2 = min(x + xs.max() + 1, width), min(y + ys.max() + 1, height)
            rows.append((f + 1, person, x1, y1, x2 - x1, y2 - y1, visible))
        cv2.imwrite(str(folder / f"frame_{f:04d}.png"), canvas)
    return np.array(rows, np.float64)


def read_mot(path: Path) -> np.ndarray:
    text = Path(path).read_text().strip()
    if not text:
        return np.zeros((0, 10))
    return np.array([[float(v) for v in line.split(",")] for line in text.splitlines()])


def iou_distance(a: np.ndarray, b: np.ndarray, max_distance: float = 0.5) -> np.ndarray:
    """1 - IoU between (x, y, w, h) boxes, NaN (no match) above `max_distance`: motmetrics' iou_matrix,
    which motmetrics 1.4 cannot run on NumPy 2 (it calls the removed np.asfarray)."""
    a, b = np.asarray(a, np.float64).reshape(-1, 4), np.asarray(b, np.float64).reshape(-1, 4)
    lt = np.maximum(a[:, None, :2], b[None, :, :2])
    rb = np.minimum(a[:, None, :2] + a[:, None, 2:], b[None, :, :2] + b[None, :, 2:])
    inter = np.prod(np.clip(rb - lt, 0, None), axis=2)
    union = np.prod(a[:, 2:], axis=1)[:, None] + np.prod(b[:, 2:], axis=1)[None, :] - inter
    distance = 1 - inter / np.maximum(union, 1e-9)
    return np.where(distance > max_distance, np.nan, distance)


def score(gt: np.ndarray, hyp: np.ndarray, frames: int) -> dict:
    """MOTA, IDF1, ID switches (py-motmetrics, IoU >= 0.5). People less than MIN_VISIBLE visible are ignored
    as MOTChallenge does: their ground truth row and any hypothesis covering them are left out."""
    import motmetrics as mm

    acc = mm.MOTAccumulator(auto_id=True)
    for f in range(1, frames + 1):
        g, h = gt[gt[:, 0] == f], hyp[hyp[:, 0] == f]
        if len(g) and len(h):
            # match against everyone first; whatever matched a mostly hidden person is left out with them
            dist = iou_distance(g[:, 2:6], h[:, 2:6])
            rows, cols = linear_sum_assignment(np.nan_to_num(dist, nan=10.0))
            hidden_hyps = [c for r, c in zip(rows, cols, strict=True)
                           if g[r, 6] < MIN_VISIBLE and not np.isnan(dist[r, c])]
            h = np.delete(h, hidden_hyps, axis=0)
        g = g[g[:, 6] >= MIN_VISIBLE]
        dist = iou_distance(g[:, 2:6], h[:, 2:6])
        acc.update(g[:, 1].astype(int).tolist(), h[:, 1].astype(int).tolist(), dist)
    summary = mm.metrics.create().compute(acc, metrics=["mota", "idf1", "num_switches", "num_unique_objects",
                                                         "mostly_tracked", "num_false_positives", "num_misses"])
    row = summary.iloc[0]
    return {"mota": float(row["mota"]), "idf1": float(row["idf1"]), "id_switches": int(row["num_switches"]),
            "false_positives": int(row["num_false_positives"]), "misses": int(row["num_misses"])}


# --- checks of the scene builder and the scorer themselves (no inference)

def test_perfect_tracks_score_one_and_swapped_ids_are_counted(videos_dir, tmp_path):
    scene = SCENES["crossing"]
    gt = render(scene, videos_dir / VIDEO, tmp_path)
    seen = gt[gt[:, 6] >= MIN_VISIBLE]
    assert set(gt[:, 1].astype(int)) == {1, 2, 3, 6}
    perfect = score(gt, np.c_[seen[:, :6], np.ones((len(seen), 1)), -np.ones((len(seen), 3))], scene.frames)
    assert perfect["mota"] == 1.0 and perfect["idf1"] == 1.0 and perfect["id_switches"] == 0
    # the same boxes with person 2's id changed half way: one switch, IDF1 drops
    swapped = seen.copy()
    late = (swapped[:, 1] == 2) & (swapped[:, 0] > scene.frames // 2)
    swapped[late, 1] = 99
    worse = score(gt, swapped, scene.frames)
    assert worse["id_switches"] == 1 and worse["idf1"] < 0.95


def test_scenes_occlude_and_leave_the_frame(videos_dir, tmp_path):
    # the acceptance needs real occlusions and exits: check the scripts produce them
    for name, scene in SCENES.items():
        gt = render(scene, videos_dir / VIDEO, tmp_path / name)
        hidden = gt[gt[:, 6] < MIN_VISIBLE]
        assert len(hidden) >= 5, name
        frames = cv2.imread(str(tmp_path / name / "frame_0000.png"))
        assert frames.shape[:2] == (SIZE[1], SIZE[0])
    reentry = render(SCENES["reentry"], videos_dir / VIDEO, tmp_path / "r")
    for person in (4, 5):
        present = np.unique(reentry[reentry[:, 1] == person, 0])
        assert (np.diff(present) > 20).any(), f"person {person} should leave and come back"
