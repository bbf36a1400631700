"""`make bench`: the frame's resize into the model, from the u8 taps (common/engine/resize.py) against OpenVINO's own
resize step on the whole converted frame, for real models on real frames.

Not a test: it prints numbers. Each model is compiled as `ovdemo` compiles it for the video's frame size (its
spec's preprocessing in the graph), once resized from the taps (even where ovdemo does not take them: the
"ovdemo" column says whether it does) and once with OpenVINO's resize step, and
its requests are kept busy with the video's frames (decoded beforehand, the tensors shared, nothing else
running): FPS and the process's CPU per frame, taken in turn, medians of BENCH_ROUNDS.
"""

from __future__ import annotations

import sys
from unittest import mock

import benchlib
import openvino as ov

from ovdemo.common.engine.inference import embed_preprocessing, input_layout, model_input_size
from ovdemo.common.engine.resize import taps_pay_off
from ovdemo.common.models.specs import find_spec

CASES = (  # model, precision, video
    ("person-detection-0202", "FP16", "pointer-demo.mp4"),
    ("person-detection-0202", "FP16-INT8", "pointer-demo.mp4"),
    ("person-vehicle-bike-detection-2000", "FP16", "pointer-demo.mp4"),
    ("face-detection-retail-0004", "FP16", "pointer-demo.mp4"),
    ("person-vehicle-bike-detection-2000", "FP16", "people-detection.264"),
    ("person-detection-0202", "FP16", "people-detection.264"),
    ("person-detection-0202", "FP16", "bottle-detection.mp4"),  # 640x360 into 512x512: an upscale of its height
    ("face-detection-retail-0004", "FP16", "bottle-detection.mp4"),
)
FRAMES = 400  # inferences a measurement


def compiled_as_ovdemo(xml, frame_size: tuple[int, int], taps: bool) -> ov.CompiledModel:
    core = ov.Core()
    model, spec = core.read_model(str(xml)), find_spec(xml.stem)
    if taps:
        with mock.patch("ovdemo.common.engine.inference.taps_pay_off", lambda *_: True):
            prepared = embed_preprocessing(model, spec, frame_size)
    else:
        with mock.patch("ovdemo.common.engine.inference.resize_by_taps", lambda *_: False):
            prepared = embed_preprocessing(model, spec, frame_size)
    return core.compile_model(prepared, benchlib.DEVICE, {"PERFORMANCE_HINT": "THROUGHPUT"})


def main() -> None:
    print(f"the frame's resize in the model: u8 taps against OpenVINO's resize step, {FRAMES} inferences each, "
          f"on {benchlib.DEVICE}")
    rows = []
    for name, precision, video in CASES:
        xml = benchlib.model_xml(name, precision)
        if not xml.is_file() or not (benchlib.videos_dir() / video).is_file():
            print(f"{name} {precision} on {video}: skipped, missing")
            continue
        frames = benchlib.first_frames(benchlib.videos_dir() / video, 16)
        frame_size = (frames[0].shape[2], frames[0].shape[1])
        compiled = [compiled_as_ovdemo(xml, frame_size, taps) for taps in (True, False)]
        taps, whole = benchlib.side_by_side(*(lambda c=c, f=frames: benchlib.busy_inference(c, f, FRAMES)
                                              for c in compiled))
        model = ov.Core().read_model(str(xml))
        size = model_input_size(model, input_layout(model, find_spec(name)))
        taking = size is not None and taps_pay_off(frame_size, size)
        rows.append((f"{name} {precision}", f"{frame_size[0]}x{frame_size[1]}", taking, taps, whole))
    print(f"{'model':42} {'frame':>9} {'ovdemo':>6} {'FPS taps':>9} {'FPS whole':>9} {'ratio':>6} "
          f"{'CPU ms taps':>11} {'CPU ms whole':>12}")
    for label, frame, taking, taps, whole in rows:
        print(f"{label:42} {frame:>9} {'taps' if taking else 'whole':>6} {taps.fps:9.1f} {whole.fps:9.1f} "
              f"{taps.fps / whole.fps:6.2f} {taps.cpu_ms:11.2f} {whole.cpu_ms:12.2f}")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
