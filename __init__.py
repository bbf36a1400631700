"""ovdemo: video analytics demos on OpenVINO."""

__version__ = "0.1.0"
