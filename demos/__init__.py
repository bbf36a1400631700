"""ovdemo.demos: the demo families. Each holds only what is specific to it: its decoders and drawing."""

from __future__ import annotations

from .action import ActionFamily
from .detect import DetectFamily, TrackFamily
from .face import FaceFamily
from .pose import PoseFamily
from .segment import SegmentFamily
from .text import TextFamily

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
