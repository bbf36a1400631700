"""`ovdemo text`: text spotting. A detector finds words (rotated boxes), a recognizer reads every word
of the frame in one batch; words are drawn on the frame and written to JSON with their boxes."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import click
import cv2
import numpy as np
import openvino as ov

from ovdemo.common import catalog
from ovdemo.common.capture import Frame
from ovdemo.common.draw import Style, color_for
from ovdemo.common.errors import DemoError
from ovdemo.common.inference import ModelOutputs, read_model
from ovdemo.common.models import ResolvedModel, looks_like_path, resolve_from_options
from ovdemo.common.options import PipelineOptions, model_option, pipeline_options
from ovdemo.common.pipeline import RunContext, console, run
from ovdemo.common.specs import find_spec

from .text_detectors import DbDetector, Found, SpottingDetector, TextDetector, choose_detector
from .text_font import Captioner, check_font
from .text_recognizers import (
    CtcRecognizer,
    DecodedRecognizer,
    Recognizer,
    SpottingRecognizer,
    read_alphabet,
)

DEFAULT_MODEL = "horizontal-text-detection-0001"
DEFAULT_RECOGNIZER = "text-recognition-0012"


@dataclass
class TextResult:
    """Words of one frame: quads (N, 4, 2) in frame pixels, detection scores, texts and their confidences."""

    quads: np.ndarray
    scores: np.ndarray
    texts: list[str]
    confidences: np.ndarray

    def __len__(self) -> int:
        return len(self.texts)

    @property
    def bboxes(self) -> np.ndarray:
        if not len(self):
            return np.zeros((0, 4), np.float32)
        return np.concatenate([self.quads.min(axis=1), self.quads.max(axis=1)], axis=1)

    def words(self) -> list[dict]:
        return [
            {"text": text, "confidence": round(float(conf), 4), "detection_confidence": round(float(score), 4),
             "box": [[round(float(x), 1), round(float(y), 1)] for x, y in quad],
             "bbox": [round(float(v), 1) for v in bbox]}
            for text, conf, score, quad, bbox in zip(self.texts, self.confidences, self.scores, self.quads,
                                                      self.bboxes, strict=True)
        ]


@dataclass
class TextTask:
    model: ResolvedModel
    recognizer: str | None = None  # --recognizer NAME|PATH
    alphabet: str | None = None  # --alphabet FILE
    threshold: float | None = None
    det_size: int | None = None
    rec_batch: int = 32
    font: str | None = None
    stages: tuple[str, ...] = ()  # a composite's stage names when -m named one (text-spotting-0005)
    family: str = "text"
    stage_ms: dict = field(default_factory=dict)

    def start(self, ctx: RunContext) -> None:
        self.frame_size = ctx.frame_size
        self.captioner = Captioner(self.font, warn=lambda m: console.print(f"[yellow]warning:[/] {m}"))
        detector_cls = choose_detector(read_model(self.model.path), self.model.spec)
        if detector_cls is DbDetector:
            self.detector: TextDetector = DbDetector(self.model, self.threshold, self.det_size)
        else:
            self.detector = detector_cls(self.model, self.threshold)
        alphabet = read_alphabet(self.alphabet) if self.alphabet else None
        self.reader = self._recognizer(ctx, alphabet)

    def _recognizer(self, ctx: RunContext, alphabet: list[str] | None) -> Recognizer:
        opts = ctx.opts
        if isinstance(self.detector, SpottingDetector):
            encoder, decoder = self._spotting_heads(opts)
            return SpottingRecognizer(encoder, decoder, ctx.config, alphabet)
        ref = self.recognizer
        if ref is None and isinstance(self.detector, DbDetector):  # PaddleOCR ships det and rec side by side
            sibling = self.model.path.with_name(self.model.path.name.replace("_det", "_rec"))
            ref = str(sibling) if sibling != self.model.path and sibling.is_file() else None
        resolved = resolve_from_options(ref or DEFAULT_RECOGNIZER, opts)
        kind = resolved.spec.decoder if resolved.spec else None
        if kind is None:
            kind = "ctc" if any(p.get_partial_shape().rank.get_length() == 3
                                for p in read_model(resolved.path).outputs) else "decoded"
        if kind == "decoded":
            return DecodedRecognizer(resolved, ctx.config, alphabet, self.rec_batch)
        if kind != "ctc":
            raise DemoError(f"{resolved.name} is not a crop recognizer ({kind})",
                            "pass a CTC recognizer such as text-recognition-0012 or a PaddleOCR rec model")
        return CtcRecognizer(resolved, ctx.config, alphabet, self.rec_batch)

    def _spotting_heads(self, opts) -> tuple[ResolvedModel, ResolvedModel]:
        """text-spotting-0005's encoder and decoder: the composite's stages by name, or files beside the
        detector's (same precision folder layout)."""
        name = self.model.name
        base = name[: -len("-detector")] if name.endswith("-detector") else name
        stage_names = self.stages[1:] if len(self.stages) == 3 else (
            f"{base}-recognizer-encoder", f"{base}-recognizer-decoder")
        heads = []
        for stage in stage_names:
            path = self.model.path
            precision_dir = path.parent.name
            for candidate in (path.parent.parent.parent / stage / precision_dir / f"{stage}.xml",
                              path.with_name(f"{stage}.xml")):
                if candidate.is_file():
                    heads.append(ResolvedModel(candidate, stage, find_spec(stage)))
                    break
            else:
                heads.append(resolve_from_options(stage, opts))
        if self.recognizer:
            raise DemoError("--recognizer does not apply to text-spotting models",
                            "their own encoder and decoder read the words")
        return heads[0], heads[1]

    def prepare(self, model: ov.Model) -> None:
        self.detector.prepare(model, self.frame_size)

    def postprocess(self, outputs: ModelOutputs, frame: Frame) -> TextResult:
        found: Found = self.detector.decode(outputs, frame)
        t0 = time.perf_counter()
        texts, confidences = self.reader.recognize(frame.image, found)
        self.stage_ms["recognize"] = (time.perf_counter() - t0) * 1000.0
        return TextResult(found.quads, found.scores, texts, confidences)

    def draw(self, image: np.ndarray, result: TextResult, style: Style) -> None:
        color = color_for(2)
        for quad, text in zip(result.quads, result.texts, strict=True):
            cv2.polylines(image, [np.round(quad).astype(np.int32)], True, color, style.thickness, cv2.LINE_AA)
            if text and style.labels:
                top_left = quad[np.argmin(quad[:, 0] + quad[:, 1])]
                self.captioner.draw(image, text, int(top_left[0]), int(quad[:, 1].min()) - 1, color, style)

    def record(self, result: TextResult) -> dict:
        return {"words": result.words()}

    def raw_lines(self, result: TextResult) -> list[str]:
        return [f"{w['text']!r} {w['confidence']:.3f} (detection {w['detection_confidence']:.3f}) "
                f"[{', '.join(f'{v:.0f}' for v in w['bbox'])}]" for w in result.words()]


def composite_stages(ref: str) -> tuple[str, ...]:
    """The stages of an Open Model Zoo composite named by -m (e.g. text-spotting-0005), else ()."""
    if looks_like_path(ref) or Path(ref).is_file():
        return ()
    model = catalog.models().get(ref)
    return model.stages if model is not None and model.stages else ()


@click.command(name="text")
@model_option(DEFAULT_MODEL, "Text detector (horizontal-text-detection-0001, text-detection-0003/0004, a PaddleOCR "
                             "det .onnx) or the text-spotting-0005 composite: an Open Model Zoo name or a path.")
@click.option("--recognizer", metavar="NAME|PATH",
              help=f"Text recognizer [default: {DEFAULT_RECOGNIZER}; the _rec model beside a PaddleOCR _det model; "
                   "text-spotting models bring their own].")
@click.option("--alphabet", type=click.Path(dir_okay=False), metavar="FILE",
              help="The recognizer's characters, one per line (e.g. PaddleOCR's ppocr_keys_v5.txt) "
                   "[default: the model's own].")
@click.option("-t", "--threshold", type=click.FloatRange(0, 1),
              help="Detection confidence threshold [default: the model's].")
@click.option("--det-size", type=click.IntRange(min=32), metavar="N",
              help="Longer side of the input of detectors with a dynamic input size (PaddleOCR DB), rounded to "
                   "multiples of 32 [default: the frame, scaled down to 960 if larger].")
@click.option("--rec-batch", type=click.IntRange(min=1), default=32, show_default=True, metavar="N",
              help="Most word crops per recognizer request (1 reads them one at a time).")
@click.option("--font", type=click.Path(dir_okay=False), metavar="FILE",
              help="TrueType/OpenType font for non-ASCII text [default: a system font that covers it].")
@pipeline_options
def command(model, recognizer, alphabet, threshold, det_size, rec_batch, font, **kwargs):
    """Detect and read text in video, images, cameras or streams."""
    opts = PipelineOptions.take(kwargs)
    check_font(font)
    if alphabet and not Path(alphabet).is_file():
        raise DemoError(f"alphabet file not found: {alphabet}", "pass a text file with one character per line")
    stages = composite_stages(model)
    resolved = resolve_from_options(stages[0] if stages else model, opts)
    task = TextTask(model=resolved, recognizer=recognizer, alphabet=alphabet, threshold=threshold,
                    det_size=det_size, rec_batch=rec_batch, font=font, stages=stages)
    return run(task, opts)
