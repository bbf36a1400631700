"""A run that shows nothing and writes nothing keeps its results anyway, as Ultralytics' CLI does: the annotated
video and the JSON lines go to `runs/<family>/<n>/` (the next free n, never an earlier run's folder), and the
run's last line says where. `--no-save` (OVDEMO_NO_SAVE=1) keeps nothing; a run with a window, or with any output
of its own (-o, --json, -r, --serve, --mot, --metrics-json), saves nothing it was not asked for."""

from __future__ import annotations

import contextlib
import re
from pathlib import Path

from ..options import Options
from .capture import InputSpec
from .output import STREAM_FIELD

RUNS = Path("runs")
OWN_OUTPUTS = ("output", "json", "raw", "serve", "mot", "metrics_json")
UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def keeps_nothing(opts: Options, window: bool) -> bool:
    """True when the run would leave no trace: no window, no output of its own, and saving not refused."""
    return not window and not opts.get("no_save") and not any(opts.get(name) for name in OWN_OUTPUTS)


def _stem(source: InputSpec) -> str:
    """A file name from what -i names: the video's or image's own name, else the camera's or stream's."""
    name = Path(source.files[0]).stem if len(source.files) == 1 else Path(str(source.name).rstrip("/")).stem
    return UNSAFE.sub("_", name).strip("._-")[:60] or source.kind


def next_folder(family: str, root: Path = RUNS) -> Path:
    """runs/<family>/<n>, created: n one past the highest there (mkdir is atomic, so two runs starting together
    each get their own)."""
    parent = root / family
    parent.mkdir(parents=True, exist_ok=True)
    taken = [int(p.name) for p in parent.iterdir() if p.name.isdigit()]
    n = max(taken, default=0) + 1
    while True:
        try:
            (parent / str(n)).mkdir()
            return parent / str(n)
        except FileExistsError:
            n += 1


def saving(opts: Options, family: str, sources: list[InputSpec], loop: bool = False) -> tuple[Options, Path]:
    """The options with the saved outputs filled in, and their folder."""
    folder = next_folder(family)
    if len(sources) > 1:
        video, jsonl = folder / f"stream{STREAM_FIELD}.mp4", folder / "streams.jsonl"
    else:
        source = sources[0]
        # one picture in: one picture out (a video of one frame plays as nothing)
        still = source.kind == "images" and len(source.files) == 1 and not loop
        video = folder / (_stem(source) + (".jpg" if still else ".mp4"))
        jsonl = folder / f"{_stem(source)}.jsonl"
    return opts.replace(output=str(video), json=str(jsonl)), folder


def said_or_removed(folder: Path, console) -> None:
    """The run's last line names the folder and what is in it; a run that wrote nothing leaves no folder."""
    files = sorted(p.name for p in folder.iterdir() if not p.name.startswith(".")) if folder.is_dir() else []
    if files:
        console.print(f"saved to {folder}/: {', '.join(files)} (--no-save keeps nothing)", soft_wrap=True)
        return
    for empty in (folder, folder.parent, folder.parent.parent):  # runs/<family>/<n>, then its parents if empty
        with contextlib.suppress(OSError):
            empty.rmdir()
