"""The Python API: the same families, options and results as the command line.

    import ovdemo
    detector = ovdemo.load("person-detection-0202", threshold=0.6)
    result = detector("people.jpg")        # a path, a URL or a BGR array; a Result: result.objects.xyxy, ...
    for image, result in detector.stream("video.mp4"):     # every frame, in order, through the async pipeline
        ...

`load` finds the family from the model's spec (or, for a model ovdemo does not know, from its outputs), takes
the family's options as keywords (the command line's flags, e.g. `threshold`, `track`, `age_gender`, `device`;
not the command's own inputs and outputs such as `json` or `serve`: the API returns results), and returns a
`Predictor`. `result.to_dict()` gives the same objects the JSON lines hold, and `result.objects.data` holds
them in the same shapes (e.g. `head_pose` a {"yaw", "pitch", "roll"} dict per face).
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Callable, Iterator, Sequence

import numpy as np

from ovdemo.common.annotators import annotate, scene_annotators
from ovdemo.common.draw import Style
from ovdemo.common.engine.cpus import restrict
from ovdemo.common.engine.family import Family
from ovdemo.common.engine.inference import one_request, read_model
from ovdemo.common.engine.pipeline import Pipeline, prepare_family
from ovdemo.common.engine.processor import FrameProcessor
from ovdemo.common.engine.runner import shown_style
from ovdemo.common.engine.runtime import ModelOutputs
from ovdemo.common.errors import DemoError
from ovdemo.common.io.capture import Frame, read_image
from ovdemo.common.models.resolve import resolve_from_options
from ovdemo.common.options import Options, unknown_options
from ovdemo.common.results import Result
from ovdemo.common.tracking.tracker import Tracking
from ovdemo.demos import FAMILIES

DEFAULT_FPS = 30.0  # timestamps of frames given one by one


def family_of(model: str, options: dict) -> type[Family]:
    """The family a model belongs to: its spec's, else the first whose decoders fit its outputs."""
    probe = Options.build(next(iter(FAMILIES.values())).options(), {k: v for k, v in options.items()
                                                                    if k in ("models_dir", "precision", "offline")})
    resolved = resolve_from_options(model, probe)
    if resolved.spec.family in FAMILIES:
        return FAMILIES[resolved.spec.family]
    graph = read_model(resolved.source)
    for family in FAMILIES.values():
        if family.accepts(graph, resolved.spec):
            return family
    raise DemoError(f"cannot tell which family {model} belongs to", f"pass family= one of {', '.join(FAMILIES)}")


def check_keywords(family: type[Family], given: dict) -> None:
    """Keywords the Python API takes: the family's options, less the command's own inputs and outputs."""
    options = family.options()
    command_only = {o.name: o for o in options if o.cli_only}
    named = [command_only[name] for name in sorted(set(given) & set(command_only))]
    if named:
        raise DemoError(f"{named[0].name}= is the command line's {named[0].flags[-1]}, not a Python API option",
                        "the API reads what you give predictor(...) or predictor.stream(...) and returns results: "
                        "result.to_dict() is a JSON line's objects, predictor.annotate(image, result) the drawn frame")
    unknown = set(given) - {o.name for o in options}
    if unknown:
        raise unknown_options(unknown, [o.name for o in options if not o.cli_only], family.name)


def load(model: str | None = None, family: str | None = None, **options) -> Predictor:
    """A predictor for `model` (an Open Model Zoo name or a model path; None: the family's default model).

    `family` picks the family when the model alone does not say (e.g. family="face" for a face detector);
    `options` are the family's options by their Python names (`ovdemo <family> --help` lists them as flags)."""
    if family is not None:
        if family not in FAMILIES:
            raise DemoError(f"unknown family '{family}'", f"known: {', '.join(FAMILIES)}")
        cls = FAMILIES[family]
    elif model is None:
        raise DemoError("load() needs a model or a family", "e.g. ovdemo.load('person-detection-0202')")
    else:
        cls = family_of(model, options)
    check_keywords(cls, options)
    given = dict(options)
    if model is not None:
        given["model"] = model
    opts = cls.build_options(given)
    Tracking.check_options(opts)
    restrict(opts.cpus)  # the whole process, before any model compiles
    return Predictor(cls, opts)


class Predictor:
    """A family bound to its options. Call it on BGR images (numpy HxWx3 uint8) for `Result`s, or `stream` a
    source for every frame through the asynchronous pipeline."""

    def __init__(self, family: type[Family], opts: Options):
        self.family_class, self.opts = family, opts
        self.family = family.create(opts)  # resolves and checks the models now: errors surface at load()
        self._size: tuple[int, int] | None = None
        # infer(inputs) -> ModelOutputs, once compiled for a frame size
        self._infer: Callable[[dict[int, np.ndarray]], ModelOutputs] | None = None
        self._frames = itertools.count()

    @property
    def name(self) -> str:
        return self.family_class.name

    def _compile(self, size: tuple[int, int]) -> None:
        """Compile for frames of this size (as the command line does for a source of one size); a new size
        starts the family afresh."""
        if self._size is not None:
            self.family.finish()
            self.family = self.family_class.create(self.opts)
        compiled, _ = prepare_family(self.family, self.opts, size, (DEFAULT_FPS,), live=False)
        self._infer = one_request(compiled)
        self._tracking = Tracking(self.opts, DEFAULT_FPS, self.family.tracker_reid_threshold) \
            if self.opts.get("track") else None
        # the pipeline's per-frame sequence, --infer-every and tracking included, on one synchronous request
        self._processor = FrameProcessor(self.family, self.opts.infer_every, [self._tracking])
        self._size = size

    def __call__(self, image: np.ndarray | str | os.PathLike) -> Result:
        """The family's result for one image: a BGR array, or an image file's path or URL (read as -i reads
        it). Successive calls are successive frames, as `stream` gives them: with infer_every=3 the model sees
        calls 0, 3, 6, ... and the others carry its last result over (or, with track=True, the tracker predicts)."""
        if isinstance(image, str | os.PathLike):
            image = read_image(str(image), bool(self.opts.get("offline")))
        if not isinstance(image, np.ndarray) or image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
            raise DemoError("expected a BGR image (a numpy array of shape (height, width, 3) and dtype uint8), or an "
                            "image's path or URL", "read it with cv2.imread, or give its path")
        size = (image.shape[1], image.shape[0])
        if size != self._size:
            self._compile(size)
        assert self._infer is not None  # _compile, called above for the first frame's size, set it
        index = next(self._frames)
        frame = Frame(index, image, index / DEFAULT_FPS, 0.0, 0.0)
        skip = self._processor.skip(frame)
        outputs = None if skip else self._infer({0: np.ascontiguousarray(image)[np.newaxis]})
        result = self._processor(frame, outputs, skip)
        self.family.timer.take()  # (the API keeps no timings)
        return result

    def stream(self, source: str | os.PathLike | Sequence[str | os.PathLike], **options) -> Iterator[tuple]:
        """(image, result) for every frame of `source` (any -i: file, folder, camera, URL), in order, through
        the same pipeline as the command line: a capture thread and asynchronous requests. `options` override
        the predictor's (e.g. max_frames=100, infer_every=2).

        A list of sources runs them as streams of one pipeline (each read on its own thread, the models
        shared, tracking and every family's state per stream): (stream, image, result) for every frame,
        `stream` the source's index in the list, each stream's frames in their order. A stream that fails
        does not stop the others; the DemoError naming it comes when they have ended."""
        several = not isinstance(source, str | os.PathLike)
        inputs = (str(source),) if isinstance(source, str | os.PathLike) else tuple(map(str, source))
        check_keywords(self.family_class, options)
        opts = self.opts.replace(input=inputs, **options)
        for decoded in Pipeline(self.family_class.create(opts), opts):
            frame = decoded.frame
            yield (frame.stream, frame.image, decoded.result) if several else (frame.image, decoded.result)

    def annotate(self, image: np.ndarray, result: Result) -> np.ndarray:
        """A copy of `image` with `result` drawn as the command line draws it: the same annotators (with track=True,
        the zones, lines and trails too), without the FPS readout."""
        out = image.copy()
        style = Style.for_frame(out.shape[1], out.shape[0], shown_style(self.opts)).for_image(out)
        return annotate(out, result, style, scene_annotators(self.family, getattr(self, "_tracking", None)))

    def close(self) -> None:
        self.family.finish()
        tracking = getattr(self, "_tracking", None)
        if tracking is not None:
            tracking.close()

    def __enter__(self) -> Predictor:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
