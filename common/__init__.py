"""ovdemo.common: the shared pipeline library every demo family runs on."""

import os

# FFmpeg inside OpenCV logs encoder probes (e.g. a missing H.264 encoder) straight to stderr;
# ovdemo reports what matters itself. Must be set before cv2 initialises its FFmpeg backend.
os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")
