"""`ovdemo segment`: semantic segmentation (class maps) and instance segmentation (Mask R-CNN, YOLACT).

A semantic model's frame is a `ClassMap` (its class shares are the record's `class_shares`, `objects` stays
empty, and --track is refused: there is nothing to track); an instance model's frame is `Detections` with a
`BoxMask` per object, which the one tracker follows with --track like any other objects.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import click
import cv2
import numpy as np
import openvino as ov

from ovdemo.common.annotators import Annotator
from ovdemo.common.draw import Style, draw_objects
from ovdemo.common.engine.family import DecoderSetup, Family, choose_decoder
from ovdemo.common.engine.inference import ModelOutputs, input_layout, model_input_size
from ovdemo.common.errors import DemoError
from ovdemo.common.io.capture import Frame
from ovdemo.common.models.resolve import ResolvedModel, resolve_main
from ovdemo.common.models.specs import ModelSpec
from ovdemo.common.options import (
    CLASSES,
    CLASSIFY,
    LABELS,
    SHOW_BOXES,
    SHOW_CONF,
    SHOW_LABELS,
    THRESHOLD,
    TRACKING,
    Alias,
    Opt,
    Options,
    OptionValues,
    arch_opt,
    parse_classes,
)
from ovdemo.common.results import ClassMap, Detections, Result

from .decoders import DECODERS, SegmentDecoder
from .draw import (
    background_ids,
    blend_class_map,
    blend_instances,
    build_palette,
    class_colors,
    draw_legend,
    instance_colors,
    legend_entries,
)

COLORS = Opt("colors", ("--colors",), "Class colours, one R G B per line by class id, e.g. (128, 64, 128) or "
             "#804080 [default: the model's].", type=click.Path(dir_okay=False), metavar="FILE")
OPACITY = Opt("opacity", ("--opacity",), "How strongly masks cover the frame.", default=0.5,
              type=click.FloatRange(0, 1), show_default=True)
ONLY_MASKS = Opt("only_masks", ("--only-masks",), "Draw the masks alone, on black.", default=False, is_flag=True)
SHOW_SCORES = replace(SHOW_CONF.with_default(False, "Caption instances with their confidence (off unless asked)."),
                      aliases=(Alias("--show-scores"),))


@dataclass(frozen=True)
class SegmentOptions(OptionValues):
    """What segment reads from its options."""

    classes: str | None
    arch: str | None
    colors: str | None
    opacity: float
    only_masks: bool


def class_ids(names: tuple[str, ...] | None, wanted: tuple[str, ...], model: str) -> np.ndarray | None:
    """The class ids `--classes` keeps (None: all of them); unknown names are an error naming the known."""
    if not wanted:
        return None
    unknown = [c for c in wanted if c not in (names or ())]
    if unknown:
        raise DemoError(f"unknown class(es) {', '.join(unknown)} for {model}",
                        f"known: {', '.join(names)}" if names else "pass --labels FILE for this model")
    return np.flatnonzero(np.isin(np.asarray(names), wanted)).astype(np.int32)


class MaskAnnotator:
    """A class map blended in with its legend, or each instance's mask blended in under its box and caption (the
    family's palette, --opacity and --only-masks)."""

    def __init__(self, family: SegmentFamily):
        self.family = family

    def annotate(self, image: np.ndarray, result: Result, style: Style) -> None:
        only_masks, opacity = self.family.values.only_masks, self.family.values.opacity
        class_map = result.class_map
        if class_map is not None:
            shares = class_map.shares()  # from the decoded map, before any resize
            if class_map.classes.shape != image.shape[:2]:  # carried over (--infer-every) from a frame of another size
                class_map = ClassMap(cv2.resize(class_map.classes, (image.shape[1], image.shape[0]),
                                                interpolation=cv2.INTER_NEAREST_EXACT), class_map.names)
            with self.family.timer("blend"):
                blend_class_map(image, class_map, self.family.palette, self.family.background, opacity, only_masks)
            draw_legend(image, legend_entries(class_map, self.family.palette, self.family.background, shares), style)
            return
        colors = instance_colors(result.objects)
        with self.family.timer("blend"):
            blend_instances(image, result.objects, colors, opacity, only_masks)
        draw_objects(image, result.objects, style, colors=colors)


class SegmentFamily(Family):
    """Segment video: class maps (semantic) or per-object masks (instance)."""

    name = "segment"
    summary = "Segment video: class maps (semantic) or per-object masks (instance)."
    default_model = "road-segmentation-adas-0001"
    model_help = "Segmentation model: an Open Model Zoo name or a .xml/.onnx path."
    decoders = DECODERS
    examples = (
        "ovdemo segment -i car-detection.mp4 --output out.mp4 --json out.jsonl",
        "ovdemo segment -m semantic-segmentation-adas-0001 -i car-detection.mp4 --opacity 0.3",
        "ovdemo segment -m instance-segmentation-person-0007 -i one-by-one-person-detection.mp4 --track --show-boxes",
        "ovdemo segment -m instance-segmentation-security-0002 -i car-detection.mp4 --classes person,car --show-conf",
    )
    own_options = (
        THRESHOLD, LABELS, CLASSES, arch_opt(DECODERS), COLORS, OPACITY, ONLY_MASKS, SHOW_LABELS, SHOW_SCORES,
        SHOW_BOXES.with_default(False, "Draw instances' boxes."), CLASSIFY, *TRACKING,
    )

    def __init__(self, model: ResolvedModel, opts: Options, ov_model: ov.Model | None = None):
        super().__init__(model, opts, ov_model)
        self.values = SegmentOptions.of(opts)
        spec = model.spec
        self.names = self.labels()
        colors = self.values.colors or spec.params.get("colors")
        self.palette = build_palette(class_colors(colors) if colors else None)
        self.background = background_ids(self.names)
        self.keep_ids = class_ids(self.names, parse_classes(self.values.classes), model.name)
        self.decoder: SegmentDecoder  # bound in `prepare`

    @classmethod
    def create(cls, opts: Options) -> SegmentFamily:
        resolved = resolve_main(opts, cls.name, DECODERS)
        spec = resolved.spec
        if spec.family not in (None, cls.name) and not SegmentOptions.of(opts).arch:
            # a detector's [1,1,N,7] output would otherwise pass for a tiny class map
            raise DemoError(f"{resolved.name} is a {spec.family} model, not a segmentation model",
                            f"run it with `ovdemo {spec.family}`, or pass --arch to force a segmentation decoder")
        return cls(resolved, opts)

    @classmethod
    def accepts(cls, model: ov.Model, spec: ModelSpec) -> bool:
        return spec.family in (None, cls.name) and super().accepts(model, spec)

    def object_names(self) -> tuple[str, ...] | None:
        return self.names

    def prepare(self, model: ov.Model) -> None:
        spec = self.model.spec
        input_size = model_input_size(model, input_layout(model, spec)) if model.inputs else None
        setup = DecoderSetup(spec, self.threshold(), self.names, input_size)
        self.decoder = choose_decoder(DECODERS, model, spec, self.values.arch, self.name)(model, setup)
        self.decoder.augment(model)
        self.boxes = not self.decoder.semantic  # a class map has no objects: the pipeline refuses --track
        if self.decoder.semantic and self.keep_ids is not None:
            raise DemoError("--classes keeps only some instances, and this model gives a class map",
                            "drop --classes (every class of the map is painted and counted)")

    def postprocess(self, outputs: ModelOutputs | None, frame: Frame) -> Result:
        assert outputs is not None  # (None only for a family whose own needs_inference skips frames)
        h, w = frame.image.shape[:2]
        found = self.decoder.decode(outputs, (w, h))
        if isinstance(found, ClassMap):
            return Result(Detections.empty(self.names), class_map=found)
        if self.keep_ids is not None:
            found = found[np.isin(found.class_id, self.keep_ids)]
        return Result(found)

    def annotators(self) -> list[Annotator]:
        return [MaskAnnotator(self)]
