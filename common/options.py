"""One option vocabulary for every family, defined once (Ultralytics' single `cfg` namespace is the model).

An `Opt` is both a command-line flag and a keyword of the Python API (`ovdemo.load(model, threshold=0.3)`):
its name, type, default and help live here once. Each family lists the options it takes; the shared ones
below keep one spelling and one meaning everywhere. Old spellings stay as hidden aliases for one release.
"""

from __future__ import annotations

import difflib
import functools
import math
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass, fields, replace
from typing import Any, Self

import click

from .errors import DemoError
from .models.remote_ref import DEFAULT_REMOTE_TIMEOUT


class FiniteRange(click.FloatRange):
    """A FloatRange that refuses NaN and the infinities: NaN passes every comparison a range makes (`-t nan`
    once ran to the end finding nothing), and no option's code can use an infinity."""

    @classmethod
    def of(cls, other: click.FloatRange) -> FiniteRange:
        return cls(other.min, other.max, other.min_open, other.max_open, other.clamp)

    def convert(self, value, param, ctx):
        number = click.FLOAT.convert(value, param, ctx)
        if not math.isfinite(number):
            self.fail(f"{value!r} is not a finite number (the range is {self._describe_range()})", param, ctx)
        return super().convert(number, param, ctx)


def number(text: str, what: str, low: float, high: float, integer: bool = False) -> float:
    """A number given as text (an environment variable, a value in a list), checked like an option's:
    finite, within [low, high], whole where `integer`; a DemoError naming `what` otherwise."""
    kind = "a whole number" if integer else "a number"
    try:
        value = float(text)
    except (TypeError, ValueError):
        raise DemoError(f"{what} '{text}' is not a number", f"give {kind} from {low:g} to {high:g}") from None
    if not math.isfinite(value) or not low <= value <= high or (integer and not value.is_integer()):
        raise DemoError(f"{what} '{text}' is out of range", f"give {kind} from {low:g} to {high:g}")
    return value


def env_number(name: str, default: float, low: float, high: float, integer: bool = False) -> float:
    """An environment variable's number, `default` when it is unset or empty."""
    text = os.environ.get(name, "").strip()
    return default if not text else number(text, name, low, high, integer)


@dataclass(frozen=True)
class Alias:
    """A hidden old spelling of an option; `convert` maps its value onto the option's scale."""

    flag: str
    convert: Callable[[Any], Any] | None = None


@dataclass(frozen=True)
class Opt:
    name: str  # the Python keyword and the attribute of `Options`
    flags: tuple[str, ...]  # click declarations, e.g. ("-t", "--threshold")
    help: str = ""
    default: Any = None
    type: Any = None
    is_flag: bool = False
    multiple: bool = False
    metavar: str | None = None
    envvar: str | None = None
    show_default: bool = False
    required: bool = False
    callback: Callable | None = None
    is_eager: bool = False
    aliases: tuple[Alias, ...] = ()
    cli_only: bool = False  # the command's inputs and outputs: the Python API takes images and returns results

    def __post_init__(self):
        if isinstance(self.type, click.FloatRange) and not isinstance(self.type, FiniteRange):
            object.__setattr__(self, "type", FiniteRange.of(self.type))  # every number option refuses NaN and inf

    def with_default(self, default: Any, help: str | None = None) -> Opt:
        """The same option with a family's own default (and help text that says so)."""
        return replace(self, default=default, show_default=default is not None and not self.is_flag,
                       help=self.help if help is None else help)

    def decorators(self) -> list:
        kwargs: dict = {"help": self.help, "default": self.default, "show_default": self.show_default,
                        "multiple": self.multiple, "required": self.required}
        if self.is_flag and "/" not in self.flags[-1]:
            kwargs["is_flag"] = True
        if self.type is not None:
            kwargs["type"] = self.type
        for key in ("metavar", "envvar", "callback"):
            if getattr(self, key) is not None:
                kwargs[key] = getattr(self, key)
        if self.is_eager:
            kwargs["is_eager"] = True
        if self.multiple and self.default is None:
            kwargs["default"] = ()
        out = [click.option(*self.flags, self.name, **kwargs)]
        for alias in self.aliases:
            alias_kwargs = {k: v for k, v in kwargs.items() if k in ("type", "is_flag", "multiple", "metavar")}
            if self.is_flag:  # the old spelling of a --show-x/--hide-x switch is a plain flag: given means on
                alias_kwargs["is_flag"] = True
            out.append(click.option(alias.flag, f"alias__{self.name}__{alias.flag.lstrip('-').replace('-', '_')}",
                                    hidden=True, default=None, **alias_kwargs))
        return out


class Options:
    """The resolved options of one run: every option a family takes, as attributes with their defaults.

    Built from the command line (`from_cli`) or from keywords (`build`), so the CLI and the Python API read
    the same names, types and defaults."""

    def __init__(self, values: dict[str, Any]):
        self.__dict__.update(values)

    def __getattr__(self, name: str) -> Any:
        """Only reached for a name that is no option here: each option is an attribute of its own (read as Any:
        families read typed values, `OptionValues`)."""
        raise AttributeError(f"no option {name!r} in these options")

    def __repr__(self) -> str:
        return f"Options({', '.join(f'{k}={v!r}' for k, v in sorted(self.__dict__.items()))})"

    def get(self, name: str, default: Any = None) -> Any:
        return self.__dict__.get(name, default)

    def replace(self, **changes: Any) -> Options:
        return Options({**self.__dict__, **changes})

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)

    @classmethod
    def build(cls, opts: Iterable[Opt], given: dict[str, Any], what: str = "this family") -> Options:
        """Defaults of `opts`, overridden by `given` (keywords of the Python API); an unknown keyword is an
        error naming the known ones."""
        table = {o.name: o for o in opts}
        unknown = sorted(set(given) - set(table))
        if unknown:
            raise unknown_options(unknown, table, what)
        values = {name: (() if o.multiple and o.default is None else o.default) for name, o in table.items()}
        for name, value in given.items():
            if table[name].multiple and not isinstance(value, tuple):  # one value (a path is one) or a list
                value = (value,) if isinstance(value, str | os.PathLike) else tuple(value)
            values[name] = value
            _check_range(table[name], values[name])
        return cls(values)

    @classmethod
    def from_cli(cls, opts: Iterable[Opt], kwargs: dict[str, Any]) -> Options:
        """A command's keyword arguments, hidden aliases folded into the options they stand for."""
        table = {o.name: o for o in opts}
        values = {k: v for k, v in kwargs.items() if not k.startswith("alias__")}
        for key, value in kwargs.items():
            if not key.startswith("alias__") or value in (None, ()):
                continue
            name = key.split("__")[1]
            option = table[name]
            alias = next(a for a in option.aliases if key.endswith(a.flag.lstrip("-").replace("-", "_")))
            values[name] = alias.convert(value) if alias.convert else value
        return cls(values)


@dataclass(frozen=True)
class OptionValues:
    """A family's options as typed values, read once from `Options`: subclasses are frozen dataclasses whose
    fields are option names with their Python types, and no defaults (`Options` already holds each option's
    default: the vocabulary above stays the one source of names, defaults and help)."""

    @classmethod
    def of(cls, opts: Options) -> Self:
        values = opts.as_dict()
        names = [f.name for f in fields(cls)]
        missing = [name for name in names if name not in values]
        if missing:  # a field that is no option of the family: the family's code is wrong, not the user's input
            raise TypeError(f"{cls.__name__} reads {', '.join(missing)}, which these options do not have")
        return cls(**{name: values[name] for name in names})


def unknown_options(unknown: Iterable[str], known: Iterable[str], what: str) -> DemoError:
    """The error for keywords no option has: the closest known name for each (a typo, a short form), then
    every known one."""
    known = sorted(known)
    unknown = sorted(unknown)
    close = {name: difflib.get_close_matches(name, known, n=1, cutoff=0.6) for name in unknown}
    guesses = [f"{name}: did you mean {match[0]}?" for name, match in close.items() if match]
    guessed = f" ({'; '.join(guesses)})" if guesses else ""
    return DemoError(f"unknown option(s) {', '.join(unknown)} for {what}{guessed}", f"known: {', '.join(known)}")


def _check_range(opt: Opt, value: Any) -> None:
    """A number given from Python meets the bounds its flag has on the command line."""
    if value is None or not isinstance(opt.type, click.IntRange | click.FloatRange):
        return
    try:
        opt.type.convert(value, None, None)
    except click.BadParameter as e:
        raise DemoError(f"{opt.name}={value!r} is out of range", e.message) from None


def apply(command, opts: Iterable[Opt]):
    """Add `opts` to a command function (before `click.command`), in the order `--help` will list them."""
    for opt in reversed(list(opts)):
        for decorator in reversed(opt.decorators()):
            command = decorator(command)
    return command


def realtime_files(opts) -> bool:
    """Whether file inputs are paced at their frame rate: --realtime / --no-realtime, else on with --serve (a
    page that fast-forwards a file shows nothing live)."""
    chosen = opts.get("realtime")
    return chosen if chosen is not None else opts.get("serve") is not None


def help_group(**settings):
    """`click.group`, except that the group given no subcommand prints its help and exits 0: asking what a
    command does is no mistake (click's own no_args_is_help exits 2 from click 8.2 on)."""
    def decorate(function):
        def callback(*args, **kwargs):
            ctx = click.get_current_context()
            if ctx.invoked_subcommand is None:
                click.echo(ctx.get_help())
                return None
            return function(*args, **kwargs)

        functools.update_wrapper(callback, function)  # its docstring, and options other decorators added
        return click.group(invoke_without_command=True, **settings)(callback)

    return decorate


# -- value checks

# Upper bounds of the numeric options (every one has one, shown in --help): past them a run would only exhaust
# memory or time (`text --input-size 20000` once grew to 23.7 GB before the kernel killed it).
MAX_FRAMES = 10**9
MAX_REQUESTS = 64  # --nireq, --nstreams: each request holds its own input and output tensors
MAX_THREADS = 1024
MAX_WORKERS = 256  # --workers: a process each, with its own models in memory
MAX_INPUT_SIZE = 4096  # a network input of 4096x4096 takes about 1.5 GB for the largest detectors here
CACHE_DIR_ENV = "OVDEMO_CACHE_DIR"  # --cache-dir when not given


def _streams(ctx, param, value):
    if value is not None and value.upper() != "AUTO" and not (value.isdigit() and 0 < int(value) <= MAX_REQUESTS):
        raise click.BadParameter(f"a number from 1 to {MAX_REQUESTS}, or AUTO")
    return value


def set_verbose(ctx, param, value):
    if value:
        from . import errors

        errors.VERBOSE = True
    return value


def model_opt(name: str, flag: str, default: str | None, help: str, aliases: tuple[Alias, ...] = ()) -> Opt:
    """A model flag: an Open Model Zoo name, a path, or a model server's URL (`-m` for the main model,
    `--<role>-model` for others)."""
    flags = ("-m", "--model") if name == "model" else (flag,)
    return Opt(name, flags, help, default=default, metavar="NAME|PATH|URL", show_default=default is not None,
               aliases=aliases)


# -- the shared vocabulary

INPUT = Opt("input", ("-i", "--input"), metavar="SOURCE", required=True, multiple=True, cli_only=True,
            help="Camera (cam0, 0, /dev/video0), video file, image, folder, glob ('frames/*.jpg'), "
                 "image sequence (img_%04d.png) or URL (rtsp://, http://, rtmp://). Repeat it for several streams "
                 "in one run: files written per stream need {stream} in their names (out_{stream}.mp4).")

PIPELINE: tuple[Opt, ...] = (
    INPUT,
    Opt("loop", ("--loop",), "Replay file inputs from the start when they end.", default=False, is_flag=True),
    Opt("realtime", ("--realtime/--no-realtime",), "Play file inputs at their own frame rate, as a camera "
        "delivers frames, instead of as fast as they decode [default: on with --serve, so the page plays at "
        "the video's speed; off otherwise]. Cameras and streams are real time anyway.", default=None,
        is_flag=True),
    Opt("max_frames", ("--max-frames",), "Stop after N frames (of each input).", type=click.IntRange(1, MAX_FRAMES),
        metavar="N"),
    Opt("infer_every", ("--infer-every",), "Run the main model on every Nth frame; frames between carry the last "
        "results over (with --track, the tracker's predictions).", default=1, type=click.IntRange(1, 1000),
        metavar="N", show_default=True),
    Opt("models_dir", ("--models-dir",), "Folder of models by name: <dir>/<name>/<PRECISION>/<name>.xml or "
        "<dir>/intel/<name>/<PRECISION>/... [env OVDEMO_MODELS_DIR]", type=click.Path(file_okay=False),
        envvar="OVDEMO_MODELS_DIR"),
    Opt("precision", ("--precision",), "Model precision to look for (falls back to FP16, FP16-INT8, FP32).",
        default="FP16", show_default=True),
    Opt("offline", ("--offline",), "Never download: use only models already on disk. [env OVDEMO_OFFLINE]",
        default=False, is_flag=True, envvar="OVDEMO_OFFLINE"),
    Opt("device", ("-d", "--device"), "OpenVINO device: CPU, GPU, NPU, AUTO, HETERO:GPU,CPU, MULTI:GPU,CPU ...",
        default="CPU", show_default=True),
    Opt("hint", ("--hint",), "Performance hint; auto: latency for cameras and streams, throughput for files.",
        default="auto", type=click.Choice(["auto", "throughput", "latency", "none"]), show_default=True),
    Opt("nireq", ("--nireq",), "Infer requests in flight; 0: the device's optimal number (twice it under the "
        "throughput hint, one queued behind each running request).", default=0,
        type=click.IntRange(0, MAX_REQUESTS), show_default=True),
    Opt("nstreams", ("--nstreams",), f"Device streams, 1 to {MAX_REQUESTS} (default: from the hint).",
        callback=_streams, metavar="N|AUTO"),
    Opt("nthreads", ("--nthreads",), "CPU inference threads.", type=click.IntRange(1, MAX_THREADS), metavar="N"),
    Opt("cpus", ("--cpus",), "Run on these cores only, e.g. 0-7 or 0,2,4-6 [default: the cores the process was "
        "started on (taskset, a container)]. A process that does not use the whole machine never pins its "
        "threads to cores, so processes side by side each keep their own.", metavar="LIST"),
    Opt("workers", ("--workers",), "Run the streams (-i given several times) in N processes, each on its share "
        "of the cores, with the outputs one process writes.", default=1, type=click.IntRange(1, MAX_WORKERS),
        metavar="N", show_default=True, cli_only=True),
    Opt("cache_dir", ("--cache-dir",), f"OpenVINO compiled-model cache folder: a model compiled once for these "
        f"settings loads from it on later runs, with the same results. [env {CACHE_DIR_ENV}]",
        type=click.Path(file_okay=False)),
    Opt("infer_precision", ("--infer-precision",), "Inference precision hint; auto: the device's choice (bf16 on "
        "CPUs that have it). f32 gives the same numbers on every CPU.", default="auto",
        type=click.Choice(["auto", "f32", "bf16", "f16"]), show_default=True),
    Opt("remote_timeout", ("--remote-timeout",), "Seconds a model server (-m grpc://..., -m http://...) may "
        "take to answer one request.", default=DEFAULT_REMOTE_TIMEOUT, type=click.FloatRange(0.1, 3600),
        metavar="S", show_default=True),
    Opt("output", ("-o", "--output"), "Write the annotated video (.mp4, .avi, .mkv, .webm) or images "
        "(out_%04d.jpg).", metavar="FILE", cli_only=True),
    Opt("json", ("--json",), "Write one JSON object per frame (JSON lines; schema in docs/schema.md).", metavar="FILE",
        cli_only=True),
    Opt("raw", ("-r", "--raw"), "Print each frame's results to stdout.", default=False, is_flag=True,
        cli_only=True),
    Opt("no_show", ("--no-show",), "Do not open a window (implied when there is no display).", default=False,
        is_flag=True, cli_only=True),
    Opt("no_save", ("--no-save",), "Keep nothing: without it, a run that shows no window and is given no output "
        "(-o, --json, -r, --serve, --mot, --metrics-json) saves its annotated video and JSON lines under "
        "runs/<family>/<n>/. [env OVDEMO_NO_SAVE]", default=False, is_flag=True, envvar="OVDEMO_NO_SAVE",
        cli_only=True),
    Opt("serve", ("--serve",), "Serve the annotated stream and live metrics on a web page at http://HOST:PORT/ "
        "(several viewers at once; HOST is 127.0.0.1 unless given, 0.0.0.0 for every interface; PORT 0: any free "
        "one).", metavar="[HOST:]PORT", cli_only=True),
    Opt("metrics_json", ("--metrics-json",), "Write the run's summary metrics as JSON.", metavar="FILE",
        cli_only=True),
    Opt("verbose", ("--verbose",), "Show tracebacks and OpenVINO details on errors.", default=False, is_flag=True,
        is_eager=True, callback=set_verbose, cli_only=True),
)

THRESHOLD = Opt("threshold", ("-t", "--threshold"), "Detection confidence threshold [default: the model's, "
                "else 0.5].", type=click.FloatRange(0, 1))
LABELS = Opt("labels", ("--labels",), "Class names, one per line, by class id.", type=click.Path(dir_okay=False),
             metavar="FILE")
CLASSES = Opt("classes", ("--classes",), "Keep only these classes, comma-separated (e.g. person,car).",
              metavar="NAMES")
INPUT_SIZE = Opt("input_size", ("--input-size",), "Network input size for models that can be reshaped: the "
                 "longer side in pixels, the other side following the frame's aspect ratio, rounded to the "
                 "model's stride [default: the model's].", type=click.IntRange(16, MAX_INPUT_SIZE), metavar="N")


def arch_opt(decoders: Iterable[str]) -> Opt:
    return Opt("arch", ("--arch",), "Output decoder, for models ovdemo does not know.",
               type=click.Choice(sorted(decoders)))


SHOW_LABELS = Opt("show_labels", ("--show-labels/--hide-labels",), "Caption objects with their class.",
                  default=True, is_flag=True, show_default=True)
SHOW_CONF = Opt("show_conf", ("--show-conf/--hide-conf",), "Caption objects with their confidence.",
                default=True, is_flag=True, show_default=True)
SHOW_BOXES = Opt("show_boxes", ("--show-boxes/--hide-boxes",), "Draw objects' boxes.", default=True,
                 is_flag=True, show_default=True)
DRAWING: tuple[Opt, ...] = (SHOW_LABELS, SHOW_CONF, SHOW_BOXES)

REID_THRESHOLD = Opt("reid_threshold", ("--reid-threshold",), "Largest cosine distance (1 - cosine similarity, "
                     "0..2) at which two embeddings are the same identity [default: the re-id model's].",
                     type=click.FloatRange(0, 2))

TRACKING: tuple[Opt, ...] = (
    Opt("track", ("--track",), "Track objects across frames: each keeps an id (Kalman motion, and appearance "
        "with --reid-model).", default=False, is_flag=True),
    Opt("min_hits", ("--min-hits",), "Detector frames in a row before a track is confirmed.", default=3,
        type=click.IntRange(1, 100), show_default=True),
    Opt("reid_window", ("--reid-window",), "How long a lost track can be re-identified (needs a re-id model).",
        default=10.0, type=click.FloatRange(0, 3600), metavar="SECONDS", show_default=True),
    Opt("line", ("--line",), "Counting line X1,Y1,X2,Y2 in pixels (repeatable; needs --track). 'in' is crossing "
        "it from right to left walking from its first point to its second: upwards for a line drawn left to "
        "right.", multiple=True, metavar="X1,Y1,X2,Y2"),
    Opt("zone", ("--zone",), "Polygon zone X1,Y1,X2,Y2,... in pixels (repeatable; needs --track): occupancy, "
        "entries, exits and dwell time (a member unseen for 2 s has left; its dwell ends when it was last seen "
        "inside).", multiple=True, metavar="X1,Y1,..."),
    Opt("anchor", ("--anchor",), "The point of a box that crosses lines and stands in zones.", default="bottom",
        type=click.Choice(["bottom", "center"]), show_default=True),
    Opt("mot", ("--mot",), "Write confirmed tracks in MOTChallenge format (frame,id,x,y,w,h,conf,-1,-1,-1).",
        metavar="FILE"),
)


CLASSIFY = Opt("classify", ("--classify",), "Run a per-object attribute model on every object it applies to "
               "(repeatable), e.g. vehicle-attributes-recognition-barrier-0039 (colour, type) on vehicles, "
               "person-attributes-recognition-crossroad-0230 on people, license-plate-recognition-barrier-0001 on "
               "plates; its answers join each object's attributes.", multiple=True, metavar="NAME|PATH|URL")


def reid_model_opt(default: str | None, help: str, aliases: tuple[Alias, ...] = ()) -> Opt:
    return model_opt("reid_model", "--reid-model", default, help, aliases)


def parse_classes(value: str | None) -> tuple[str, ...]:
    return tuple(c.strip() for c in value.split(",") if c.strip()) if value else ()
