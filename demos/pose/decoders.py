"""Pose decoders on the one decoder contract (`ovdemo.common.engine.family.Decoder`): OpenPose (heatmaps +
part-affinity fields) and associative embedding (heatmaps + tags) find every person in a frame (bottom-up);
top-down heatmaps read one person per crop, a second model on the detector's people (`TopDownReader`, on the
second-stage contract of common/engine/second_stage.py). All give the 17 COCO keypoints in frame pixels as (N, 17, 3)
arrays of x, y and score (0 where a keypoint was not found): `data["keypoints"]` of a `Detections` of people.

Heatmap cell (x, y) of a network with stride s covers input pixels [s*x, s*x + s): its centre sits at
(x + 0.5) * s - 0.5 in pixel-centre coordinates, the convention every decoder below maps back with.
"""

from __future__ import annotations

from typing import ClassVar

import cv2
import numpy as np
import openvino as ov
import openvino.opset13 as ops

from ovdemo.common.engine.family import Decoder, DecoderSetup, ModelKind
from ovdemo.common.engine.inference import ModelOutputs, describe_ports, find_port, port_key, port_names, port_shape
from ovdemo.common.engine.metrics import StageTimer
from ovdemo.common.engine.second_stage import Reader
from ovdemo.common.errors import DemoError
from ovdemo.common.models import yolo_heads
from ovdemo.common.models.resolve import ResolvedModel
from ovdemo.common.results import COCO_KEYPOINTS, Detections
from ovdemo.common.tracking.assignment import linear_sum_assignment

NUM_KEYPOINTS = len(COCO_KEYPOINTS)
PERSON = ("person",)  # the class of every pose result
POOLED = "pooled_heatmaps"  # the max-pool output the bottom-up decoders add to their model for peak finding


def channels(count: int, rank: int = 4):
    """A shape test for find_port: an output of this rank with `count` channels."""
    return lambda shape: len(shape) == rank and shape[1] == count


def keypoint_extent(keypoints: np.ndarray) -> np.ndarray:
    """(N, 4) x1y1x2y2 around each person's keypoints with a score above 0 (zeros for a person with none)."""
    found = keypoints[..., 2] > 0
    xy = keypoints[..., :2]
    low = np.where(found[..., None], xy, np.inf).min(axis=1)
    high = np.where(found[..., None], xy, -np.inf).max(axis=1)
    return np.where(found.any(axis=1, keepdims=True), np.concatenate([low, high], axis=1), 0).astype(np.float32)


def people(points: np.ndarray, scores: np.ndarray, person: np.ndarray | None = None,
           boxes: np.ndarray | None = None) -> Detections:
    """People as Detections: keypoints (N, 17, 2) with scores (N, 17) as data["keypoints"] (N, 17, 3);
    confidence `person` (default: person_scores); box `boxes` (default: the extent of the keypoints found)."""
    keypoints = np.concatenate([points.reshape(-1, NUM_KEYPOINTS, 2), scores.reshape(-1, NUM_KEYPOINTS, 1)],
                               axis=2).astype(np.float32)
    person = person_scores(keypoints[..., 2]) if person is None else person
    boxes = keypoint_extent(keypoints) if boxes is None else boxes
    return Detections(boxes, person, np.zeros(len(keypoints), np.int32), data={"keypoints": keypoints},
                      names=PERSON)


def no_people() -> Detections:
    return people(np.zeros((0, NUM_KEYPOINTS, 2), np.float32), np.zeros((0, NUM_KEYPOINTS), np.float32))


def person_scores(scores: np.ndarray) -> np.ndarray:
    """(N,) how sure the network is of what it found of each person: the mean score of their keypoints found.
    (A mean over all 17 would rank a phantom in clutter with eight weak keypoints above a real person cut by
    the frame's edge with six strong ones.)"""
    found = scores > 0
    return (scores.sum(axis=1) / np.maximum(found.sum(axis=1), 1)).astype(np.float32)


def refine_peaks(heatmap: np.ndarray, xs: np.ndarray, ys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Sub-pixel peak positions: a Gaussian (a parabola through the logarithms) fitted to each peak and its
    two neighbours, along x and along y. Exact for Gaussian blobs, which is what pose heatmaps are trained to."""
    xs = np.asarray(xs, np.int64)
    return refine_peaks_in(heatmap[np.newaxis], np.zeros(len(xs), np.int64), xs, ys)


def refine_peaks_in(heatmaps: np.ndarray, channels: np.ndarray, xs: np.ndarray,
                    ys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """`refine_peaks` of peaks in several channels of (C, H, W) heatmaps at once (peak k in channel
    channels[k]): the logarithms taken only at the peaks and their neighbours, a handful of numpy calls a frame."""
    _, h, w = heatmaps.shape
    xs, ys = np.asarray(xs, np.int64), np.asarray(ys, np.int64)

    def log_at(y, x):
        return np.log(np.maximum(heatmaps[channels, y, x], 1e-10))

    def offset(before, centre, after, inside):
        curvature = before - 2 * centre + after
        with np.errstate(divide="ignore", invalid="ignore"):
            shift = np.where(curvature < 0, 0.5 * (before - after) / curvature, 0.0)
        return np.where(inside, np.clip(shift, -0.5, 0.5), 0.0)

    centre = log_at(ys, xs)
    dx = offset(log_at(ys, np.maximum(xs - 1, 0)), centre, log_at(ys, np.minimum(xs + 1, w - 1)),
                (xs > 0) & (xs < w - 1))
    dy = offset(log_at(np.maximum(ys - 1, 0), xs), centre, log_at(np.minimum(ys + 1, h - 1), xs),
                (ys > 0) & (ys < h - 1))
    return xs + dx, ys + dy


def to_frame(points: np.ndarray, map_size: tuple[int, int], frame_size: tuple[int, int]) -> np.ndarray:
    """Heatmap coordinates (..., 2) of a map (w, h) covering the whole frame (w, h) to frame pixels."""
    scale = np.array([frame_size[0] / map_size[0], frame_size[1] / map_size[1]], np.float32)
    return ((points + 0.5) * scale - 0.5).astype(np.float32)


def graph_value(port):
    """The value a model output carries, to build on (an output port of a Result op cannot feed another op)."""
    node = port.get_node()
    return node.input_value(0) if node.get_type_name() == "Result" else port


class BottomUpDecoder(Decoder):
    """A decoder that finds every person of a frame in one pass. The network takes the frame at its aspect
    ratio, each side a multiple of `stride`; `size_mode` says what its default size keeps (OpenPose: the
    model's height, associative embedding: its shorter side). Peaks come from a max-pool `augment` adds."""

    stride: int = 8
    size_mode: str = "height"
    pool_kernel: int = 3
    peak_threshold = 0.1
    signed_heatmaps = False  # non-maxima come negated (associative embedding)
    heatmaps = ""  # the heatmaps' output name and port, set by bind
    heatmaps_port = None

    def __init__(self, model: ov.Model, setup: DecoderSetup):
        self.timer = StageTimer()  # its steps (peaks, grouping); a family hands over its own
        super().__init__(model, setup)

    def augment(self, model: ov.Model) -> None:
        """A max-pool of the heatmaps, added to the graph as output POOLED: a heatmap value equal to its pooled
        value is a local maximum (OpenVINO computes it in its own threads, beside the network)."""
        heatmaps = graph_value(self.heatmaps_port)
        source = ops.abs(heatmaps) if self.signed_heatmaps else heatmaps
        pad = self.pool_kernel // 2
        pooled = ops.max_pool(source, strides=[1, 1], dilations=[1, 1], pads_begin=[pad, pad], pads_end=[pad, pad],
                              kernel_shape=[self.pool_kernel] * 2)
        pooled.output(0).get_tensor().set_names({POOLED})
        model.add_results([ops.result(pooled.output(0))])


def peak_cells(heatmaps: np.ndarray, pooled: np.ndarray | None, kernel: int,
               threshold: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The local maxima above `threshold` of every channel at once, as (channels, xs, ys): by channel, each
    channel's strongest first. A flat top (quantised outputs: neighbouring maxima of one value) is one peak, its
    first cell; only peaks that touch another are walked in Python."""
    if pooled is None:  # the model was not augmented (e.g. a decoder run on arrays): same maximum on the CPU
        element = np.ones((kernel, kernel), np.uint8)
        pooled = np.stack([cv2.dilate(np.ascontiguousarray(c), element) for c in heatmaps])
    found = (heatmaps >= pooled) & (heatmaps > threshold)
    h, w = found.shape[1:]
    channels, cells = np.divmod(np.flatnonzero(found), h * w)  # (np.nonzero of 3 dimensions is 10x slower)
    ys, xs = np.divmod(cells, w)
    order = np.lexsort((-heatmaps[channels, ys, xs], channels))  # stable: equal values keep their cell order
    channels, ys, xs = channels[order], ys[order], xs[order]
    near = ((channels[:, None] == channels[None]) & (np.abs(xs[:, None] - xs[None]) <= 1)
            & (np.abs(ys[:, None] - ys[None]) <= 1))  # peaks of one channel that touch (and each itself)
    np.fill_diagonal(near, False)
    crowded = np.flatnonzero(near.any(axis=1))
    if len(crowded):
        keep = np.ones(len(xs), bool)
        for i in crowded:  # in order: by channel, strongest first
            if keep[i]:
                keep[i + 1:] &= ~near[i, i + 1:]
        channels, ys, xs = channels[keep], ys[keep], xs[keep]
    return channels, xs, ys


def _peaks(heatmaps: np.ndarray, pooled: np.ndarray | None, kernel: int, threshold: float):
    """Per channel: the local maxima above `threshold` as (xs, ys) arrays, strongest first."""
    channels, xs, ys = peak_cells(heatmaps, pooled, kernel, threshold)
    bounds = np.searchsorted(channels, np.arange(len(heatmaps) + 1))
    return [(xs[a:b], ys[a:b]) for a, b in zip(bounds[:-1], bounds[1:], strict=True)]


# --- OpenPose: 18 keypoints (COCO's 17 plus the neck), 19 limbs scored by part-affinity fields
OPENPOSE_TO_COCO = (0, 15, 14, 17, 16, 5, 2, 6, 3, 7, 4, 11, 8, 12, 9, 13, 10)
OPENPOSE_LIMBS = ((1, 2), (1, 5), (2, 3), (3, 4), (5, 6), (6, 7), (1, 8), (8, 9), (9, 10), (1, 11), (11, 12),
                  (12, 13), (1, 0), (0, 14), (14, 16), (0, 15), (15, 17), (2, 16), (5, 17))
# x channel of each limb's field (y is the next one), as the model was trained
OPENPOSE_PAF_X = (12, 20, 14, 16, 22, 24, 0, 2, 4, 6, 8, 10, 28, 30, 34, 32, 36, 18, 26)
REDUNDANT_LIMBS = 2  # the last two (shoulder-ear) only fill in ears of people already found


class OpenPoseDecoder(BottomUpDecoder):
    """human-pose-estimation-0001: heatmaps [1,19,H,W] (18 keypoints + background) and part-affinity fields
    [1,38,H,W]. Peaks of each heatmap are candidates; candidate pairs are scored by the line integral of the
    limb's field between them, matched greedily and assembled into people from the neck outwards."""

    name = "openpose"
    expects = "heatmaps [1,19,H,W] and part-affinity fields [1,38,H,W]"
    stride = 8
    size_mode = "height"  # the default input keeps the model's height
    samples = 10  # points on a limb where its field is read
    min_aligned = 0.8  # share of those points whose field must point along the limb

    @classmethod
    def fits(cls, model: ov.Model) -> bool:
        # (a dynamic channel count reads as 0: it fits no kind, rather than failing to sort beside a number)
        return sorted(port_shape(p)[1] or 0 for p in model.outputs if len(port_shape(p)) == 4) == [19, 38]

    def bind(self, model: ov.Model) -> None:
        heatmaps = find_port(model.outputs, ("Mconv7_stage2_L2",), channels(19))
        pafs = find_port(model.outputs, ("Mconv7_stage2_L1",), channels(38))
        if heatmaps is None or pafs is None:
            raise self.mismatch(model.outputs)
        self.heatmaps_port, self.heatmaps, self.pafs = heatmaps, port_key(heatmaps), port_key(pafs)
        self.stride = int(self.spec.params.get("stride", self.stride))

    def decode(self, outputs: ModelOutputs, frame_size: tuple[int, int]) -> Detections:
        heatmaps = outputs.array(self.heatmaps)[0]
        pafs = outputs.array(self.pafs)[0]
        pooled = outputs.get(POOLED)
        with self.timer("peaks"):
            keypoints = heatmaps[:18]
            channels, xs, ys = peak_cells(keypoints, None if pooled is None else pooled[0, :18], self.pool_kernel,
                                          self.peak_threshold)
            rx, ry = refine_peaks_in(keypoints, channels, xs, ys)
            found = np.stack([rx, ry, keypoints[channels, ys, xs]], axis=1).astype(np.float32)
            candidates = np.split(found, np.searchsorted(channels, np.arange(1, len(keypoints))))
        with self.timer("grouping"):
            points, scores = self.group(candidates, pafs)
        coco = list(OPENPOSE_TO_COCO)
        persons = people(to_frame(points[:, coco], heatmaps.shape[:0:-1], frame_size), scores[:, coco])
        return persons[persons.confidence >= self.setup.threshold]

    def limb_scores(self, candidates: list[np.ndarray], pafs: np.ndarray) -> list[np.ndarray | None]:
        """Per limb, the (len(a), len(b)) scores of every pair of its two keypoints' candidates (None where either
        has none): the mean of the limb's field along the segment, projected on its direction, with a penalty
        for limbs longer than half the map; -inf where the pair is implausible. Every limb's pairs at once."""
        h, w = pafs.shape[1:]
        counts = np.array([len(c) for c in candidates])
        found = np.concatenate(candidates)[:, :2]
        first = np.concatenate([[0], np.cumsum(counts)])  # where each keypoint's candidates start in `found`
        ja, jb = np.array(OPENPOSE_LIMBS).T
        na, nb = counts[ja], counts[jb]
        pairs = na * nb
        # every pair of every limb in one array: limb, then a's candidate, then b's
        limb = np.repeat(np.arange(len(OPENPOSE_LIMBS)), pairs)
        k = np.arange(pairs.sum()) - np.repeat(np.cumsum(pairs) - pairs, pairs)
        ia, ib = np.divmod(k, np.maximum(nb[limb], 1))
        start, end = found[first[ja][limb] + ia], found[first[jb][limb] + ib]
        field = np.array(OPENPOSE_PAF_X)[limb][:, None]
        vec = end - start
        length = np.linalg.norm(vec, axis=1)
        unit = vec / np.maximum(length, 1e-6)[:, None]
        steps = np.linspace(0.0, 1.0, self.samples, dtype=np.float32)
        points = start[:, None, :] + steps[None, :, None] * vec[:, None, :]
        xi = np.clip(np.rint(points[..., 0]).astype(np.int64), 0, w - 1)
        yi = np.clip(np.rint(points[..., 1]).astype(np.int64), 0, h - 1)
        along = pafs[field, yi, xi] * unit[:, 0, None] + pafs[field + 1, yi, xi] * unit[:, 1, None]
        score = along.mean(axis=1) + np.minimum(0.5 * h / np.maximum(length, 1e-6) - 1.0, 0.0)
        plausible = ((along > 0.05).mean(axis=1) >= self.min_aligned) & (score > 0)
        every = np.where(plausible, score, -np.inf)
        bounds = np.cumsum(pairs) - pairs
        return [every[at:at + n].reshape(a, b) if n else None
                for at, n, a, b in zip(bounds.tolist(), pairs.tolist(), na.tolist(), nb.tolist(), strict=True)]

    def group(self, candidates: list[np.ndarray], pafs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """People as (N, 18, 2) heatmap coordinates and (N, 18) scores (0 where missing)."""
        # per person: candidate index of each of the 18 keypoints, -1 if none (plain lists: the loop below
        # compares and sets them for every plausible pair, where numpy scalars cost ten times more)
        people: list[list[int]] = []
        totals: list[float] = []  # keypoint plus limb scores
        for limb, ((ja, jb), scores) in enumerate(zip(OPENPOSE_LIMBS, self.limb_scores(candidates, pafs),
                                                       strict=True)):
            if scores is None:
                continue
            a, b = candidates[ja], candidates[jb]
            b_scores = b[:, 2].tolist()
            used_a, used_b = set(), set()
            order = np.argsort(-scores, axis=None)
            order = order[:np.count_nonzero(np.isfinite(scores))]  # the plausible pairs, best first
            firsts, seconds = np.divmod(order, scores.shape[1])
            for ia, ib, score in zip(firsts.tolist(), seconds.tolist(), scores.ravel()[order].tolist(), strict=True):
                if ia in used_a or ib in used_b:
                    continue
                used_a.add(ia)
                used_b.add(ib)
                self._connect(people, totals, limb, ja, jb, ia, ib, score, a, b_scores)
        if not people:
            return np.zeros((0, 18, 2), np.float32), np.zeros((0, 18), np.float32)
        index = np.array(people)  # (N, 18)
        found = index >= 0
        count = found.sum(axis=1)
        # a stray limb or two is not a person (at least 3 keypoints, 0.2 a keypoint)
        keep = (count >= 3) & (np.array(totals) / np.maximum(count, 1) >= 0.2)
        every = np.concatenate(candidates)  # each keypoint's candidates after the previous one's
        first = np.cumsum([0] + [len(c) for c in candidates[:-1]])
        picked = np.where(found[..., None], every[np.where(found, first + index, 0)], np.float32(0))  # (N, 18, 3)
        return picked[keep, :, :2], picked[keep, :, 2]

    @staticmethod
    def _connect(people, totals, limb, ja, jb, ia, ib, score, a, b_scores) -> None:
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
                    totals[p] += b_scores[ib] + score
                return
        person = [-1] * 18
        person[ja], person[jb] = ia, ib
        people.append(person)
        totals.append(float(a[ia, 2] + np.float32(b_scores[ib])) + score)  # summed in float32, as the scores are


# --- Associative embedding: per-keypoint heatmaps and tags; a person's keypoints share a tag value
AE_JOINT_ORDER = (0, 1, 2, 3, 4, 5, 6, 11, 12, 7, 8, 9, 10, 13, 14, 15, 16)  # head and torso first


class AssociativeEmbeddingDecoder(BottomUpDecoder):
    """human-pose-estimation-0005/0006/0007 and higher-hrnet-w32-human-pose-estimation: `heatmaps`
    [1,17,H,W] (non-maxima may come negated) and `embeddings` [1,17,H,W(,1)]. Keypoints are matched to people
    joint by joint with an optimal assignment on tag distance; people's missing joints are then looked for
    where the tag matches theirs."""

    name = "ae"
    expects = "`heatmaps` [1,17,H,W] and `embeddings` [1,17,H,W,1]"
    stride = 32  # the input size must divide by this
    size_mode = "short"  # the default input keeps the model's shorter side
    pool_kernel = 5
    signed_heatmaps = True
    tag_threshold = 1.0
    max_people = 30

    @classmethod
    def fits(cls, model: ov.Model) -> bool:
        return {"heatmaps", "embeddings"} <= set().union(*(port_names(p) for p in model.outputs))

    def bind(self, model: ov.Model) -> None:
        heatmaps = find_port(model.outputs, ("heatmaps",), channels(NUM_KEYPOINTS))
        tags = find_port(model.outputs, ("embeddings",), channels(NUM_KEYPOINTS, rank=5))
        if heatmaps is None or tags is None or port_shape(heatmaps)[1:2] != [NUM_KEYPOINTS]:
            raise self.mismatch(model.outputs)
        self.heatmaps_port, self.heatmaps, self.tags = heatmaps, port_key(heatmaps), port_key(tags)
        self.stride = int(self.spec.params.get("size_divisor", self.stride))

    def decode(self, outputs: ModelOutputs, frame_size: tuple[int, int]) -> Detections:
        heatmaps = np.abs(outputs.array(self.heatmaps)[0])
        tags = outputs.array(self.tags)[0]
        if tags.ndim == 3:
            tags = tags[..., None]
        pooled = outputs.get(POOLED)
        with self.timer("peaks"):
            candidates = []
            for j, (xs, ys) in enumerate(_peaks(heatmaps, None if pooled is None else pooled[0], self.pool_kernel,
                                                self.peak_threshold)):
                values = heatmaps[j, ys, xs]
                best = np.argsort(-values, kind="stable")[: self.max_people]
                xs, ys = xs[best], ys[best]
                candidates.append((np.stack([xs, ys, values[best]], axis=1).astype(np.float32), tags[j, ys, xs]))
        with self.timer("grouping"):
            points, scores, person_tags = self.group(candidates)
        person = person_scores(scores)  # before filling in: what the network found by itself
        keep = person >= self.setup.threshold
        points, scores, person_tags, person = points[keep], scores[keep], person_tags[keep], person[keep]
        for p in range(len(points)):
            found = scores[p] > 0
            rx, ry = refine_peaks_each(heatmaps, points[p], found)
            points[p, found] = np.stack([rx, ry], axis=1)
            self.fill_missing(heatmaps, tags, points[p], scores[p], person_tags[p])
        return people(to_frame(points, heatmaps.shape[:0:-1], frame_size), scores, person)

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
class TopDownReader(Reader):
    """single-human-pose-estimation-0001, a second model on the detector's people: a crop [N,3,384,288] of one
    person in, `heatmaps` [N,17,48,36] out. Crops are the person boxes grown to the model's aspect ratio and by
    `box_scale`; each joint is the heatmap's maximum, refined to sub-pixel, mapped back through its crop, and
    scored 0 below `kp_threshold`. It is one of the pose model's kinds in DECODERS (`fits` tells it, --arch
    top-down names it), the one read on crops rather than on the frame."""

    name: ClassVar[str] = "top-down"  # (a ModelKind, as DECODERS' decoders are)
    role = "pose"
    expects: ClassVar[str] = "one image input [1,3,H,W] and `heatmaps` [1,17,h,w]"
    box_scale = 1.25

    def __init__(self, model: ResolvedModel, kp_threshold: float = 0.0, timer: StageTimer | None = None):
        super().__init__(model)
        self.kp_threshold = kp_threshold
        self.timer = timer or StageTimer()
        self.box_scale = float(self.params.get("box_scale", self.box_scale))

    @classmethod
    def fits(cls, model: ov.Model) -> bool:
        outputs = model.outputs
        if len(outputs) == 1:  # heatmaps smaller than the input, unlike a 17-class segmentation map
            shape, image = port_shape(outputs[0]), port_shape(model.input(0)) if len(model.inputs) == 1 else []
            if not (channels(NUM_KEYPOINTS)(shape) and len(image) == 4):
                return False
            map_height, input_height = shape[2], image[2]
            return map_height is not None and input_height is not None and map_height < input_height
        return find_port(outputs, ("heatmaps",)) is not None and find_port(outputs, ("embeddings",)) is None

    def bind(self, model: ov.Model) -> None:
        heatmaps = find_port(model.outputs, ("heatmaps",), channels(NUM_KEYPOINTS))
        if heatmaps is None or port_shape(heatmaps)[1:2] != [NUM_KEYPOINTS]:
            raise DemoError(f"the model's outputs do not fit the {self.name} decoder",
                            f"expected {self.expects}; the model has {describe_ports(model.outputs)}")
        image = port_shape(model.input(0)) if len(model.inputs) == 1 else []
        height, width = (image[2], image[3]) if len(image) == 4 else (None, None)
        if height is None or width is None:
            raise DemoError(f"the top-down pose model's input is {image or 'not one image'}",
                            "expected one image input of a fixed size [1,3,H,W]")
        self.heatmaps = port_key(heatmaps)
        self.input_size = (width, height)

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

    def regions(self, boxes: np.ndarray) -> np.ndarray:
        return self.crop_boxes(boxes)

    def keypoints(self, outputs: ModelOutputs, regions: np.ndarray) -> np.ndarray:
        """Keypoints (N, 17, 3: x, y in frame pixels, score) from the heatmaps (N, 17, h, w) of the crops cut
        at `regions` (crop_boxes)."""
        heatmaps = outputs.array(self.heatmaps)
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
        size = regions[:, 2:] - regions[:, :2]
        frame = regions[:, None, :2] + (points + 0.5) * (size[:, None, :] / np.array([w, h], np.float32)) - 0.5
        return np.concatenate([frame, np.maximum(scores, 0)[..., None]], axis=2).astype(np.float32)

    def apply(self, people: Detections, indices: np.ndarray, outputs: ModelOutputs) -> None:
        with self.timer("keypoints"):
            found = self.keypoints(outputs, self.crop_boxes(people.xyxy[indices]))
            found[..., 2] = np.where(found[..., 2] >= self.kp_threshold, found[..., 2], 0.0)
            people.data["keypoints"][indices] = found

    def defaults(self, people: Detections) -> None:
        """No keypoint shown until the pose model has answered (a person it does not run on has none)."""
        people.data.setdefault("keypoints", np.zeros((len(people), NUM_KEYPOINTS, 3), np.float32))


# --- Ultralytics YOLO pose: people boxed, their keypoints in the same row
class YoloPoseDecoder(Decoder):
    """YOLOv8/11-pose: `output0` [1, 4+1+17*3, anchors] (yolo_heads.py): a person's box and score, then each
    keypoint's x, y (input pixels) and visibility. One pass at the model's own size, the frame letterboxed."""

    name = "yolov8"
    expects = f"YOLOv8/11-pose output0 [1,{5 + NUM_KEYPOINTS * 3},anchors]"

    @classmethod
    def fits(cls, model: ov.Model) -> bool:
        port = yolo_heads.anchor_free_port(model)
        return port is not None and len(model.outputs) == 1 and port_shape(port)[1] == 5 + NUM_KEYPOINTS * 3

    def bind(self, model: ov.Model) -> None:
        port = yolo_heads.anchor_free_port(model)
        if port is None or port_shape(port)[1] != 5 + NUM_KEYPOINTS * 3:
            raise self.mismatch(model.outputs)
        self.key = port_key(port)
        self.size = yolo_heads.input_size_of(model)

    def decode(self, outputs: ModelOutputs, frame_size: tuple[int, int]) -> Detections:
        found = yolo_heads.anchor_free(outputs.array(self.key), 1, self.setup.threshold, self.spec.iou)
        letterbox = yolo_heads.Letterbox.of(frame_size, self.size)
        keypoints = found.rows[:, 5:].reshape(-1, NUM_KEYPOINTS, 3)
        return people(letterbox.points(keypoints[..., :2]), keypoints[..., 2], found.scores,
                      letterbox.boxes(found.boxes))


# the pose model's kinds, as `choose_decoder` tells them apart by `fits`: three main-model decoders, and the reader
# of a second model on a detector's people
DECODERS: dict[str, type[ModelKind]] = {
    cls.name: cls for cls in (OpenPoseDecoder, AssociativeEmbeddingDecoder, TopDownReader, YoloPoseDecoder)}
