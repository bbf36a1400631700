"""The cores a process runs on: `--cpus`, or the affinity mask it was started with (`taskset`, a container's
cpuset), and whether OpenVINO may pin its inference threads to cores.

OpenVINO's CPU plugin pins each inference thread to one core by default, counting from the first core it sees.
Two processes that each use fewer threads than the machine has therefore pin onto the *same* first cores and
share them, while the other cores idle (two `benchmark_app -nthreads 1` on 2 cores: 23 + 23 FPS, against
46 + 42 unpinned). And it reads the process's mask only once, when its plugin first loads: cores taken away
after that are still pinned onto. So a process pins its threads only when it owns the whole machine and uses
all of it; otherwise its threads are left to the kernel, which keeps them inside the process's mask and
spreads them over the free cores. `--cpus` narrows the mask of every thread of the process, before any model
compiles, so OpenVINO also sizes its threads and streams to those cores.
"""

from __future__ import annotations

import os
import re
from collections.abc import Collection, Sequence
from contextlib import suppress

import openvino.properties.hint as hints

from ..errors import DemoError

_RANGE = re.compile(r"(\d+)(?:-(\d+))?")
MAX_CORE = 1 << 16  # beyond any machine's core numbers (and a range past it would take long to list)


def allowed() -> set[int]:
    """The cores this process may run on now."""
    return set(os.sched_getaffinity(0))


def machine_cores() -> int:
    """Every core of the machine, whatever the process's mask (a container's cpuset is narrower)."""
    return os.cpu_count() or len(allowed())


def parse(text: str) -> tuple[int, ...]:
    """`0-7`, `0,2,4-6` -> sorted core numbers; DemoError naming --cpus on anything else."""
    cores: set[int] = set()
    for part in str(text).replace(" ", "").split(","):
        match = _RANGE.fullmatch(part)
        first, last = (int(match[1]), int(match[2] or match[1])) if match else (0, -1)
        if last < first or last >= MAX_CORE:
            raise DemoError(f"--cpus '{text}' is not a list of cores",
                            f"give core numbers and ranges, e.g. 0-3 or 0,2,4-6 (this process may use "
                            f"{describe(allowed())})")
        cores.update(range(first, last + 1))
    return tuple(sorted(cores))


def describe(cores: Collection[int]) -> str:
    """Core numbers as a list of ranges: {0, 1, 2, 5} -> '0-2,5'."""
    ordered, parts = sorted(cores), []
    for core in ordered:
        if parts and core == parts[-1][1] + 1:
            parts[-1][1] = core
        else:
            parts.append([core, core])
    return ",".join(f"{a}" if a == b else f"{a}-{b}" for a, b in parts)


def restrict(text: str | None) -> set[int]:
    """Run this process (every thread it has now, and so every thread it starts later) on the cores `text`
    names, which must be among those it may use; None keeps the mask it was started with. Returns the mask.
    Call it before any model compiles."""
    mask = allowed()
    if text is None:
        return mask
    cores = set(parse(text))
    outside = cores - mask
    if outside:
        raise DemoError(f"--cpus '{text}' names cores this process may not use ({describe(outside)})",
                        f"choose among {describe(mask)} (the cores it was started on, e.g. by taskset or a "
                        f"container)")
    for thread in os.listdir("/proc/self/task"):  # a thread started before now (OpenCV's, a reader) too
        with suppress(ProcessLookupError):  # it ended meanwhile
            os.sched_setaffinity(int(thread), cores)
    return cores


def owns_machine(nthreads: int | None) -> bool:
    """Whether this process's inference may run on every core of the machine: its mask covers the machine
    and no --nthreads leaves cores to others."""
    mask = allowed()
    return len(mask) >= machine_cores() and (nthreads is None or nthreads >= len(mask))


def pinning(nthreads: int | None) -> dict:
    """The CPU plugin's setting for a model compiled with `nthreads`: pinning off unless the process owns the
    machine (then OpenVINO's default stands)."""
    return {} if owns_machine(nthreads) else {hints.enable_cpu_pinning: False}


def split(cores: Sequence[int], parts: int) -> list[tuple[int, ...]]:
    """`cores` in `parts` contiguous shares of sizes that differ by one at most (neighbouring cores share
    caches)."""
    ordered = sorted(cores)
    size, extra = divmod(len(ordered), parts)
    shares, start = [], 0
    for part in range(parts):
        end = start + size + (1 if part < extra else 0)
        shares.append(tuple(ordered[start:end]))
        start = end
    return shares
