"""What every action family shares: the command's name, help and options. `ActionFamily.create` (action.py)
picks the variant for a model, each a whole family with its own hooks: `WindowAction` (encoder-decoder and
mean) and `ClipAction` (clip models) in action_clip.py, `PeopleAction` (per-person detectors) in
action_people.py. Their hooks' defaults are `Family`'s."""

from __future__ import annotations

from dataclasses import replace

import click

from ovdemo.common.engine.family import Family
from ovdemo.common.options import CLASSIFY, DRAWING, LABELS, THRESHOLD, TRACKING, Alias, Opt, model_opt

from .decoders import DECODERS

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


class ActionBase(Family):
    """Recognise actions in video: clip-level or per person. A variant is built by `ActionFamily.create`,
    which tells the kinds of model apart; clip-level actions have no boxes (the pipeline refuses --track)."""

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
    boxes = False
