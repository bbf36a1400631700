"""One frame's way from the main model's answer to its result, written once: the family's postprocess, its
second stages, its completion, tracking and after_tracking, and whether the frame needs the main model at all
(the family's own choice, or --infer-every's).

Three callers: the pipeline (several frames in flight: `decode` when the main model has answered, the stages
polled, `finish` in frame order), the Python API (one frame at a time, the stages waited on: `__call__`) and
the face gallery (its photos: `__call__`, or `settle` on faces it already knows). So --infer-every and --track
give the API the same results as the pipeline, frame by frame.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from ..io.capture import Frame
from ..results import Result
from ..tracking.tracker import Tracking
from .family import Family
from .inference import ModelOutputs
from .stages import FrameJobs, FrameStage, ObjectStage

# Why a frame skips the main model: the family's own choice (it decodes the frame itself, outputs None) or
# --infer-every's (the last inferred result is carried over, or the tracker predicts).
FAMILY_SKIP, EVERY_SKIP = "family", "every"


class FrameProcessor:
    """The per-frame sequence of one family, for every stream of a run.

    `trackers[frame.stream]` is that stream's tracker (None: no --track). What carries over from one frame to
    the next (the last inferred result, for the frames --infer-every skips) is kept here, per stream."""

    def __init__(self, family: Family, infer_every: int = 1, trackers: Sequence[Tracking | None] = (),
                 stages: Sequence[ObjectStage | FrameStage] | None = None):
        self.family = family
        self.infer_every = infer_every
        self.trackers = trackers
        self.stages = family.stages if stages is None else stages  # (the face gallery runs a few of them)
        self._last: dict[int, Result] = {}  # per stream: its latest result of a frame the main model saw

    def skip(self, frame: Frame) -> str | None:
        """None when the frame goes to the main model; else why not. Call once per frame, in order: a family's
        `needs_inference` may count frames."""
        if not self.family.needs_inference(frame):
            return FAMILY_SKIP
        if frame.index % self.infer_every:
            return EVERY_SKIP
        return None

    def decode(self, frame: Frame, outputs: ModelOutputs | None, skip: str | None) -> FrameJobs:
        """The family's postprocess, then its second stages start (call in frame order). A frame --infer-every
        skipped runs neither: its result is carried over in `finish`."""
        if skip == EVERY_SKIP:
            return FrameJobs([], Result(inferred=False), frame)
        result = self.family.postprocess(outputs, frame)
        if outputs is None:
            result.inferred = False
        return FrameJobs(self.stages, result, frame)

    def finish(self, jobs: FrameJobs, skip: str | None) -> Result:
        """Once every stage of the frame has answered, in frame order: the stages' answers applied, the
        family's completion, tracking and after_tracking. The frame's result as it goes out."""
        frame = jobs.frame
        tracking = self.trackers[frame.stream] if frame.stream < len(self.trackers) else None
        jobs.complete()
        # (carried over here, in frame order, not when decoded: the frame before may still have been in flight)
        result = self._carried(frame, tracking is not None) if skip == EVERY_SKIP else jobs.result
        result = self.family.complete(result, frame)
        if skip is None:
            self._last[frame.stream] = replace(result)  # (a copy: tracking replaces the result's objects)
        if tracking is not None:
            with self.family.timer("tracker"):
                result.objects, result.events, result.counts = tracking.update(
                    result.objects, frame.index, frame.timestamp, inferred=skip is None)
            result = self.family.after_tracking(result, frame)
        return result

    def _carried(self, frame: Frame, tracked: bool) -> Result:
        """A frame --infer-every skipped: with a tracker its objects come from the tracker's predictions;
        otherwise the last ones stand, and so does a clip's action, but its window was classified on an
        earlier frame."""
        last = self._last.get(frame.stream)
        if last is None:  # (not `or`: a Result without objects is falsy, and a clip's action is carried too)
            last = Result()
        clip = None if last.classification is None else replace(last.classification, predicted=False)
        return replace(last, objects=last.objects[[]] if tracked else last.objects, inferred=False,
                       classification=clip, events=[])

    def __call__(self, frame: Frame, outputs: ModelOutputs | None, skip: str | None) -> Result:
        """The whole sequence for one frame, its stages waited on (the Python API, the face gallery)."""
        jobs = self.decode(frame, outputs, skip)
        jobs.wait()
        return self.finish(jobs, skip)

    def settle(self, result: Result, frame: Frame) -> Result:
        """The second stages alone, waited on, on objects found otherwise (the face a gallery photo records,
        with the landmarks it was seen with): no postprocess, completion or tracking."""
        jobs = FrameJobs(self.stages, result, frame)
        jobs.wait()
        jobs.complete()
        return jobs.result
