"""ovdemo.demos: the demo families. Each holds only what is specific to it: its decoders and drawing."""

from __future__ import annotations

from .detect import DetectFamily, TrackFamily
from .pose import PoseFamily

# name -> Family class, in `ovdemo --help` order
FAMILIES: dict = {
    "detect": DetectFamily,
    "track": TrackFamily,
    "pose": PoseFamily,
}
