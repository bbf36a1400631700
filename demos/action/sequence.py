"""What the ways of running action models share, kept free of OpenVINO so it can be checked on known
sequences: the centre crop, the sliding window with its stride, softmax and top-k, and the label smoothing. A
clip-level answer is a `common.results.Classification`."""

from __future__ import annotations

from collections import deque

import numpy as np

from ovdemo.common.results import Classification
from ovdemo.common.scores import as_probabilities


def top_k(probs: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    ids = np.argsort(-probs, kind="stable")[:k]
    return ids.astype(np.int32), probs[ids].astype(np.float32)


def centre_crop(frame_size: tuple[int, int], input_size: tuple[int, int],
                fraction: float = 1.0) -> tuple[int, int, int, int]:
    """The largest centred region of the frame with the model input's aspect ratio: what an adaptive
    resize (shorter side to the input) followed by a centre crop keeps, as the encoders were trained.
    `fraction` keeps that share of it: 0.875 for a short side resized to 256 and the centre 224 kept."""
    (fw, fh), (iw, ih) = frame_size, input_size
    if fw * ih > fh * iw:  # frame wider than the input
        cw, ch = max(1, round(fh * iw / ih)), fh
    else:
        cw, ch = fw, max(1, round(fw * ih / iw))
    if fraction != 1.0:
        cw, ch = max(1, round(cw * fraction)), max(1, round(ch * fraction))
    x1, y1 = round((fw - cw) / 2), round((fh - ch) / 2)
    return x1, y1, x1 + cw, y1 + ch


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
    """The last `size` per-frame vectors and their frame indices; `push` says when the window is full and
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
    """Per-frame vectors in, a `Classification` per frame out.

    The window fills as frames are decoded: `push` returns the stacked window (T, D) when a prediction is due.
    The window's class scores (a decoder model, a clip model, or a mean over time) come back later, in frame
    order, to `classification`, where softmax, top-k and smoothing run; a frame without a prediction of its
    own shows the latest window and the smoothed label."""

    def __init__(self, names: tuple[str, ...], window: int, stride: int, k: int, smooth: int):
        self.names, self.k = names, k
        self.window = SlidingWindow(window, stride)
        self.smoother = LabelSmoother(smooth)
        self.latest: tuple[np.ndarray, np.ndarray, tuple[int, int]] | None = None  # top ids, scores, frames
        self.latest_probs: np.ndarray | None = None
        self._pushed: dict[int, tuple[tuple[int, int] | None, int]] = {}  # frame -> its window's span, fill

    def push(self, frame_index: int, vector: np.ndarray) -> np.ndarray | None:
        due = self.window.push(frame_index, vector)
        self._pushed[frame_index] = (self.window.span if due else None, len(self.window.vectors))
        return self.window.stacked() if due else None

    def classification(self, frame_index: int, scores: np.ndarray | None = None) -> Classification:
        """What frame `frame_index` shows, given the class scores of the window `push` gave for it (None: no
        prediction on this frame). Call in frame order."""
        span, buffered = self._pushed.pop(frame_index, (None, len(self.window.vectors)))
        if scores is not None:
            probs = as_probabilities(np.asarray(scores).astype(np.float64).ravel(), atol=1e-3)
            ids, top = top_k(probs, self.k)
            self.latest, self.latest_probs = (ids, top, span), probs
            self.smoother.update(int(ids[0]))
        label = self.smoother.label
        confidence = float(self.latest_probs[label]) if label is not None else 0.0
        ids, top, window = self.latest if self.latest is not None else (None, None, None)
        return Classification(self.names, label, confidence, ids, top, window, scores is not None,
                              buffered=buffered, window_size=self.window.size)
