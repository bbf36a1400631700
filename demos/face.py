"""`ovdemo face`: face detection, landmarks, age/gender, emotions, head pose and a face gallery.

The detector is `ovdemo detect`'s DetectTask; every enabled per-face model then gets all the faces of a
frame as one batch on its own async requests, all stages in flight together (re-identification follows
the landmarks it aligns on).
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path

import click
import cv2
import numpy as np
import openvino as ov

from ovdemo.common.capture import Frame
from ovdemo.common.draw import Style, color_for, draw_box
from ovdemo.common.errors import DemoError
from ovdemo.common.inference import InferenceConfig, ModelOutputs, compile_model, embed_preprocessing, read_model
from ovdemo.common.models import ResolvedModel, resolve_from_options
from ovdemo.common.options import PipelineOptions, model_option, pipeline_options
from ovdemo.common.pipeline import RunContext, console, run
from ovdemo.common.results import Detections, clip_boxes
from ovdemo.common.stages import crop, expand_boxes

from .detect import DetectTask
from .face_gallery import UNKNOWN, Gallery, align, five_points, gallery_photos
from .face_stages import AgeGenderStage, EmotionsStage, FaceStage, HeadPoseStage, LandmarksStage, ReidStage

DEFAULT_MODEL = "face-detection-retail-0004"
DEFAULT_STAGE_MODELS = {
    "landmarks": "landmarks-regression-retail-0009",
    "age-gender": "age-gender-recognition-retail-0013",
    "emotions": "emotions-recognition-retail-0003",
    "head-pose": "head-pose-estimation-adas-0001",
    "reid": "face-reidentification-retail-0095",
}
STAGE_TYPES: dict[str, type[FaceStage]] = {
    "landmarks": LandmarksStage, "age-gender": AgeGenderStage, "emotions": EmotionsStage,
    "head-pose": HeadPoseStage, "reid": ReidStage,
}
ENROLL_CROP = 1.6  # enrolled photos keep a margin around the face, so the detector finds it again on reload
ENROLL_MIN_SIZE = 40  # px: smaller faces give embeddings too poor to enrol


@dataclass
class Faces:
    """The faces of one frame; the arrays of stages that did not run stay None."""

    detections: Detections
    landmarks: np.ndarray | None = None  # (N, K, 2) frame pixels
    age: np.ndarray | None = None  # (N,) years
    male: np.ndarray | None = None  # (N,) probability of male
    emotions: np.ndarray | None = None  # (N, E) scores
    emotion_labels: tuple[str, ...] = ()
    head_pose: np.ndarray | None = None  # (N, 3) yaw, pitch, roll in degrees
    embeddings: np.ndarray | None = None  # (N, D)
    identities: list[str] | None = None
    distances: np.ndarray | None = None
    enrolled: set[int] = field(default_factory=set)

    def __len__(self) -> int:
        return len(self.detections)

    def records(self) -> list[dict]:
        records = []
        for i, obj in enumerate(self.detections.objects()):
            if self.landmarks is not None:
                obj["landmarks"] = [[round(float(x), 1), round(float(y), 1)] for x, y in self.landmarks[i]]
            if self.age is not None:
                male = float(self.male[i])
                obj |= {"age": round(float(self.age[i]), 1), "gender": "male" if male >= 0.5 else "female",
                        "gender_confidence": round(max(male, 1.0 - male), 4)}
            if self.emotions is not None:
                scores = self.emotions[i]
                obj |= {"emotion": self.emotion_labels[int(scores.argmax())],
                        "emotion_scores": {n: round(float(s), 4) for n, s in zip(self.emotion_labels, scores,
                                                                                  strict=True)}}
            if self.head_pose is not None:
                obj["head_pose"] = {k: round(float(v), 2) for k, v in zip(("yaw", "pitch", "roll"),
                                                                          self.head_pose[i], strict=True)}
            if self.identities is not None:
                obj |= {"identity": self.identities[i], "distance": round(float(self.distances[i]), 4)}
                if i in self.enrolled:
                    obj["enrolled"] = True
            records.append(obj)
        return records

    def summary(self, i: int) -> list[str]:
        """Short captions of face i: identity, gender and age, emotion."""
        parts = []
        if self.identities is not None:
            parts.append(self.identities[i])
        if self.age is not None:
            parts.append(f"{'M' if self.male[i] >= 0.5 else 'F'} {self.age[i]:.0f}")
        if self.emotions is not None:
            parts.append(self.emotion_labels[int(self.emotions[i].argmax())])
        return parts


def draw_head_pose(image: np.ndarray, centre, yaw: float, pitch: float, roll: float, length: float,
                   thickness: int) -> None:
    """The head's x (red), y (green) and z (blue, towards the camera) axes, rotated by yaw, pitch and roll and
    projected orthographically at the face centre (Open Model Zoo's convention: R = Rz(roll) Ry(yaw) Rx(pitch))."""
    y, p, r = np.radians([yaw, pitch, roll])
    rx = np.array([[1, 0, 0], [0, np.cos(p), -np.sin(p)], [0, np.sin(p), np.cos(p)]])
    ry = np.array([[np.cos(y), 0, -np.sin(y)], [0, 1, 0], [np.sin(y), 0, np.cos(y)]])
    rz = np.array([[np.cos(r), -np.sin(r), 0], [np.sin(r), np.cos(r), 0], [0, 0, 1]])
    rotation = rz @ ry @ rx
    cx, cy = (int(round(v)) for v in centre)
    for axis, color in (((1, 0, 0), (0, 0, 255)), ((0, -1, 0), (0, 255, 0)), ((0, 0, -1), (255, 0, 0))):
        dx, dy, _ = rotation @ np.array(axis, np.float64) * length
        cv2.line(image, (cx, cy), (int(round(cx + dx)), int(round(cy + dy))), color, thickness, cv2.LINE_AA)


@dataclass
class FaceTask:
    model: ResolvedModel
    stage_models: dict[str, ResolvedModel]  # kind -> model; "landmarks" always, "reid" with a gallery
    threshold: float | None = None
    gallery_dir: Path | None = None
    enroll: bool = False
    match_threshold: float = 0.3
    family: str = "face"

    def __post_init__(self):
        self.detector = DetectTask(self.model, threshold=self.threshold, family=self.family)
        self.stage_ms: dict[str, float] = {}
        self.stages: dict[str, FaceStage] = {}
        self.gallery: Gallery | None = None

    def start(self, ctx: RunContext) -> None:
        self.stages = {kind: STAGE_TYPES[kind](model, ctx.config) for kind, model in self.stage_models.items()}
        if self.gallery_dir is not None:
            self.gallery = self.load_gallery(self.gallery_dir, ctx.config)

    def prepare(self, model: ov.Model) -> None:
        self.detector.prepare(model)

    def postprocess(self, outputs: ModelOutputs, frame: Frame) -> Faces:
        t0 = time.perf_counter()
        faces = self.analyse(frame.image, self.detector.postprocess(outputs, frame))
        t1 = time.perf_counter()
        self.stage_ms["face stages"] = (t1 - t0) * 1000.0
        if self.gallery is not None:
            self.identify(frame.image, faces)
            self.stage_ms["identify"] = (time.perf_counter() - t1) * 1000.0
        return faces

    def analyse(self, image: np.ndarray, detections: Detections) -> Faces:
        """Run every per-face stage on the faces found in `image`."""
        faces = Faces(detections)
        if not len(detections):
            return faces
        boxes = detections.boxes
        in_flight = {kind: stage.submit(image, boxes) for kind, stage in self.stages.items() if kind != "reid"}
        pending, rois = in_flight["landmarks"]
        faces.landmarks = self.stages["landmarks"].decode(pending.wait(), rois)
        reid = self.stages.get("reid")
        embedding = reid.submit_aligned(align(image, five_points(faces.landmarks), reid.stage.input_size)) \
            if reid else None
        if "age-gender" in in_flight:
            faces.age, faces.male = self.stages["age-gender"].decode(in_flight["age-gender"][0].wait())
        if "emotions" in in_flight:
            faces.emotions = self.stages["emotions"].decode(in_flight["emotions"][0].wait())
            faces.emotion_labels = tuple(self.stages["emotions"].labels)
        if "head-pose" in in_flight:
            faces.head_pose = self.stages["head-pose"].decode(in_flight["head-pose"][0].wait())
        if embedding is not None:
            faces.embeddings = reid.decode(embedding.wait())
        return faces

    def identify(self, image: np.ndarray, faces: Faces) -> None:
        match = self.gallery.match(faces.embeddings if len(faces) else np.zeros((0, 1)), self.match_threshold)
        faces.identities, faces.distances = match.identities, match.distances
        if not self.enroll:
            return
        h, w = image.shape[:2]
        for i, name in enumerate(match.identities):
            x1, y1, x2, y2 = faces.detections.boxes[i]
            whole = x1 > 0 and y1 > 0 and x2 < w - 1 and y2 < h - 1  # a face cut by the frame edge is not enrolled
            if name != UNKNOWN or not whole or min(x2 - x1, y2 - y1) < ENROLL_MIN_SIZE:
                continue
            margin = clip_boxes(expand_boxes(faces.detections.boxes[i], ENROLL_CROP, square=True), w, h)[0]
            faces.identities[i] = self.gallery.enroll(crop(image, margin), faces.embeddings[i])
            faces.distances[i] = 0.0
            faces.enrolled.add(i)

    def load_gallery(self, folder: Path, config: InferenceConfig) -> Gallery:
        """Embeddings of every gallery photo: its largest face (the whole photo when none is found), aligned
        on its landmarks like faces in the video."""
        if self.enroll:
            folder.mkdir(parents=True, exist_ok=True)
        gallery = Gallery(folder)
        self.detector.prepare(read_model(self.model.path))
        detector = compile_model(embed_preprocessing(read_model(self.model.path), self.model.spec, None), config)
        ports = [(frozenset(o.get_names()), o) for o in detector.outputs]
        request = detector.create_infer_request()
        photos = gallery_photos(folder)
        for name, path in photos:
            image = cv2.imread(str(path), cv2.IMREAD_COLOR)
            if image is None:
                console.print(f"[yellow]warning:[/] cannot read gallery photo {path}: skipped")
                continue
            request.infer({0: image[np.newaxis]})
            outputs = ModelOutputs([(names, request.get_tensor(port).data.copy()) for names, port in ports])
            found = self.detector.postprocess(outputs, Frame(0, image, 0.0, 0.0, 0.0))
            if len(found):
                areas = np.prod(found.boxes[:, 2:] - found.boxes[:, :2], axis=1)
                found = found[int(areas.argmax())]
            else:
                h, w = image.shape[:2]
                found = Detections(np.array([[0, 0, w - 1, h - 1]], np.float32), np.ones(1, np.float32),
                                   np.zeros(1, np.int32))
            gallery.add(name, self.analyse(image, found).embeddings[0])
        if not gallery.names and not self.enroll:
            raise DemoError(f"no readable face photos in the gallery {folder}", "add .jpg or .png photos")
        console.print(f"gallery: {len(gallery.identities)} identities from {len(gallery.names)} photos in {folder}")
        return gallery

    def draw(self, image: np.ndarray, faces: Faces, style: Style) -> None:
        for i in range(len(faces)):
            box = faces.detections.boxes[i]
            known = faces.identities is not None and faces.identities[i] != UNKNOWN
            color = color_for(self.gallery.identities.index(faces.identities[i]) + 2) if known else color_for(1)
            draw_box(image, box, color, style, " | ".join(faces.summary(i)) or None)
            if faces.landmarks is not None:
                for x, y in faces.landmarks[i]:
                    cv2.circle(image, (int(round(x)), int(round(y))), max(2, style.thickness), (0, 255, 255),
                               cv2.FILLED, cv2.LINE_AA)
            if faces.head_pose is not None:
                centre = (box[:2] + box[2:]) / 2
                draw_head_pose(image, centre, *faces.head_pose[i], 0.5 * (box[2] - box[0]), style.thickness)

    def record(self, faces: Faces) -> dict:
        return {"faces": faces.records()}

    def raw_lines(self, faces: Faces) -> list[str]:
        lines = []
        for i, rec in enumerate(faces.records()):
            text = f"face {rec['confidence']:.3f} [{', '.join(f'{v:.0f}' for v in rec['bbox'])}]"
            extra = faces.summary(i)
            if "head_pose" in rec:
                extra.append("yaw {yaw:.0f} pitch {pitch:.0f} roll {roll:.0f}".format(**rec["head_pose"]))
            if "distance" in rec:
                extra.append(f"distance {rec['distance']:.3f}")
            lines.append(" ".join([text, *extra]))
        return lines


def stage_option(kind: str, flag_help: str | None, model_help: str):
    """--<kind> to switch a stage on (none for landmarks: always on) and --<kind>-model to choose its model."""
    def decorate(command):
        command = click.option(f"--{kind}-model", default=DEFAULT_STAGE_MODELS[kind], show_default=True,
                               metavar="NAME|PATH", help=model_help)(command)
        if flag_help:
            command = click.option(f"--{kind}", is_flag=True, help=flag_help)(command)
        return command
    return decorate


@click.command(name="face")
@model_option(DEFAULT_MODEL, "Face detector: an Open Model Zoo name or a .xml/.onnx path (any SSD face detector).")
@click.option("-t", "--threshold", type=click.FloatRange(0, 1),
              help="Face confidence threshold [default: the model's, else 0.5].")
@stage_option("landmarks", None, "Landmarks, always on: 5 points, or 35 with facial-landmarks-35-adas-0002.")
@stage_option("age-gender", "Estimate age and gender.", "Age and gender model.")
@stage_option("emotions", "Recognise emotions (neutral, happy, sad, surprise, anger).", "Emotions model.")
@stage_option("head-pose", "Estimate head pose (yaw, pitch, roll), drawn as axes.", "Head pose model.")
@click.option("--gallery", type=click.Path(path_type=Path), metavar="DIR",
              help="Identify faces against a folder of <name>-<n>.jpg or <name>/<file>.jpg photos.")
@click.option("--enroll", is_flag=True, help="Save unknown faces into the gallery as unknown-<k>.jpg.")
@click.option("--match-threshold", type=click.FloatRange(0, 1), default=0.3, show_default=True,
              help="Largest distance, (1 - cosine similarity) / 2, at which a face still matches an identity.")
@stage_option("reid", None, "Face re-identification model: the gallery's embeddings.")
@pipeline_options
def command(model, threshold, gallery, enroll, match_threshold, **kwargs):
    """Detect faces with their landmarks, age, gender, emotion and head pose; identify them from a gallery."""
    stage_flags = {kind: kwargs.pop(kind.replace("-", "_"), False) for kind in ("age-gender", "emotions", "head-pose")}
    stage_refs = {kind: kwargs.pop(f"{kind.replace('-', '_')}_model") for kind in DEFAULT_STAGE_MODELS}
    opts = PipelineOptions.take(kwargs)
    if enroll and gallery is None:
        raise DemoError("--enroll needs a gallery", "pass --gallery DIR: unknown faces are saved there")
    if gallery is not None:
        if gallery.exists() and not gallery.is_dir():
            raise DemoError(f"--gallery {gallery} is not a folder", "pass a folder of face photos")
        if not gallery.exists() and not enroll:
            raise DemoError(f"gallery folder not found: {gallery}", "check the path, or pass --enroll to start one")
        if enroll and not _writable(gallery):
            raise DemoError(f"cannot write to the gallery folder {gallery}", "check its permissions")
        if not enroll and not gallery_photos(gallery):
            raise DemoError(f"no face photos in the gallery {gallery}",
                            "add <name>-<n>.jpg or <name>/<file>.jpg photos, or pass --enroll to start one")
    enabled = ["landmarks", *(kind for kind, on in stage_flags.items() if on)] + (["reid"] if gallery else [])
    task = FaceTask(
        model=resolve_from_options(model, opts),
        stage_models={kind: resolve_from_options(stage_refs[kind], opts) for kind in enabled},
        threshold=threshold,
        gallery_dir=gallery,
        enroll=enroll,
        match_threshold=match_threshold,
    )
    return run(task, opts)


def _writable(folder: Path) -> bool:
    """The folder, or the nearest existing parent it would be created in, accepts new files."""
    existing = folder
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    return os.access(existing, os.W_OK | os.X_OK)
