"""Per-person actions: the smart classroom detectors, each person boxed and labelled with an action,
optionally tracked by box overlap so each person keeps an id and a smoothed label."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import openvino as ov

from ovdemo.common.capture import Frame
from ovdemo.common.draw import Style, color_for, draw_box, draw_score_bar
from ovdemo.common.errors import DemoError
from ovdemo.common.inference import ModelOutputs
from ovdemo.common.models import ResolvedModel
from ovdemo.common.results import box_iou, clip_boxes

from .action_detector import ActionDetectorDecoder, PersonActions, soft_nms
from .action_sequence import LabelSmoother, top_k


@dataclass
class _Track:
    track_id: int
    box: np.ndarray
    last_seen: int
    smoother: LabelSmoother


@dataclass
class IouTracker:
    """Greedy box-overlap tracking: each person joins the live track it overlaps most (IoU >= min_iou),
    else starts a new one; tracks unseen for `max_age` frames end. Each track smooths its own action."""

    smooth: int = 1
    min_iou: float = 0.3
    max_age: int = 10
    tracks: list[_Track] = field(default_factory=list)
    next_id: int = 1

    def update(self, frame_index: int, boxes: np.ndarray, actions: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Track ids and smoothed actions for this frame's people."""
        self.tracks = [t for t in self.tracks if frame_index - t.last_seen <= self.max_age]
        ids = np.zeros(len(boxes), np.int32)
        smoothed = actions.copy()
        assigned: set[int] = set()
        if self.tracks and len(boxes):
            ious = box_iou(boxes, np.stack([t.box for t in self.tracks]))
            for flat in np.argsort(-ious, axis=None):
                i, j = divmod(int(flat), len(self.tracks))
                if ious[i, j] < self.min_iou:
                    break
                if ids[i] or j in assigned:
                    continue
                ids[i] = self.tracks[j].track_id
                assigned.add(j)
        for i in range(len(boxes)):
            if not ids[i]:
                self.tracks.append(_Track(self.next_id, boxes[i], frame_index, LabelSmoother(self.smooth)))
                ids[i] = self.next_id
                self.next_id += 1
            track = next(t for t in self.tracks if t.track_id == ids[i])
            track.box, track.last_seen = boxes[i], frame_index
            label = track.smoother.update(int(actions[i]))
            smoothed[i] = actions[i] if label is None else label
        return ids, smoothed


@dataclass
class PersonActionTask:
    model: ResolvedModel
    threshold: float | None = None
    action_threshold: float | None = None
    labels: tuple[str, ...] | None = None
    k: int = 3
    smooth: int = 1
    track: bool = True
    family: str = "action"

    def prepare(self, model: ov.Model) -> None:
        spec = self.model.spec
        self.names = self.labels or (spec.labels if spec else None)
        if not self.names:
            raise DemoError(f"no action names for {self.model.name}", "pass --labels FILE, one action per line")
        params = spec.params if spec else {}
        self.score_threshold = self.threshold if self.threshold is not None else (spec.threshold if spec else 0.3)
        self.min_action = (self.action_threshold if self.action_threshold is not None
                           else float(params.get("action_threshold", 0.75)))
        self.default_action = int(params.get("default_action", 0))
        self.decoder = ActionDetectorDecoder(model, len(self.names))
        self.tracker = IouTracker(self.smooth) if self.track else None
        if self.smooth > 1 and not self.track:
            raise DemoError("--smooth needs tracking for per-person actions", "drop --no-track")

    def postprocess(self, outputs: ModelOutputs, frame: Frame) -> PersonActions:
        found = self.decoder.decode(outputs, self.score_threshold)
        keep = soft_nms(found.boxes, found.scores, self.score_threshold)
        h, w = frame.image.shape[:2]
        boxes = clip_boxes(found.boxes[keep].reshape(-1, 4) * np.array([w, h, w, h], np.float32), w, h)
        probs = found.probs[keep].reshape(-1, len(self.names))
        actions = probs.argmax(axis=1).astype(np.int32)
        # an action the model is unsure of reads as the default one (sitting, for the classroom models)
        unsure = probs[np.arange(len(actions)), actions] < self.min_action
        actions[unsure] = self.default_action
        result = PersonActions(boxes, found.scores[keep].reshape(-1), actions, np.zeros(len(actions), np.float32),
                               probs, self.names)
        sizes = boxes[:, 2:] - boxes[:, :2]
        result = result[(sizes > 1).all(axis=1)]
        if self.tracker is not None:
            result.track_ids, result.actions = self.tracker.update(frame.index, result.boxes, result.actions)
        result.action_scores = result.probs[np.arange(len(result)), result.actions].astype(np.float32)
        return result

    def draw(self, image: np.ndarray, result: PersonActions, style: Style) -> None:
        for i in range(len(result)):
            color = color_for(int(result.actions[i]))
            tag = f"#{result.track_ids[i]} " if result.track_ids is not None else ""
            caption = f"{tag}{result.name(int(result.actions[i]))} {result.action_scores[i]:.2f}"
            draw_box(image, result.boxes[i], color, style, caption)
            x1, y1, x2, _ = (int(v) for v in result.boxes[i])
            draw_score_bar(image, x1, y1 + style.thickness, max(x2 - x1, 8), float(result.action_scores[i]), color,
                           style)

    def record(self, result: PersonActions) -> dict:
        people = []
        for i in range(len(result)):
            ids, scores = top_k(result.probs[i], self.k)
            person = {
                "bbox": [round(float(v), 1) for v in result.boxes[i]],
                "confidence": round(float(result.scores[i]), 4),
                "action": result.name(int(result.actions[i])),
                "action_id": int(result.actions[i]),
                "action_confidence": round(float(result.action_scores[i]), 4),
                "top_k": [{"label": result.name(int(a)), "label_id": int(a), "confidence": round(float(s), 4)}
                          for a, s in zip(ids, scores, strict=True)],
            }
            if result.track_ids is not None:
                person["track_id"] = int(result.track_ids[i])
            people.append(person)
        return {"people": people}

    def raw_lines(self, result: PersonActions) -> list[str]:
        return [(f"#{p['track_id']} " if "track_id" in p else "")
                + f"{p['action']} {p['action_confidence']:.3f} person {p['confidence']:.3f} "
                f"[{', '.join(f'{v:.0f}' for v in p['bbox'])}]" for p in self.record(result)["people"]]
