"""The command line's run: inputs resolved and outputs claimed, then the streams run in this process
(`runner.Runner`) or, with --workers, in several (`workers.py`, whose processes each run a Runner)."""

from __future__ import annotations

from ..console import console, warn
from ..io.capture import InputSpec
from ..io.output import RunOutputs
from ..io.saved_runs import keeps_nothing, said_or_removed, saving
from ..io.streams import resolve_inputs
from ..options import Options
from .cpus import restrict
from .family import Family
from .runner import Runner, display_available
from .workers import run_workers, workers_for


def run(family: Family | type[Family], opts: Options) -> int:
    """The command line's run: -i resolved and every output claimed (refused when it is an input or another
    output, locked against other runs) before the family is built from its class (models resolved, perhaps
    downloaded) and set up; the claims are released when the run ends, however it ends."""
    restrict(opts.get("cpus"))  # before anything compiles: OpenVINO sizes its threads to these cores
    sources = resolve_inputs(opts.input, offline=bool(opts.get("offline")))
    folder = None
    if keeps_nothing(opts, window=not opts.no_show and display_available()):  # Runner.show's own test
        opts, folder = saving(opts, family.name, sources, bool(opts.get("loop")))
    try:
        return _run(family, opts, sources)
    finally:
        if folder is not None:  # after the outputs are released: their lock files are gone
            said_or_removed(folder, console)


def _run(family: Family | type[Family], opts: Options, sources: list[InputSpec]) -> int:
    if opts.get("workers", 1) > 1:
        count = workers_for(opts, len(sources))
        if count > 1:
            return run_workers(family, opts, sources, count)
        opts = opts.replace(workers=1)
    with RunOutputs(opts, sources, warn).claimed_for_run():
        if isinstance(family, type):
            family = family.create(opts)
            opts = family.opts
        return Runner(family, opts, sources).run()
