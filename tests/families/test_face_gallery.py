"""`ovdemo face --gallery --enroll` on real footage: people keep the identity they were enrolled with."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from conftest import model_path
from helpers import iou, read_jsonl, read_video, run_ovdemo

from ovdemo.demos.face.gallery import Gallery, face_note

# preview-face-demographics-walking-and-pause.gif (480x270, 41 frames): a woman, a man and a woman walk up and
# stop. The man's face is about x 199..256, y 66..140 from frame 1 on; it is hidden on frames 11-19.
MAN = (185, 50, 270, 155)
HIDDEN = range(11, 20)


def centre_in(box, area) -> bool:
    x, y = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
    return area[0] <= x <= area[2] and area[1] <= y <= area[3]


def direction(degrees: float) -> np.ndarray:
    return np.array([np.cos(np.radians(degrees)), np.sin(np.radians(degrees))])


def test_learned_views_extend_an_identity_and_the_oldest_gives_way(tmp_path):
    gallery = Gallery(tmp_path)
    gallery.add("ann", direction(0))  # her photo
    gallery.add("bob", direction(180))
    assert gallery.match(direction(80)[None], 0.6).identities == ["Unknown"]
    for degrees in (30, 60):  # ann turning her head, seen frame by frame
        gallery.learn("ann", direction(degrees), limit=2)
    assert gallery.match(direction(80)[None], 0.6).identities == ["ann"]
    gallery.learn("ann", direction(-60), limit=2)  # a third view: the oldest learned one (30) goes, not the photo
    assert [round(np.degrees(np.arctan2(y, x))) for (x, y), owner in zip(gallery.embeddings, gallery.names,
                                                                         strict=True) if owner == "ann"] == [0, 60, -60]
    assert gallery.learned == [False, False, True, True]


@pytest.mark.slow  # real video end to end: `make quick` leaves it out
def test_a_face_hidden_for_a_moment_keeps_its_enrolled_identity(models_dir, videos_dir, tmp_path):
    for name in ("face-detection-retail-0004", "landmarks-regression-retail-0009",
                 "face-reidentification-retail-0095"):
        model_path(models_dir, name)
    frames = tmp_path / "frames"
    frames.mkdir()
    for index, frame in enumerate(read_video(videos_dir / "preview-face-demographics-walking-and-pause.gif")):
        if index in HIDDEN:
            cv2.rectangle(frame, MAN[:2], MAN[2:], (128, 128, 128), cv2.FILLED)
        cv2.imwrite(str(frames / f"{index:03d}.png"), frame)
    gallery = tmp_path / "gallery"
    result = run_ovdemo("face", "-i", frames, "--gallery", gallery, "--enroll", "--json", tmp_path / "f.jsonl",
                        "--no-show", env={"OVDEMO_MODELS_DIR": str(models_dir)})
    assert result.returncode == 0, result.stderr
    records = read_jsonl(tmp_path / "f.jsonl")
    assert len(records) == 41
    seen = {r["frame"]: [f["identity"]["name"] for f in r["objects"] if centre_in(f["bbox"], MAN)]
            for r in records}
    assert not any(seen[i] for i in HIDDEN)
    before = [names for i, names in seen.items() if i < HIDDEN.start and names and names != ["Unknown"]]
    after = [names for i, names in seen.items() if i >= HIDDEN.stop and names]
    assert len(before) >= 5 and len(after) >= 15, seen
    (enrolled,) = before[0]
    assert all(names == [enrolled] for names in before + after), seen
    # one photo per person: nobody was enrolled twice
    assert len(list(gallery.glob("unknown-*.jpg"))) == 3, sorted(p.name for p in gallery.iterdir())


@pytest.mark.slow  # real video end to end: `make quick` leaves it out
def test_enrol_rename_and_run_again_recognises_the_renamed_person(models_dir, videos_dir, tmp_path):
    """The gallery's own workflow: enrol the unknown faces, give one a name by renaming its photo, run again
    (without --enroll: nothing is learned in memory) and that person is recognised by the new name."""
    gif = videos_dir / "preview-face-demographics-walking-and-pause.gif"
    env, gallery = {"OVDEMO_MODELS_DIR": str(models_dir)}, tmp_path / "faces"
    first = run_ovdemo("face", "-i", gif, "--gallery", gallery, "--enroll", "--json", tmp_path / "1.jsonl",
                       "--no-show", env=env)
    assert first.returncode == 0, first.stderr
    enrolled_as = {r["frame"]: r["objects"] for r in read_jsonl(tmp_path / "1.jsonl")}
    assert sorted(p.name for p in gallery.iterdir()) == ["unknown-1.jpg", "unknown-2.jpg", "unknown-3.jpg"]
    (gallery / "unknown-1.jpg").rename(gallery / "alice-1.jpg")
    second = run_ovdemo("face", "-i", gif, "--gallery", gallery, "--json", tmp_path / "2.jsonl", "--no-show", env=env)
    assert second.returncode == 0, second.stderr
    records = read_jsonl(tmp_path / "2.jsonl")
    named = [f["identity"]["name"] for r in records for f in r["objects"]]
    assert named.count("alice") >= 10, named
    assert "unknown-1" not in named
    # alice is the face that was unknown-1 (or not yet enrolled) in the first run: the same face on each frame
    for record in records:
        for face in record["objects"]:
            if face["identity"]["name"] == "alice":
                before = max(enrolled_as[record["frame"]], key=lambda f: iou(f["bbox"], face["bbox"]))  # noqa: B023
                assert before["identity"]["name"] in ("unknown-1", "Unknown"), (record["frame"], before)


def test_an_enrolled_photo_carries_its_face_through_a_rename(tmp_path):
    gallery = Gallery(tmp_path)
    box, points = np.array([10, 12, 40, 50], np.float32), np.arange(10, dtype=np.float32).reshape(5, 2) + 15
    name = gallery.enroll(np.full((64, 64, 3), 120, np.uint8), np.ones(4), box, points)
    photo = tmp_path / f"{name}.jpg"
    renamed = photo.rename(tmp_path / "bob-1.jpg")
    data = renamed.read_bytes()
    assert cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR).shape == (64, 64, 3)  # still a JPEG
    note = face_note(data)
    assert note is not None
    np.testing.assert_allclose(note[0], box)
    np.testing.assert_allclose(note[1], points)
    ok, plain = cv2.imencode(".jpg", np.zeros((8, 8, 3), np.uint8))
    assert face_note(plain.tobytes()) is None  # anyone else's photo: the detector finds its face
