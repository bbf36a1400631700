"""`ovdemo face`: face detection, landmarks, age/gender, emotions, head pose and a face gallery.

The detector is the reusable `Detector`; every enabled per-face model then gets all the faces of a frame
as one batch on its own async requests, all stages in flight together (re-identification follows the
landmarks it aligns on). A detector that finds landmarks itself (RetinaFace) needs no landmarks model, unless
--landmarks-model asks for one. The faces of a frame are one `Detections` whose `data` carries `landmarks`,
`attributes` (age, gender, emotion), `head_pose` and, with a gallery, `identity`, `identity_distance` and
`enrolled`; the face embeddings stay under `face_embedding`, out of the JSON and away from the tracker
(whose thresholds are tuned on people), so `--track` follows faces by motion alone.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, replace
from pathlib import Path

import cv2
import numpy as np
import openvino as ov

from ovdemo.common.annotators import Annotator, ObjectAnnotator
from ovdemo.common.console import console, warn
from ovdemo.common.draw import Style, color_for
from ovdemo.common.engine.family import Family, RunContext, choose_decoder
from ovdemo.common.engine.inference import (
    InferenceConfig,
    ModelOutputs,
    compile_model,
    embed_preprocessing,
    one_request,
    read_model,
)
from ovdemo.common.engine.processor import FrameProcessor
from ovdemo.common.engine.second_stage import Reader, SecondModel
from ovdemo.common.engine.stages import FrameStage, ObjectStage, crop, expand_boxes
from ovdemo.common.errors import DemoError
from ovdemo.common.io.capture import Frame
from ovdemo.common.models.attributes import AttributeReader, attributes_of
from ovdemo.common.models.detector import DECODERS, Detector
from ovdemo.common.models.resolve import ResolvedModel, resolve_from_options
from ovdemo.common.models.specs import ModelSpec
from ovdemo.common.options import (
    DRAWING,
    REID_THRESHOLD,
    THRESHOLD,
    TRACKING,
    Alias,
    Opt,
    Options,
    OptionValues,
    arch_opt,
    model_opt,
)
from ovdemo.common.results import Detections, Result, clip_boxes

from .gallery import REFERENCE_POINTS, UNKNOWN, Gallery, face_note, five_points, gallery_photos
from .stages import EMBEDDING, FaceReidReader, HeadPoseReader, LandmarksReader

DEFAULT_STAGE_MODELS = {
    "landmarks": "landmarks-regression-retail-0009",
    "age-gender": "age-gender-recognition-retail-0013",
    "emotions": "emotions-recognition-retail-0003",
    "head-pose": "head-pose-estimation-adas-0001",
    "reid": "face-reidentification-retail-0095",
}
# the reader of each kind; age-gender and emotions are attribute models, read as --classify reads any
READERS: dict[str, type[Reader]] = {"landmarks": LandmarksReader, "head-pose": HeadPoseReader, "reid": FaceReidReader,
                                    "age-gender": AttributeReader, "emotions": AttributeReader}
ATTRIBUTE_KINDS = ("age-gender", "emotions")
ATTRIBUTES_OF_KIND = {"age-gender": ("age", "gender"), "emotions": ("emotion",)}  # what each must answer
SWITCHED = ("age-gender", "emotions", "head-pose")  # stages a flag turns on; landmarks always run
DEFAULT_REID_THRESHOLD = 0.6  # cosine distance; the face re-id model's spec may say otherwise (`reid_threshold`)
ENROLL_CROP = 1.6  # enrolled photos keep a margin around the face, so the detector finds it again on reload
ENROLL_MIN_SIZE = 40  # px: smaller faces give embeddings too poor to enrol
# With --enroll, a face matched well (within this share of --reid-threshold) that differs from every view of
# its identity by more than NEW_VIEW becomes one more view of it, up to MAX_VIEWS learned views per identity.
# A frontal face one frame and a turned one a second later are 0.7 apart, each 0.2 from the views between.
LEARN_WITHIN, NEW_VIEW, MAX_VIEWS = 0.5, 0.1, 20


def _option(kind: str) -> str:
    return kind.replace("-", "_")


def check_attribute_model(kind: str, model: ResolvedModel) -> None:
    """--age-gender-model and --emotions-model take a model that answers what they are named for."""
    wanted = ATTRIBUTES_OF_KIND[kind]
    try:
        given = {a.name for a in attributes_of(model)}
    except DemoError:
        given = set()
    if not set(wanted) <= given:
        answers = f"answers {', '.join(sorted(given))}" if given else "answers no attribute ovdemo knows"
        raise DemoError(f"--{kind}-model {model.name} {answers}, not {' and '.join(wanted)}",
                        f"give a model that answers {' and '.join(wanted)}, e.g. {DEFAULT_STAGE_MODELS[kind]}")


def _stage_options() -> tuple[Opt, ...]:
    """--landmarks-model, then --<kind> to switch a stage on and --<kind>-model to choose its model."""
    switches = {"age-gender": ("Estimate age and gender.", "Age and gender model."),
                "emotions": ("Recognise emotions (neutral, happy, sad, surprise, anger).", "Emotions model."),
                "head-pose": ("Estimate head pose (yaw, pitch, roll), drawn as axes.", "Head pose model.")}
    opts = [model_opt("landmarks_model", "--landmarks-model", None,
                      f"Landmarks, always on: 5 points ({DEFAULT_STAGE_MODELS['landmarks']}, unless the detector "
                      "finds them itself, as RetinaFace does), or 35 with facial-landmarks-35-adas-0002.")]
    for kind, (flag_help, model_help) in switches.items():
        opts.append(Opt(_option(kind), (f"--{kind}",), flag_help, default=False, is_flag=True))
        opts.append(model_opt(f"{_option(kind)}_model", f"--{kind}-model", DEFAULT_STAGE_MODELS[kind], model_help))
    return tuple(opts)


GALLERY_OPTIONS: tuple[Opt, ...] = (
    Opt("gallery", ("--gallery",), "Identify faces against a folder of <name>-<n>.jpg or <name>/<file>.jpg photos.",
        metavar="DIR"),
    Opt("enroll", ("--enroll",), "Save unknown faces into the gallery as unknown-<k>.jpg, and learn new views of "
        "the faces it knows while they are seen.", default=False, is_flag=True),
    model_opt("reid_model", "--reid-model", DEFAULT_STAGE_MODELS["reid"],
              "Face re-identification model: the gallery's embeddings (--track follows faces by motion)."),
    # --match-threshold was (1 - cosine similarity) / 2
    replace(REID_THRESHOLD, aliases=(Alias("--match-threshold", convert=lambda v: 2 * v),)),
)

# --track follows faces by motion alone: the face embeddings are the gallery's, not the tracker's
FACE_TRACKING: tuple[Opt, ...] = tuple(
    replace(o, help="Track faces across frames by their motion (Kalman): each keeps an id.") if o.name == "track"
    else o for o in TRACKING)


@dataclass(frozen=True)
class FaceOptions(OptionValues):
    """What face reads from its options."""

    model: str
    threshold: float | None
    arch: str | None
    landmarks_model: str | None
    age_gender: bool
    age_gender_model: str
    emotions: bool
    emotions_model: str
    head_pose: bool
    head_pose_model: str
    gallery: str | None
    enroll: bool
    reid_model: str
    reid_threshold: float | None  # the gallery's match distance (--track follows faces by motion alone)

    def switched_on(self, kind: str) -> bool:
        """Whether --<kind> (one of SWITCHED) asks for that stage."""
        on: bool = getattr(self, _option(kind))
        return on

    def stage_model(self, kind: str) -> str:
        """--<kind>-model: the model of a per-face stage."""
        ref: str | None = getattr(self, f"{_option(kind)}_model")
        return ref or DEFAULT_STAGE_MODELS[kind]

    @property
    def gallery_dir(self) -> Path | None:
        return Path(self.gallery) if self.gallery else None


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


class LandmarkAnnotator:
    """Each face's landmarks (data["landmarks"]) as dots."""

    def annotate(self, scene: np.ndarray, result: Result, style: Style) -> None:
        for points in result.objects.data.get("landmarks", ()):
            for x, y in points:
                cv2.circle(scene, (int(round(x)), int(round(y))), max(2, style.thickness), (0, 255, 255), cv2.FILLED,
                           cv2.LINE_AA)


class HeadPoseAnnotator:
    """Each face's head pose (data["head_pose"]) as axes from its centre, half its width long."""

    def annotate(self, scene: np.ndarray, result: Result, style: Style) -> None:
        faces = result.objects
        for box, pose in zip(faces.xyxy, faces.data.get("head_pose", ()), strict=False):
            centre = (box[:2] + box[2:]) / 2
            draw_head_pose(scene, centre, pose["yaw"], pose["pitch"], pose["roll"], 0.5 * (box[2] - box[0]),
                           style.thickness)


def caption_parts(faces: Detections, i: int) -> list[str]:
    """Short captions of face i: identity, gender and age, emotion."""
    parts = []
    if "identity" in faces.data:
        parts.append(faces.data["identity"][i])
    attributes = faces.data["attributes"][i] if "attributes" in faces.data else {}
    if "age" in attributes:
        parts.append(f"{'M' if attributes['gender']['label'] == 'male' else 'F'} {attributes['age']['value']:.0f}")
    if "emotion" in attributes:
        parts.append(attributes["emotion"]["label"])
    return parts


def _unwritable(folder: Path) -> str | None:
    """Why the folder, or the nearest existing parent it would be created in, takes no new file (None: it does).
    Tried for real: permission bits say nothing for root, nor for /proc or a read-only mount."""
    existing = folder
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    try:
        with tempfile.TemporaryFile(dir=existing):
            return None
    except OSError as e:
        return e.strerror or str(e)


def check_gallery(gallery: Path | None, enroll: bool) -> None:
    """--gallery and --enroll, before any model is fetched."""
    if enroll and gallery is None:
        raise DemoError("--enroll needs a gallery", "pass --gallery DIR: unknown faces are saved there")
    if gallery is None:
        return
    if gallery.exists() and not gallery.is_dir():
        raise DemoError(f"--gallery {gallery} is not a folder", "pass a folder of face photos")
    if not gallery.exists() and not enroll:
        raise DemoError(f"gallery folder not found: {gallery}", "check the path, or pass --enroll to start one")
    if enroll and (why := _unwritable(gallery)):
        raise DemoError(f"cannot write to the gallery folder {gallery}: {why}", "check its permissions")
    if not enroll and not gallery_photos(gallery):
        raise DemoError(f"no face photos in the gallery {gallery}",
                        "add <name>-<n>.jpg or <name>/<file>.jpg photos, or pass --enroll to start one")


class FaceFamily(Family):
    """Faces with their landmarks, age, gender, emotion and head pose; identities from a gallery."""

    name = "face"
    summary = "Detect faces with their landmarks, age, gender, emotion and head pose; identify them from a gallery."
    default_model = "face-detection-retail-0004"
    model_help = "Face detector: an Open Model Zoo name or a .xml/.onnx path (any SSD face detector)."
    decoders = DECODERS
    examples = (
        "ovdemo face -i preview-face-demographics-walking.gif --age-gender --emotions",
        "ovdemo face -i preview-head-pose-face-detection-female-and-male.gif --head-pose --track",
        "ovdemo face -i preview-face-demographics-walking-and-pause.gif --gallery faces/ --enroll --json faces.jsonl",
    )
    own_options = (
        THRESHOLD, arch_opt(DECODERS), *_stage_options(), *GALLERY_OPTIONS, *DRAWING, *FACE_TRACKING,
    )

    def __init__(self, model: ResolvedModel, opts: Options, stage_models: dict[str, ResolvedModel],
                 ov_model: ov.Model | None = None):
        """`stage_models`: kind -> model; "landmarks" unless the detector finds them, "reid" with a gallery."""
        super().__init__(model, opts, ov_model)
        self.values = FaceOptions.of(opts)
        self.stage_models = stage_models
        self.gallery_dir = self.values.gallery_dir
        self.enroll = self.values.enroll
        self.match_threshold = self.values.reid_threshold  # not `reid_threshold`: the tracker's is for people
        if self.match_threshold is None and "reid" in stage_models:
            self.match_threshold = float(stage_models["reid"].spec.params.get("reid_threshold",
                                                                              DEFAULT_REID_THRESHOLD))
        self.face_stages: dict[str, SecondModel] = {}
        self.gallery: Gallery | None = None
        self.detector: Detector | None = None

    @classmethod
    def create(cls, opts: Options) -> FaceFamily:
        values = FaceOptions.of(opts)
        gallery = values.gallery_dir
        check_gallery(gallery, values.enroll)
        threshold = values.reid_threshold
        if threshold is not None and not 0 <= threshold <= 2:
            raise DemoError(f"--reid-threshold {threshold} is out of range", "a cosine distance: 0 to 2")
        detector = resolve_from_options(values.model, opts)
        graph = read_model(detector.source)
        own_landmarks = choose_decoder(DECODERS, graph, detector.spec, values.arch, cls.name).gives_landmarks
        enabled = [*(["landmarks"] if values.landmarks_model or not own_landmarks else []),
                   *(kind for kind in SWITCHED if values.switched_on(kind))]
        if gallery is not None:
            enabled.append("reid")
        stage_models = {kind: resolve_from_options(values.stage_model(kind), opts) for kind in enabled}
        for kind in set(ATTRIBUTE_KINDS) & set(stage_models):
            check_attribute_model(kind, stage_models[kind])
        return cls(detector, opts, stage_models, graph)

    @classmethod
    def accepts(cls, model: ov.Model, spec: ModelSpec) -> bool:
        """A face detector: a detection model whose classes are faces (any other detector is `detect`'s)."""
        return bool(spec.labels and "face" in spec.labels) and super().accepts(model, spec)

    # -- hooks

    def start(self, ctx: RunContext) -> None:
        self.face_stages = {kind: SecondModel(READERS[kind](model), ctx.config)
                            for kind, model in self.stage_models.items()}
        self.stages = self.declared(tuple(self.face_stages))
        if self.gallery_dir is not None:
            self.gallery = self.load_gallery(self.gallery_dir, ctx.config)

    def declared(self, kinds: tuple[str, ...]) -> list[ObjectStage | FrameStage]:
        """The per-face stages of `kinds` for the pipeline: re-identification after the landmarks it aligns on
        (when the detector gives landmarks itself, right away), the others all at once."""
        return [self.face_stages[kind].object_stage(kind, after="landmarks" if kind == "reid" and "landmarks" in kinds
                                                    else None) for kind in kinds]

    def prepare(self, model: ov.Model) -> None:
        if self.detector is None:
            self.detector = self._detector(model)

    def _detector(self, model: ov.Model) -> Detector:
        return Detector(model, self.model, threshold=self.values.threshold, arch=self.values.arch, family=self.name)

    def object_names(self) -> tuple[str, ...] | None:
        return self.detector.names if self.detector is not None else None

    def postprocess(self, outputs: ModelOutputs | None, frame: Frame) -> Result:
        assert outputs is not None and self.detector is not None  # (every frame inferred; prepare made it)
        h, w = frame.image.shape[:2]
        return Result(self.detector(outputs, (w, h)))  # the per-face stages are the pipeline's to run

    def complete(self, result: Result, frame: Frame) -> Result:
        """In frame order, once every per-face stage has answered: who each face is (the gallery learns)."""
        if self.gallery is not None:
            with self.timer("identify"):
                result.objects = self.identify(frame.image, result.objects)
        return result

    def annotators(self) -> list[Annotator]:
        """Boxes captioned with identity, gender and age, emotion (a known face in its identity's colour), then
        the landmarks and head pose axes."""
        return [ObjectAnnotator(extras=lambda faces: [" | ".join(caption_parts(faces, i)) for i in range(len(faces))],
                                colors=self.identity_colors),
                LandmarkAnnotator(), HeadPoseAnnotator()]

    def identity_colors(self, faces: Detections) -> list | None:
        """A colour per face: its identity's (one colour for every unknown face); None without a gallery."""
        if "identity" not in faces.data or self.gallery is None:
            return None
        identities = self.gallery.identities
        return [color_for(identities.index(name) + 2) if name != UNKNOWN and name in identities else color_for(1)
                for name in faces.data["identity"]]

    def finish(self) -> None:
        for model in self.face_stages.values():
            model.wait_all()

    # -- the per-face stages and the gallery

    def processor(self, kinds: tuple[str, ...] | None = None) -> FrameProcessor:
        """The per-frame sequence with the per-face stages of `kinds` (else all), for the gallery's photos."""
        kinds = tuple(self.face_stages) if kinds is None else tuple(k for k in kinds if k in self.face_stages)
        return FrameProcessor(self, stages=self.declared(kinds))

    def analyse(self, image: np.ndarray, faces: Detections, kinds: tuple[str, ...] | None = None) -> Detections:
        """Faces already found in `image` with what the per-face stages (those of `kinds`, else all) say of
        them, waited for: the gallery's photos, before the run starts."""
        return self.processor(kinds).settle(Result(faces), Frame(0, image, 0.0, 0.0, 0.0)).objects

    def identify(self, image: np.ndarray, faces: Detections) -> Detections:
        """The faces with their gallery identities; with --enroll, unknown whole faces join the gallery and
        known ones seen from a new angle add that view to their identity (in memory)."""
        # complete() calls this only with a gallery, which needs re-identification (so a threshold: __init__)
        assert self.gallery is not None and self.match_threshold is not None
        match = self.gallery.match(faces.data[EMBEDDING], self.match_threshold)
        identities, distances = list(match.identities), match.distances.copy()
        enrolled = np.zeros(len(faces), bool)
        if self.enroll:
            h, w = image.shape[:2]
            for i, name in enumerate(identities):
                if name != UNKNOWN and NEW_VIEW < distances[i] <= LEARN_WITHIN * self.match_threshold:
                    self.gallery.learn(name, faces.data[EMBEDDING][i], MAX_VIEWS)
                    continue
                x1, y1, x2, y2 = faces.xyxy[i]
                whole = x1 > 0 and y1 > 0 and x2 < w - 1 and y2 < h - 1  # a face cut by the frame edge is not enrolled
                if name != UNKNOWN or not whole or min(x2 - x1, y2 - y1) < ENROLL_MIN_SIZE:
                    continue
                margin = np.rint(clip_boxes(expand_boxes(faces.xyxy[i], ENROLL_CROP, square=True), w, h)[0])
                points = five_points(faces.data["landmarks"][i:i + 1])[0] - margin[:2]
                identities[i] = self.gallery.enroll(crop(image, margin), faces.data[EMBEDDING][i],
                                                    faces.xyxy[i] - np.tile(margin[:2], 2), points)
                distances[i] = 0.0
                enrolled[i] = True
        return faces.with_data(identity=identities, identity_distance=distances, enrolled=enrolled)

    def load_gallery(self, folder: Path, config: InferenceConfig) -> Gallery:
        """Embeddings of every gallery photo: its largest face (the whole photo when none is found), aligned
        on its landmarks like faces in the video. The detector runs on each photo at its own size, on a copy
        of the main model (read once) compiled for any input size."""
        if self.enroll:
            try:
                folder.mkdir(parents=True, exist_ok=True)
            except OSError as e:
                raise DemoError(f"cannot create the gallery folder {folder}: {e.strerror or e}",
                                "check its permissions") from None
        gallery = Gallery(folder)
        model = self.read_model()
        self.detector = self._detector(model)
        infer = one_request(compile_model(embed_preprocessing(model.clone(), self.model.spec, None), config))
        # a photo is a frame: the detector's postprocess, landmarks and re-id on its faces (completion identifies
        # no one while the gallery loads: there is none yet)
        photos = self.processor(("landmarks", "reid"))
        for name, path in gallery_photos(folder):
            data = path.read_bytes() if path.is_file() else b""
            image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR) if data else None
            if image is None:
                warn(f"cannot read gallery photo {path}: skipped")
                continue
            note = face_note(data)
            if note is not None:  # a photo ovdemo enrolled: its face where it was seen, aligned on the same points
                found = Detections(note[0][None], np.ones(1, np.float32), np.zeros(1, np.int32),
                                   data={"landmarks": note[1][None]})
                gallery.add(name, self.analyse(image, found, ("reid",)).data[EMBEDDING][0])
                continue
            frame = Frame(0, image, 0.0, 0.0, 0.0)
            found = photos(frame, infer({0: image[np.newaxis]}), None).objects
            if len(found):  # its largest face
                areas = np.prod(found.xyxy[:, 2:] - found.xyxy[:, :2], axis=1)
                gallery.add(name, found.data[EMBEDDING][int(areas.argmax())])
                continue
            # none found: the whole photo is the face (its landmarks where the re-id model wants them, when the
            # detector would have given them)
            h, w = image.shape[:2]
            own = {} if "landmarks" in self.face_stages else {"landmarks": (REFERENCE_POINTS * (w, h))[None]}
            whole = Detections(np.array([[0, 0, w - 1, h - 1]], np.float32), np.ones(1, np.float32),
                               np.zeros(1, np.int32), data=own)
            gallery.add(name, photos.settle(Result(whole), frame).objects.data[EMBEDDING][0])
        if not gallery.names and not self.enroll:
            raise DemoError(f"no readable face photos in the gallery {folder}", "add .jpg or .png photos")
        console.print(f"gallery: {len(gallery.identities)} identities from {len(gallery.names)} photos in {folder}")
        return gallery
