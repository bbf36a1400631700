"""The face gallery of `ovdemo face`: alignment to 5 landmarks, named embeddings, matching and enrolment."""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from ovdemo.common.errors import DemoError
from ovdemo.common.tracking.assignment import linear_sum_assignment

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp")
UNKNOWN = "Unknown"
ENROLLED_PREFIX = "unknown"

# Where face-reidentification-retail-0095 wants the eyes, nose tip and mouth corners, as fractions of its
# input (the model's documentation gives them in a 96x112 face).
REFERENCE_POINTS = np.array([(30.2946, 51.6963), (65.5318, 51.5014), (48.0252, 71.7366),
                             (33.5493, 92.3655), (62.7299, 92.2041)], np.float64) / (96.0, 112.0)


def five_points(landmarks: np.ndarray) -> np.ndarray:
    """(N, 5, 2) eye centres, nose tip and mouth corners from 5-point or 35-point landmarks (N, K, 2).
    In facial-landmarks-35-adas-0002, p0-p1 and p2-p3 are the eye corners, p4 the nose tip, p8-p9 the mouth."""
    if landmarks.shape[1] == 5:
        return landmarks
    if landmarks.shape[1] == 35:
        eyes = [landmarks[:, 0:2].mean(axis=1), landmarks[:, 2:4].mean(axis=1)]
        return np.stack([*eyes, landmarks[:, 4], landmarks[:, 8], landmarks[:, 9]], axis=1)
    raise ValueError(f"cannot align on {landmarks.shape[1]} landmarks")


def similarity_transform(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """The 2x3 rotation + uniform scale + translation that best maps points `src` onto `dst` in the
    least-squares sense (Umeyama's method): a face is aligned without being sheared."""
    src_mean, dst_mean = src.mean(axis=0), dst.mean(axis=0)
    src_c, dst_c = src - src_mean, dst - dst_mean
    u, s, vt = np.linalg.svd(dst_c.T @ src_c / len(src))
    d = np.diag([1.0, np.sign(np.linalg.det(u) * np.linalg.det(vt))])
    rotation = u @ d @ vt
    scale = np.trace(np.diag(s) @ d) / max(src_c.var(axis=0).sum(), 1e-12)
    matrix = np.empty((2, 3))
    matrix[:, :2] = scale * rotation
    matrix[:, 2] = dst_mean - matrix[:, :2] @ src_mean
    return matrix


def align(image: np.ndarray, points: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Every face warped so its 5 points (N, 5, 2) land on the reference points: a (N, h, w, 3) batch."""
    target = REFERENCE_POINTS * np.asarray(size, np.float64)
    return np.stack([cv2.warpAffine(image, similarity_transform(p.astype(np.float64), target), tuple(size),
                                    flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT) for p in points])


# An enrolled photo carries where its face is: the box and the 5 points, in its own pixels, in a JPEG comment.
# A face detector does not always find a face again in a photo cut that close (2 of 3 faces enrolled from a
# 480x270 GIF), and a face aligned on other points gives another embedding; the note survives renaming the file.
PHOTO_NOTE = b"ovdemo face "
_COMMENT = b"\xff\xfe"


def with_face_note(jpeg: bytes, box: np.ndarray, points: np.ndarray) -> bytes:
    """The JPEG with a comment segment after its start marker: `ovdemo face ` and the box and points as JSON."""
    note = PHOTO_NOTE + json.dumps({"box": np.round(box, 2).tolist(), "points": np.round(points, 2).tolist()},
                                   separators=(",", ":")).encode()
    if jpeg[:2] != b"\xff\xd8" or len(note) + 2 > 0xFFFF:
        return jpeg
    return jpeg[:2] + _COMMENT + (len(note) + 2).to_bytes(2, "big") + note + jpeg[2:]


def face_note(data: bytes) -> tuple[np.ndarray, np.ndarray] | None:
    """(box (4,), points (5, 2)) from a photo ovdemo enrolled, read from the JPEG segments before the image
    data; None for any other photo (or a note that does not parse)."""
    if data[:2] != b"\xff\xd8":
        return None
    at = 2
    while at + 4 <= len(data) and data[at] == 0xFF and data[at + 1] not in (0xDA, 0xD9):
        length = int.from_bytes(data[at + 2:at + 4], "big")
        body = data[at + 4:at + 2 + length]
        if data[at:at + 2] == _COMMENT and body.startswith(PHOTO_NOTE):
            try:
                note = json.loads(body[len(PHOTO_NOTE):])
                box, points = np.asarray(note["box"], np.float32), np.asarray(note["points"], np.float32)
            except (ValueError, KeyError, TypeError):
                return None
            return (box, points) if box.shape == (4,) and points.shape == (5, 2) else None
        at += 2 + length
    return None


MAX_DISTANCE = 2.0  # the cosine distance of opposite embeddings


def cosine_distances(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """1 - cosine similarity between rows (the scale of --reid-threshold): 0 for the same direction, 1 for
    orthogonal ones, 2 for opposite ones."""
    a = a / np.maximum(np.linalg.norm(a, axis=1, keepdims=True), 1e-12)
    b = b / np.maximum(np.linalg.norm(b, axis=1, keepdims=True), 1e-12)
    return np.clip(1.0 - a @ b.T, 0.0, MAX_DISTANCE)


def identity_of(path: Path, folder: Path) -> str:
    """`<name>/<file>.jpg` -> name; `<name>-<n>.jpg` -> name; `unknown-<k>.jpg` (what --enroll writes) stays
    an identity of its own until the user renames it."""
    if path.parent != folder:
        return path.parent.name
    stem = path.stem
    match = re.fullmatch(r"(.+?)-\d+", stem)
    if match and match.group(1).lower() != ENROLLED_PREFIX:
        return match.group(1)
    return stem


def gallery_photos(folder: Path) -> list[tuple[str, Path]]:
    """(identity, path) of every photo in the folder and its direct subfolders, in a stable order."""
    paths = [p for p in folder.iterdir() if p.is_file()]
    for sub in sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith(".")):
        paths += [p for p in sub.iterdir() if p.is_file()]
    photos = [p for p in paths if p.suffix.lower() in IMAGE_SUFFIXES and not p.name.startswith(".")]
    return [(identity_of(p, folder), p) for p in sorted(photos)]


@dataclass
class Match:
    identities: list[str]  # per face: a gallery name or UNKNOWN
    distances: np.ndarray  # per face: cosine distance to the identity given, or to the nearest one when Unknown


@dataclass
class Gallery:
    folder: Path
    names: list[str] = field(default_factory=list)  # identity of each embedding row
    embeddings: np.ndarray | None = None
    learned: list[bool] = field(default_factory=list)  # per row: a view seen in the video (see `learn`), not a photo

    def add(self, name: str, embedding: np.ndarray, learned: bool = False) -> None:
        row = embedding.reshape(1, -1).astype(np.float32)
        self.embeddings = row if self.embeddings is None else np.concatenate([self.embeddings, row])
        self.names.append(name)
        self.learned.append(learned)

    def learn(self, name: str, embedding: np.ndarray, limit: int) -> None:
        """Keep a new view of identity `name`, seen in the video, in memory: a person enrolled from one frame
        (or known from one photo) is then recognised from the angles seen since, e.g. after turning away or
        being hidden for a moment. Past `limit` views of a person, the oldest learned one gives way."""
        rows = [i for i, (owner, seen) in enumerate(zip(self.names, self.learned, strict=True))
                if owner == name and seen]
        if len(rows) >= limit:
            del self.names[rows[0]], self.learned[rows[0]]
            self.embeddings = np.delete(self.embeddings, rows[0], axis=0)
        self.add(name, embedding, learned=True)

    @property
    def identities(self) -> list[str]:
        return list(dict.fromkeys(self.names))

    def match(self, embeddings: np.ndarray, threshold: float) -> Match:
        """Each face gets the identity of its nearest photo's person, solved jointly so that no two faces of
        a frame share an identity; a face farther than `threshold` (cosine distance, 0..2) from its assigned
        identity is Unknown."""
        n = len(embeddings)
        if n == 0 or self.embeddings is None:
            return Match([UNKNOWN] * n, np.full(n, MAX_DISTANCE, np.float32))
        identities = self.identities
        photo = cosine_distances(embeddings, self.embeddings)
        owner = np.array([identities.index(name) for name in self.names])
        per_identity = np.stack([photo[:, owner == k].min(axis=1) for k in range(len(identities))], axis=1)
        names, distances = [UNKNOWN] * n, per_identity.min(axis=1)
        for face, k in zip(*linear_sum_assignment(per_identity), strict=True):
            distances[face] = per_identity[face, k]
            if per_identity[face, k] <= threshold:
                names[face] = identities[k]
        return Match(names, distances.astype(np.float32))

    def enroll(self, face_image: np.ndarray, embedding: np.ndarray, box: np.ndarray, points: np.ndarray) -> str:
        """Save an unknown face as unknown-<k>.jpg (written whole or not at all), with its box and 5 points in the
        photo's pixels as a note (see `face_note`), and add it to the gallery."""
        taken = {int(m.group(1)) for p in self.folder.iterdir()
                 if (m := re.fullmatch(rf"{ENROLLED_PREFIX}-(\d+)", p.stem))}
        taken |= {int(n.split("-")[1]) for n in self.names if re.fullmatch(rf"{ENROLLED_PREFIX}-\d+", n)}
        name = f"{ENROLLED_PREFIX}-{max(taken, default=0) + 1}"
        ok, encoded = cv2.imencode(".jpg", face_image, [cv2.IMWRITE_JPEG_QUALITY, 95])
        if not ok:
            raise DemoError(f"cannot encode the face enrolled as {name}")
        photo = with_face_note(encoded.tobytes(), box, points)
        final = self.folder / f"{name}.jpg"
        tmp = self.folder / f".{name}.{os.getpid()}.part"  # same folder: os.replace is then atomic
        try:
            with open(tmp, "xb") as f:
                f.write(photo)
            os.replace(tmp, final)
        except OSError as e:
            tmp.unlink(missing_ok=True)
            raise DemoError(f"cannot save an enrolled face in {self.folder}", e.strerror or str(e)) from None
        self.add(name, embedding)
        return name
