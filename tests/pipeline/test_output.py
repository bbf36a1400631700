"""Output files users share: videos that play everywhere (H.264 in MP4, H.264 in Matroska, VP9 in WebM) with
every frame at the source's FPS, OpenCV's writer as the fallback, and one image out for one image in."""

from __future__ import annotations

import shutil
import subprocess
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np
import pytest
from helpers import read_jsonl, run_ovdemo
from synthetic import brightness_probe

FRAMES, FPS = 12, Fraction(10)


@pytest.fixture(scope="module")
def probe(tmp_path_factory) -> Path:
    return brightness_probe(tmp_path_factory.mktemp("probe") / "brightness-probe.xml")


@pytest.fixture(scope="module")
def clip(tmp_path_factory) -> Path:
    """12 frames at 10 FPS, 160x90, each with its own grey level (so frames can be told apart)."""
    path = tmp_path_factory.mktemp("clip") / "clip.mp4"
    with av.open(str(path), "w", format="mp4", options={"movflags": "faststart"}) as out:
        stream = out.add_stream("libx264", rate=FPS)
        stream.width, stream.height, stream.pix_fmt = 160, 90, "yuv420p"
        for i in range(FRAMES):
            frame = av.VideoFrame.from_ndarray(np.full((90, 160, 3), 20 * i, np.uint8), format="bgr24")
            frame.pts = i
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    return path


def probe_video(path: Path) -> dict:
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        frames = [f.to_ndarray(format="bgr24") for f in container.decode(stream)]
        return {"codec": stream.codec_context.name, "pix_fmt": stream.codec_context.pix_fmt,
                "rate": stream.average_rate, "frames": frames, "duration": container.duration / av.time_base}


FORMATS = [(".mp4", "h264"), *(pytest.param(suffix, codec, marks=pytest.mark.slow) for suffix, codec in
                               ((".mkv", "h264"), (".webm", "vp9"), (".avi", "mpeg4")))]


@pytest.mark.parametrize(("suffix", "codec"), FORMATS)
def test_a_video_has_every_frame_at_the_source_fps_in_a_codec_players_know(probe, clip, tmp_path, suffix, codec):
    out = tmp_path / f"out{suffix}"
    result = run_ovdemo("detect", "-m", probe, "-i", clip, "-o", out, "--json", tmp_path / "o.jsonl", "--no-show")
    assert result.returncode == 0, result.stderr
    assert "warning" not in result.stderr
    video = probe_video(out)
    assert video["codec"] == codec and video["pix_fmt"] == "yuv420p"
    assert len(video["frames"]) == len(read_jsonl(tmp_path / "o.jsonl")) == FRAMES
    assert video["rate"] == FPS and video["duration"] == pytest.approx(FRAMES / FPS, abs=0.01)
    # frame k is the input's frame k: grey level 20 k (less a few levels: each decode through FFmpeg's YUV to BGR
    # conversion darkens a little), away from the annotations in the top-left corner
    levels = [float(np.median(f[60:, 100:])) for f in video["frames"]]
    assert levels == pytest.approx([20 * i for i in range(FRAMES)], abs=8)


@pytest.mark.skipif(shutil.which("chromium") is None, reason="headless Chromium is not installed")
def test_the_mp4_plays_in_a_browser_with_its_true_duration(probe, clip, tmp_path):
    out = tmp_path / "out.mp4"
    assert run_ovdemo("detect", "-m", probe, "-i", clip, "-o", out, "--no-show").returncode == 0
    page = tmp_path / "page.html"
    page.write_text("""<video id=v src="out.mp4" muted preload=auto></video><div id=out>pending</div><script>
        const v = document.getElementById('v'), say = () => document.getElementById('out').textContent =
            'state=' + v.readyState + ' duration=' + v.duration + ' error=' + (v.error && v.error.code);
        v.addEventListener('canplaythrough', say); v.addEventListener('error', say);</script>""")
    dom = subprocess.run(["chromium", "--headless", "--no-sandbox", "--disable-gpu", "--allow-file-access-from-files",
                          "--virtual-time-budget=10000", "--dump-dom", page.as_uri()],
                         capture_output=True, text=True, timeout=120).stdout
    assert f"state=4 duration={float(FRAMES / FPS):g} error=null" in dom, dom[-300:]


def test_without_pyav_the_video_is_written_by_opencv_with_one_warning(probe, clip, tmp_path):
    blocked = tmp_path / "no-pyav" / "av"
    blocked.mkdir(parents=True)
    (blocked / "__init__.py").write_text("raise ImportError('PyAV is blocked in this test')\n")
    out = tmp_path / "out.mp4"
    result = run_ovdemo("detect", "-m", probe, "-i", clip, "-o", out, "--no-show",
                        env={"PYTHONPATH": str(blocked.parent)})
    assert result.returncode == 0, result.stderr
    warnings = [ln for ln in result.stderr.splitlines() if ln.startswith("warning")]
    assert warnings == ["warning: PyAV is not installed (PyAV is blocked in this test): writing MPEG-4 Part 2 with "
                        "OpenCV instead, which browsers may not play"]
    video = probe_video(out)
    assert video["codec"] == "mpeg4" and len(video["frames"]) == FRAMES


@pytest.mark.parametrize("suffix", [".png", pytest.param(".jpg", marks=pytest.mark.slow)])
def test_one_image_in_one_image_out(probe, tmp_path, suffix):
    source = tmp_path / "photo.png"
    cv2.imwrite(str(source), np.full((50, 70, 3), 90, np.uint8))
    out = tmp_path / f"annotated{suffix}"
    result = run_ovdemo("detect", "-m", probe, "-i", source, "-o", out, "--no-show")
    assert result.returncode == 0, result.stderr
    image = cv2.imread(str(out))
    assert image.shape == (50, 70, 3)
    assert np.median(image[30:, 40:]) == pytest.approx(90, abs=3)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["photo.png", out.name])


@pytest.mark.slow
def test_a_one_pixel_image_makes_a_video_too(probe, tmp_path):
    source = tmp_path / "dot.png"
    cv2.imwrite(str(source), np.full((1, 1, 3), 200, np.uint8))
    result = run_ovdemo("detect", "-m", probe, "-i", source, "-o", tmp_path / "dot.mp4", "--no-show")
    assert result.returncode == 0, result.stderr
    video = probe_video(tmp_path / "dot.mp4")
    assert video["codec"] == "h264" and len(video["frames"]) == 1
