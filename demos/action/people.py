"""Per-person actions (mode detector), the action family `PeopleAction`: the smart classroom detectors box
each person and label them with an action. Results are `Detections` of class "person" with the attribute
`action`; with --track (the one tracker in common/) each person keeps an id, and --smooth K keeps each track's
action until K of its predictions in a row agree on another one."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import openvino as ov

from ovdemo.common.annotators import Annotator
from ovdemo.common.draw import Style, draw_objects, draw_score_bar, object_color
from ovdemo.common.engine.family import DecoderSetup, PerStream, choose_decoder
from ovdemo.common.engine.inference import ModelOutputs, input_layout, model_input_size
from ovdemo.common.io.capture import Frame
from ovdemo.common.models.resolve import ResolvedModel
from ovdemo.common.results import Detections, Result

from .base import ActionBase
from .decoders import DECODERS, PersonActionDecoder
from .sequence import LabelSmoother


class PersonActionAnnotator:
    """Each person boxed in their action's colour (their track's with --track), captioned with the action
    the family shows and its score, which a bar under the box top shows too."""

    def __init__(self, family: PeopleAction):
        self.family = family

    def annotate(self, image: np.ndarray, result: Result, style: Style) -> None:
        people = result.objects
        shown = self.family.shown_actions(people)
        ids = [self.family.names.index(name.rstrip("?")) for name, _ in shown]
        boxes = Detections(people.xyxy, np.asarray([score for _, score in shown]), np.asarray(ids),
                           people.tracker_id,
                           data={k: v for k, v in people.data.items() if k == "track_state"}, names=self.family.names)
        colors = [object_color(boxes, i) for i in range(len(boxes))]  # the action's colour, `?` or not
        names = tuple(dict.fromkeys(name for name, _ in shown))  # the captions' own names (`standing?`)
        captioned = Detections(people.xyxy, boxes.confidence, np.asarray([names.index(name) for name, _ in shown]),
                               people.tracker_id, data=boxes.data, names=names)
        draw_objects(image, captioned, style, colors=colors)
        if not style.confidence:
            return
        for i in range(len(boxes)):
            x1, y1, x2, _ = (int(v) for v in boxes.xyxy[i])
            draw_score_bar(image, x1, y1 + style.thickness, max(x2 - x1, 8), float(boxes.confidence[i]), colors[i],
                           style)


class PeopleAction(ActionBase):
    """The action family of per-person detectors. Its action names are --labels, else the spec's (`create`
    refuses a model with none); -t is the person detection threshold, --action-threshold (None: the spec's)
    the confidence below which an action reads as the model's default one."""

    boxes = True

    def __init__(self, model: ResolvedModel, opts, ov_model: ov.Model | None = None):
        super().__init__(model, opts, ov_model)
        self.names: tuple[str, ...] = self.labels() or ()  # (`create` refuses a model with none)
        self.person_threshold = self.threshold()
        self.smooth = self.values.smooth
        self.smoothers: PerStream[dict[int, LabelSmoother]] = PerStream(dict)  # track id -> its action's smoother

    def object_names(self) -> tuple[str, ...]:
        return ("person",)

    def prepare(self, model: ov.Model) -> None:
        spec = self.model.spec
        action_threshold = self.values.action_threshold
        if action_threshold is not None:
            spec = replace(spec, params={**spec.params, "action_threshold": action_threshold})
        input_size = model_input_size(model, input_layout(model, spec))
        setup = DecoderSetup(spec, self.person_threshold, self.names, input_size)
        self.decoder: PersonActionDecoder = choose_decoder(DECODERS, model, spec, None, "action")(model, setup)

    def postprocess(self, outputs: ModelOutputs | None, frame: Frame) -> Result:
        assert outputs is not None  # (no needs_inference of its own: every frame here was inferred)
        h, w = frame.image.shape[:2]
        return Result(self.decoder.decode(outputs, (w, h)))

    def after_tracking(self, result: Result, frame: Frame) -> Result:
        """--smooth K: each track shows the action K of its predictions in a row last agreed on (until then
        its latest one). Predicted rows (the detector missed the person) and frames the model skipped show
        the track's action without counting as a prediction."""
        people = result.objects
        if self.smooth <= 1 or people.tracker_id is None:
            return result
        states = people.data["track_state"]
        attributes = list(people.data["attributes"])
        smoothers = self.smoothers[frame]
        for i, track_id in enumerate(people.tracker_id.tolist()):
            if track_id < 0:  # tentative: no id to keep its predictions under yet
                continue
            action = attributes[i]["action"]
            smoother = smoothers.setdefault(track_id, LabelSmoother(self.smooth))
            if result.inferred and states[i] != "predicted":
                smoother.update(action["label_id"])
            label = smoother.label
            if label is not None and label != action["label_id"]:
                name = self.names[label]
                attributes[i] = {**attributes[i], "action": {**action, "label": name, "label_id": label,
                                                             "confidence": action["scores"][name]}}
        alive = set(people.tracker_id.tolist())
        self.smoothers[frame] = {k: v for k, v in smoothers.items() if k in alive}
        return replace(result, objects=people.with_data(attributes=attributes))

    def annotators(self) -> list[Annotator]:
        return [PersonActionAnnotator(self)]

    def shown_actions(self, people: Detections) -> list[tuple[str, float]]:
        """Each person's action as the caption shows it, with its score: the action's label, except where the
        model's default action stands in for an unsure answer: then the action the model scored highest
        (`standing`, not the default's own `sitting 0.25`). An action scored under the action threshold is
        marked unsure: `standing?`."""
        shown = []
        for attributes in people.data.get("attributes", []):
            action = attributes["action"]
            name, best = action["label"], max(action["scores"], key=action["scores"].get)
            if action["label_id"] == self.decoder.default_action:
                name = best
            score = action["scores"][name]
            shown.append((f"{name}?" if score < self.decoder.action_threshold else name, score))
        return shown
