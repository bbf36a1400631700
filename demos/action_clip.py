"""Clip models: one network reads a stack of T frames and classifies the clip (asl-recognition-0004
[1,3,16,224,224], common-sign-language-0002 [1,3,8,224,224], i3d-rgb-tf [1,79,224,224,3]).

The pipeline's main model is a per-frame identity built here at the clip model's frame size, so each frame's
centre crop, resize, colour order and mean/scale (from the clip model's spec) run asynchronously inside
OpenVINO like any model's preprocessing, and come back as one prepared frame. The last T prepared frames,
stacked in the clip model's layout, go to the clip model every --stride of them; softmax, top-k and smoothing
are the encoder/decoder path's (SequenceTask, ClipClassifier).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import openvino as ov
import openvino.opset13 as ops

from ovdemo.common.capture import Frame
from ovdemo.common.errors import DemoError
from ovdemo.common.inference import ModelOutputs, describe_ports
from ovdemo.common.pipeline import RunContext
from ovdemo.common.stages import Stage

from .action import SequenceTask, _single_output, centre_crop
from .action_sequence import ClipActions

CLIP_LAYOUTS = ("NCTHW", "NTHWC")  # batch, channels, time (frames), height, width


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
class ClipTask(SequenceTask):
    """`model` is the clip model; the pipeline runs the per-frame identity that `load_model` builds."""

    def start(self, ctx: RunContext) -> None:
        self.frame_size = ctx.frame_size
        self.stage = Stage(self.model, ctx.config, image=False, check=self._check_clip, max_batch=1)
        params = self.model.spec.params if self.model.spec else {}
        # clips trained at a fixed frame rate (15 FPS) see every n-th frame of a faster source
        self.sample_every = max(1, round(ctx.fps / float(params["fps"]))) if params.get("fps") else 1
        self.crop_fraction = float(params.get("crop", 1.0))

    def _check_clip(self, model: ov.Model) -> None:
        shape = model.input(0).get_partial_shape() if len(model.inputs) == 1 else None
        if shape is None or shape.rank.is_dynamic or shape.rank.get_length() != 5 or shape.is_dynamic:
            raise DemoError(f"{self.model.name} is not a clip model", "expected one static input [1, 3, T, H, W] "
                            f"or [1, T, H, W, 3]; it has {describe_ports(model.inputs)}")
        dims = [d.get_length() for d in shape]
        params = self.model.spec.params if self.model.spec else {}
        self.layout = clip_layout(dims, params.get("clip_layout"))
        _, t, h, w = (dims[0], dims[2], dims[3], dims[4]) if self.layout == "NCTHW" else dims[:4]
        self.window_size, self.input_size = t, (w, h)
        self.num_classes = _single_output(model, "clip model")
        self.clip_input = model.input(0).get_any_name()
        self.clip_dtype = model.input(0).get_element_type().to_dtype()

    def load_model(self) -> ov.Model:
        """One frame in, the same frame out: the pipeline embeds the clip model's preprocessing into it."""
        w, h = self.input_size
        frame = ops.parameter([1, 3, h, w], ov.Type.f32, name="frame")
        return ov.Model([ops.result(frame)], [frame], "clip-frame")

    def prepare(self, model: ov.Model) -> None:
        self._classifier(self._classify)

    def input_crop(self, frame_size: tuple[int, int]) -> tuple[int, int, int, int]:
        return centre_crop(frame_size, self.input_size, self.crop_fraction)

    def needs_inference(self, index: int) -> bool:
        return index % self.sample_every == 0

    def _classify(self, window: np.ndarray) -> np.ndarray:
        """window: (T, 3, H, W) prepared frames, oldest first, stacked in the clip model's layout."""
        clip = window.transpose(1, 0, 2, 3) if self.layout == "NCTHW" else window.transpose(0, 2, 3, 1)
        pending = self.stage.submit({self.clip_input: clip[np.newaxis].astype(self.clip_dtype)})
        scores = pending.wait().arrays[0][1]
        self.stage_ms["clip"] = pending.infer_ms
        return scores

    def postprocess(self, outputs: ModelOutputs | None, frame: Frame) -> ClipActions:
        if outputs is None:  # a frame between two sampled ones: the latest prediction stands
            return self.clips.current()
        return self.clips.push(frame.index, outputs.arrays[0][1][0])
