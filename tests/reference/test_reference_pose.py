"""`ovdemo pose`'s skeletons on real frames against the plain model: human-pose-estimation-0001 at batch 1 in
f32 on frames showing one person alone, so that grouping is unambiguous and each keypoint is its heatmap's
highest peak. The reference finds that peak to a sixteenth of a cell on the heatmap upsampled by bicubic
interpolation (as Open Model Zoo's C++ OpenPose decoder upsamples before its peak search), and maps heatmap
cell centres to the frame (cell x covers input pixels 8x .. 8x+7 of the frame stretched to the network).

The model is INT8: inputs a hundredth of a level apart (two exact float resizes summing in another order)
move its heatmaps by up to 0.03, and so do the CPU's kernels for throughput streams against one latency
stream. The reference gives it the frame resized as ovdemo's graph resizes it (reference.bilinear_resized, the
same taps and weights) and ovdemo runs it on one latency stream, as the plain model runs: scores are then
equal, and positions differ by how each finds a peak between cells (ovdemo fits a Gaussian); weak, flat peaks
are given half a cell. At the CPU's default precision (reference.py) the reference is the plain model at that
precision, and scores and positions may move by twice the larger of the reference's own distance from its f32
self and from itself on its input rounded to that precision: ovdemo's graph blends the taps and quantizes the
result in one step that computes in it, where the plain model quantizes its float input."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from conftest import model_path
from reference import (
    PRECISIONS,
    bilinear_resized,
    in_default_precision,
    infer,
    input_size,
    noise,
    ovdemo_precision,
    plain_model,
    video_frames,
)

import ovdemo

pytestmark = pytest.mark.slow  # real video end to end: `make quick` leaves it out

# one person alone, whole, at 768x432 and 480x270 (16:9: the network keeps its own 456x256)
FRAMES = [("one-by-one-person-detection.mp4", (100, 300)), ("preview-worker-zone-detection.gif", (25, 50))]
# the heatmap channels of human-pose-estimation-0001 (OpenPose's 18 keypoints; 18 is the background)
OPENPOSE = ("nose", "neck", "right_shoulder", "right_elbow", "right_wrist", "left_shoulder", "left_elbow",
            "left_wrist", "right_hip", "right_knee", "right_ankle", "left_hip", "left_knee", "left_ankle",
            "right_eye", "left_eye", "right_ear", "left_ear")
COCO = ("nose", "left_eye", "right_eye", "left_ear", "right_ear", "left_shoulder", "right_shoulder", "left_elbow",
        "right_elbow", "left_wrist", "right_wrist", "left_hip", "right_hip", "left_knee", "right_knee",
        "left_ankle", "right_ankle")
UPSAMPLE = 16
CLEAR, ABSENT = 0.3, 0.05  # peaks at least this high must be found; this low must not (ovdemo keeps >= 0.1)
CLEAR_CELLS, WEAK_CELLS = 0.2, 0.5  # how far from the reference peak, in heatmap cells (measured: 0.12, 0.12)
SCORE = 1e-4  # the same heatmap value


def reference_keypoints(compiled, frame: np.ndarray, rounded: bool = False) -> np.ndarray:
    """(17, 3) x, y in frame pixels and the peak's height, per COCO keypoint. `rounded`: the input rounded to
    the CPU's default precision."""
    x = bilinear_resized(frame, input_size(compiled))
    heatmaps = infer(compiled, in_default_precision(x) if rounded else x)["Mconv7_stage2_L2"][0]
    cells_h, cells_w = heatmaps.shape[1:]
    fh, fw = frame.shape[:2]
    found = []
    for name in COCO:
        heatmap = heatmaps[OPENPOSE.index(name)]
        fine = cv2.resize(heatmap, (cells_w * UPSAMPLE, cells_h * UPSAMPLE), interpolation=cv2.INTER_CUBIC)
        y, x = np.unravel_index(fine.argmax(), fine.shape)
        cell_x, cell_y = (x + 0.5) / UPSAMPLE - 0.5, (y + 0.5) / UPSAMPLE - 0.5  # cell centres at whole numbers
        found.append(((cell_x + 0.5) * fw / cells_w - 0.5, (cell_y + 0.5) * fh / cells_h - 0.5, heatmap.max()))
    return np.array(found)


@pytest.mark.parametrize("precision", PRECISIONS)
def test_one_person_keypoints_are_the_heatmap_peaks(precision, models_dir, videos_dir, monkeypatch):
    path = model_path(models_dir, "human-pose-estimation-0001", "FP16-INT8")
    compiled, exact = plain_model(path, precision), plain_model(path)
    monkeypatch.setenv("OVDEMO_MODELS_DIR", str(models_dir))
    predictor = ovdemo.load("human-pose-estimation-0001", offline=True, infer_precision=ovdemo_precision(precision),
                            hint="latency")
    clear = 0
    for video, indices in FRAMES:
        for index, frame in video_frames(videos_dir / video, indices).items():
            people = predictor(frame).objects
            assert len(people) == 1, (video, index, len(people))
            got, want = people.data["keypoints"][0], reference_keypoints(compiled, frame)
            cell = frame.shape[1] / (input_size(compiled)[0] / 8)
            moved = np.zeros_like(want)  # in the f32 run
            if precision != "f32":
                f32, rounded = reference_keypoints(exact, frame), reference_keypoints(compiled, frame, rounded=True)
                moved = 2 * np.maximum(noise(want, f32), noise(want, rounded))
            moved_cells = np.hypot(moved[:, 0], moved[:, 1]) / cell
            for name, (x, y, score), (rx, ry, peak), slack, slack_cells in zip(COCO, got, want, moved[:, 2],
                                                                               moved_cells, strict=True):
                where = (video, index, name, round(float(peak), 3))
                if peak >= CLEAR + slack:
                    clear += 1
                    assert score > 0, where  # grouped into the one person, not left out
                if peak < ABSENT - slack:
                    assert score == 0, where
                if score == 0:
                    continue
                assert abs(score - peak) <= SCORE + slack, (where, score)
                off = np.hypot(x - rx, y - ry) / cell
                within = (CLEAR_CELLS if peak >= CLEAR else WEAK_CELLS) + slack_cells
                assert off <= within, (where, round(float(off), 2))
    predictor.close()
    assert clear >= 40, clear  # most of each body is clearly seen
