"""The second-stage contract: how a model run on the objects of every frame (faces, people, plates, words) is
added to a family, written once.

A `Reader` says what one second model means: `bind` finds the outputs it reads on the model as read (by name,
else by shape) and raises a one-line `mismatch` when they do not fit; `select` picks the objects it runs on;
`crops` cuts their batch; `apply` writes the decoded outputs into the objects' data; `defaults` gives every
object the keys before it answers. `SecondModel` compiles the model around its reader (`Stage` calls `bind`)
and is the one place an `ObjectStage` is built from it. What a model's outputs mean is data where it can be:
its spec (assets/models/*.toml, e.g. classify.toml's `attributes`, face.toml's `outputs`) names them.
docs/writing-a-second-model.md walks through adding one.
"""

from __future__ import annotations

import numpy as np
import openvino as ov

from ..errors import DemoError
from ..models.resolve import ResolvedModel
from ..results import Detections
from .inference import InferenceConfig, ModelOutputs, describe_ports, find_port
from .stages import Batch, ObjectStage, Stage, crops, expand_boxes


class Reader:
    """One second model's meaning. Subclasses set `role` and `expects`, and write `bind` and `apply`; the
    defaults run on every object, cut each box grown by the spec's `roi_scale`/`roi_square`/`roi_pad` at the
    model's input size, and write no defaults."""

    role = ""  # the stage's name: its summary row and timings key
    expects = ""  # what `bind` looks for, in words, for the mismatch line
    image = True  # crops of the frame; False: arrays the objects carry (`crops` returns {input name: array})
    any_size = False  # a model of dynamic height or width is fine (the reader sizes its crops itself)
    max_batch = 32
    # how a box is grown before the crop, where the model's spec does not say (roi_scale, roi_square, roi_pad)
    roi_scale, roi_square, roi_pad = 1.0, False, 0.0

    def __init__(self, model: ResolvedModel):
        self.model = model
        self.params = model.spec.params if model.spec else {}
        self.roi_scale = float(self.params.get("roi_scale", self.roi_scale))
        self.roi_square = bool(self.params.get("roi_square", self.roi_square))
        self.roi_pad = float(self.params.get("roi_pad", self.roi_pad))
        self.stage: Stage | None = None  # set by SecondModel once compiled: input size, batch sizes

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
        return crops(image, self.regions(objects.xyxy[indices]), self.stage.input_size)

    def apply(self, objects: Detections, indices: np.ndarray, outputs: ModelOutputs) -> None:
        raise NotImplementedError

    def defaults(self, objects: Detections) -> None:
        """The data this reader writes, before it answers: every object of every frame has the keys."""


class SecondModel:
    """A second model compiled around its reader (bound once, when read), and the stage the pipeline runs."""

    def __init__(self, reader: Reader, config: InferenceConfig, *, ov_model: ov.Model | None = None):
        self.reader = reader
        self.stage = Stage(reader.model, config, reader=reader, image=reader.image, any_size=reader.any_size,
                           max_batch=reader.max_batch, ov_model=ov_model)
        reader.stage = self.stage
        reader.compiled()

    def object_stage(self, role: str | None = None, after: str | None = None) -> ObjectStage:
        """The stage, named by `role` (default: the reader's), starting once the stage `after` has answered."""
        reader = self.reader
        return ObjectStage(role or reader.role, self.stage, apply=reader.apply, select=reader.select,
                           batch=reader.crops, after=after, defaults=reader.defaults)

    def wait_all(self) -> None:
        self.stage.wait_all()
