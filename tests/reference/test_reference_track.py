"""`ovdemo track`'s appearance embeddings on real frames against the plain re-identification models: each
person's box cut from the frame in whole pixels, resized by OpenCV to the model's 128x256 and given to the
unchanged model at batch 1 (in f32, and at the CPU's default precision: see reference.py; Open Model Zoo's person
re-identification IRs take the BGR 0..255 crop). The boxes are ovdemo's (the detector has its own reference
test). At the default precision an embedding may turn from the reference's by twice the reference's own turn
from its f32 self on the same crop."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import model_path
from reference import PRECISIONS, cosine, cut, infer, input_size, nchw, ovdemo_precision, plain_model, video_frames

import ovdemo

pytestmark = pytest.mark.slow  # real video end to end: `make quick` leaves it out

# track's default model on three frames, the others on two (each run costs a detector pass per frame)
REID_MODELS = {"person-reidentification-retail-0277": 3, "person-reidentification-retail-0286": 2,
               "person-reidentification-retail-0287": 2, "person-reidentification-retail-0288": 2,
               "person-reidentification-retail-0249": 2}
# several people, near and far, some at the frame's edge: one frame of each video first
FRAMES = [("people-detection.264", 390), ("preview-store-aisle-detection.gif", 50), ("people-detection.264", 200)]
MIN_COSINE = 0.9999  # the same f32 model on the same pixels: only the order of float sums differs


@pytest.fixture(scope="module")
def frames(videos_dir) -> list[np.ndarray]:
    read = {video: video_frames(videos_dir / video, [i for v, i in FRAMES if v == video]) for video, _ in FRAMES}
    return [read[video][index] for video, index in FRAMES]


@pytest.mark.parametrize("precision", PRECISIONS)
@pytest.mark.parametrize("name", REID_MODELS)
def test_person_embeddings_equal_the_plain_model(name, precision, frames, models_dir, monkeypatch):
    reid, exact = plain_model(model_path(models_dir, name), precision), plain_model(model_path(models_dir, name))
    monkeypatch.setenv("OVDEMO_MODELS_DIR", str(models_dir))
    predictor = ovdemo.load("person-detection-0202", family="track", reid_model=name, offline=True,
                            infer_precision=ovdemo_precision(precision))
    compared = 0
    for frame in frames[:REID_MODELS[name]]:
        people = predictor(frame).objects
        for i, state in enumerate(people.data["track_state"]):
            if state == "predicted":  # a track the detector missed here carries an earlier frame's embedding
                continue
            box = np.round(people.xyxy[i])
            crop = nchw(cut(frame, box), input_size(reid))
            want = next(iter(infer(reid, crop).values())).ravel()
            f32 = want if precision == "f32" else next(iter(infer(exact, crop).values())).ravel()
            min_cosine = MIN_COSINE - 2 * (1 - cosine(want, f32))
            assert cosine(people.data["embedding"][i], want) >= min_cosine, (name, box.tolist())
            compared += 1
    predictor.close()
    assert compared >= 2 * REID_MODELS[name], compared
