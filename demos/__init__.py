"""ovdemo.demos: the demo families. Each holds only what is specific to it: its decoders and drawing."""

from __future__ import annotations

from .detect import DetectFamily, TrackFamily
from .segment import SegmentFamily

# name -> Family class, in `ovdemo --help` order
FAMILIES: dict = {
    "detect": DetectFamily,
    "track": TrackFamily,
    "segment": SegmentFamily,
}
