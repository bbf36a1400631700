"""Clip-level actions: one action for the whole frame, from a window of frames. Two of the action families
`ActionFamily.create` picks from: `WindowAction` (modes encoder-decoder and mean) and `ClipAction` (mode clip):
  * encoder-decoder (action-recognition-0001, driver-action-recognition-adas-0002): the main model, an encoder,
    embeds each frame's centre crop; a decoder stage reads a sliding window of the last N embeddings every
    --stride frames;
  * mean (weld-porosity-detection-0001, or any per-frame classifier with --seq N): the main model's per-frame
    scores averaged over N frames;
  * clip (asl-recognition-0004 [1,3,16,224,224], common-sign-language-0002 [1,3,8,224,224], i3d-rgb-tf
    [1,79,224,224,3]): one network reads a stack of T frames. The pipeline's main model is then a per-frame
    identity built here at the clip model's frame size, so each frame's centre crop, resize, colour order and
    mean/scale (from the clip model's spec) run asynchronously inside OpenVINO like any model's preprocessing
    and come back as one prepared frame. The last T prepared frames, stacked in the clip model's layout, go
    to the clip model every --stride of them.
The decoder and the clip model are second models on the one contract (common/engine/second_stage.py): each has a
`FrameReader` (`DecoderReader`, `ClipReader`) that binds it and feeds it the window due on a frame. Softmax, top-k
and smoothing are `ClipClassifier`'s; each frame's result is a `Classification`, no objects.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import cv2
import numpy as np
import openvino as ov
import openvino.opset13 as ops

from ovdemo.common.annotators import Annotator
from ovdemo.common.draw import Style, color_for, draw_label, draw_score_bar
from ovdemo.common.engine.family import PerStream, RunContext
from ovdemo.common.engine.inference import ModelOutputs, describe_ports, input_layout, model_input_size
from ovdemo.common.engine.second_stage import FrameReader, SecondModel
from ovdemo.common.errors import DemoError
from ovdemo.common.io.capture import Frame
from ovdemo.common.models.resolve import ResolvedModel
from ovdemo.common.models.specs import ModelSpec
from ovdemo.common.results import Result

from .base import ActionBase
from .sequence import ClipClassifier, centre_crop

CLIP_LAYOUTS = ("NCTHW", "NTHWC")  # batch, channels, time (frames), height, width
COLLECTING = (160, 160, 160)  # the "collecting frames" bar


def single_output(model: ov.Model, what: str) -> int:
    """The size of a model's one output (its batch may be dynamic)."""
    if len(model.outputs) != 1:
        raise DemoError(f"the {what} should have one output", f"it has {describe_ports(model.outputs)}")
    shape = model.output(0).get_partial_shape()
    if shape.rank.is_dynamic or any(d.is_dynamic for d in list(shape)[1:]):
        raise DemoError(f"the {what}'s output shape {shape} is dynamic", "expected a static shape")
    return int(np.prod([d.get_length() for d in list(shape)[1:]]))


def only_output(outputs: ModelOutputs) -> np.ndarray:
    """The array of a model `single_output` checked (an identity's output may have no tensor name)."""
    return next(iter(outputs))[1]


def reads_clips(model: ov.Model) -> bool:
    """One input of rank 5, [1, 3, T, H, W] or [1, T, H, W, 3]: a stack of frames."""
    rank = model.input(0).get_partial_shape().rank if len(model.inputs) == 1 else None
    return rank is not None and rank.is_static and rank.get_length() == 5


def clip_layout(shape: list[int], declared: str | None) -> str:
    """Where the frames and the colour channels sit: as the spec declares, else where the 3 channels are."""
    if declared:
        if declared.upper() not in CLIP_LAYOUTS:
            raise DemoError(f"clip_layout {declared} is not supported", f"use one of {', '.join(CLIP_LAYOUTS)}")
        return declared.upper()
    if shape[1] == 3:
        return "NCTHW"
    if shape[4] == 3:
        return "NTHWC"
    raise DemoError(f"cannot tell where the colour channels are in the clip input {shape}",
                    "expected [1, 3, T, H, W] or [1, T, H, W, 3]")


@dataclass
class ClipStream:
    """One stream's window of frames, and the windows and predictions waiting for their frames."""

    clips: ClipClassifier
    due: dict[int, np.ndarray] = field(default_factory=dict)  # frame -> its window, for the stage to classify
    scores: dict[int, np.ndarray] = field(default_factory=dict)  # frame -> its window's class scores


class WindowReader(FrameReader):
    """A model that classifies a window of frames once it is due: `due(frame)` gives the frame's window (None:
    none is due on it), `scored(frame, scores)` takes the window's class scores. Both are the family's, which
    keeps each stream's windows; `bind` finds the window's size and the number of classes."""

    def __init__(self, model: ResolvedModel, due: Callable[[Frame], np.ndarray | None],
                 scored: Callable[[Frame, np.ndarray], None]):
        super().__init__(model)
        self.due, self.scored = due, scored
        self.window_size = self.num_classes = 0

    def apply(self, result: Result, frame: Frame, outputs: ModelOutputs) -> None:
        self.scored(frame, only_output(outputs))


class DecoderReader(WindowReader):
    """The decoder of an encoder-decoder model: the last N per-frame embeddings [1, N, embedding] in, the
    window's class scores out."""

    role = "decoder"
    expects = "one input [1, frames, embedding]"

    def bind(self, model: ov.Model) -> None:
        rank = model.input(0).get_partial_shape().rank if len(model.inputs) == 1 else None
        if rank is None or rank.is_dynamic or rank.get_length() != 3 \
                or model.input(0).get_partial_shape()[1].is_dynamic:
            raise DemoError(f"{self.model.name} is not an action decoder",
                            f"expected {self.expects}; it has {describe_ports(model.inputs)}")
        shape = model.input(0).get_partial_shape()
        self.window_size, self.embedding_size = shape[1].get_length(), shape[2].get_length()
        self.num_classes = single_output(model, "decoder")
        self.input_name = model.input(0).get_any_name()

    def inputs(self, result: Result, frame: Frame) -> dict | None:
        window = self.due(frame)
        return None if window is None else {self.input_name: window[np.newaxis].astype(np.float32)}


class ClipReader(WindowReader):
    """A clip model: the last T prepared frames stacked [1, 3, T, H, W] or [1, T, H, W, 3] (as the spec's
    `clip_layout` says, else where the 3 channels are) in, the clip's class scores out."""

    role = "clip"
    expects = "one static input [1, 3, T, H, W] or [1, T, H, W, 3]"

    def bind(self, model: ov.Model) -> None:
        shape = model.input(0).get_partial_shape() if len(model.inputs) == 1 else None
        if shape is None or shape.rank.is_dynamic or shape.rank.get_length() != 5 or shape.is_dynamic:
            raise DemoError(f"{self.model.name} is not a clip model",
                            f"expected {self.expects}; it has {describe_ports(model.inputs)}")
        dims = [d.get_length() for d in shape]
        self.layout = clip_layout(dims, self.params.get("clip_layout"))
        _, t, h, w = (dims[0], dims[2], dims[3], dims[4]) if self.layout == "NCTHW" else dims[:4]
        self.window_size, self.input_size = t, (w, h)
        self.num_classes = single_output(model, "clip model")
        self.input_name = model.input(0).get_any_name()
        self.dtype = model.input(0).get_element_type().to_dtype()

    def inputs(self, result: Result, frame: Frame) -> dict | None:
        """The window due on this frame: (T, 3, H, W) prepared frames, oldest first, in the clip's layout."""
        window = self.due(frame)
        if window is None:
            return None
        clip = window.transpose(1, 0, 2, 3) if self.layout == "NCTHW" else window.transpose(0, 2, 3, 1)
        return {self.input_name: clip[np.newaxis].astype(self.dtype)}


class ClipActionAnnotator:
    """The centre crop the model sees, and the action with the window's best ones and their bars, bottom
    left (--hide-labels drops the names, --hide-conf the numbers and bars, --hide-boxes the crop)."""

    def __init__(self, family: WindowAction):
        self.family = family

    def annotate(self, image: np.ndarray, result: Result, style: Style) -> None:
        c = result.classification
        assert c is not None  # complete() gives every frame its classification (collecting frames, at first)
        h, w = image.shape[:2]
        crop = self.family.input_crop((w, h))
        if style.boxes and crop is not None and (crop[2] - crop[0], crop[3] - crop[1]) != (w, h):
            cv2.rectangle(image, crop[:2], (crop[2] - 1, crop[3] - 1), (200, 200, 200), 1)
        rows = []
        if c.top_ids is None or c.top_scores is None:  # (set together, by the first window scored)
            rows.append(("collecting frames", f"{c.buffered}/{c.window_size}", c.buffered / c.window_size,
                         COLLECTING))
        else:
            if c.label is not None:
                rows.append((c.label_name(c.label), f"{c.confidence:.2f}", c.confidence, color_for(c.label)))
            for label_id, score in zip(c.top_ids, c.top_scores, strict=True):
                rows.append((f"  {c.label_name(int(label_id))}", f"{score:.2f}", float(score),
                             color_for(int(label_id))))
        if not (style.labels or style.confidence):
            return
        bar = max(w // 5, 60)
        line_h = int(30 * style.font_scale / 0.5) + 6
        y = h - 8 - line_h * len(rows)
        for name, number, score, color in rows:
            text = " ".join(part for part, shown in ((name, style.labels), (number, style.confidence)) if shown)
            draw_label(image, text, 8, y + line_h - 6, color, style)
            if style.confidence:
                draw_score_bar(image, 8, y + line_h - 5, bar, score, color, style)
            y += line_h


class WindowAction(ActionBase):
    """Modes encoder-decoder and mean: the main model embeds (or classifies) each frame's centre crop, and a
    window of its outputs makes one prediction (the decoder's, or their mean over `window` frames).
    `label_spec` is the spec whose labels name the classes when --labels does not (default: the model's; an
    encoder/decoder composite's own)."""

    def __init__(self, model: ResolvedModel, opts, ov_model: ov.Model | None = None, *,
                 decoder: ResolvedModel | None = None, window: int | None = None, label_spec: ModelSpec | None = None):
        super().__init__(model, opts, ov_model)
        self.decoder, self.window = decoder, window
        self.names = self.labels(label_spec)
        self.second: SecondModel | None = None  # the decoder, or ClipAction's clip model
        self.input_size: tuple[int, int] | None = None

    def start(self, ctx: RunContext) -> None:
        if self.decoder is not None:
            self.second = SecondModel(DecoderReader(self.decoder, self._due, self._scored), ctx.config)
            self.stages = [self.second.frame_stage()]

    def _due(self, frame: Frame) -> np.ndarray | None:
        """The window due on this frame, for the stage to classify (None: none is)."""
        return self.streams[frame].due.pop(frame.index, None)

    def _scored(self, frame: Frame, scores: np.ndarray) -> None:
        self.streams[frame].scores[frame.index] = scores

    def prepare(self, model: ov.Model) -> None:
        outputs = single_output(model, "encoder" if self.second else "model")
        if self.second is not None:
            decoder = self.second.reader
            assert isinstance(decoder, DecoderReader)  # start() built the second model around the decoder's reader
            if outputs != decoder.embedding_size:
                raise DemoError(f"{self.model.name} embeds frames in {outputs} values but {decoder.model.name} "
                                f"reads {decoder.embedding_size}", "pass the encoder and decoder of one model")
            self.window_size, self.num_classes = decoder.window_size, decoder.num_classes
        else:
            self.window_size, self.num_classes = self.window or 16, outputs
        self.input_size = model_input_size(model, input_layout(model, self.model.spec))
        self._classifier()

    def _classifier(self) -> None:
        """Window, labels, softmax, top-k and smoothing; the windows due wait here for their class scores."""
        names = self.names or self._spec_labels()
        if names and len(names) != self.num_classes:
            raise DemoError(f"{len(names)} labels for {self.num_classes} classes",
                            "pass --labels with one name per class of this model")
        names = names or tuple(f"#{i}" for i in range(self.num_classes))
        values = self.values
        self.streams = PerStream(lambda: ClipStream(ClipClassifier(names, self.window_size, values.stride,
                                                                   values.top_k, values.smooth)))

    def _spec_labels(self) -> tuple[str, ...] | None:
        for resolved in (self.decoder, self.model):
            if resolved is not None and resolved.spec.labels:
                return resolved.spec.labels
        return None

    def input_crop(self, frame_size: tuple[int, int]) -> tuple[int, int, int, int] | None:
        """The pipeline shows the main model only the frame's centre crop."""
        return centre_crop(frame_size, self.input_size) if self.input_size else None

    def needs_inference(self, frame: Frame) -> bool:
        return True  # every frame's vector joins the window

    def postprocess(self, outputs: ModelOutputs | None, frame: Frame) -> Result:
        assert outputs is not None  # needs_inference is always True here: every frame ran the main model
        self.window_due(frame, only_output(outputs).reshape(-1).astype(np.float32))
        return Result()

    def window_due(self, frame: Frame, vector: np.ndarray) -> None:
        """Add a frame's vector; a window due goes to the stage, or (mode mean) is averaged at once."""
        state = self.streams[frame]
        window = state.clips.push(frame.index, vector)
        if window is None:
            return
        if self.stages:
            state.due[frame.index] = window
        else:
            state.scores[frame.index] = window.mean(axis=0)

    def complete(self, result: Result, frame: Frame) -> Result:
        """In frame order, with its window's scores when one was classified: what the frame shows."""
        state = self.streams[frame]
        result.classification = state.clips.classification(frame.index, state.scores.pop(frame.index, None))
        return result

    def annotators(self) -> list[Annotator]:
        return [ClipActionAnnotator(self)]

    def finish(self) -> None:
        if self.second is not None:
            self.second.wait_all()


class ClipAction(WindowAction):
    """Mode clip: `model` is the clip model, run as a stage on stacks of prepared frames; the pipeline runs
    the per-frame identity `load_model` builds. `clip_model` is the clip model when `create` read it already."""

    def __init__(self, model: ResolvedModel, opts, *, clip_model: ov.Model | None = None):
        super().__init__(model, opts)
        self.clip_model = clip_model
        params = model.spec.params
        self.crop_fraction = float(params.get("crop", 1.0))
        self.sample_every = [1]  # per stream

    def start(self, ctx: RunContext) -> None:
        clip = ClipReader(self.model, self._due, self._scored)
        self.second = SecondModel(clip, ctx.config, ov_model=self.clip_model)
        self.stages = [self.second.frame_stage()]
        self.window_size, self.input_size, self.num_classes = clip.window_size, clip.input_size, clip.num_classes
        self.clip_model = None  # compiled: the graph is not needed any more
        fps = self.model.spec.params.get("fps")
        # clips trained at a fixed frame rate (15 FPS) see every n-th frame of a faster source (each stream's own)
        self.sample_every = [max(1, round(rate / float(fps))) if fps else 1 for rate in ctx.fps]

    def load_model(self) -> ov.Model:
        """One frame in, the same frame out: the pipeline embeds the clip model's preprocessing into it."""
        w, h = self.clip_size
        frame = ops.parameter([1, 3, h, w], ov.Type.f32, name="frame")
        return ov.Model([ops.result(frame)], [frame], "clip-frame")

    def prepare(self, model: ov.Model) -> None:
        self._classifier()

    def input_crop(self, frame_size: tuple[int, int]) -> tuple[int, int, int, int]:
        return centre_crop(frame_size, self.clip_size, self.crop_fraction)

    @property
    def clip_size(self) -> tuple[int, int]:
        """The clip model's frame size (w, h), which start() reads before the pipeline asks for anything else."""
        assert self.input_size is not None, "ClipAction used before start()"
        return self.input_size

    def needs_inference(self, frame: Frame) -> bool:
        return frame.index % self.sample_every[frame.stream] == 0

    def postprocess(self, outputs: ModelOutputs | None, frame: Frame) -> Result:
        if outputs is not None:  # a frame between two sampled ones adds nothing: the latest prediction stands
            self.window_due(frame, only_output(outputs)[0])
        return Result()
