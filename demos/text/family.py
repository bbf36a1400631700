"""`ovdemo text`: text spotting. A detector finds words (rotated boxes), a recognizer reads every word
of the frame in one batch; words are drawn on the frame and written to JSON as objects of class "text"
with their quad, text and reading confidence."""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import click
import cv2
import numpy as np
import openvino as ov

from ovdemo.common.annotators import Annotator
from ovdemo.common.console import warn
from ovdemo.common.draw import Style, as_rect, color_for
from ovdemo.common.engine.family import DecoderSetup, Family, RunContext, choose_decoder
from ovdemo.common.engine.inference import ModelOutputs, input_layout, model_input_size, read_model
from ovdemo.common.engine.second_stage import SecondModel
from ovdemo.common.errors import DemoError
from ovdemo.common.io.capture import Frame
from ovdemo.common.models import catalog
from ovdemo.common.models.resolve import ResolvedModel, looks_like_path, resolve_from_options
from ovdemo.common.models.specs import ModelSpec, find_spec
from ovdemo.common.options import (
    INPUT_SIZE,
    SHOW_BOXES,
    SHOW_CONF,
    SHOW_LABELS,
    THRESHOLD,
    Alias,
    Opt,
    Options,
    OptionValues,
    arch_opt,
    model_opt,
)
from ovdemo.common.results import Result

from .decoders import DECODERS, NAMES, BoxesDecoder, DbDecoder, SpottingDecoder, TextDecoder
from .draw import Captioner, check_font
from .order import reading_order
from .stages import SpottingRecognizer, crop_recognizer, read_alphabet

DEFAULT_MODEL = "horizontal-text-detection-0001"
DEFAULT_RECOGNIZER = "text-recognition-0012"


def composite_stages(ref: str) -> tuple[str, ...]:
    """The stages of an Open Model Zoo composite named by -m (e.g. text-spotting-0005), else ()."""
    if looks_like_path(ref) or Path(ref).is_file():
        return ()
    model = catalog.models().get(ref)
    return model.stages if model is not None and model.stages else ()


def spotting_heads(detector: ResolvedModel, stages: tuple[str, ...], opts) -> tuple[ResolvedModel, ResolvedModel]:
    """text-spotting-0005's encoder and decoder: the composite's stages by name, or files beside the
    detector's (same precision folder layout)."""
    name = detector.name
    base = name[: -len("-detector")] if name.endswith("-detector") else name
    stage_names = stages[1:] if len(stages) == 3 else (f"{base}-recognizer-encoder", f"{base}-recognizer-decoder")
    heads = []
    path = detector.path  # None for a detector on a model server: its heads are found by name
    for stage in stage_names:
        candidates = () if path is None else (path.parent.parent.parent / stage / path.parent.name / f"{stage}.xml",
                                              path.with_name(f"{stage}.xml"))
        for candidate in candidates:
            if candidate.is_file():
                heads.append(ResolvedModel(candidate, stage, find_spec(stage)))
                break
        else:
            heads.append(resolve_from_options(stage, opts))
    return heads[0], heads[1]


def paddle_sibling(detector: ResolvedModel) -> str | None:
    """PaddleOCR ships det and rec side by side: the _rec file beside a _det file."""
    path = detector.path
    if path is None:  # a detector on a model server has no folder
        return None
    sibling = path.with_name(path.name.replace("_det", "_rec"))
    return str(sibling) if sibling != path and sibling.is_file() else None


@dataclass(frozen=True)
class TextOptions(OptionValues):
    """What text reads from its options."""

    model: str
    recognizer_model: str | None
    alphabet: str | None
    input_size: int | None
    rec_batch: int
    font: str | None
    arch: str | None


class WordAnnotator:
    """Each word's outline and its text (and score) as a caption, placed to cover no other word."""

    def __init__(self, family: TextFamily):
        self.family = family

    def annotate(self, image: np.ndarray, result: Result, style: Style) -> None:
        words = result.objects
        if not len(words):
            return
        color = color_for(2)
        boxes = [as_rect(np.round(box)) for box in words.xyxy]
        if style.layout is not None:  # on a dense page a caption should cover no other word
            style.layout.obstacles = boxes
        for quad, text, confidence, box in zip(words.data["quad"], words.data["text"], words.data["text_confidence"],
                                               boxes, strict=True):
            if style.boxes:
                cv2.polylines(image, [np.round(quad).astype(np.int32)], True, color, style.thickness, cv2.LINE_AA)
            caption = " ".join(([text] if style.labels else []) + ([f"{confidence:.2f}"] if style.confidence else []))
            if text and caption:
                top_left = quad[np.argmin(quad[:, 0] + quad[:, 1])]
                self.family.captioner.draw(image, caption, int(top_left[0]), int(quad[:, 1].min()) - 1, color, style,
                                           box)


class TextFamily(Family):
    """Detect and read text in video, images, cameras or streams."""

    name = "text"
    summary = "Detect and read text in video, images, cameras or streams."
    default_model = DEFAULT_MODEL
    model_help = ("Text detector (horizontal-text-detection-0001, text-detection-0003/0004, a PaddleOCR det .onnx) "
                  "or the text-spotting-0005 composite: an Open Model Zoo name or a path.")
    decoders = DECODERS
    examples = (
        "ovdemo text -i text-sample.png --json words.jsonl",  # a picture ovdemo ships: the sample videos have no words
        "ovdemo text -m text-detection-0004 --recognizer-model text-recognition-0014 -i text-sample.png",
        "ovdemo text -m text-spotting-0005 -i text-sample.png --output words.png --no-show",
    )
    own_options = (
        model_opt("recognizer_model", "--recognizer-model", None,
                  f"Text recognizer [default: {DEFAULT_RECOGNIZER}; the _rec model beside a PaddleOCR _det model; "
                  "text-spotting models bring their own].", aliases=(Alias("--recognizer"),)),
        Opt("alphabet", ("--alphabet",), "The recognizer's characters, one per line (e.g. PaddleOCR's "
            "ppocr_keys_v5.txt) [default: the model's own].", type=click.Path(dir_okay=False), metavar="FILE"),
        THRESHOLD,
        replace(INPUT_SIZE, help="Network input size of detectors with a dynamic input size (PaddleOCR DB): the "
                "longer side in pixels, the other side following the frame's aspect ratio, rounded to multiples "
                "of 32 [default: the frame, scaled down to 960 if larger].", aliases=(Alias("--det-size"),)),
        # 4: on a CPU, bigger batches of a dynamic-width recognizer run slower than small ones (PP-OCRv5, 16 words a
        # frame: 3.04 FPS one by one, 3.08 in fours, 2.63 in batches of up to 32); a GPU may want more
        Opt("rec_batch", ("--rec-batch",), "Most word crops per recognizer request (1 reads them one at a time).",
            default=4, type=click.IntRange(1, 256), metavar="N", show_default=True),
        Opt("font", ("--font",), "TrueType/OpenType font for non-ASCII text [default: a system font that covers "
            "it].", type=click.Path(dir_okay=False), metavar="FILE"),
        arch_opt(DECODERS),
        SHOW_LABELS.with_default(True, "Caption words with the text read."),
        SHOW_CONF.with_default(False, "Caption words with the reading's confidence."),
        SHOW_BOXES.with_default(True, "Draw the words' quadrilaterals."),
    )

    def __init__(self, model: ResolvedModel, opts: Options, ov_model: ov.Model, decoder: type[TextDecoder],
                 readers: tuple[ResolvedModel, ...]):
        super().__init__(model, opts, ov_model)
        self.values = TextOptions.of(opts)
        self.decoder_cls = decoder
        self.readers = readers  # the crop recognizer, or text spotting's encoder and decoder
        self.frame_size: tuple[int, int] | None = None

    @classmethod
    def create(cls, opts: Options) -> TextFamily:
        values = TextOptions.of(opts)
        check_font(values.font)
        alphabet = values.alphabet
        if alphabet and not Path(alphabet).is_file():
            raise DemoError(f"alphabet file not found: {alphabet}", "pass a text file with one character per line")
        stages = composite_stages(values.model)
        resolved = resolve_from_options(stages[0] if stages else values.model, opts)
        spec = resolved.spec
        if spec.family not in (None, cls.name) and spec.labels != ("text",) and not values.arch:
            # another family's box detector fits the boxes decoder: its people would be "read" as words
            raise DemoError(f"{resolved.name} is a {spec.family} model, not a text detector",
                            f"run it with `ovdemo {spec.family}`, or pass --arch to read its boxes as words")
        model = read_model(resolved.source)
        decoder = choose_decoder(DECODERS, model, resolved.spec, values.arch, cls.name)
        ref = values.recognizer_model
        if decoder is SpottingDecoder:
            if ref:
                raise DemoError("--recognizer-model does not apply to text-spotting models",
                                "their own encoder and decoder read the words")
            readers: tuple[ResolvedModel, ...] = spotting_heads(resolved, stages, opts)
        else:
            if ref is None and decoder is DbDecoder:
                ref = paddle_sibling(resolved)
            readers = (resolve_from_options(ref or DEFAULT_RECOGNIZER, opts),)
        return cls(resolved, opts, model, decoder, readers)

    @classmethod
    def accepts(cls, model: ov.Model, spec: ModelSpec) -> bool:
        """A text detector by its spec, or by outputs only text detectors have (a plain box detector is detect's)."""
        return spec.decoder in DECODERS or any(d.fits(model) for d in DECODERS.values() if d is not BoxesDecoder)

    def start(self, ctx: RunContext) -> None:
        self.frame_size = ctx.frame_size
        self.captioner = Captioner(self.values.font, warn=warn)
        alphabet = read_alphabet(self.values.alphabet) if self.values.alphabet else None
        if self.decoder_cls is SpottingDecoder:
            encoder, decoder = self.readers
            self.reader = SecondModel(SpottingRecognizer(encoder, decoder, ctx.config, alphabet), ctx.config)
        else:
            self.reader = crop_recognizer(self.readers[0], ctx.config, alphabet, self.values.rec_batch)
        self.stages = [self.reader.object_stage()]  # the pipeline reads every frame's words

    def prepare(self, model: ov.Model) -> None:
        spec = self.model.spec
        size = model_input_size(model, input_layout(model, spec))
        side = self.values.input_size
        if size is None:  # dynamic (PaddleOCR DB): a static size from the frame's and --input-size
            size = self.decoder_cls.dynamic_size(spec, self.frame_size, side)
            port = model.input(0)
            shape = port.get_partial_shape()
            model.reshape({port: ov.PartialShape([1 if shape[0].is_dynamic else shape[0], shape[1], size[1],
                                                  size[0]])})
        elif side:
            warn(f"--input-size applies to detectors with a dynamic input size; {self.model.name} takes "
                 f"{size[0]}x{size[1]}")
        setup = DecoderSetup(spec, self.threshold(), NAMES, size)
        self.decoder = self.decoder_cls(model, setup)

    def postprocess(self, outputs: ModelOutputs | None, frame: Frame) -> Result:
        assert outputs is not None  # (None only for a family whose own needs_inference skips frames)
        h, w = frame.image.shape[:2]
        found = self.decoder.decode(outputs, (w, h))
        return Result(found[reading_order(found.data["quad"])])  # the JSON and --raw list words as they are read

    def complete(self, result: Result, frame: Frame) -> Result:
        """Every word read: text spotting's features are done with."""
        result.objects.data.pop("features", None)
        return result

    def annotators(self) -> list[Annotator]:
        return [WordAnnotator(self)]

