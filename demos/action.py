"""`ovdemo action`: action recognition, with any of four kinds of Open Model Zoo models. `create` tells them
apart by their spec (assets/models/action.toml), the flags, or the model's inputs and outputs (read once):
  * encoder-decoder (action-recognition-0001, driver-action-recognition-adas-0002, or an encoder with
    --decoder-model), mean (a per-frame classifier with --seq; weld-porosity-detection-0001) and clip
    (asl-recognition-0004, common-sign-language-0002, i3d-rgb-tf): one action for the whole frame, from a
    window of frames (action_clip.py);
  * detector (person-detection-action-recognition-0005/0006, ...): each person boxed with an action
    (action_people.py, decoded by action_detector.py).
"""

from __future__ import annotations

from dataclasses import replace

import click
import numpy as np
import openvino as ov

from ovdemo.common.capture import Frame
from ovdemo.common.catalog import models as catalog_models
from ovdemo.common.draw import Style
from ovdemo.common.errors import DemoError
from ovdemo.common.family import Family, RunContext
from ovdemo.common.inference import ModelOutputs, read_model
from ovdemo.common.models import ResolvedModel, looks_like_path, resolve_from_options
from ovdemo.common.options import CLASSIFY, DRAWING, LABELS, THRESHOLD, TRACKING, Alias, Opt, model_opt
from ovdemo.common.results import Result
from ovdemo.common.specs import ModelSpec, find_spec

from .action_clip import ClipActions, WindowActions, reads_clips
from .action_detector import DECODERS
from .action_people import PersonActions
from .action_sequence import ActionMode

MODES = ("encoder-decoder", "mean", "detector", "clip")

# --track is the one tracker, off by default as everywhere; --no-track (per-person tracking used to be on by
# default) is a hidden no-op kept for one release
TRACK = replace(TRACKING[0], help="Per-person models: track people across frames, each keeping an id (Kalman motion).",
                aliases=(Alias("--no-track", convert=lambda _: False),))
OWN_OPTIONS: tuple[Opt, ...] = (
    model_opt("decoder_model", "--decoder-model", None, "Decoder stage for an encoder given by path.",
              aliases=(Alias("--decoder"),)),
    replace(LABELS, help="Action names, one per line, by id."),
    Opt("top_k", ("--top-k",), "Actions listed per window of frames.", default=3, type=click.IntRange(1, 1000),
        show_default=True),
    Opt("stride", ("--stride",), "Run the decoder (clip models: the clip model) every N frames of the window once "
        "it is full.", default=1, type=click.IntRange(1, 1000), show_default=True),
    Opt("smooth", ("--smooth",), "Keep the shown action until K predictions in a row agree on a new one (per-person "
        "models: per track, with --track).", default=1, type=click.IntRange(1, 1000), show_default=True),
    Opt("seq", ("--seq",), "Average the model's per-frame scores over N frames (per-frame classifiers).",
        type=click.IntRange(1, 1000), metavar="N"),
    THRESHOLD.with_default(None, "Person detection threshold for per-person models [default: the model's]."),
    Opt("action_threshold", ("--action-threshold",), "Per-person models: below this confidence a person's action "
        "reads as the model's default one [default: the model's, else 0.75].", type=click.FloatRange(0, 1)),
    *DRAWING,
    TRACK, CLASSIFY, *TRACKING[1:],
)


def composite_stages(name: str) -> tuple[str, ...]:
    """The stages of an Open Model Zoo composite model (e.g. an encoder and a decoder), by name."""
    if looks_like_path(name):
        return ()
    entry = catalog_models().get(name)
    return entry.stages if entry else ()


def choose_mode(main: ResolvedModel, opts) -> tuple[str, ov.Model | None]:
    """The mode the spec declares, else the flags' (--decoder-model, --seq), else what the model is: a clip
    model by its rank-5 input, a person/action detector by its outputs. Also the model, when it was read."""
    declared = main.spec.params.get("mode")
    model = None if declared in MODES else read_model(main.source)
    if declared == "clip" or model is not None and reads_clips(model):
        return "clip", model  # before --decoder-model and --seq, which create then refuses for it
    if opts.get("decoder_model"):
        return "encoder-decoder", model
    if opts.get("seq"):
        return "mean", model
    if declared in MODES:
        return declared, model
    if model is not None and any(d.fits(model) for d in DECODERS.values()):
        return "detector", model
    raise DemoError(f"cannot tell how to run {main.name} for actions",
                    "pass --decoder-model for an encoder, --seq N for a per-frame classifier, "
                    "or an Open Model Zoo action model")


def refuse_person_flags(opts, name: str) -> None:
    if opts.get("threshold") is not None or opts.get("action_threshold") is not None:
        raise DemoError(f"{name} is a clip model", "-t and --action-threshold are for per-person action detectors")


class ActionFamily(Family):
    """Recognise actions in video: clip-level or per person. The mode `create` picks runs the hooks."""

    name = "action"
    summary = "Recognise actions in video: clip-level (Kinetics-400, driver actions) or per person (classroom)."
    default_model = "action-recognition-0001"
    model_help = ("Action model: an Open Model Zoo name (an encoder/decoder composite, a clip model, a per-person "
                  "action detector or a per-frame classifier) or a .xml path (an encoder with --decoder-model).")
    decoders = DECODERS
    examples = (
        "ovdemo action -i one-by-one-person-detection.mp4",
        "ovdemo action -m driver-action-recognition-adas-0002 -i one-by-one-person-detection.mp4 --output out.mp4 "
        "--stride 4 --smooth 3",
        "ovdemo action -m person-detection-action-recognition-0005 -i preview-classroom.gif --track --json out.jsonl",
        "ovdemo action -m asl-recognition-0004 -i asl-thanks.mkv --stride 4 --smooth 2",
    )
    own_options = OWN_OPTIONS

    def __init__(self, model: ResolvedModel, opts, ov_model: ov.Model | None = None):
        super().__init__(model, opts, ov_model)
        self.mode: ActionMode | None = None

    def _runs(self, mode: ActionMode) -> ActionFamily:
        self.mode, mode.timer = mode, self.timer
        self.boxes = mode.boxes  # clip-level actions have no boxes: the pipeline refuses --track for them
        return self

    @classmethod
    def create(cls, opts) -> ActionFamily:
        ref, k, stride, smooth = opts.model, opts.top_k, opts.stride, opts.smooth
        stages = composite_stages(ref)
        if stages:  # an encoder/decoder composite by name
            refuse_person_flags(opts, ref)
            if len(stages) != 2 or opts.get("decoder_model"):
                raise DemoError(f"{ref} has stages {', '.join(stages)}", "ovdemo action runs encoder/decoder pairs")
            encoder, decoder = (resolve_from_options(s, opts) for s in stages)
            family = cls(encoder, opts)
            labels = family.labels(find_spec(ref) or ModelSpec())
            return family._runs(WindowActions(encoder, decoder=decoder, labels=labels, k=k, stride=stride,
                                              smooth=smooth))
        main = resolve_from_options(ref, opts)
        mode, model = choose_mode(main, opts)
        if mode == "detector":
            if opts.get("seq") or opts.get("decoder_model") or stride != 1:
                raise DemoError(f"{main.name} is a per-person action detector",
                                "--seq, --decoder-model and --stride are for clip-level models")
            if smooth > 1 and not opts.get("track"):
                raise DemoError("--smooth keeps each person's action over their frames, which needs track ids",
                                "add --track")
            family = cls(main, opts, model)
            names = family.labels()
            if not names:
                raise DemoError(f"no action names for {main.name}", "pass --labels FILE, one action per line")
            return family._runs(PersonActions(main, names, family.threshold(), opts.get("action_threshold"),
                                              smooth))
        refuse_person_flags(opts, main.name)
        if mode == "clip":
            if opts.get("seq") or opts.get("decoder_model"):
                raise DemoError(f"{main.name} is a clip model: it reads a stack of frames itself",
                                "--seq and --decoder-model are for per-frame models")
            family = cls(main, opts)  # the pipeline runs a per-frame identity; the clip model is a stage
            return family._runs(ClipActions(main, ov_model=model, labels=family.labels(), k=k, stride=stride,
                                            smooth=smooth))
        family = cls(main, opts, model)
        if mode == "encoder-decoder":
            if not opts.get("decoder_model"):
                raise DemoError(f"{main.name} is an encoder", "pass its decoder with --decoder-model NAME|PATH")
            decoder = resolve_from_options(opts.decoder_model, opts)
            return family._runs(WindowActions(main, decoder=decoder, labels=family.labels(), k=k, stride=stride,
                                              smooth=smooth))
        window = opts.get("seq") or int(main.spec.params.get("seq", 16))
        return family._runs(WindowActions(main, window=window, labels=family.labels(), k=k, stride=stride,
                                          smooth=smooth))

    @classmethod
    def accepts(cls, model: ov.Model, spec: ModelSpec) -> bool:
        """A per-person action detector (by its outputs) or a clip model (a rank-5 input: a stack of frames).
        Encoders and per-frame classifiers look like any classifier: only their spec or flags tell."""
        return super().accepts(model, spec) or reads_clips(model)

    # -- hooks: the mode's

    def start(self, ctx: RunContext) -> None:
        self.mode.start(ctx)
        self.stages = self.mode.stages  # the mode's second stage (a decoder, a clip model), run by the pipeline

    def load_model(self) -> ov.Model:
        model = self.mode.load_model()
        return self.read_model() if model is None else model

    def object_names(self) -> tuple[str, ...] | None:
        return ("person",) if self.mode.boxes else None

    def prepare(self, model: ov.Model) -> None:
        self.mode.prepare(model)

    def input_crop(self, frame_size: tuple[int, int]) -> tuple[int, int, int, int] | None:
        return self.mode.input_crop(frame_size)

    def needs_inference(self, frame: Frame) -> bool:
        return self.mode.needs_inference(frame)

    def postprocess(self, outputs: ModelOutputs | None, frame: Frame) -> Result:
        return self.mode.postprocess(outputs, frame)

    def complete(self, result: Result, frame: Frame) -> Result:
        return self.mode.complete(result, frame)

    def after_tracking(self, result: Result, frame: Frame) -> Result:
        return self.mode.after_tracking(result, frame)

    def draw(self, image: np.ndarray, result: Result, style: Style) -> None:
        self.mode.draw(image, result, style)

    def finish(self) -> None:
        self.mode.finish()
