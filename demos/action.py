"""`ovdemo action`: action recognition.

Four kinds of Open Model Zoo models, told apart by their spec (assets/models/action.toml), flags or input rank:
  * encoder + decoder (action-recognition-0001, driver-action-recognition-adas-0002): the encoder embeds
    each frame's centre crop; the decoder reads a sliding window of the last N embeddings every --stride frames;
  * a per-frame classifier averaged over a window (--seq; weld-porosity-detection-0001);
  * clip models reading a stack of frames (asl-recognition-0004, common-sign-language-0002, i3d-rgb-tf): see
    action_clip.py;
  * per-person action detectors (person-detection-action-recognition-0005/0006, ...): boxes and actions.
"""

from __future__ import annotations

from dataclasses import dataclass

import click
import cv2
import numpy as np
import openvino as ov

from ovdemo.common.capture import Frame
from ovdemo.common.draw import Style, color_for, draw_label, draw_score_bar
from ovdemo.common.errors import DemoError
from ovdemo.common.inference import ModelOutputs, describe_ports, input_layout, model_input_size
from ovdemo.common.models import ResolvedModel, looks_like_path, resolve_from_options
from ovdemo.common.options import PipelineOptions, model_option, pipeline_options
from ovdemo.common.pipeline import RunContext, run
from ovdemo.common.specs import find_spec, load_labels
from ovdemo.common.stages import Stage

from .action_people import PersonActionTask
from .action_sequence import ClipActions, ClipClassifier

DEFAULT_MODEL = "action-recognition-0001"
MODES = ("encoder-decoder", "mean", "detector", "clip")


def centre_crop(frame_size: tuple[int, int], input_size: tuple[int, int],
                fraction: float = 1.0) -> tuple[int, int, int, int]:
    """The largest centred region of the frame with the model input's aspect ratio: what an adaptive
    resize (shorter side to the input) followed by a centre crop keeps, as the encoders were trained.
    `fraction` keeps that share of it: 0.875 for a short side resized to 256 and the centre 224 kept."""
    (fw, fh), (iw, ih) = frame_size, input_size
    if fw * ih > fh * iw:  # frame wider than the input
        cw, ch = max(1, round(fh * iw / ih)), fh
    else:
        cw, ch = fw, max(1, round(fw * ih / iw))
    if fraction != 1.0:
        cw, ch = max(1, round(cw * fraction)), max(1, round(ch * fraction))
    x1, y1 = round((fw - cw) / 2), round((fh - ch) / 2)
    return x1, y1, x1 + cw, y1 + ch


def _single_output(model: ov.Model, what: str):
    if len(model.outputs) != 1:
        raise DemoError(f"the {what} should have one output", f"it has {describe_ports(model.outputs)}")
    shape = model.output(0).get_partial_shape()
    if shape.rank.is_dynamic or any(d.is_dynamic for d in list(shape)[1:]):  # the batch may be dynamic
        raise DemoError(f"the {what}'s output shape {shape} is dynamic", "expected a static shape")
    return int(np.prod([d.get_length() for d in list(shape)[1:]]))


@dataclass
class SequenceTask:
    """The main model embeds (or classifies) each frame; a window of its outputs makes one prediction."""

    model: ResolvedModel  # the encoder, or the per-frame classifier for mode "mean"
    decoder: ResolvedModel | None = None
    window: int | None = None  # --seq: frames averaged in mode "mean"
    labels: tuple[str, ...] | None = None
    k: int = 3
    stride: int = 1
    smooth: int = 1
    family: str = "action"

    def start(self, ctx: RunContext) -> None:
        self.frame_size = ctx.frame_size
        self.stage = None
        if self.decoder is not None:
            self.stage = Stage(self.decoder, ctx.config, image=False, check=self._check_decoder, max_batch=1)

    def _check_decoder(self, model: ov.Model) -> None:
        rank = model.input(0).get_partial_shape().rank if len(model.inputs) == 1 else None
        if rank is None or rank.is_dynamic or rank.get_length() != 3 \
                or model.input(0).get_partial_shape()[1].is_dynamic:
            raise DemoError(f"{self.decoder.name} is not an action decoder",
                            f"expected one input [1, frames, embedding]; it has {describe_ports(model.inputs)}")
        shape = model.input(0).get_partial_shape()
        self.window_size, self.embedding_size = shape[1].get_length(), shape[2].get_length()
        self.num_classes = _single_output(model, "decoder")
        self.decoder_input = model.input(0).get_any_name()

    def prepare(self, model: ov.Model) -> None:
        outputs = _single_output(model, "encoder" if self.stage else "model")
        if self.stage is not None:
            if outputs != self.embedding_size:
                raise DemoError(f"{self.model.name} embeds frames in {outputs} values but {self.decoder.name} "
                                f"reads {self.embedding_size}", "pass the encoder and decoder of one model")
            classify = self._decode
        else:
            self.window_size, self.num_classes = self.window or 16, outputs
            classify = self._mean
        self.input_size = model_input_size(model, input_layout(model, self.model.spec))
        self.output_name = model.output(0).get_any_name()
        self._classifier(classify)

    def _classifier(self, classify) -> None:
        """Window, labels, softmax, top-k and smoothing around `classify`: (window, ...) -> class scores."""
        names = self.labels or self._spec_labels()
        if names and len(names) != self.num_classes:
            raise DemoError(f"{len(names)} labels for {self.num_classes} classes",
                            "pass --labels with one name per class of this model")
        self.clips = ClipClassifier(names or tuple(f"#{i}" for i in range(self.num_classes)), self.window_size,
                                    self.stride, self.k, self.smooth, classify)
        self.stage_ms: dict[str, float] = {}

    def input_crop(self, frame_size: tuple[int, int]) -> tuple[int, int, int, int] | None:
        """The pipeline shows the encoder only the frame's centre crop."""
        return centre_crop(frame_size, self.input_size) if self.input_size else None

    def _spec_labels(self) -> tuple[str, ...] | None:
        for resolved in (self.decoder, self.model):
            if resolved is not None and resolved.spec and resolved.spec.labels:
                return resolved.spec.labels
        return None

    def _decode(self, window: np.ndarray) -> np.ndarray:
        pending = self.stage.submit({self.decoder_input: window[np.newaxis].astype(np.float32)})
        logits = pending.wait().arrays[0][1]
        self.stage_ms["decoder"] = pending.infer_ms
        return logits

    @staticmethod
    def _mean(window: np.ndarray) -> np.ndarray:
        return window.mean(axis=0)

    def postprocess(self, outputs: ModelOutputs, frame: Frame) -> ClipActions:
        return self.clips.push(frame.index, outputs.arrays[0][1].reshape(-1).astype(np.float32))

    def draw(self, image: np.ndarray, result: ClipActions, style: Style) -> None:
        h, w = image.shape[:2]
        crop = self.input_crop((w, h))
        if crop is not None and (crop[2] - crop[0], crop[3] - crop[1]) != (w, h):  # what the encoder sees
            cv2.rectangle(image, crop[:2], (crop[2] - 1, crop[3] - 1), (200, 200, 200), 1)
        bar = max(w // 5, 60)
        lines = []
        if result.latest is None:
            lines.append((f"collecting frames {result.buffered}/{result.window}", result.buffered / result.window,
                          (160, 160, 160)))
        else:
            if result.label is not None:
                lines.append((f"{result.name(result.label)} {result.confidence:.2f}", result.confidence,
                              color_for(result.label)))
            for label_id, score in zip(result.latest.ids, result.latest.scores, strict=True):
                lines.append((f"  {result.name(int(label_id))} {score:.2f}", float(score), color_for(int(label_id))))
        line_h = int(30 * style.font_scale / 0.5) + 6
        y = h - 8 - line_h * len(lines)
        for text, score, color in lines:
            draw_label(image, text, 8, y + line_h - 6, color, style)
            draw_score_bar(image, 8, y + line_h - 5, bar, score, color, style)
            y += line_h

    def record(self, result: ClipActions) -> dict:
        action = None
        if result.label is not None:
            action = {"label": result.name(result.label), "label_id": result.label,
                      "confidence": round(result.confidence, 4)}
        window = None
        if result.prediction is not None:
            p = result.prediction
            window = {"frames": [p.first_frame, p.last_frame], "top_k": [
                {"label": result.name(int(i)), "label_id": int(i), "confidence": round(float(s), 4)}
                for i, s in zip(p.ids, p.scores, strict=True)]}
        return {"action": action, "window": window}

    def raw_lines(self, result: ClipActions) -> list[str]:
        rec = self.record(result)
        lines = []
        if rec["action"]:
            lines.append(f"action {rec['action']['label']} {rec['action']['confidence']:.3f}")
        if rec["window"]:
            first, last = rec["window"]["frames"]
            lines += [f"window {first}-{last}: {t['label']} {t['confidence']:.3f}" for t in rec["window"]["top_k"]]
        return lines

    def finish(self) -> None:
        if getattr(self, "stage", None) is not None:
            self.stage.wait_all()


def _composite_stages(name: str) -> tuple[str, ...]:
    if looks_like_path(name):
        return ()
    from ovdemo.common.catalog import models

    entry = models().get(name)
    return entry.stages if entry else ()


def _reads_clips(model: ov.Model) -> bool:
    """One input of rank 5, [1, 3, T, H, W] or [1, T, H, W, 3]: a stack of frames."""
    rank = model.input(0).get_partial_shape().rank if len(model.inputs) == 1 else None
    return rank is not None and rank.is_static and rank.get_length() == 5


def _mode(name: str, main: ResolvedModel | None, decoder: str | None, seq: int | None) -> str:
    spec = find_spec(name) or (main.spec if main else None)
    declared = spec.params.get("mode") if spec else None
    model = None
    if main is not None and declared not in MODES:
        from ovdemo.common.inference import read_model

        model = read_model(main.path)
    if declared == "clip" or model is not None and _reads_clips(model):
        return "clip"  # before --decoder and --seq, which the command then refuses for it
    if decoder:
        return "encoder-decoder"
    if seq:
        return "mean"
    if declared in MODES:
        return declared
    if model is not None:
        outputs = {n for port in model.outputs for n in port.get_names()}
        if {"mbox_loc1/out/conv/flat", "ActionNet/out_detection_loc"} & outputs:
            return "detector"
    raise DemoError(f"cannot tell how to run {name} for actions",
                    "pass --decoder for an encoder, --seq N for a per-frame classifier, "
                    "or an Open Model Zoo action model")


@click.command(name="action")
@model_option(DEFAULT_MODEL, "Action model: an Open Model Zoo name (an encoder/decoder composite, a per-person "
                             "action detector or a per-frame classifier) or a .xml path (an encoder with --decoder).")
@click.option("--decoder", metavar="NAME|PATH", help="Decoder stage for an encoder given by path.")
@click.option("--labels", "labels_file", type=click.Path(dir_okay=False), help="Action names, one per line, by id.")
@click.option("--top-k", "top_k", type=click.IntRange(min=1), default=3, show_default=True,
              help="Actions listed per window and per person.")
@click.option("--stride", type=click.IntRange(min=1), default=1, show_default=True,
              help="Run the decoder (clip models: the clip model) every N frames of the window once it is full.")
@click.option("--smooth", type=click.IntRange(min=1), default=1, show_default=True,
              help="Keep the shown action until K predictions in a row agree on a new one.")
@click.option("--seq", type=click.IntRange(min=1), metavar="N",
              help="Average the model's per-frame scores over N frames (per-frame classifiers).")
@click.option("-t", "--threshold", type=click.FloatRange(0, 1),
              help="Person detection threshold for per-person models [default: the model's].")
@click.option("--action-threshold", type=click.FloatRange(0, 1),
              help="Below this confidence a person's action reads as the model's default one [default: 0.75].")
@click.option("--no-track", is_flag=True, help="Per-person models: do not track people between frames.")
@pipeline_options
def command(model, decoder, labels_file, top_k, stride, smooth, seq, threshold, action_threshold, no_track,
            **kwargs):
    """Recognise actions in video: clip-level (Kinetics-400, driver actions) or per person (classroom)."""
    opts = PipelineOptions.take(kwargs)
    labels = load_labels(labels_file) if labels_file else None
    stages = _composite_stages(model)
    per_person_flags = threshold is not None or action_threshold is not None or no_track
    if stages and per_person_flags:
        raise DemoError(f"{model} is a clip model", "-t, --action-threshold and --no-track are for "
                                                    "per-person action detectors")
    if stages:
        if len(stages) != 2 or decoder:
            raise DemoError(f"{model} has stages {', '.join(stages)}", "ovdemo action runs encoder/decoder pairs")
        encoder, decoder_model = (resolve_from_options(s, opts) for s in stages)
        spec = find_spec(model)
        if not labels and spec and spec.labels:
            labels = spec.labels
        task = SequenceTask(encoder, decoder_model, labels=labels, k=top_k, stride=stride, smooth=smooth)
        return run(task, opts)
    main = resolve_from_options(model, opts)
    mode = _mode(model, main, decoder, seq)
    if mode != "detector" and per_person_flags:
        raise DemoError(f"{main.name} is a clip model", "-t, --action-threshold and --no-track are for "
                                                        "per-person action detectors")
    if mode == "detector":
        if seq or decoder or stride != 1:
            raise DemoError(f"{main.name} is a per-person action detector",
                            "--seq, --decoder and --stride are for clip models")
        task = PersonActionTask(main, threshold, action_threshold, labels, top_k, smooth, track=not no_track)
    elif mode == "clip":
        if seq or decoder:
            raise DemoError(f"{main.name} is a clip model: it reads a stack of frames itself",
                            "--seq and --decoder are for per-frame models")
        from .action_clip import ClipTask  # late: ClipTask builds on SequenceTask, defined here

        task = ClipTask(main, labels=labels, k=top_k, stride=stride, smooth=smooth)
    elif mode == "encoder-decoder":
        if not decoder:
            raise DemoError(f"{main.name} is an encoder", "pass its decoder with --decoder NAME|PATH")
        task = SequenceTask(main, resolve_from_options(decoder, opts), labels=labels, k=top_k, stride=stride,
                            smooth=smooth)
    else:
        window = seq or int(main.spec.params.get("seq", 16) if main.spec else 16)
        task = SequenceTask(main, None, window=window, labels=labels, k=top_k, stride=stride, smooth=smooth)
    return run(task, opts)
