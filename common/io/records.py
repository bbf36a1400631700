"""The JSON lines: a frame's record (its frame fields, then its `Result.to_dict()`) and the `--raw` lines.

Every record of every family has the same frame fields and an `objects` list; each object has `bbox`
[x1, y1, x2, y2] pixels, `confidence`, `label` and `label_id`, then whichever extras its `data` carries
(`results.py` writes the objects and frame-level results, so that a `Result` gives the same JSON to API users).
`assets/schema/frame.schema.json` describes the same thing for readers; bump SCHEMA_VERSION when a key
changes meaning or type.
"""

from __future__ import annotations

from ..results import Result

SCHEMA_VERSION = 1


def frame_record(index: int, timestamp: float, source: str, size: tuple[int, int], result: Result,
                 timings_ms: dict[str, float] | None = None, stream: int = 0) -> dict:
    """One JSON line. `stream` is the input's index (-i given several times; 0 with one input), `frame` and
    `timestamp` count within that input."""
    record = {"schema": SCHEMA_VERSION, "stream": stream, "frame": index, "timestamp": round(timestamp, 4),
              "source": source, "image": {"width": size[0], "height": size[1]}, **result.to_dict()}
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
