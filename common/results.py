"""One result vocabulary for every family.

`Detections` holds every box-shaped thing a frame has: detections, faces, tracks, instances, words, people
with their actions or keypoints. Per-object extras live in `data`, keyed by the names OBJECT_KEYS (at the end)
lists: the one table of how each (landmarks, keypoints, attributes, text, identity ...) shows in the JSON, the
--raw lines, tracking and captions. `Result` is one frame: its objects plus the few frame-level results that
are not boxes (a semantic class map, a clip's classification, track events and counts); `Result.to_dict()` is
its part of a JSON line, which `records.py` completes with the frame's fields.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, ClassVar

import cv2
import numpy as np


def label_name(names: Sequence[str] | None, label_id: int) -> str:
    """The name of a class id, or `#id` when the model has no name for it."""
    if names is not None and 0 <= label_id < len(names):
        return names[label_id]
    return f"#{label_id}"


@dataclass
class BoxMask:
    """An object's mask, covering only its box so a frame of many objects stays small: `array` is a bool
    (h, w) map of the frame pixels [origin.y : origin.y + h, origin.x : origin.x + w]."""

    array: np.ndarray
    origin: tuple[int, int]  # (x, y) frame pixel of the mask's top-left corner

    def full(self, height: int, width: int) -> np.ndarray:
        """The mask as a (height, width) bool frame."""
        out = np.zeros((height, width), bool)
        x, y = self.origin
        h, w = self.array.shape
        out[y:y + h, x:x + w] = self.array[: max(height - y, 0), : max(width - x, 0)]
        return out

    @property
    def area(self) -> int:
        return int(self.array.sum())


def _take(value: Any, positions: np.ndarray) -> Any:
    if isinstance(value, np.ndarray):
        return value[positions]
    return [value[i] for i in positions]


@dataclass
class Detections:
    """N boxed objects of one frame (supervision's `Detections` is the model).

    xyxy        (N, 4) float32 frame pixels x1, y1, x2, y2
    confidence  (N,) float32: the detector's score (a bottom-up pose: the person's score)
    class_id    (N,) int32, an index into `names`
    tracker_id  (N,) int32 track ids once a tracker has run (1, 2, 3 ... as tracks are confirmed; -1 for a
                tentative track, which has no id yet), else None
    mask        N `BoxMask`es for instance segmentation, else None
    data        per-object extras: each value an array with N rows or a list of N items
    names       class names by class id (`#id` for ids past its end)
    """

    xyxy: np.ndarray
    confidence: np.ndarray
    class_id: np.ndarray
    tracker_id: np.ndarray | None = None
    mask: list[BoxMask] | None = None
    data: dict[str, Any] = field(default_factory=dict)
    names: tuple[str, ...] | None = None

    def __post_init__(self):
        self.xyxy = np.asarray(self.xyxy, np.float32).reshape(-1, 4)
        self.confidence = np.asarray(self.confidence, np.float32).reshape(-1)
        self.class_id = np.asarray(self.class_id, np.int32).reshape(-1)
        n = len(self.xyxy)
        if len(self.confidence) != n or len(self.class_id) != n:
            raise ValueError(f"{n} boxes with {len(self.confidence)} scores and {len(self.class_id)} class ids")
        if self.tracker_id is not None:
            self.tracker_id = np.asarray(self.tracker_id, np.int32).reshape(-1)
        for key, value in self.data.items():
            if len(value) != n:
                raise ValueError(f"data['{key}'] has {len(value)} items for {n} objects")

    @classmethod
    def empty(cls, names: tuple[str, ...] | None = None) -> Detections:
        return cls(np.zeros((0, 4), np.float32), np.zeros(0, np.float32), np.zeros(0, np.int32), names=names)

    def __len__(self) -> int:
        return len(self.confidence)

    def __getitem__(self, index) -> Detections:
        """The objects an int, slice, bool mask or index array picks, with everything they carry."""
        positions = np.arange(len(self))[index].reshape(-1)
        return Detections(
            self.xyxy[positions], self.confidence[positions], self.class_id[positions],
            None if self.tracker_id is None else self.tracker_id[positions],
            None if self.mask is None else [self.mask[i] for i in positions],
            {k: _take(v, positions) for k, v in self.data.items()}, self.names)

    def with_data(self, **data: Any) -> Detections:
        """A copy with these per-object extras added (or replaced)."""
        return replace(self, data={**self.data, **data})

    def label_name(self, class_id: int) -> str:
        return label_name(self.names, class_id)

    @property
    def labels(self) -> list[str]:
        return [self.label_name(int(c)) for c in self.class_id]

    @classmethod
    def merge(cls, parts: Sequence[Detections]) -> Detections:
        """One Detections of several (e.g. a tracker's matched objects and its predictions). Every part must
        carry the same data keys; tracker ids and masks are kept when every part has them."""
        parts = [p for p in parts if len(p)] or list(parts[:1])
        if not parts:
            return cls.empty()
        first = parts[0]
        if len(parts) == 1:
            return first
        keys = set(first.data)
        for p in parts[1:]:
            if set(p.data) != keys:
                raise ValueError(f"cannot merge objects with data {sorted(keys)} and {sorted(p.data)}")
        data = {}
        for k in keys:
            values = [p.data[k] for p in parts]
            data[k] = np.concatenate(values) if all(isinstance(v, np.ndarray) for v in values) \
                else [item for v in values for item in v]
        tracker_id = None if any(p.tracker_id is None for p in parts) else np.concatenate([p.tracker_id
                                                                                         for p in parts])
        mask = None if any(p.mask is None for p in parts) else [m for p in parts for m in p.mask or ()]
        return cls(np.concatenate([p.xyxy for p in parts]), np.concatenate([p.confidence for p in parts]),
                   np.concatenate([p.class_id for p in parts]), tracker_id, mask, data, first.names)


@dataclass(eq=False)
class ClassMap:
    """Semantic segmentation of one frame: a class id for every frame pixel.

    It reads as the (H, W) array it holds: `.shape`, `.dtype`, indexing (`class_map[y, x]`), comparisons
    (`class_map == 1` is a bool mask) and `np.asarray(class_map)` all act on `classes`; `names` and
    `shares()` add what the array alone does not say."""

    classes: np.ndarray  # (H, W) uint8 or int32
    names: tuple[str, ...] | None = None
    _shares: dict[int, float] | None = field(default=None, repr=False)

    def __array__(self, dtype=None, copy=None) -> np.ndarray:
        if copy:
            return np.array(self.classes, dtype=dtype, copy=True)
        return self.classes if dtype is None else self.classes.astype(dtype, copy=False)

    @property
    def shape(self) -> tuple[int, ...]:
        return self.classes.shape

    @property
    def dtype(self) -> np.dtype:
        return self.classes.dtype

    @property
    def ndim(self) -> int:
        return self.classes.ndim

    @property
    def size(self) -> int:
        return self.classes.size

    def __len__(self) -> int:
        return len(self.classes)

    def __getitem__(self, index):
        return self.classes[index]

    def __eq__(self, other):  # a mask, as the array gives (eq=False above: no dataclass field comparison)
        return self.classes == np.asarray(other)

    def __ne__(self, other):
        return self.classes != np.asarray(other)

    # mutable, compared element-wise: like an array, not a dict key (typeshed's own idiom for an unhashable class)
    __hash__: ClassVar[None]  # type: ignore[assignment]

    def label_name(self, class_id: int) -> str:
        return label_name(self.names, class_id)

    def shares(self) -> dict[int, float]:
        """The fraction of the frame each present class covers, by class id (counted once per frame)."""
        if self._shares is None:
            counts = np.bincount(self.classes.ravel(), minlength=1)
            total = max(self.classes.size, 1)
            self._shares = {int(i): float(c) / total for i, c in enumerate(counts) if c}
        return self._shares


@dataclass
class Classification:
    """A frame-level classification over a window of frames (a clip's action).

    label / confidence: the action shown now (smoothed over predictions; None until one is established).
    top_ids / top_scores: the newest window's best classes, best first; `window` its (first, last) frame
    indices, and `predicted` says whether that window was classified on this very frame.
    """

    names: tuple[str, ...]
    label: int | None = None
    confidence: float = 0.0
    top_ids: np.ndarray | None = None
    top_scores: np.ndarray | None = None
    window: tuple[int, int] | None = None
    predicted: bool = False
    buffered: int = 0  # frames gathered for the first window
    window_size: int = 0

    def label_name(self, class_id: int) -> str:
        return label_name(self.names, class_id)


@dataclass
class Result:
    """Everything one frame gave: its objects (always present, maybe empty) and frame-level results."""

    objects: Detections = field(default_factory=Detections.empty)
    class_map: ClassMap | None = None
    classification: Classification | None = None
    events: list[dict] = field(default_factory=list)  # line crossings, zone entries and exits
    counts: dict | None = None  # running line and zone totals
    inferred: bool = True  # False: the main model skipped this frame (--infer-every); objects are carried over

    def __len__(self) -> int:
        return len(self.objects)

    def to_dict(self) -> dict:
        """The frame's results as the JSON lines write them (without frame number, source and timings)."""
        return result_fields(self)


def clip_boxes(boxes: np.ndarray, width: int, height: int) -> np.ndarray:
    """A float32 copy of x1y1x2y2 `boxes` inside a width x height frame (two ufuncs: np.clip costs several)."""
    limits = np.array([width - 1, height - 1, width - 1, height - 1], np.float32)
    return np.minimum(np.maximum(np.asarray(boxes, np.float32), np.float32(0)), limits)


def box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU matrix between two sets of x1y1x2y2 boxes."""
    lt = np.maximum(a[:, None, :2], b[None, :, :2])
    rb = np.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = np.prod(np.clip(rb - lt, 0, None), axis=2)
    area_a = np.prod(a[:, 2:] - a[:, :2], axis=1)
    area_b = np.prod(b[:, 2:] - b[:, :2], axis=1)
    return inter / np.maximum(area_a[:, None] + area_b[None, :] - inter, 1e-9)


def nms(boxes: np.ndarray, scores: np.ndarray, labels: np.ndarray, threshold: float, iou: float) -> np.ndarray:
    """Per-class non-maximum suppression with OpenCV; indices of the boxes kept, best first."""
    xywh = np.concatenate([boxes[:, :2], boxes[:, 2:] - boxes[:, :2]], axis=1) * 10000.0  # pixels-like scale
    keep = cv2.dnn.NMSBoxesBatched(xywh.tolist(), scores.tolist(), labels.tolist(), threshold, iou)
    return np.asarray(keep, np.int64).reshape(-1)


# -- a Result as JSON: the objects and frame-level results a JSON line holds (records.py adds the frame's fields)

POLYGON_TOLERANCE = 1.0  # pixels: approxPolyDP keeps a mask's outline within this of its edge
COCO_KEYPOINTS = (
    "nose", "left_eye", "right_eye", "left_ear", "right_ear", "left_shoulder", "right_shoulder", "left_elbow",
    "right_elbow", "left_wrist", "right_wrist", "left_hip", "right_hip", "left_knee", "right_knee", "left_ankle",
    "right_ankle",
)


def r1(v) -> float:
    return round(float(v), 1)


def r4(v) -> float:
    return round(float(v), 4)


def keypoint_names(count: int) -> tuple[str, ...]:
    return COCO_KEYPOINTS if count == len(COCO_KEYPOINTS) else tuple(f"kp{j}" for j in range(count))


def mask_polygons(mask: BoxMask) -> list[list[list[int]]]:
    """The outlines of a mask's parts in frame pixels, largest part first."""
    contours, _ = cv2.findContours(mask.array.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    polygons = []
    for contour in sorted(contours, key=cv2.contourArea, reverse=True):
        points = cv2.approxPolyDP(contour, POLYGON_TOLERANCE, True).reshape(-1, 2) + np.asarray(mask.origin)
        if len(points) >= 3:
            polygons.append(points.astype(int).tolist())
    return polygons


def _keypoints(objects: Detections, i: int) -> dict:
    points = objects.data["keypoints"][i]  # (K, 3) x, y, score; score 0 = not found
    return {name: [r1(x), r1(y), r4(s)] if s > 0 else None
            for name, (x, y, s) in zip(keypoint_names(len(points)), points, strict=True)}


def _rounded(value):
    """Attribute values as JSON: floats to 4 places, nested dicts and lists alike."""
    if isinstance(value, dict):
        return {k: _rounded(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_rounded(v) for v in value]
    if isinstance(value, float | np.floating):
        return r4(value)
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.bool_):
        return bool(value)
    return value


def attribute_parts(attributes: dict) -> list[str]:
    """An object's attributes for its caption, each named as its model's spec names it (`_` read as a space, so a
    long name can break over lines): `bag: no`, `age: 34`, `coat jacket: yes`, `plate: A123BC`."""
    parts = []
    for key, value in attributes.items():
        name = key.replace("_", " ")
        if "label" in value:
            parts.append(f"{name}: {value['label']}")
        elif "text" in value:
            parts.append(f"{name}: {value['text']}")
        elif "value" in value:
            parts.append(f"{name}: {value['value']:.0f}")
    return parts


def _attribute_raw(attributes: dict) -> list[str]:
    parts = []
    for name, value in attributes.items():
        if "label" in value:
            parts.append(f"{name}={value['label']} ({value['confidence']:.2f})")
        elif "text" in value:
            parts.append(f"{name}={value['text']!r}")
        else:
            parts.append(f"{name}={value['value']:.1f}")
    return parts


@dataclass(frozen=True)
class ObjectKey:
    """How one per-object data key shows in every output. `write` gives its part of the object's JSON record
    (the keys `fields`, which assets/schema's object lists; {} when there is nothing to say); `raw` its words on
    the object's --raw line, read back from that record (None: none); `moves` says its (..., 2+) points are frame
    pixels that move with a box the tracker predicts; `caption` gives its parts of the object's caption from its
    value (None: its family draws it its own way, e.g. keypoints as a skeleton)."""

    fields: tuple[str, ...]
    write: Callable[[Detections, int], dict]
    raw: Callable[[dict], list[str]] | None = None
    moves: bool = False
    caption: Callable[[Any], list[str]] | None = None


# The one table of per-object data keys: the JSON writer (object_records), the --raw lines (records.py), the
# tracker (points that move with a predicted box), captions (draw.py) and the schema test read it; keys not
# listed here (e.g. "embedding") stay out of every output. In the order they appear on a --raw line and in JSON.
OBJECT_KEYS: dict[str, ObjectKey] = {
    "track_state": ObjectKey(
        ("track_state",), lambda o, i: {"track_state": str(o.data["track_state"][i])},
        raw=lambda r: [r["track_state"]] if r["track_state"] != "confirmed" else []),
    "text": ObjectKey(
        ("text", "text_confidence"),
        lambda o, i: {"text": o.data["text"][i], "text_confidence": r4(o.data["text_confidence"][i])},
        raw=lambda r: [f"{r['text']!r} {r['text_confidence']:.3f}"]),
    "identity": ObjectKey(
        ("identity",), lambda o, i: {"identity": {"name": o.data["identity"][i],
                                                  "distance": r4(o.data["identity_distance"][i]),
                                                  "enrolled": bool(o.data["enrolled"][i])}},
        raw=lambda r: [f"identity={r['identity']['name']} ({r['identity']['distance']:.3f})"]),
    "attributes": ObjectKey(
        ("attributes",),
        lambda o, i: {"attributes": _rounded(o.data["attributes"][i])} if o.data["attributes"][i] else {},
        raw=lambda r: _attribute_raw(r["attributes"]), caption=attribute_parts),
    "head_pose": ObjectKey(
        ("head_pose",), lambda o, i: {"head_pose": {k: round(float(v), 2) for k, v in o.data["head_pose"][i].items()}},
        raw=lambda r: ["yaw {yaw:.0f} pitch {pitch:.0f} roll {roll:.0f}".format(**r["head_pose"])]),
    "keypoints": ObjectKey(
        ("keypoints",), lambda o, i: {"keypoints": _keypoints(o, i)},
        raw=lambda r: [f"{sum(v is not None for v in r['keypoints'].values())} keypoints"], moves=True),
    "landmarks": ObjectKey(
        ("landmarks",), lambda o, i: {"landmarks": [[r1(x), r1(y)] for x, y in o.data["landmarks"][i]]},
        raw=lambda r: [f"{len(r['landmarks'])} landmarks"], moves=True),
    "quad": ObjectKey(("quad",), lambda o, i: {"quad": [[r1(x), r1(y)] for x, y in o.data["quad"][i]]}, moves=True),
    "dwell_s": ObjectKey(
        ("dwell_s",), lambda o, i: {} if math.isnan(o.data["dwell_s"][i])
        else {"dwell_s": round(float(o.data["dwell_s"][i]), 3)},
        raw=lambda r: [f"dwell {r['dwell_s']:.1f} s"]),
}
# what every object's record has besides its data keys' fields: its box, score and class, a confirmed track's
# id, an instance mask's area and outline
BASE_FIELDS = ("bbox", "confidence", "label", "label_id", "id", "area", "polygons")
MOVING_KEYS = tuple(key for key, shown in OBJECT_KEYS.items() if shown.moves)


def caption_parts(objects: Detections, i: int) -> list[str]:
    """What object i's data keys add to its caption, in the table's order."""
    return [part for key, shown in OBJECT_KEYS.items() if shown.caption is not None and key in objects.data
            for part in shown.caption(objects.data[key][i])]


def has_caption_parts(objects: Detections) -> bool:
    return any(shown.caption is not None and key in objects.data for key, shown in OBJECT_KEYS.items())


def object_raw_parts(record: dict) -> list[str]:
    """An object's words on its --raw line after its class, score and box, from its JSON record."""
    parts = [part for shown in OBJECT_KEYS.values() if shown.raw is not None and shown.fields[0] in record
             for part in shown.raw(record)]
    return parts + ([f"{record['area']} px"] if "area" in record else [])


def object_records(objects: Detections) -> list[dict]:
    records = []
    extras = [shown.write for key, shown in OBJECT_KEYS.items() if key in objects.data]
    for i in range(len(objects)):
        label_id = int(objects.class_id[i])
        record = {"bbox": [r1(v) for v in objects.xyxy[i]], "confidence": r4(objects.confidence[i]),
                  "label": objects.label_name(label_id), "label_id": label_id}
        if objects.tracker_id is not None and objects.tracker_id[i] >= 0:
            record["id"] = int(objects.tracker_id[i])
        if objects.mask is not None:
            record["area"] = objects.mask[i].area
            record["polygons"] = mask_polygons(objects.mask[i])
        for write in extras:
            record.update(write(objects, i))
        records.append(record)
    return records


def _top(names_of, ids, scores) -> list[dict]:
    return [{"label": names_of(int(i)), "label_id": int(i), "confidence": r4(s)}
            for i, s in zip(ids, scores, strict=True)]


def class_share_records(class_map: ClassMap) -> list[dict]:
    return [{"label": class_map.label_name(i), "label_id": i, "share": round(share, 5)}
            for i, share in sorted(class_map.shares().items())]


def classification_fields(c: Classification) -> dict:
    action = None if c.label is None else {"label": c.label_name(c.label), "label_id": int(c.label),
                                             "confidence": r4(c.confidence)}
    window = None
    if c.predicted and c.top_ids is not None and c.window is not None:
        window = {"frames": [int(c.window[0]), int(c.window[1])], "top_k": _top(c.label_name, c.top_ids,
                                                                                    c.top_scores)}
    return {"action": action, "window": window}


def result_fields(result: Result) -> dict:
    """A frame's results as JSON: `inferred`, `objects`, then the frame-level results it has."""
    fields: dict = {"inferred": result.inferred, "objects": object_records(result.objects)}
    if result.class_map is not None:
        fields["class_shares"] = class_share_records(result.class_map)
    if result.classification is not None:
        fields |= classification_fields(result.classification)
    if result.counts is not None:
        fields["events"] = result.events
        fields["counts"] = result.counts
    return fields
