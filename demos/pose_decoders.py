"""Pose decoders: OpenPose (heatmaps + part-affinity fields), associative embedding (heatmaps + tags) and
top-down heatmaps (one person per crop), all giving 17 COCO keypoints in frame pixels.

Heatmap cell (x, y) of a network with stride s covers input pixels [s*x, s*x + s): its centre sits at
(x + 0.5) * s - 0.5 in pixel-centre coordinates, the convention every decoder below maps back with.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import cv2
import numpy as np
import openvino as ov
import openvino.opset13 as ops
from scipy.optimize import linear_sum_assignment

from ovdemo.common.errors import DemoError
from ovdemo.common.inference import ModelOutputs, describe_ports

COCO_KEYPOINTS = (
    "nose", "left_eye", "right_eye", "left_ear", "right_ear", "left_shoulder", "right_shoulder", "left_elbow",
    "right_elbow", "left_wrist", "right_wrist", "left_hip", "right_hip", "left_knee", "right_knee", "left_ankle",
    "right_ankle",
)
NUM_KEYPOINTS = len(COCO_KEYPOINTS)
# Limbs drawn between COCO keypoints: face, arms, torso, legs.
SKELETON = (
    (0, 1), (0, 2), (1, 3), (2, 4),
    (5, 7), (7, 9), (6, 8), (8, 10), (5, 6),
    (5, 11), (6, 12), (11, 12),
    (11, 13), (13, 15), (12, 14), (14, 16),
)
POOLED = "pooled_heatmaps"  # the max-pool output the bottom-up decoders add to their model for peak finding


@dataclass
class Poses:
    """N people: 17 COCO keypoints each, in frame pixels, with per-keypoint and per-person scores."""

    keypoints: np.ndarray  # (N, 17, 2) float32, x and y in frame pixels
    scores: np.ndarray  # (N, 17) float32; 0 where the keypoint was not found
    person_scores: np.ndarray  # (N,) float32
    boxes: np.ndarray | None = None  # (N, 4) x1y1x2y2: the detector's boxes for top-down models

    @classmethod
    def empty(cls) -> Poses:
        return cls(np.zeros((0, NUM_KEYPOINTS, 2), np.float32), np.zeros((0, NUM_KEYPOINTS), np.float32),
                   np.zeros(0, np.float32))

    def __len__(self) -> int:
        return len(self.person_scores)

    def visible(self, kp_threshold: float) -> np.ndarray:
        """(N, 17) bool: keypoints found with at least this confidence."""
        return (self.scores > 0) & (self.scores >= kp_threshold)

    def people(self, kp_threshold: float) -> list[dict]:
        """The JSON form: per person its score, box and {COCO keypoint name: [x, y, score] or null}."""
        shown = self.visible(kp_threshold)
        people = []
        for i in range(len(self)):
            points = self.keypoints[i]
            keypoints = {
                name: [round(float(x), 1), round(float(y), 1), round(float(s), 4)] if ok else None
                for name, (x, y), s, ok in zip(COCO_KEYPOINTS, points, self.scores[i], shown[i], strict=True)
            }
            if self.boxes is not None:
                box = self.boxes[i]
            elif shown[i].any():
                box = np.concatenate([points[shown[i]].min(axis=0), points[shown[i]].max(axis=0)])
            else:
                box = None
            people.append({"score": round(float(self.person_scores[i]), 4),
                           "bbox": None if box is None else [round(float(v), 1) for v in box],
                           "keypoints": keypoints})
        return people


def person_scores(scores: np.ndarray) -> np.ndarray:
    """(N,) how sure the network is of what it found of each person: the mean score of their keypoints found.
    (A mean over all 17 would rank a phantom in clutter with eight weak keypoints above a real person cut by
    the frame's edge with six strong ones.)"""
    found = scores > 0
    return (scores.sum(axis=1) / np.maximum(found.sum(axis=1), 1)).astype(np.float32)


def refine_peaks(heatmap: np.ndarray, xs: np.ndarray, ys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Sub-pixel peak positions: a Gaussian (a parabola through the logarithms) fitted to each peak and its
    two neighbours, along x and along y. Exact for Gaussian blobs, which is what pose heatmaps are trained to."""
    h, w = heatmap.shape
    xs, ys = np.asarray(xs, np.int64), np.asarray(ys, np.int64)
    log = np.log(np.maximum(heatmap, 1e-10))

    def offset(before, centre, after, inside):
        curvature = before - 2 * centre + after
        with np.errstate(divide="ignore", invalid="ignore"):
            shift = np.where(curvature < 0, 0.5 * (before - after) / curvature, 0.0)
        return np.where(inside, np.clip(shift, -0.5, 0.5), 0.0)

    centre = log[ys, xs]
    dx = offset(log[ys, np.maximum(xs - 1, 0)], centre, log[ys, np.minimum(xs + 1, w - 1)], (xs > 0) & (xs < w - 1))
    dy = offset(log[np.maximum(ys - 1, 0), xs], centre, log[np.minimum(ys + 1, h - 1), xs], (ys > 0) & (ys < h - 1))
    return xs + dx, ys + dy


def to_frame(points: np.ndarray, map_size: tuple[int, int], frame_size: tuple[int, int]) -> np.ndarray:
    """Heatmap coordinates (..., 2) of a map (w, h) covering the whole frame (w, h) to frame pixels."""
    scale = np.array([frame_size[0] / map_size[0], frame_size[1] / map_size[1]], np.float32)
    return ((points + 0.5) * scale - 0.5).astype(np.float32)


def _port(model: ov.Model, names: tuple[str, ...]):
    """The graph output (the value feeding a Result) with any of `names`."""
    for result in model.get_results():
        value = result.input_value(0)
        if set(names) & set(value.get_names()) or set(names) & set(result.output(0).get_names()):
            return value
    return None


def _channels(port) -> int | None:
    shape = port.get_partial_shape()
    if shape.rank.is_dynamic or shape.rank.get_length() < 4 or shape[1].is_dynamic:
        return None
    return shape[1].get_length()


def _add_peak_pool(model: ov.Model, heatmaps, kernel: int, absolute: bool = False) -> None:
    """A max-pool of the heatmaps, added to the graph as output POOLED: a heatmap value equal to its pooled
    value is a local maximum (OpenVINO computes it in its own threads, beside the network)."""
    source = ops.abs(heatmaps) if absolute else heatmaps
    pad = kernel // 2
    pooled = ops.max_pool(source, strides=[1, 1], dilations=[1, 1], pads_begin=[pad, pad], pads_end=[pad, pad],
                          kernel_shape=[kernel, kernel])
    pooled.output(0).get_tensor().set_names({POOLED})
    model.add_results([ops.result(pooled.output(0))])


def _peaks(heatmaps: np.ndarray, pooled: np.ndarray | None, kernel: int, threshold: float):
    """Per channel: the local maxima above `threshold` as (xs, ys) arrays."""
    if pooled is None:  # the model was not augmented (e.g. a decoder run on arrays): same maximum on the CPU
        element = np.ones((kernel, kernel), np.uint8)
        pooled = np.stack([cv2.dilate(np.ascontiguousarray(c), element) for c in heatmaps])
    found = (heatmaps >= pooled) & (heatmaps > threshold)
    peaks = []
    for heatmap, channel in zip(heatmaps, found, strict=True):
        ys, xs = np.nonzero(channel)
        if len(xs) > 1:  # a flat top (quantised outputs) is one peak: keep its first cell, strongest first
            order = np.argsort(-heatmap[ys, xs], kind="stable")
            xs, ys = xs[order], ys[order]
            near = (np.abs(xs[:, None] - xs[None]) <= 1) & (np.abs(ys[:, None] - ys[None]) <= 1)
            keep = np.ones(len(xs), bool)
            for i in range(len(xs)):
                if keep[i]:
                    keep[i + 1:] &= ~near[i, i + 1:]
            xs, ys = xs[keep], ys[keep]
        peaks.append((xs, ys))
    return peaks


# --- OpenPose: 18 keypoints (COCO's 17 plus the neck), 19 limbs scored by part-affinity fields
OPENPOSE_TO_COCO = (0, 15, 14, 17, 16, 5, 2, 6, 3, 7, 4, 11, 8, 12, 9, 13, 10)
OPENPOSE_LIMBS = ((1, 2), (1, 5), (2, 3), (3, 4), (5, 6), (6, 7), (1, 8), (8, 9), (9, 10), (1, 11), (11, 12),
                  (12, 13), (1, 0), (0, 14), (14, 16), (0, 15), (15, 17), (2, 16), (5, 17))
# x channel of each limb's field (y is the next one), as the model was trained
OPENPOSE_PAF_X = (12, 20, 14, 16, 22, 24, 0, 2, 4, 6, 8, 10, 28, 30, 34, 32, 36, 18, 26)
REDUNDANT_LIMBS = 2  # the last two (shoulder-ear) only fill in ears of people already found


class OpenPoseDecoder:
    """human-pose-estimation-0001: heatmaps [1,19,H,W] (18 keypoints + background) and part-affinity fields
    [1,38,H,W]. Peaks of each heatmap are candidates; candidate pairs are scored by the line integral of the
    limb's field between them, matched greedily and assembled into people from the neck outwards."""

    kind = "openpose"
    stride = 8
    size_mode = "height"  # --tsize is the input height
    peak_threshold = 0.1
    samples = 10  # points on a limb where its field is read
    min_aligned = 0.8  # share of those points whose field must point along the limb

    def __init__(self, model: ov.Model, params: dict | None = None):
        params = params or {}
        ports = [r.input_value(0) for r in model.get_results()]
        heat = _port(model, ("Mconv7_stage2_L2",)) or next((p for p in ports if _channels(p) == 19), None)
        pafs = _port(model, ("Mconv7_stage2_L1",)) or next((p for p in ports if _channels(p) == 38), None)
        if heat is None or pafs is None:
            raise DemoError(f"not an OpenPose model: outputs {describe_ports(model.outputs)}",
                            "expected heatmaps [1,19,H,W] and part-affinity fields [1,38,H,W]")
        self.heatmaps_port, self.heatmaps_name = heat, heat.get_any_name()
        self.pafs_name = pafs.get_any_name()
        self.stride = int(params.get("stride", self.stride))

    @staticmethod
    def fits(model: ov.Model) -> bool:
        channels = sorted(c for c in (_channels(r.input_value(0)) for r in model.get_results()) if c)
        return channels == [19, 38]

    def augment(self, model: ov.Model) -> None:
        _add_peak_pool(model, self.heatmaps_port, 3)

    def decode(self, outputs: ModelOutputs, frame_size: tuple[int, int], threshold: float,
               timings: dict[str, float]) -> Poses:
        heatmaps = outputs.get(self.heatmaps_name)[0]
        pafs = outputs.get(self.pafs_name)[0]
        pooled = outputs.get(POOLED)
        t0 = time.perf_counter()
        candidates = []
        for j, (xs, ys) in enumerate(_peaks(heatmaps[:18], None if pooled is None else pooled[0, :18], 3,
                                            self.peak_threshold)):
            rx, ry = refine_peaks(heatmaps[j], xs, ys)
            candidates.append(np.stack([rx, ry, heatmaps[j, ys, xs]], axis=1).astype(np.float32))
        t1 = time.perf_counter()
        points, scores = self.group(candidates, pafs)
        t2 = time.perf_counter()
        timings["peaks"] = (t1 - t0) * 1000.0
        timings["grouping"] = (t2 - t1) * 1000.0
        if not len(points):
            return Poses.empty()
        coco = list(OPENPOSE_TO_COCO)
        keypoints = to_frame(points[:, coco], heatmaps.shape[:0:-1], frame_size)
        scores = scores[:, coco].astype(np.float32)
        person = person_scores(scores)
        keep = person >= threshold
        return Poses(keypoints[keep], scores[keep], person[keep])

    def limb_scores(self, a: np.ndarray, b: np.ndarray, field_x: np.ndarray, field_y: np.ndarray) -> np.ndarray:
        """(len(a), len(b)) scores of every candidate pair: the mean of the field along the segment, projected
        on its direction, with a penalty for limbs longer than half the map; -inf where the pair is implausible."""
        h, w = field_x.shape
        vec = b[None, :, :2] - a[:, None, :2]
        length = np.linalg.norm(vec, axis=2)
        unit = vec / np.maximum(length, 1e-6)[..., None]
        steps = np.linspace(0.0, 1.0, self.samples, dtype=np.float32)
        points = a[:, None, None, :2] + steps[None, None, :, None] * vec[:, :, None, :]
        xi = np.clip(np.rint(points[..., 0]).astype(np.int64), 0, w - 1)
        yi = np.clip(np.rint(points[..., 1]).astype(np.int64), 0, h - 1)
        along = field_x[yi, xi] * unit[..., None, 0] + field_y[yi, xi] * unit[..., None, 1]
        score = along.mean(axis=2) + np.minimum(0.5 * h / np.maximum(length, 1e-6) - 1.0, 0.0)
        plausible = ((along > 0.05).mean(axis=2) >= self.min_aligned) & (score > 0)
        return np.where(plausible, score, -np.inf)

    def group(self, candidates: list[np.ndarray], pafs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """People as (N, 18, 2) heatmap coordinates and (N, 18) scores (0 where missing)."""
        people: list[np.ndarray] = []  # per person: candidate index of each of the 18 keypoints, -1 if none
        totals: list[float] = []  # keypoint plus limb scores
        for limb, ((ja, jb), px) in enumerate(zip(OPENPOSE_LIMBS, OPENPOSE_PAF_X, strict=True)):
            a, b = candidates[ja], candidates[jb]
            if not len(a) or not len(b):
                continue
            scores = self.limb_scores(a, b, pafs[px], pafs[px + 1])
            used_a, used_b = set(), set()
            order = np.argsort(-scores, axis=None)
            for ia, ib in zip(*np.unravel_index(order, scores.shape), strict=True):
                score = scores[ia, ib]
                if not np.isfinite(score):
                    break
                if ia in used_a or ib in used_b:
                    continue
                used_a.add(ia)
                used_b.add(ib)
                self._connect(people, totals, limb, ja, jb, int(ia), int(ib), float(score), a, b)
        points = np.zeros((len(people), 18, 2), np.float32)
        scores = np.zeros((len(people), 18), np.float32)
        keep = []
        for p, (person, total) in enumerate(zip(people, totals, strict=True)):
            found = person >= 0
            count = int(found.sum())
            if count < 3 or total / count < 0.2:  # a stray limb or two, not a person
                continue
            keep.append(p)
            for j in np.nonzero(found)[0]:
                x, y, s = candidates[j][person[j]]
                points[p, j] = x, y
                scores[p, j] = s
        return points[keep], scores[keep]

    @staticmethod
    def _connect(people, totals, limb, ja, jb, ia, ib, score, a, b) -> None:
        if limb >= len(OPENPOSE_LIMBS) - REDUNDANT_LIMBS:
            for person in people:  # only completes someone already found
                if person[ja] == ia and person[jb] < 0:
                    person[jb] = ib
                elif person[jb] == ib and person[ja] < 0:
                    person[ja] = ia
            return
        for p, person in enumerate(people):
            if person[ja] == ia:
                if person[jb] < 0:
                    person[jb] = ib
                    totals[p] += float(b[ib, 2]) + score
                return
        person = np.full(18, -1, np.int64)
        person[ja], person[jb] = ia, ib
        people.append(person)
        totals.append(float(a[ia, 2] + b[ib, 2]) + score)


# --- Associative embedding: per-keypoint heatmaps and tags; a person's keypoints share a tag value
AE_JOINT_ORDER = (0, 1, 2, 3, 4, 5, 6, 11, 12, 7, 8, 9, 10, 13, 14, 15, 16)  # head and torso first


class AssociativeEmbeddingDecoder:
    """human-pose-estimation-0005/0006/0007 and higher-hrnet-w32-human-pose-estimation: `heatmaps`
    [1,17,H,W] (non-maxima may come negated) and `embeddings` [1,17,H,W(,1)]. Keypoints are matched to people
    joint by joint with an optimal assignment on tag distance; people's missing joints are then looked for
    where the tag matches theirs."""

    kind = "ae"
    stride = 32  # the input size must divide by this
    size_mode = "short"  # --tsize is the shorter input side
    peak_threshold = 0.1
    tag_threshold = 1.0
    max_people = 30

    def __init__(self, model: ov.Model, params: dict | None = None):
        params = params or {}
        heat = _port(model, ("heatmaps",))
        tags = _port(model, ("embeddings",))
        if heat is None or tags is None:
            ports = [r.input_value(0) for r in model.get_results()]
            rank5 = [p for p in ports if p.get_partial_shape().rank.get_length() == 5]
            rank4 = [p for p in ports if _channels(p) == NUM_KEYPOINTS and p.get_partial_shape().rank.get_length() == 4]
            heat = heat or (rank4[0] if len(rank4) == 1 else None)
            tags = tags or (rank5[0] if len(rank5) == 1 else None)
        if heat is None or tags is None or _channels(heat) != NUM_KEYPOINTS:
            raise DemoError(f"not an associative-embedding pose model: outputs {describe_ports(model.outputs)}",
                            "expected `heatmaps` [1,17,H,W] and `embeddings` [1,17,H,W,1]")
        self.heatmaps_port, self.heatmaps_name, self.tags_name = heat, heat.get_any_name(), tags.get_any_name()
        self.stride = int(params.get("size_divisor", self.stride))

    @staticmethod
    def fits(model: ov.Model) -> bool:
        names = set().union(*(r.input_value(0).get_names() for r in model.get_results()))
        return {"heatmaps", "embeddings"} <= names

    def augment(self, model: ov.Model) -> None:
        _add_peak_pool(model, self.heatmaps_port, 5, absolute=True)

    def decode(self, outputs: ModelOutputs, frame_size: tuple[int, int], threshold: float,
               timings: dict[str, float]) -> Poses:
        heatmaps = np.abs(outputs.get(self.heatmaps_name)[0])
        tags = outputs.get(self.tags_name)[0]
        if tags.ndim == 3:
            tags = tags[..., None]
        pooled = outputs.get(POOLED)
        t0 = time.perf_counter()
        candidates = []
        for j, (xs, ys) in enumerate(_peaks(heatmaps, None if pooled is None else pooled[0], 5, self.peak_threshold)):
            values = heatmaps[j, ys, xs]
            best = np.argsort(-values, kind="stable")[: self.max_people]
            xs, ys = xs[best], ys[best]
            candidates.append((np.stack([xs, ys, values[best]], axis=1).astype(np.float32), tags[j, ys, xs]))
        t1 = time.perf_counter()
        points, scores, person_tags = self.group(candidates)
        t2 = time.perf_counter()
        timings["peaks"] = (t1 - t0) * 1000.0
        timings["grouping"] = (t2 - t1) * 1000.0
        if not len(points):
            return Poses.empty()
        person = person_scores(scores)  # before filling in: what the network found by itself
        keep = person >= threshold
        points, scores, person_tags, person = points[keep], scores[keep], person_tags[keep], person[keep]
        for p in range(len(points)):
            found = scores[p] > 0
            rx, ry = refine_peaks_each(heatmaps, points[p], found)
            points[p, found] = np.stack([rx, ry], axis=1)
            self.fill_missing(heatmaps, tags, points[p], scores[p], person_tags[p])
        keypoints = to_frame(points, heatmaps.shape[:0:-1], frame_size)
        return Poses(keypoints, scores.astype(np.float32), person)

    def group(self, candidates) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(N, 17, 2) heatmap cells, (N, 17) scores and (N, D) mean tags of the people found."""
        points: list[np.ndarray] = []
        scores: list[np.ndarray] = []
        tag_sums: list[np.ndarray] = []
        counts: list[int] = []

        def new_person(j, joint, tag):
            points.append(np.zeros((NUM_KEYPOINTS, 2), np.float32))
            scores.append(np.zeros(NUM_KEYPOINTS, np.float32))
            tag_sums.append(np.zeros_like(tag, dtype=np.float64))
            counts.append(0)
            add(len(points) - 1, j, joint, tag)

        def add(p, j, joint, tag):
            points[p][j] = joint[:2]
            scores[p][j] = joint[2]
            tag_sums[p] += tag
            counts[p] += 1

        for j in AE_JOINT_ORDER:
            joints, tags = candidates[j]
            if not len(joints):
                continue
            if not points:
                for joint, tag in zip(joints, tags, strict=True):
                    new_person(j, joint, tag)
                continue
            means = np.stack(tag_sums) / np.asarray(counts)[:, None]
            distance = np.linalg.norm(tags[:, None, :] - means[None, :, :], axis=2)
            # whole tag units first, then the stronger detection
            cost = np.rint(distance) * 100 - joints[:, 2:3]
            if len(joints) > len(means):
                cost = np.pad(cost, ((0, 0), (0, len(joints) - len(means))), constant_values=1e10)
            existing = len(means)
            for row, col in zip(*linear_sum_assignment(cost), strict=True):
                if col < existing and distance[row, col] < self.tag_threshold:
                    add(col, j, joints[row], tags[row])
                else:
                    new_person(j, joints[row], tags[row])
        if not points:
            return np.zeros((0, NUM_KEYPOINTS, 2), np.float32), np.zeros((0, NUM_KEYPOINTS), np.float32), np.zeros(0)
        means = np.stack(tag_sums) / np.asarray(counts)[:, None]
        return np.stack(points), np.stack(scores), means

    def fill_missing(self, heatmaps, tags, points, scores, person_tag) -> None:
        """A joint the grouping did not give this person: the strongest response among the places whose tag
        is closest (in whole units) to the person's."""
        for j in np.nonzero(scores <= 0)[0]:
            distance = np.linalg.norm(tags[j] - person_tag, axis=-1)
            cost = np.rint(distance) - heatmaps[j]
            y, x = np.unravel_index(np.argmin(cost), cost.shape)
            value = heatmaps[j, y, x]
            if value > 0:
                rx, ry = refine_peaks(heatmaps[j], np.array([x]), np.array([y]))
                points[j] = rx[0], ry[0]
                scores[j] = value


def refine_peaks_each(heatmaps: np.ndarray, points: np.ndarray, found: np.ndarray):
    """refine_peaks for one keypoint per channel: points (17, 2) at whole cells, only where `found`."""
    joints = np.nonzero(found)[0]
    xs, ys = [], []
    for j in joints:
        rx, ry = refine_peaks(heatmaps[j], np.array([int(points[j, 0])]), np.array([int(points[j, 1])]))
        xs.append(rx[0])
        ys.append(ry[0])
    return np.asarray(xs, np.float32), np.asarray(ys, np.float32)


# --- Top-down: one person per crop, one heatmap per joint
class TopDownDecoder:
    """single-human-pose-estimation-0001: a crop [N,3,384,288] of one person in, `heatmaps` [N,17,48,36] out.
    Crops are the person boxes grown to the model's aspect ratio and by `box_scale`; each joint is the
    heatmap's maximum, refined to sub-pixel, mapped back through its crop."""

    kind = "top-down"
    box_scale = 1.25

    def __init__(self, model: ov.Model, params: dict | None = None):
        params = params or {}
        ports = [r.input_value(0) for r in model.get_results()]
        heat = _port(model, ("heatmaps",))
        if heat is None:
            fitting = [p for p in ports if _channels(p) == NUM_KEYPOINTS]
            heat = fitting[0] if len(fitting) == 1 else None
        shape = model.input(0).get_partial_shape() if len(model.inputs) == 1 else None
        if heat is None or _channels(heat) != NUM_KEYPOINTS or shape is None or shape.rank.get_length() != 4 \
                or shape[2].is_dynamic or shape[3].is_dynamic:
            raise DemoError(f"not a top-down pose model: inputs {describe_ports(model.inputs)}, "
                            f"outputs {describe_ports(model.outputs)}",
                            "expected one image input [1,3,H,W] and `heatmaps` [1,17,h,w]")
        self.heatmaps_name = heat.get_any_name()
        self.input_size = (shape[3].get_length(), shape[2].get_length())  # (w, h)
        self.box_scale = float(params.get("box_scale", self.box_scale))

    @staticmethod
    def fits(model: ov.Model) -> bool:
        ports = [r.input_value(0) for r in model.get_results()]
        if len(ports) == 1:
            return _channels(ports[0]) == NUM_KEYPOINTS
        return _port(model, ("heatmaps",)) is not None and _port(model, ("embeddings",)) is None

    def crop_boxes(self, boxes: np.ndarray) -> np.ndarray:
        """Person boxes grown to the model's aspect ratio, then by box_scale, in whole pixels: the regions cut
        out for the model (they may reach past the frame; `crops` pads them)."""
        boxes = np.asarray(boxes, np.float32).reshape(-1, 4)
        aspect = self.input_size[0] / self.input_size[1]
        centre = (boxes[:, :2] + boxes[:, 2:]) / 2
        w, h = boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]
        w, h = np.maximum(w, h * aspect), np.maximum(h, w / aspect)
        half = np.stack([w, h], axis=1) * self.box_scale / 2
        grown = np.rint(np.concatenate([centre - half, centre + half], axis=1))
        grown[:, 2:] = np.maximum(grown[:, 2:], grown[:, :2] + 1)
        return grown.astype(np.float32)

    def decode(self, heatmaps: np.ndarray, crop_boxes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Keypoints (N, 17, 2) in frame pixels and their scores (N, 17) from heatmaps (N, 17, h, w)."""
        n, k, h, w = heatmaps.shape
        flat = heatmaps.reshape(n, k, -1)
        best = flat.argmax(axis=2)
        scores = np.take_along_axis(flat, best[..., None], axis=2)[..., 0]
        ys, xs = np.divmod(best, w)
        points = np.zeros((n, k, 2), np.float32)
        for i in range(n):
            for j in range(k):
                rx, ry = refine_peaks(heatmaps[i, j], xs[i, j:j + 1], ys[i, j:j + 1])
                points[i, j] = rx[0], ry[0]
        size = crop_boxes[:, 2:] - crop_boxes[:, :2]
        frame = crop_boxes[:, None, :2] + (points + 0.5) * (size[:, None, :] / np.array([w, h], np.float32)) - 0.5
        return frame.astype(np.float32), np.maximum(scores, 0).astype(np.float32)


DECODERS = {cls.kind: cls for cls in (OpenPoseDecoder, AssociativeEmbeddingDecoder, TopDownDecoder)}


def choose_decoder(model: ov.Model, name: str, spec_decoder: str | None, arch: str | None):
    """The decoder class for a pose model: --arch, else the spec's, else the first whose outputs fit."""
    if arch:
        return DECODERS[arch]
    if spec_decoder in DECODERS:  # a spec of another family (e.g. a detector's "ssd") says nothing here
        return DECODERS[spec_decoder]
    for cls in DECODERS.values():
        if cls.fits(model):
            return cls
    raise DemoError(f"{name} does not look like a pose model: outputs {describe_ports(model.outputs)}",
                    "expected OpenPose heatmaps [1,19,H,W] + fields [1,38,H,W], associative-embedding `heatmaps` "
                    "+ `embeddings`, or top-down `heatmaps` [1,17,H,W]; or pass --arch")
