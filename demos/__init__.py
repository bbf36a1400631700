"""ovdemo.demos: the demo families. Each holds only what is specific to it: its decoders and drawing."""

from __future__ import annotations

from .action.family import ActionFamily
from .detect.family import DetectFamily, TrackFamily
from .face.family import FaceFamily
from .pose.family import PoseFamily
from .segment.family import SegmentFamily
from .text.family import TextFamily

# name -> Family class, in `ovdemo --help` order
FAMILIES: dict = {
    "detect": DetectFamily,
    "face": FaceFamily,
    "track": TrackFamily,
    "pose": PoseFamily,
    "segment": SegmentFamily,
    "text": TextFamily,
    "action": ActionFamily,
}
