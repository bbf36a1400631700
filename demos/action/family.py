"""`ovdemo action`: action recognition, with any of four kinds of Open Model Zoo models. `create` tells them
apart by their spec (assets/models/action.toml), the flags, or the model's inputs and outputs (read once), and
builds the family of that kind (each a whole family, sharing `ActionBase`'s name and options):
  * encoder-decoder (action-recognition-0001, driver-action-recognition-adas-0002, or an encoder with
    --decoder-model) and mean (a per-frame classifier with --seq; weld-porosity-detection-0001): `WindowAction`;
    clip (asl-recognition-0004, common-sign-language-0002, i3d-rgb-tf): `ClipAction`; one action for the whole
    frame, from a window of frames (action_clip.py);
  * detector (person-detection-action-recognition-0005/0006, ...): `PeopleAction`, each person boxed with an
    action (action_people.py, decoded by action_detector.py).
"""

from __future__ import annotations

import openvino as ov

from ovdemo.common.engine.inference import read_model
from ovdemo.common.errors import DemoError
from ovdemo.common.models.catalog import models as catalog_models
from ovdemo.common.models.resolve import ResolvedModel, looks_like_path, resolve_from_options
from ovdemo.common.models.specs import ModelSpec, find_spec

from .base import ActionBase
from .clip import ClipAction, WindowAction, reads_clips
from .decoders import DECODERS
from .people import PeopleAction

MODES = ("encoder-decoder", "mean", "detector", "clip")


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


class ActionFamily(ActionBase):
    """The command's and the API's action family: `create` returns the variant for the model."""

    @classmethod
    def create(cls, opts) -> ActionBase:
        ref = opts.model
        stages = composite_stages(ref)
        if stages:  # an encoder/decoder composite by name
            refuse_person_flags(opts, ref)
            if len(stages) != 2 or opts.get("decoder_model"):
                raise DemoError(f"{ref} has stages {', '.join(stages)}", "ovdemo action runs encoder/decoder pairs")
            encoder, decoder = (resolve_from_options(s, opts) for s in stages)
            return WindowAction(encoder, opts, decoder=decoder, label_spec=find_spec(ref) or ModelSpec())
        main = resolve_from_options(ref, opts)
        mode, model = choose_mode(main, opts)
        if mode == "detector":
            if opts.get("seq") or opts.get("decoder_model") or opts.stride != 1:
                raise DemoError(f"{main.name} is a per-person action detector",
                                "--seq, --decoder-model and --stride are for clip-level models")
            if opts.smooth > 1 and not opts.get("track"):
                raise DemoError("--smooth keeps each person's action over their frames, which needs track ids",
                                "add --track")
            family = PeopleAction(main, opts, model)
            if not family.names:
                raise DemoError(f"no action names for {main.name}", "pass --labels FILE, one action per line")
            return family
        refuse_person_flags(opts, main.name)
        if mode == "clip":
            if opts.get("seq") or opts.get("decoder_model"):
                raise DemoError(f"{main.name} is a clip model: it reads a stack of frames itself",
                                "--seq and --decoder-model are for per-frame models")
            return ClipAction(main, opts, clip_model=model)
        if mode == "encoder-decoder":
            if not opts.get("decoder_model"):
                raise DemoError(f"{main.name} is an encoder", "pass its decoder with --decoder-model NAME|PATH")
            return WindowAction(main, opts, model, decoder=resolve_from_options(opts.decoder_model, opts))
        window = opts.get("seq") or int(main.spec.params.get("seq", 16))
        return WindowAction(main, opts, model, window=window)

    @classmethod
    def accepts(cls, model: ov.Model, spec: ModelSpec) -> bool:
        """A per-person action detector (by its outputs) or a clip model (a rank-5 input: a stack of frames).
        Encoders and per-frame classifiers look like any classifier: only their spec or flags tell."""
        return super().accepts(model, spec) or reads_clips(model)
