"""Command-line options every demo family shares, defined once so flags never drift between demos."""

from __future__ import annotations

from dataclasses import dataclass, fields

import click


@dataclass(frozen=True)
class PipelineOptions:
    input: str
    loop: bool = False
    max_frames: int | None = None
    models_dir: str | None = None
    precision: str = "FP16"
    offline: bool = False
    device: str = "CPU"
    hint: str = "auto"
    nireq: int = 0
    nstreams: str | None = None
    nthreads: int | None = None
    cache_dir: str | None = None
    output: str | None = None
    json: str | None = None
    raw: bool = False
    no_show: bool = False
    metrics_json: str | None = None
    verbose: bool = False

    @classmethod
    def take(cls, kwargs: dict) -> PipelineOptions:
        """Pull the shared options out of a command's keyword arguments, leaving the family's own."""
        return cls(**{f.name: kwargs.pop(f.name) for f in fields(cls) if f.name in kwargs})


def _positive(ctx, param, value):
    if value is not None and value <= 0:
        raise click.BadParameter("must be a positive number")
    return value


def _streams(ctx, param, value):
    if value is not None and value.upper() != "AUTO" and not (value.isdigit() and int(value) > 0):
        raise click.BadParameter("a positive number or AUTO")
    return value


def set_verbose(ctx, param, value):
    if value:
        from . import errors

        errors.VERBOSE = True
    return value


_SHARED = [
    click.option("-i", "--input", required=True, metavar="SOURCE",
                 help="Camera (cam0, 0, /dev/video0), video file, image, folder, glob ('frames/*.jpg'), "
                      "image sequence (img_%04d.png) or URL (rtsp://, http://, rtmp://)."),
    click.option("--loop", is_flag=True, help="Replay file inputs from the start when they end."),
    click.option("--max-frames", type=int, callback=_positive, metavar="N", help="Stop after N frames."),
    click.option("--models-dir", type=click.Path(file_okay=False), envvar="OVDEMO_MODELS_DIR",
                 help="Folder of models by name: <dir>/<name>/<PRECISION>/<name>.xml or "
                      "<dir>/intel/<name>/<PRECISION>/... [env OVDEMO_MODELS_DIR]"),
    click.option("--precision", default="FP16", show_default=True,
                 help="Model precision to look for (falls back to FP16, FP16-INT8, FP32)."),
    click.option("--offline", is_flag=True, envvar="OVDEMO_OFFLINE",
                 help="Never download: use only models already on disk. [env OVDEMO_OFFLINE]"),
    click.option("-d", "--device", default="CPU", show_default=True,
                 help="OpenVINO device: CPU, GPU, NPU, AUTO, HETERO:GPU,CPU, MULTI:GPU,CPU ..."),
    click.option("--hint", type=click.Choice(["auto", "throughput", "latency", "none"]), default="auto",
                 show_default=True, help="Performance hint; auto: latency for cameras and streams, "
                                         "throughput for files."),
    click.option("--nireq", type=click.IntRange(min=0), default=0, show_default=True,
                 help="Infer requests in flight; 0 asks the device for its optimal number."),
    click.option("--nstreams", callback=_streams, metavar="N|AUTO", help="Device streams (default: from the hint)."),
    click.option("--nthreads", type=int, callback=_positive, metavar="N", help="CPU inference threads."),
    click.option("--cache-dir", type=click.Path(file_okay=False), help="OpenVINO compiled-model cache folder."),
    click.option("-o", "--output", metavar="FILE",
                 help="Write the annotated video (.mp4, .avi, .mkv, .webm) or images (out_%04d.jpg)."),
    click.option("--json", metavar="FILE", help="Write one JSON object per frame (JSON lines)."),
    click.option("-r", "--raw", is_flag=True, help="Print each frame's results to stdout."),
    click.option("--no-show", is_flag=True, help="Do not open a window (implied when there is no display)."),
    click.option("--metrics-json", metavar="FILE", help="Write the run's summary metrics as JSON."),
    click.option("--verbose", is_flag=True, expose_value=True, is_eager=True, callback=set_verbose,
                 help="Show tracebacks and OpenVINO details on errors."),
]


def pipeline_options(command):
    for option in reversed(_SHARED):
        command = option(command)
    return command


def model_option(default: str | None, help_text: str):
    """`-m`: an Open Model Zoo name or a path to a model file; each family has its own default."""
    return click.option("-m", "--model", default=default, required=default is None, show_default=True,
                        metavar="NAME|PATH", help=help_text)
