"""ovdemo.demos: the demo families. Each holds only what is specific to it: its decoders and drawing."""

from __future__ import annotations

from .action import ActionFamily
from .detect import DetectFamily, TrackFamily

# name -> Family class, in `ovdemo --help` order
FAMILIES: dict = {
    "detect": DetectFamily,
    "track": TrackFamily,
    "action": ActionFamily,
}
