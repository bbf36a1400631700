"""`--workers N`: the streams of one command run in N processes, each on its share of the cores, with the
outputs one process writes.

One interpreter runs its pipeline's Python (capture, decoding, drawing, writing) on one core at a time; on a big
machine several processes keep every core busy. The command's process is the parent: it checks every output,
splits the streams and the cores into N shares, and starts a worker for each (multiprocessing's spawn, so each
worker starts clean and takes its cores before OpenVINO loads). A worker is an ordinary run of its streams,
numbered as in the command, so its per-stream files ({stream} in the name) and its MOT files are the ones one
process writes. What is one file for the whole command comes back to the parent: each frame's JSON record
(written to --json, printed by -r) and, at the end, each worker's figures, summed into one summary with a row
per stream. Ctrl+C reaches the parent, which passes it on: every worker stops between two frames and finishes
its files, as one process does.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import threading
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from multiprocessing.connection import Connection, wait

from ..console import console, warn
from ..errors import DemoError
from ..io.capture import InputSpec
from ..io.output import STREAM_FIELD, JsonLines, RunOutputs, check_outputs, detach_stdout
from ..io.records import raw_lines
from ..io.sinks import JsonLinesSink, Sink
from ..options import Options
from .cpus import allowed, describe, restrict, split
from .family import Family
from .interrupt import DEFER, STOP
from .metrics import Metrics
from .runner import Runner, report

POLL_S = 0.2  # how often the parent looks for a signal while no worker has anything to say


@dataclass(frozen=True)
class Share:
    """One worker's part of the command: its streams (by their numbers in the command) and its cores."""

    number: int
    streams: tuple[int, ...]
    cores: tuple[int, ...]

    def describe(self) -> str:
        plural = "s" if len(self.streams) > 1 else ""
        return f"worker {self.number}: stream{plural} {describe(self.streams)} on cores {describe(self.cores)}"


def shares(streams: int, cores: list[int], workers: int) -> list[Share]:
    """Streams and cores in `workers` contiguous shares, as even as they divide."""
    return [Share(n, tuple(s), c) for n, (s, c) in
            enumerate(zip(split(range(streams), workers), split(cores, workers), strict=True))]


def worker_count(opts: Options, streams: int, cores: int) -> int:
    """--workers, clamped to the streams and cores there are (with a note saying so)."""
    wanted = opts.workers
    count = min(wanted, streams, cores)
    if count < wanted:
        why = f"{streams} stream{'s' if streams > 1 else ''}" if count == streams else f"{cores} cores"
        warn(f"--workers {wanted}: {why}, so {count} worker{'s' if count > 1 else ''}"
             + (" (one process runs it)" if count == 1 else ""))
    return count


def workers_for(opts: Options, streams: int) -> int:
    """How many processes --workers gets in this run: refused with --serve, clamped to the streams and the
    allowed cores (with a note saying so); 1: one process runs it."""
    if opts.get("serve"):
        raise DemoError("--serve shows one process's frames, and --workers runs several",
                        "drop --workers (one process serves every stream) or --serve")
    return worker_count(opts, streams, len(allowed()))


def run_workers(family: Family | type[Family], opts: Options, sources: list[InputSpec], count: int) -> int:
    """The command line's run with --workers (after --cpus is applied): `count` (2 or more, `workers_for`'s)
    processes, one per share of the streams."""
    cores = sorted(allowed())
    check_outputs(opts, sources)  # every output, before any worker starts
    if not opts.no_show:
        opts = opts.replace(no_show=True)  # (a window per process would be N windows)
    family_class = family if isinstance(family, type) else type(family)
    if isinstance(family, type):  # models resolved (and fetched) once, here: the workers find them on disk
        opts = family.create(opts).opts
    shared_json = opts.json if opts.json and STREAM_FIELD not in opts.json else None
    # what the parent writes: the one JSON lines file (or -r) and the summary; the workers write the rest
    parent_outputs = opts.replace(output=None, mot=None, json=shared_json)
    forward = bool(shared_json or opts.raw)
    worker_opts = opts.replace(workers=1, cpus=None, raw=False, metrics_json=None,
                               json=None if shared_json else opts.json)
    with RunOutputs(parent_outputs, sources, warn).claimed_for_run():
        return Parent(family_class, worker_opts, sources, shares(len(sources), cores, count), forward,
                      opts).run(JsonLines(shared_json) if shared_json else None)


class Parent:
    """The command's process under --workers: starts the workers, writes what they send, passes signals on."""

    def __init__(self, family: type[Family], worker_opts: Options, sources: list[InputSpec], parts: list[Share],
                 forward: bool, opts: Options):
        self.opts, self.parts = opts, parts
        context = multiprocessing.get_context("spawn")
        self.channels: dict[Connection, Share] = {}
        self.processes, self._their_ends = [], []
        for part in parts:
            ours, theirs = context.Pipe(duplex=False)
            self.processes.append(context.Process(target=work, name=f"ovdemo worker {part.number}",
                                                  args=(family, worker_opts, sources, part, theirs, forward)))
            self.channels[ours] = part
            self._their_ends.append(theirs)
        self.metrics = Metrics()
        self.errors: list[tuple[Share, DemoError]] = []
        self.jsonl: JsonLines | None = None
        self.raw = bool(opts.raw)
        self.reader_left = False  # the reader of -r's lines closed the pipe: the end of the run, not an interruption
        self._passed_on = 0  # signals passed on to the workers so far

    def run(self, jsonl: JsonLines | None) -> int:
        """Every worker run to its end; then the one summary. Raises the workers' errors as one line."""
        self.jsonl = jsonl
        console.print(f"{len(self.parts)} workers: " + "; ".join(p.describe() for p in self.parts))
        with STOP.handling(), STOP.phase_of(DEFER):  # a signal is passed on, never raised here
            try:
                for process, their_end in zip(self.processes, self._their_ends, strict=True):
                    process.start()
                    their_end.close()  # the worker has its copy: the channel closes when the worker ends
                self._listen()
            finally:
                self._stop_all()  # (no-op once they have ended)
                for process in self.processes:
                    process.join()
                problems = self._close_json()
        if self.metrics.frames or self.metrics.streams:
            problems += report(self.metrics, self.opts)
        if self.errors:
            raise combined(self.errors)
        if problems:
            raise problems[0]
        interrupted = STOP.requested or (self.metrics.interrupted and not self.reader_left)
        return STOP.exit_code if interrupted else 0

    def _listen(self) -> None:
        """What the workers send, until each has closed its channel."""
        open_channels = dict(self.channels)
        while open_channels:
            self._pass_signals_on()
            ready = wait(list(open_channels), POLL_S)
            for channel in [c for c in open_channels if c in ready]:  # (as typed: wait gives back what it was given)
                try:
                    kind, *payload = channel.recv()
                except (EOFError, OSError):
                    self._lost(open_channels.pop(channel))
                    continue
                if kind == "record":
                    self._record(payload[0])
                elif kind == "done":
                    self.metrics.absorb(payload[0])
                else:  # an error
                    message, hint, code, set_up = payload
                    self.errors.append((open_channels[channel], _error(message, hint, code)))
                    if set_up:  # nothing of the command can run as asked: end the others too
                        self._stop_all()

    def _record(self, record: dict) -> None:
        if self.jsonl is not None:
            self.jsonl.write(record)
        if self.raw:
            try:
                print("\n".join(raw_lines(record, with_stream=True)), flush=True)
            except BrokenPipeError:  # the reader of standard output left (`-r | head`): end quietly
                detach_stdout()
                self.raw, self.reader_left = False, True
                self._stop_all()

    def _close_json(self) -> list[DemoError]:
        if self.jsonl is None:
            return []
        try:
            self.jsonl.close()
        except DemoError as e:
            return [e]
        return []

    def _pass_signals_on(self) -> None:
        while self._passed_on < STOP.count:
            self._passed_on += 1
            self._signal_all()

    def _stop_all(self) -> None:
        """Ask every worker to stop between two frames (as Ctrl+C does), unless already asked."""
        if not self._passed_on:
            self._passed_on = max(1, STOP.count)
            self._signal_all()

    def _signal_all(self) -> None:
        for process in self.processes:
            if process.pid is not None and process.exitcode is None:
                with suppress(ProcessLookupError):
                    os.kill(process.pid, signal.SIGINT)

    def _lost(self, part: Share) -> None:
        """A worker's channel closed: after its last word, or because it died."""
        process = self.processes[part.number]
        process.join()
        if process.exitcode != 0 and not any(p is part for p, _ in self.errors):
            self.errors.append((part, DemoError(f"{part.describe()} ended without finishing (exit code "
                                                f"{process.exitcode})", "run the command again with --verbose")))
            self._stop_all()


def _error(message: str, hint: str | None, code: int) -> DemoError:
    error = DemoError(message, hint)
    error.exit_code = code
    return error


def combined(errors: list[tuple[Share, DemoError]]) -> DemoError:
    """The workers' errors as the one line one process would give: the same text when they all agree."""
    texts = list(dict.fromkeys(str(e) for _, e in errors))
    if len(texts) == 1:
        return errors[0][1]
    error = DemoError("; ".join(texts))
    error.exit_code = max(e.exit_code for _, e in errors)
    return error


# -- the worker's side


class Forwarded:
    """A JSON lines writer whose records go to the parent, which writes the command's one file."""

    def __init__(self, channel: Connection):
        self.channel = channel

    def write(self, record: dict) -> None:
        self.channel.send(("record", record))

    def close(self) -> None:
        pass


class WorkerRunner(Runner):
    """A run of one share of the streams: its files written here, its records and figures sent to the
    parent, no progress bar of its own (the parent's terminal is everyone's)."""

    def __init__(self, family: Family, opts: Options, sources: list[InputSpec], part: Share, channel: Connection,
                 forward: bool):
        super().__init__(family, opts, sources, mine=set(part.streams))
        self.channel, self.forward = channel, forward

    def sink_makers(self) -> list:
        """Its own sinks, and the records that go to the parent (the command's one JSON lines file, -r)."""
        return [self._forwarded, *super().sink_makers()]

    def _forwarded(self, run: Runner) -> Sink | None:
        if not self.forward:
            return None
        records = Forwarded(self.channel)
        mine = self.pipeline.mine
        assert mine is not None  # a worker's pipeline is always given its share: mine=set(part.streams) above
        return JsonLinesSink([records if index in mine else None for index in range(len(self.sources))])

    @contextmanager
    def _progress(self):
        yield None

    def report_figures(self) -> list[DemoError]:
        self.channel.send(("done", self.metrics))
        return []


def work(family: type[Family], opts: Options, sources: list[InputSpec], part: Share, channel: Connection,
         forward: bool) -> None:
    """A worker process: its cores taken first, then an ordinary run of its streams."""
    STOP.install()
    os.setpgrp()  # Ctrl+C in the terminal reaches the parent only, which passes it on once
    threading.Thread(target=_end_with_parent, daemon=True).start()
    runner = None
    try:
        restrict(describe(part.cores))
        created = family.create(opts)
        runner = WorkerRunner(created, created.opts, sources, part, channel, forward)
        runner.run()
    except KeyboardInterrupt:
        pass
    except BaseException as e:  # DemoError, or a bug: one line, as the command gives it
        # a failure before the frames began means no share can run as asked; after, it is a stream's (the
        # others run on, as in one process)
        set_up = runner is None or not hasattr(runner.pipeline, "queue")
        if isinstance(e, DemoError):
            channel.send(("error", e.message, e.hint, e.exit_code, set_up))
        else:
            channel.send(("error", f"{type(e).__name__}: {e}", "run with --verbose for details", 1, set_up))
    finally:
        channel.close()


def _end_with_parent() -> None:
    """Stop as Ctrl+C would when the parent is gone (killed): no worker runs on unseen."""
    parent = multiprocessing.parent_process()
    if parent is not None:
        parent.join()
        os.kill(os.getpid(), signal.SIGTERM)
