"""The family contract: what a demo family is, and the one decoder contract every family's decoders follow.

A family is a decoder, a drawing style and spec entries. It names its options (from `options.py`), builds
itself from them (`create`, used by the CLI and by `ovdemo.load` alike), binds a decoder to its model once
(`prepare`) and turns each request's outputs into a `Result` (`postprocess`). Everything else (capture,
the request queue, ordering, tracking, drawing primitives, outputs, the JSON schema, errors) is the
pipeline's. Hooks run in this order, each once unless said otherwise:

  create(opts)              classmethod: resolve models, check flags against the model (reads it once)
  start(ctx)                compile second-stage models, read the frame size
  load_model()              the main ov.Model (default: the one `create` read)
  prepare(model)            bind the decoder (raises DemoError naming what was expected), reshape if needed
  input_crop(frame_size)    the part of the frame the main model sees (default: all of it)
  needs_inference(frame)    per frame: False lets the frame skip the main model (default: True)
  postprocess(outputs, frame) -> Result      per frame, in order; outputs is None when the family's own
                            needs_inference skipped the frame (frames --infer-every skips never come here:
                            the last results are carried over, or the tracker predicts)
  [the pipeline runs `stages` on the result: the family's declared second-stage models, several frames in
   flight at once; none of them is ever waited on by the family]
  (this per-frame sequence, postprocess to after_tracking, is `processor.FrameProcessor`: the pipeline's and
   the Python API's alike)
  complete(result, frame) -> Result          per frame, in order, once its stages have answered: what needs
                            every stage's answer and frame order (e.g. identifying faces in a gallery)
  after_tracking(result, frame) -> Result    per frame with --track, once objects have track ids: per-track
                            state such as an action smoothed over each person's frames (default: as is)
  draw(image, result, style)                 per frame shown or written
  finish()                  on every exit path

One family instance serves every input of a run (-i given several times): its models, stages and any
gallery are shared, and frames of the streams come to its hooks interleaved (each stream's in its order,
`frame.stream` saying whose). Whatever a family keeps from one frame to the next (a window of frames, a
smoother per track id, predictions waiting for their frame) belongs to one stream: it lives in a
`PerStream`, looked up by the frame (`self.windows[frame]`), never in a plain attribute. Frame indices
and track ids count per stream, so they key nothing across streams.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import ClassVar, Generic, Protocol, TypeVar

import numpy as np
import openvino as ov

from ..annotators import Annotator, ObjectAnnotator, annotate
from ..draw import Style
from ..errors import DemoError
from ..io.capture import Frame
from ..models.resolve import ResolvedModel, resolve_from_options
from ..models.specs import ModelSpec, load_labels
from ..options import PIPELINE, Opt, Options, model_opt
from ..results import Result
from .inference import InferenceConfig, ModelOutputs, describe_ports, read_model
from .metrics import StageTimer
from .stages import FrameStage, ObjectStage

T = TypeVar("T")


class PerStream(Generic[T]):
    """What a family keeps between frames, one for each input stream: `make()` builds a stream's state on its
    first frame; `per_stream[frame]` is the state of that frame's stream. The one way a family holds temporal
    state (see the module's docstring)."""

    def __init__(self, make: Callable[[], T]):
        self._make = make
        self._states: dict[int, T] = {}

    def __getitem__(self, frame: Frame) -> T:
        state = self._states.get(frame.stream)
        if state is None:
            state = self._states[frame.stream] = self._make()
        return state

    def __setitem__(self, frame: Frame, state: T) -> None:
        self._states[frame.stream] = state

    def streams(self) -> list[int]:
        """The streams that have state so far."""
        return sorted(self._states)


@dataclass(frozen=True)
class RunContext:
    """What a family may need to know before its models compile: for its second stages (`stages.Stage`)
    and for shaping its main model to the source (e.g. reshaping to the frame's aspect ratio)."""

    config: InferenceConfig  # device, hint and cache for second-stage models
    frame_size: tuple[int, int] | None  # (w, h) when every frame has it
    fps: tuple[float, ...]  # each input's frame rate, in the order of -i (a stream that did not open: the first's)
    live: bool
    opts: Options


@dataclass(frozen=True)
class DecoderSetup:
    """What a decoder knows besides the model's graph."""

    spec: ModelSpec
    threshold: float = 0.5
    names: tuple[str, ...] | None = None
    input_size: tuple[int, int] | None = None  # (w, h) of the model input, None when dynamic


class Decoder:
    """Reads one kind of model output.

    `fits(model)` tells from the outputs alone whether a model is of this kind (for choosing a decoder);
    construction binds the decoder to a model once (`bind` finds outputs by name, else by shape, and raises
    the DemoError of `mismatch` when they do not fit); `augment` may add ops to the graph before it compiles
    (e.g. a max-pool for peak finding); `decode` turns one request's outputs into a result in frame pixels."""

    name: ClassVar[str] = ""
    expects: ClassVar[str] = ""

    def __init__(self, model: ov.Model, setup: DecoderSetup):
        self.setup = setup
        self.spec = setup.spec
        self.bind(model)

    @classmethod
    def fits(cls, model: ov.Model) -> bool:
        return False

    def bind(self, model: ov.Model) -> None:
        raise NotImplementedError

    def augment(self, model: ov.Model) -> None:
        """Add ops to the model before it compiles (default: none)."""

    def decode(self, outputs: ModelOutputs, frame_size: tuple[int, int]):
        raise NotImplementedError

    def mismatch(self, ports) -> DemoError:
        return DemoError(f"the model's outputs do not fit the {self.name} decoder",
                         f"expected {self.expects}; the model has {describe_ports(ports)}")


class ModelKind(Protocol):
    """What choosing among a family's kinds of model needs: a `Decoder` class, or (top-down pose) the
    second-stage reader that a pose model of that kind is read with."""

    name: ClassVar[str]
    expects: ClassVar[str]

    @classmethod
    def fits(cls, model: ov.Model) -> bool: ...


D = TypeVar("D", bound=ModelKind)


def choose_decoder(decoders: Mapping[str, type[D]], model: ov.Model, spec: ModelSpec, arch: str | None,
                   family: str) -> type[D]:
    """--arch, else the spec's decoder, else the first decoder whose `fits` says yes.

    A spec describes a model's usual form; another form of the same model (e.g. Open Model Zoo's IR of a TF
    Object Detection API graph, which ends in one DetectionOutput) is read by what its outputs are."""
    if arch:
        return decoders[arch]
    fitting = [d for d in decoders.values() if d.fits(model)]
    if spec.decoder is not None and spec.decoder in decoders:
        named = decoders[spec.decoder]
        return fitting[0] if fitting and named not in fitting else named
    if fitting:
        return fitting[0]
    expected = "; or ".join(d.expects for d in decoders.values())
    raise DemoError(f"the model's outputs do not fit the {family} demo",
                    f"expected {expected}; the model has {describe_ports(model.outputs)}"
                    + (f" (if it is a {family} model, pass --arch {'|'.join(decoders)})" if len(decoders) > 1 else ""))


class Family:
    """One demo family. Subclasses set the class attributes and implement `prepare` and `postprocess`."""

    name: ClassVar[str] = ""
    summary: ClassVar[str] = ""  # the first line of the command's help
    default_model: ClassVar[str | None] = None
    model_help: ClassVar[str] = "Model: an Open Model Zoo name or a model file path."
    examples: ClassVar[tuple[str, ...]] = ()  # command lines shown in --help
    decoders: ClassVar[Mapping[str, type[ModelKind]]] = {}
    boxes: bool = True  # its results have objects, so --track applies (a family may say otherwise in prepare)
    tracker_reid_threshold: float | None = None  # the tracker's re-id distance, for families that give embeddings
    own_options: ClassVar[tuple[Opt, ...]] = ()
    fixed: ClassVar[dict] = {}  # options the family always runs with, not flags (track: {"track": True})

    def __init__(self, model: ResolvedModel, opts: Options, ov_model: ov.Model | None = None):
        self.model = model
        self.opts = opts
        self.timer = StageTimer()  # the family's own steps, merged into each frame's timings
        self._ov_model = ov_model
        # second-stage models the pipeline runs on every frame's result (set in `start`, where they compile)
        self.stages: list[ObjectStage | FrameStage] = []

    # -- building

    @classmethod
    def options(cls) -> list[Opt]:
        """Every option the family's command takes, in help order: the model, its own, the pipeline's."""
        return [model_opt("model", "-m", cls.default_model, cls.model_help), *cls.own_options, *PIPELINE]

    @classmethod
    def build_options(cls, given: dict, cli: bool = False) -> Options:
        """The options of one run: from a command line's keyword arguments or from the Python API's keywords,
        with the family's fixed options on top."""
        opts = Options.from_cli(cls.options(), given) if cli else Options.build(cls.options(), given, cls.name)
        return opts.replace(**cls.fixed)

    @classmethod
    def create(cls, opts: Options) -> Family:
        """The family for these options: models resolved, flags checked against what the model is."""
        return cls(resolve_from_options(opts.model, opts), opts)

    @classmethod
    def accepts(cls, model: ov.Model, spec: ModelSpec) -> bool:
        """Whether a model of unknown family is one of ours (for `ovdemo.load`): a decoder fits it."""
        return any(d.fits(model) for d in cls.decoders.values())

    def object_names(self) -> tuple[str, ...] | None:
        """The class names its objects can have, once prepared (None: not known)."""
        return None

    def read_model(self) -> ov.Model:
        """The main model, read once (a fresh copy each time `prepare` may reshape it is not needed)."""
        if self._ov_model is None:
            self._ov_model = read_model(self.model.source)
        return self._ov_model

    def labels(self, spec: ModelSpec | None = None) -> tuple[str, ...] | None:
        """--labels, else the spec's class names."""
        if self.opts.get("labels"):
            return load_labels(self.opts.labels)
        spec = spec or self.model.spec
        return spec.labels

    def threshold(self, spec: ModelSpec | None = None) -> float:
        """-t, else the spec's threshold."""
        value = self.opts.get("threshold")
        return float(value) if value is not None else (spec or self.model.spec).threshold

    # -- hooks, in the order the pipeline calls them

    def start(self, ctx: RunContext) -> None:
        """Compile second-stage models, read the frame size (default: nothing)."""

    def load_model(self) -> ov.Model:
        return self.read_model()

    def prepare(self, model: ov.Model) -> None:
        raise NotImplementedError

    def input_crop(self, frame_size: tuple[int, int]) -> tuple[int, int, int, int] | None:
        """The region (x1, y1, x2, y2) of a (w, h) frame the main model sees; None: the whole frame."""
        return None

    def needs_inference(self, frame: Frame) -> bool:
        return True

    def postprocess(self, outputs: ModelOutputs | None, frame: Frame) -> Result:
        raise NotImplementedError

    def complete(self, result: Result, frame: Frame) -> Result:
        return result

    def after_tracking(self, result: Result, frame: Frame) -> Result:
        return result

    def annotators(self) -> list[Annotator]:
        """What the family draws on a frame, in order (`common/annotators.py`): boxes and captions by default."""
        return [ObjectAnnotator()]

    def draw(self, image: np.ndarray, result: Result, style: Style) -> None:
        """The family's annotators on `image` (a tracked stream's zones and trails are the runner's to add)."""
        annotate(image, result, style, self.annotators())

    def finish(self) -> None:
        """Flush the family's own files and wait for its stages (default: nothing)."""
