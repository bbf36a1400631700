"""The JSON lines: a frame's record (its frame fields, then its `Result.to_dict()`) and the `--raw` lines.

Every record of every family has the same frame fields and an `objects` list; each object has `bbox`
[x1, y1, x2, y2] pixels, `confidence`, `label` and `label_id`, then whichever extras its `data` carries
(`results.py` writes the objects and frame-level results, so that a `Result` gives the same JSON to API users).
`assets/schema/frame.schema.json` describes the same thing for readers; bump SCHEMA_VERSION when a key
changes meaning or type.
"""

from __future__ import annotations

from ..results import Result, object_raw_parts

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
    head = [f"{obj['label']} ({obj['label_id']})" + (f" #{obj['id']}" if "id" in obj else ""),
            f"{obj['confidence']:.3f}",
            "[" + ", ".join(f"{v:.0f}" for v in obj["bbox"]) + "]"]
    return " ".join(head + object_raw_parts(obj))


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
