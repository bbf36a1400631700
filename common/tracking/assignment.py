"""Optimal one-to-one matching (tracks to detections, faces to identities, keypoints to people).

scipy's `linear_sum_assignment` is the solver; importing scipy.optimize takes about half a second, so it is
imported on first use: a run that never matches anything (and every short command) does not pay for it.
"""

from __future__ import annotations

import numpy as np


def load_solver() -> None:
    """Import the solver now: a run that will match every frame (a tracker) pays for the import during set-up,
    not in its first frame (where it showed as half a millisecond a frame of a 2,000-frame run)."""
    import scipy.optimize  # noqa: F401


def linear_sum_assignment(cost: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Row and column indices of the assignment of least total cost (scipy.optimize.linear_sum_assignment)."""
    from scipy.optimize import linear_sum_assignment as solve

    return solve(cost)
