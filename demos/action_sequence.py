"""Clip-level action recognition from per-frame embeddings: the sliding window, the stride, softmax and
top-k, and the label smoothing, kept free of OpenVINO so they can be checked on known sequences."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

import numpy as np

from ovdemo.common.scores import as_probabilities


@dataclass
class WindowPrediction:
    """The top-k actions of one window of frames (first_frame..last_frame, source frame indices)."""

    first_frame: int
    last_frame: int
    ids: np.ndarray  # (k,) int32, best first
    scores: np.ndarray  # (k,) float32 probabilities


@dataclass
class ClipActions:
    """What one frame shows: the window predicted at this frame (if the decoder ran), the latest
    prediction, and the smoothed action label (None until one is established)."""

    names: tuple[str, ...]
    prediction: WindowPrediction | None
    latest: WindowPrediction | None
    label: int | None
    confidence: float  # the smoothed label's probability in the latest prediction
    buffered: int  # embeddings in the window so far
    window: int

    def name(self, label_id: int) -> str:
        return self.names[label_id] if 0 <= label_id < len(self.names) else f"#{label_id}"


def top_k(probs: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    ids = np.argsort(-probs, kind="stable")[:k]
    return ids.astype(np.int32), probs[ids].astype(np.float32)


class LabelSmoother:
    """Keeps a label until the last K predictions agree on another one (K=1: always the latest)."""

    def __init__(self, k: int):
        self.recent: deque[int] = deque(maxlen=k)
        self.label: int | None = None

    def update(self, label: int) -> int | None:
        self.recent.append(label)
        if len(self.recent) == self.recent.maxlen and all(x == label for x in self.recent):
            self.label = label
        return self.label


class SlidingWindow:
    """The last `size` per-frame vectors and their frame indices; `due` says when the window is full and
    `stride` frames have passed since it was last read (the first reading comes as soon as it is full)."""

    def __init__(self, size: int, stride: int):
        self.size, self.stride = size, stride
        self.vectors: deque[np.ndarray] = deque(maxlen=size)
        self.frames: deque[int] = deque(maxlen=size)
        self._since_full = -1

    def push(self, frame_index: int, vector: np.ndarray) -> bool:
        """Add one frame's vector; True when the window should be read now."""
        self.vectors.append(vector)
        self.frames.append(frame_index)
        if len(self.vectors) < self.size:
            return False
        self._since_full += 1
        return self._since_full % self.stride == 0

    def stacked(self) -> np.ndarray:
        return np.stack(self.vectors)

    @property
    def span(self) -> tuple[int, int]:
        return self.frames[0], self.frames[-1]


class ClipClassifier:
    """Per-frame vectors in, ClipActions out: `classify` maps a full window (T, D) to class scores (the
    decoder model, or a mean over time), then softmax, top-k and smoothing."""

    def __init__(self, names: tuple[str, ...], window: int, stride: int, k: int, smooth: int, classify):
        self.names, self.k, self.classify = names, k, classify
        self.window = SlidingWindow(window, stride)
        self.smoother = LabelSmoother(smooth)
        self.latest: WindowPrediction | None = None
        self.latest_probs: np.ndarray | None = None

    def push(self, frame_index: int, vector: np.ndarray) -> ClipActions:
        prediction = None
        if self.window.push(frame_index, vector):
            probs = as_probabilities(self.classify(self.window.stacked()).astype(np.float64).ravel(), atol=1e-3)
            ids, scores = top_k(probs, self.k)
            prediction = WindowPrediction(*self.window.span, ids, scores)
            self.latest, self.latest_probs = prediction, probs
            self.smoother.update(int(ids[0]))
        return self.current(prediction)

    def current(self, prediction: WindowPrediction | None = None) -> ClipActions:
        """What a frame shows; without a prediction of its own (e.g. a frame left out of the window), the
        latest one and the smoothed label stand."""
        label = self.smoother.label
        confidence = float(self.latest_probs[label]) if label is not None else 0.0
        return ClipActions(self.names, prediction, self.latest, label, confidence, len(self.window.vectors),
                           self.window.size)
