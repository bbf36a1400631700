"""One per-frame processor: `ovdemo.load(...)(image)` called on successive frames gives what the pipeline
(`Predictor.stream`) gives on the same frames, with --infer-every 3, with tracking, and with a second stage.

Both run at f32 (`infer_precision="f32"`): the pipeline's requests and the API's one request then agree on
every CPU, bf16 ones included, so any difference left is the per-frame sequence's."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import model_path

import ovdemo
from ovdemo.common.results import Result

EVERY = 3
FRAMES = 30


def streamed_and_called(model: str, source, **options) -> tuple[list[Result], list[Result]]:
    """The pipeline's results on the first FRAMES frames of `source`, and a fresh predictor's, called on the
    very images the pipeline read, one after the other."""
    streamed = ovdemo.load(model, offline=True, infer_precision="f32", infer_every=EVERY, **options)
    images, piped = [], []
    for image, result in streamed.stream(source, max_frames=FRAMES):
        images.append(image)
        piped.append(result)
    streamed.close()
    assert len(piped) == FRAMES
    with ovdemo.load(model, offline=True, infer_precision="f32", infer_every=EVERY, **options) as called:
        return piped, [called(image) for image in images]


def assert_same_frames(piped: list[Result], called: list[Result], tracked: bool) -> None:
    for k, (p, c) in enumerate(zip(piped, called, strict=True)):
        # the model sees frames 0, 3, 6, ... in both; the others carry its last result over (or are predicted)
        assert p.inferred == c.inferred == (k % EVERY == 0), (k, p.inferred, c.inferred)
        assert len(p.objects) == len(c.objects), (k, len(p.objects), len(c.objects))
        np.testing.assert_allclose(c.objects.xyxy, p.objects.xyxy, atol=1.0, err_msg=f"frame {k}")
        assert list(c.objects.labels) == list(p.objects.labels), k
        if tracked:
            assert list(c.objects.tracker_id) == list(p.objects.tracker_id), k


def moved(results: list[Result]) -> bool:
    """Whether the objects' boxes change from one inferred frame to the next: carrying a result over (or
    predicting it) then differs from inferring the frame, and the comparison means something."""
    inferred = [r.objects.xyxy for r in results if r.inferred]
    return any(a.shape != b.shape or np.abs(a - b).max() > 2.0 for a, b in zip(inferred, inferred[1:], strict=False))


@pytest.mark.slow
@pytest.mark.parametrize("track", [False, True], ids=["carried", "tracked"])
def test_the_api_and_the_pipeline_agree_frame_by_frame_with_infer_every(track, models_dir, videos_dir,
                                                                         monkeypatch):
    """person-detection-0202 on preview-store-aisle-detection.gif, --infer-every 3: per frame, the same objects
    (count, boxes within 1 px, labels, and with tracking the same ids)."""
    model_path(models_dir, "person-detection-0202")
    monkeypatch.setenv("OVDEMO_MODELS_DIR", str(models_dir))
    piped, called = streamed_and_called("person-detection-0202", videos_dir / "preview-store-aisle-detection.gif",
                                        track=track, min_hits=1)
    assert sum(len(r.objects) for r in piped) > FRAMES, "people are in these frames"
    assert moved(piped)
    assert_same_frames(piped, called, track)
    if not track:  # a skipped frame shows its last inferred frame's objects
        for k in range(FRAMES):
            np.testing.assert_array_equal(called[k].objects.xyxy, called[k - k % EVERY].objects.xyxy)
    else:  # a skipped frame's boxes are the tracker's predictions, its ids the tracks'
        assert all(r.objects.tracker_id is not None for r in called)
        assert any(len(called[k].objects) and not called[k].inferred for k in range(FRAMES))


@pytest.mark.slow
def test_a_second_stage_agrees_too(models_dir, videos_dir, monkeypatch):
    """face-detection-retail-0004 with its landmarks and head pose, tracked, --infer-every 3: the per-face
    answers of every frame the model saw agree as well."""
    for name in ("face-detection-retail-0004", "landmarks-regression-retail-0009", "head-pose-estimation-adas-0001"):
        model_path(models_dir, name)
    monkeypatch.setenv("OVDEMO_MODELS_DIR", str(models_dir))
    piped, called = streamed_and_called("face-detection-retail-0004", videos_dir /
                                        "preview-face-demographics-walking-and-pause.gif", family="face",
                                        head_pose=True, track=True, min_hits=1)
    assert sum(len(r.objects) for r in piped if r.inferred) > FRAMES // EVERY, "faces are in these frames"
    assert_same_frames(piped, called, tracked=True)
    for k, (p, c) in enumerate(zip(piped, called, strict=True)):
        if not (p.inferred and len(p.objects)):
            continue
        np.testing.assert_allclose(c.objects.data["landmarks"], p.objects.data["landmarks"], atol=1.0,
                                   err_msg=f"frame {k}")
        for a, b in zip(c.objects.data["head_pose"], p.objects.data["head_pose"], strict=True):
            assert a == pytest.approx(b, abs=0.5), k  # degrees
