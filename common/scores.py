"""Turning model outputs into probabilities, once for every family."""

from __future__ import annotations

import numpy as np


def softmax(x: np.ndarray, axis: int = -1) -> np.ndarray:
    e = np.exp(x - x.max(axis=axis, keepdims=True))  # shifted: no overflow on large logits
    return e / e.sum(axis=axis, keepdims=True)


def sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def as_probabilities(scores: np.ndarray, axis: int = -1, atol: float = 1e-2) -> np.ndarray:
    """Class scores along `axis` as probabilities: models differ, some end in a softmax, some give logits."""
    if scores.min() >= 0 and np.allclose(scores.sum(axis=axis), 1.0, atol=atol):
        return scores
    return softmax(scores, axis=axis)
