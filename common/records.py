"""The JSON schema, written once: how a `Result` becomes a JSON record and `--raw` lines.

Every record of every family has the same frame fields and an `objects` list; each object has `bbox`
[x1, y1, x2, y2] pixels, `confidence`, `label` and `label_id`, then whichever extras its `data` carries.
`assets/schema/frame.schema.json` describes the same thing for readers; bump SCHEMA_VERSION when a key
changes meaning or type.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import cv2
import numpy as np

from .results import BoxMask, Classification, ClassMap, Detections, Result

SCHEMA_VERSION = 1
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


# data key -> what it adds to an object's record. Keys not listed here (e.g. "embedding") stay out of the JSON.
OBJECT_FIELDS: dict[str, Callable[[Detections, int], dict]] = {
    "track_state": lambda o, i: {"track_state": str(o.data["track_state"][i])},
    "dwell_s": lambda o, i: {} if math.isnan(o.data["dwell_s"][i])
    else {"dwell_s": round(float(o.data["dwell_s"][i]), 3)},
    "landmarks": lambda o, i: {"landmarks": [[r1(x), r1(y)] for x, y in o.data["landmarks"][i]]},
    "keypoints": lambda o, i: {"keypoints": _keypoints(o, i)},
    "head_pose": lambda o, i: {"head_pose": {k: round(float(v), 2) for k, v in o.data["head_pose"][i].items()}},
    "attributes": lambda o, i: {"attributes": _rounded(o.data["attributes"][i])} if o.data["attributes"][i] else {},
    "identity": lambda o, i: {"identity": {"name": o.data["identity"][i],
                                           "distance": r4(o.data["identity_distance"][i]),
                                           "enrolled": bool(o.data["enrolled"][i])}},
    "text": lambda o, i: {"text": o.data["text"][i], "text_confidence": r4(o.data["text_confidence"][i])},
    "quad": lambda o, i: {"quad": [[r1(x), r1(y)] for x, y in o.data["quad"][i]]},
}


def object_records(objects: Detections) -> list[dict]:
    records = []
    extras = [(key, write) for key, write in OBJECT_FIELDS.items() if key in objects.data]
    for i in range(len(objects)):
        label_id = int(objects.class_id[i])
        record = {"bbox": [r1(v) for v in objects.xyxy[i]], "confidence": r4(objects.confidence[i]),
                  "label": objects.label_name(label_id), "label_id": label_id}
        if objects.tracker_id is not None and objects.tracker_id[i] >= 0:
            record["id"] = int(objects.tracker_id[i])
        if objects.mask is not None:
            record["area"] = objects.mask[i].area
            record["polygons"] = mask_polygons(objects.mask[i])
        for _, write in extras:
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
    if c.predicted and c.top_ids is not None:
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


def frame_record(index: int, timestamp: float, source: str, size: tuple[int, int], result: Result,
                 timings_ms: dict[str, float] | None = None, stream: int = 0) -> dict:
    """One JSON line. `stream` is the input's index (-i given several times; 0 with one input), `frame` and
    `timestamp` count within that input."""
    record = {"schema": SCHEMA_VERSION, "stream": stream, "frame": index, "timestamp": round(timestamp, 4),
              "source": source, "image": {"width": size[0], "height": size[1]}, **result_fields(result)}
    if timings_ms is not None:
        record["timings_ms"] = {k: round(v, 3) for k, v in timings_ms.items()}
    return record


def _object_line(obj: dict) -> str:
    parts = [f"{obj['label']} ({obj['label_id']})" + (f" #{obj['id']}" if "id" in obj else ""),
             f"{obj['confidence']:.3f}",
             "[" + ", ".join(f"{v:.0f}" for v in obj["bbox"]) + "]"]
    if "track_state" in obj and obj["track_state"] != "confirmed":
        parts.append(obj["track_state"])
    if "text" in obj:
        parts.append(f"{obj['text']!r} {obj['text_confidence']:.3f}")
    if "identity" in obj:
        parts.append(f"identity={obj['identity']['name']} ({obj['identity']['distance']:.3f})")
    for name, value in obj.get("attributes", {}).items():
        if "label" in value:
            parts.append(f"{name}={value['label']} ({value['confidence']:.2f})")
        elif "text" in value:
            parts.append(f"{name}={value['text']!r}")
        else:
            parts.append(f"{name}={value['value']:.1f}")
    if "head_pose" in obj:
        parts.append("yaw {yaw:.0f} pitch {pitch:.0f} roll {roll:.0f}".format(**obj["head_pose"]))
    if "keypoints" in obj:
        parts.append(f"{sum(v is not None for v in obj['keypoints'].values())} keypoints")
    if "landmarks" in obj:
        parts.append(f"{len(obj['landmarks'])} landmarks")
    if "area" in obj:
        parts.append(f"{obj['area']} px")
    if "dwell_s" in obj:
        parts.append(f"dwell {obj['dwell_s']:.1f} s")
    return " ".join(parts)


def raw_lines(record: dict, with_stream: bool = False) -> list[str]:
    """`--raw`: a header line (naming the stream when the run has several), then one line per object and per
    frame-level result, all from the record."""
    objects = record["objects"]
    lines = [("" if not with_stream else f"stream {record['stream']} ")
             + f"frame {record['frame']}: {len(objects)} object{'' if len(objects) == 1 else 's'}"
             + ("" if record["inferred"] else " (carried over)")]
    lines += [f"  {_object_line(o)}" for o in objects]
    for share in record.get("class_shares", []):
        lines.append(f"  class {share['label']} ({share['label_id']}) {share['share'] * 100:.2f}%")
    if record.get("action"):
        lines.append(f"  action {record['action']['label']} {record['action']['confidence']:.3f}")
    if record.get("window"):
        first, last = record["window"]["frames"]
        lines += [f"  window {first}-{last}: {t['label']} {t['confidence']:.3f}" for t in record["window"]["top_k"]]
    for event in record.get("events", []):
        lines.append("  event " + " ".join(f"{k}={v}" for k, v in event.items()))
    return lines
