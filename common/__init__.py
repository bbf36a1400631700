"""ovdemo.common: the shared pipeline library every demo family runs on."""

import os

# OpenCV and the FFmpeg inside it log probes (a camera index that does not exist, a missing H.264
# encoder) straight to stderr; ovdemo reports what matters itself, in one line. These must be set
# before cv2 is first imported.
os.environ.setdefault("OPENCV_LOG_LEVEL", "SILENT")
os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")
