"""`ovdemo models info FILE|FOLDER`: what ovdemo takes a model file for, before any run: where its description
came from (an Open Model Zoo spec, Ultralytics' metadata, or nothing but its outputs), the family and decoder
that would run it, its classes, and what its input gets."""

from __future__ import annotations

from ovdemo.common.engine.family import choose_decoder
from ovdemo.common.engine.inference import describe_ports, read_model
from ovdemo.common.errors import DemoError
from ovdemo.common.models.letterbox import CENTRED, LETTERBOX
from ovdemo.common.models.resolve import resolve_main, resolve_model
from ovdemo.common.models.ultralytics import METADATA
from ovdemo.common.options import Options
from ovdemo.demos import FAMILIES

RESIZE = {CENTRED: "letterboxed, centred on grey 114 (Ultralytics')", LETTERBOX: "padded right and bottom, then "
          "resized", "stretch": "stretched to the input"}


def describe(ref: str) -> list[tuple[str, str]]:
    """(key, value) lines describing a model file or an export folder."""
    resolved = resolve_model(ref)
    graph = read_model(resolved.source)
    spec = resolved.spec
    if spec.params.get("ultralytics"):
        source = METADATA if (resolved.path.parent / METADATA).is_file() else "the ONNX file's metadata"
        taken = f"an Ultralytics {spec.params['task']} model (from {source})"
    elif spec.family:
        taken = f"Open Model Zoo's {spec.name}"
    else:
        taken = "a model ovdemo does not know: read by its outputs"
    family = FAMILIES.get(spec.family) or next((f for f in FAMILIES.values() if f.accepts(graph, spec)), None)
    lines = [("file", str(resolved.path)), ("taken for", taken),
             ("runs in", f"ovdemo {family.name}" if family else "no family: its outputs fit no decoder (see --arch)")]
    if family is not None and spec.family is None:  # what the family's create makes of it
        spec = resolve_main(Options.build(family.options(), {"model": ref}, family.name), family.name,
                            family.decoders).spec
    if spec.params.get("mode"):
        lines.append(("decoder", f"{spec.params['mode']}: a per-frame classifier, its scores the frame's"))
    elif family is not None and family.decoders:
        try:
            decoder = choose_decoder(family.decoders, graph, spec, None, family.name)
            lines.append(("decoder", f"{decoder.name}: {decoder.expects}"))
        except DemoError as e:
            lines.append(("decoder", e.message))
    names = spec.labels
    lines.append(("classes", f"{len(names)}: {', '.join(names[:8])}{', ...' if len(names) > 8 else ''}" if names
                  else "no names (pass --labels FILE; objects are named #id)"))
    scale = "0-1" if spec.scale and max(spec.scale) == 255 else "0-255" if not spec.mean else "mean/scale"
    lines.append(("input", f"{describe_ports(graph.inputs)}; the frame {RESIZE.get(spec.resize, spec.resize)}, "
                           f"{spec.color}, {scale}"))
    lines.append(("outputs", describe_ports(graph.outputs)))
    return lines
