"""The second-stage contract: how a model run on the objects of every frame (faces, people, plates, words), or
once per frame on what the frame carries (a window of features, a clip of frames), is added to a family, written
once.

A reader says what one second model means: `bind` finds the outputs (and inputs) it reads on the model as read
(by name, else by shape) and raises a one-line `mismatch` when they do not fit. A `Reader` runs on objects:
`select` picks the objects it runs on; `crops` cuts their batch; `apply` writes the decoded outputs into the
objects' data; `defaults` gives every object the keys before it answers. A `FrameReader` runs once per frame:
`inputs` gives the frame's batch (or nothing to run), `apply` reads the outputs in frame order. `SecondModel`
compiles the model around its reader (`Stage` calls `bind`) and is the one place an `ObjectStage` or a
`FrameStage` is built. What a model's outputs mean is data where it can be: its spec (assets/models/*.toml,
e.g. classify.toml's `attributes`, face.toml's `outputs`) names them. docs/writing-a-family.md walks
through adding one.
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np
import openvino as ov

from ..errors import DemoError
from ..io.capture import Frame
from ..models.resolve import ResolvedModel
from ..results import Detections, Result
from .inference import InferenceConfig, ModelOutputs, describe_ports, find_port
from .stages import Batch, FrameStage, ObjectStage, Stage, crops, expand_boxes


class ModelReader:
    """What every reader shares: the model it reads, its spec's parameters, and binding. Subclasses set `role`
    and `expects`, and write `bind`."""

    role = ""  # the stage's name: its summary row and timings key
    expects: ClassVar[str] = ""  # what `bind` looks for, in words, for the mismatch line
    image = True  # crops of the frame; False: arrays (`crops`/`inputs` return {input name: array})
    any_size = False  # a model of dynamic height or width is fine (the reader sizes its crops itself)
    max_batch = 32

    def __init__(self, model: ResolvedModel):
        self.model = model
        self.params = model.spec.params if model.spec else {}
        self._stage: Stage | None = None  # set by SecondModel once compiled: input size, batch sizes

    @property
    def stage(self) -> Stage:
        """The compiled stage: SecondModel sets it before `compiled`, and the pipeline runs a reader only then."""
        if self._stage is None:
            raise RuntimeError(f"{type(self).__name__} used before SecondModel compiled its model")
        return self._stage

    @stage.setter
    def stage(self, stage: Stage) -> None:
        self._stage = stage

    def bind(self, model: ov.Model) -> None:
        """Find the outputs this reader reads (the model may be changed here, e.g. an input folded away); raise
        `self.mismatch(...)` when it has none that fit."""
        raise NotImplementedError

    def compiled(self) -> None:
        """The model is compiled (`self.stage`): check what only that tells, e.g. its input size (default: nothing)."""

    def output_names(self, *default: str) -> tuple[str, ...]:
        """The output names the spec declares (`output`, a name or a list), else `default` (also for a model
        whose spec is another stage's: its names mean something else)."""
        if self.params.get("stage", self.role) != self.role:
            return default
        declared = self.params.get("output", default)
        return (declared,) if isinstance(declared, str) else tuple(declared)

    @staticmethod
    def find(model: ov.Model, names: tuple[str, ...], shape_test=None, only: bool = False):
        """An output by one of `names`, else by `shape_test`, else (with `only`) the model's single output;
        None when none fits."""
        port = find_port(model.outputs, names, shape_test)
        if port is None and only and len(model.outputs) == 1:
            port = model.output(0)
        return port

    def one_input(self, model: ov.Model, hint: str) -> None:
        """Refuse a model of more than one input, with `hint` saying what it should take."""
        if len(model.inputs) != 1:
            raise DemoError(f"{self.model.name} has {len(model.inputs)} inputs ({describe_ports(model.inputs)})", hint)

    def mismatch(self, model: ov.Model) -> DemoError:
        return DemoError(f"{self.model.name} does not fit the {self.role} stage",
                         f"expected {self.expects}; it has {describe_ports(model.outputs)}")


class Reader(ModelReader):
    """A model run on the objects of every frame. Subclasses write `bind` and `apply`; the defaults run on every
    object, cut each box grown by the spec's `roi_scale`/`roi_square`/`roi_pad` at the model's input size, and
    write no defaults."""

    # how a box is grown before the crop, where the model's spec does not say (roi_scale, roi_square, roi_pad)
    roi_scale, roi_square, roi_pad = 1.0, False, 0.0

    def __init__(self, model: ResolvedModel):
        super().__init__(model)
        self.roi_scale = float(self.params.get("roi_scale", self.roi_scale))
        self.roi_square = bool(self.params.get("roi_square", self.roi_square))
        self.roi_pad = float(self.params.get("roi_pad", self.roi_pad))

    def select(self, objects: Detections) -> np.ndarray:
        return np.arange(len(objects))

    def regions(self, boxes: np.ndarray) -> np.ndarray:
        """The regions cut for these boxes: grown about their centre, made square, padded, as the spec says."""
        regions = expand_boxes(boxes, self.roi_scale, self.roi_square)
        return regions + np.array([-self.roi_pad, -self.roi_pad, self.roi_pad, self.roi_pad], np.float32) \
            if self.roi_pad else regions

    def crops(self, image: np.ndarray, objects: Detections,
              indices: np.ndarray) -> Batch | list[tuple[np.ndarray, Batch]]:
        """The batch for the objects of `indices` (or (indices, batch) groups, e.g. words grouped by width)."""
        return crops(image, self.regions(objects.xyxy[indices]), self.stage.crop_size)

    def apply(self, objects: Detections, indices: np.ndarray, outputs: ModelOutputs) -> None:
        raise NotImplementedError

    def defaults(self, objects: Detections) -> None:
        """The data this reader writes, before it answers: every object of every frame has the keys."""


class FrameReader(ModelReader):
    """A model run once per frame on something the frame's result carries, not on its objects (a window of
    per-frame features, a clip of prepared frames). Subclasses write `bind`, `inputs` and `apply`; its inputs are
    arrays, one frame's at a time."""

    image = False
    max_batch = 1

    def inputs(self, result: Result, frame: Frame) -> Batch | None:
        """The batch to run for this frame, {input name: array}; None: nothing to run on it. Called in frame
        order as each frame is decoded."""
        raise NotImplementedError

    def apply(self, result: Result, frame: Frame, outputs: ModelOutputs) -> None:
        """Read a frame's outputs: called in frame order as the frame is emitted (stateful decoding, e.g.
        smoothing over predictions, sees the frames in order)."""
        raise NotImplementedError


class SecondModel:
    """A second model compiled around its reader (bound once, when read), and the stage the pipeline runs: an
    `ObjectStage` for a `Reader`, a `FrameStage` for a `FrameReader`."""

    def __init__(self, reader: ModelReader, config: InferenceConfig, *, ov_model: ov.Model | None = None):
        self.reader = reader
        self.stage = Stage(reader.model, config, reader=reader, image=reader.image, any_size=reader.any_size,
                           max_batch=reader.max_batch, ov_model=ov_model)
        reader.stage = self.stage
        reader.compiled()

    def object_stage(self, role: str | None = None, after: str | None = None) -> ObjectStage:
        """The stage, named by `role` (default: the reader's), starting once the stage `after` has answered."""
        reader = self.reader
        if not isinstance(reader, Reader):
            raise TypeError(f"{type(reader).__name__} reads frames, not objects: use frame_stage()")
        return ObjectStage(role or reader.role, self.stage, apply=reader.apply, select=reader.select,
                           batch=reader.crops, after=after, defaults=reader.defaults)

    def frame_stage(self) -> FrameStage:
        """The stage run once per frame, named by the reader's role."""
        reader = self.reader
        if not isinstance(reader, FrameReader):
            raise TypeError(f"{type(reader).__name__} reads objects, not frames: use object_stage()")
        return FrameStage(reader.role, self.stage, reader.inputs, reader.apply)

    def wait_all(self) -> None:
        self.stage.wait_all()
