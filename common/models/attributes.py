"""Per-object attribute models (`--classify MODEL`): a classifier run on the objects of any box-producing family.

What each model's outputs mean is data, in its spec (assets/models/classify.toml): which object classes it
applies to, how a box is grown before the crop, and one entry per attribute (the output it is read from and
how: class scores, independent probabilities, a number, or text decoded in the graph). The answers join
each object's `data["attributes"]`, drawn in its caption and written to the JSON.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import openvino as ov
import openvino.opset13 as ops

from ..engine.inference import InferenceConfig, ModelOutputs, describe_ports, port_key
from ..engine.second_stage import Reader, SecondModel
from ..errors import DemoError
from ..results import Detections
from ..scores import as_probabilities
from .resolve import ResolvedModel

KINDS = ("class", "binary", "value", "text")


@dataclass(frozen=True)
class Attribute:
    """One attribute and the output it is read from."""

    name: str
    output: str  # the output's name in the spec
    kind: str
    labels: tuple[str, ...] = ()  # kind class
    names: tuple[tuple[str, tuple[str, str]], ...] = ()  # kind binary: (attribute, (below 0.5, at or above))
    scale: float = 1.0  # kind value
    unit: str | None = None
    alphabet: tuple[str, ...] = ()  # kind text

    @property
    def values(self) -> int | None:
        """Values per object this attribute's output has, to find it by shape when its name differs."""
        return {"class": len(self.labels), "binary": len(self.names), "value": 1}.get(self.kind)

    def read(self, values: np.ndarray) -> list[dict[str, dict]]:
        """(N, V) values of this attribute's output -> for each object, its attributes as the JSON has them."""
        out: list[dict[str, dict]] = []
        if self.kind == "class":
            probs = as_probabilities(values.astype(np.float64), axis=1, atol=1e-3)
            for row in probs:
                best = int(row.argmax())
                out.append({self.name: {"label": self.labels[best], "label_id": best, "confidence": float(row[best]),
                                        "scores": {n: float(p) for n, p in zip(self.labels, row, strict=True)}}})
        elif self.kind == "binary":
            for row in values:
                found = {}
                for (name, (no, yes)), p in zip(self.names, row, strict=True):
                    p = float(p)
                    found[name] = {"label": yes if p >= 0.5 else no, "label_id": int(p >= 0.5),
                                   "confidence": p if p >= 0.5 else 1.0 - p}
                out.append(found)
        elif self.kind == "value":
            for row in values:
                out.append({self.name: {"value": float(row[0]) * self.scale} | ({"unit": self.unit} if self.unit
                                                                                 else {})})
        else:  # text: class ids, -1 ends; the graph gives no probabilities
            for row in values.astype(np.int64):
                end = np.flatnonzero(row < 0)
                row = row[: end[0]] if len(end) else row
                out.append({self.name: {"text": "".join(self.alphabet[c] if 0 <= c < len(self.alphabet) else "?"
                                                        for c in row)}})
        return out


def attributes_of(resolved: ResolvedModel) -> list[Attribute]:
    params = resolved.spec.params
    table = params.get("attributes")
    if not table:
        raise DemoError(f"{resolved.name} is not an attribute model ovdemo knows",
                        "--classify takes a model with an entry in assets/models/classify.toml, e.g. "
                        "vehicle-attributes-recognition-barrier-0039")
    attributes = []
    for name, entry in table.items():
        kind = entry.get("kind", "class")
        if kind not in KINDS:
            raise DemoError(f"{resolved.name}: attribute {name} has kind {kind!r}", f"one of {', '.join(KINDS)}")
        attributes.append(Attribute(
            name, entry["output"], kind, tuple(entry.get("labels", ())),
            tuple((n, tuple(pair)) for n, pair in entry.get("names", ())), float(entry.get("scale", 1.0)),
            entry.get("unit"), tuple(entry.get("alphabet", ()))))
    return attributes


def fold_sequence_input(model: ov.Model) -> None:
    """Plate recognizers take a second input, seq_ind [T,1], all ones for a single image (a relic of their
    training): fold it into the graph, so the model has one image input."""
    for param in list(model.get_parameters()):
        shape = param.get_partial_shape()
        if shape.rank.get_length() == 2 and shape.is_static:
            param.output(0).replace(ops.constant(np.ones(shape.to_shape(), np.float32)).output(0))
            model.remove_parameter(param)


class AttributeReader(Reader):
    """A `--classify` model read as its spec says: its attributes, the object classes it applies to, its crop."""

    role = "classify"

    def __init__(self, resolved: ResolvedModel):
        super().__init__(resolved)
        self.attributes = attributes_of(resolved)
        self.applies_to = tuple(self.params.get("applies_to", ()))

    def bind(self, model: ov.Model) -> None:
        if any(a.kind == "text" for a in self.attributes):
            fold_sequence_input(model)
        self.keys: dict[str, str] = {}
        for attribute in self.attributes:
            values = attribute.values

            def per_object(shape, values=values) -> bool:
                return values is not None and len(shape) >= 2 and int(np.prod(shape[1:])) == values
            port = self.find(model, (attribute.output,), per_object)
            if port is None:
                raise DemoError(f"{self.model.name} has no output for attribute {attribute.name}",
                                f"expected '{attribute.output}'; it has {describe_ports(model.outputs)}")
            self.keys[attribute.name] = port_key(port)
        self.one_input(model, "an attribute model takes one image of the object")

    def objects_of(self, names: tuple[str, ...] | None) -> None:
        """Refuse a pairing that can never work: a detector whose classes include none this model applies to."""
        if self.applies_to and names and not set(self.applies_to) & set(names):
            raise DemoError(f"{self.model.name} applies to {', '.join(self.applies_to)}, and the detector finds "
                            f"{', '.join(n for n in names if n != 'background')}",
                            "pair it with a detector of those classes")

    def select(self, objects: Detections) -> np.ndarray:
        if not self.applies_to or objects.names is None:
            return np.arange(len(objects))
        return np.array([i for i, label in enumerate(objects.labels) if label in self.applies_to], np.int64)

    def apply(self, objects: Detections, indices: np.ndarray, outputs: ModelOutputs) -> None:
        found: list[dict] = [{} for _ in indices]
        for attribute in self.attributes:
            values = outputs.get(self.keys[attribute.name])
            values = values.reshape(len(indices), -1)
            for mine, read in zip(found, attribute.read(values), strict=True):
                mine.update(read)
        attributes = objects.data["attributes"]
        for i, read in zip(indices, found, strict=True):
            attributes[int(i)] = {**attributes[int(i)], **read}

    def defaults(self, objects: Detections) -> None:
        """Every object has its attributes (empty until a model answers), so every frame's data has the key."""
        objects.data.setdefault("attributes", [{} for _ in range(len(objects))])


class AttributeModel(SecondModel):
    """One `--classify` model bound to its spec, as a second model (its stage named by role: `age-gender`,
    `classify`)."""

    def __init__(self, resolved: ResolvedModel, config: InferenceConfig):
        super().__init__(AttributeReader(resolved), config)

    def objects_of(self, names: tuple[str, ...] | None) -> None:
        self.reader.objects_of(names)
