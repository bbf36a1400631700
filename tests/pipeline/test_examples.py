"""Every example a user is shown, in every command's --help and in the README, runs as written on the sample
videos: headless, a few frames each, with the shared models (downloads go to a loopback mirror of the shared
folders). An example is skipped only when a model it needs is not on this machine and cannot be downloaded here,
and the skip says which."""

from __future__ import annotations

import json
import os
import re
import shlex
import socket
import subprocess
import sys
from pathlib import Path

import click
import pytest
from _http_mirror import Mirror
from click.testing import CliRunner
from conftest import MODELS_DIR, REPO, VIDEOS_DIR

from ovdemo.cli import cli
from ovdemo.demos import FAMILIES

pytestmark = pytest.mark.slow  # one real run per example
FRAMES = "3"
OUTPUT_FLAGS = ("-o", "--output", "--json", "--metrics-json")  # files a run of a few frames fills


def _examples_in(epilog: str | None) -> list[str]:
    lines = (epilog or "").split("Examples:", 1)[-1].splitlines() if epilog and "Examples:" in epilog else []
    return [ln.strip() for ln in lines if ln.strip().startswith("ovdemo ")]


def help_examples() -> dict[str, list[str]]:
    """`ovdemo ... --help` page -> the examples it shows."""
    pages = {"ovdemo": _examples_in(cli.epilog)}
    for name, command in cli.commands.items():
        pages[f"ovdemo {name}"] = _examples_in(command.epilog)
        for sub_name, sub in getattr(command, "commands", {}).items():
            pages[f"ovdemo {name} {sub_name}"] = _examples_in(sub.epilog)
    return pages


def readme_commands() -> list[str]:
    """The `ovdemo ...` lines of the README's code blocks, continuation lines joined, comments dropped."""
    blocks = re.findall(r"^```[a-z]*\n(.*?)^```", (REPO / "README.md").read_text(), re.S | re.M)
    commands = []
    for block in blocks:
        for line in block.replace("\\\n", " ").splitlines():
            if line.startswith("ovdemo "):
                commands.append(" ".join(shlex.split(line, comments=True)))
    return commands


def test_every_help_page_has_examples():
    pages = help_examples()
    assert {p for p, examples in pages.items() if not examples} == set()
    assert {f"ovdemo {name}" for name in FAMILIES} | {"ovdemo models list", "ovdemo samples path"} <= set(pages)


def test_the_readme_uses_sample_videos_only():
    """`-i` of every README command is a sample (by name or file name), not a file the reader does not have."""
    from ovdemo.common.models import catalog

    names = {s.name for s in catalog.samples().values()} | {s.file for s in catalog.samples().values()}
    for command in readme_commands():
        args = shlex.split(command)
        for flag, value in zip(args, args[1:], strict=False):
            if flag in ("-i", "--input"):
                assert value.removeprefix("sample:") in names, command


# Every README command runs; a --help example that is not also in the README is parsed (its flags and values
# checked by the command's own parser) but not run, which keeps this module to a few minutes.
EXAMPLES = sorted(set(readme_commands()))
PARSED_ONLY = sorted({e for examples in help_examples().values() for e in examples} - set(EXAMPLES))


@pytest.mark.parametrize("example", PARSED_ONLY)
def test_help_example_parses(example):
    """The command and its subcommand exist and take every flag and value given (the command is not run)."""
    args = shlex.split(example)[1:]
    command, name = cli, "ovdemo"
    while getattr(command, "commands", None) and args and not args[0].startswith("-"):
        name, command, args = args[0], command.commands[args[0]], args[1:]
    try:
        command.make_context(name, list(args))
    except click.exceptions.Exit as done:  # --help: shown, nothing else to do
        assert done.exit_code == 0


@pytest.fixture(scope="module")
def mirror():
    if MODELS_DIR is None or VIDEOS_DIR is None:
        pytest.skip("the shared models and videos are not available")
    with Mirror(models_dir=MODELS_DIR, samples_dir=VIDEOS_DIR) as served:
        yield served


MISSING_MODEL = (
    re.compile(r"model '([^']+)' is not downloaded"),  # a catalog model absent from the models folder
    re.compile(r"cannot convert (\S+): its PyTorch export needs torch"),  # a public model, without the extra
    re.compile(r"model '([^']+)' not found in .* and not in the Open Model Zoo catalog"),  # a public model
    re.compile(r"cannot download \S+/([^/\s]+)/[^/\s]+/[^/\s]+ to .*(?:HTTP 404|the catalog expects)"),
    re.compile(r"Ultralytics export '([^']+)' not found"),  # a model the reader exports with Ultralytics
)


def _port_free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


@pytest.mark.parametrize("example", EXAMPLES)
def test_example_runs(example, mirror, tmp_path):
    args = shlex.split(example)[1:]
    env = {**os.environ, "OVDEMO_MODELS_DIR": str(MODELS_DIR), "OVDEMO_SAMPLES_DIR": str(VIDEOS_DIR),
           "OVDEMO_HOME": str(tmp_path / "home"), "OVDEMO_MODEL_BASE_URL": mirror.base + "/models/",
           "OVDEMO_SAMPLE_BASE_URL": mirror.base + "/samples/", "OVDEMO_FETCH_RETRIES": "0"}
    env.pop("OVDEMO_OFFLINE", None)
    family = args[0] in FAMILIES and "--help" not in args
    if family:  # headless, a few frames, and never a download: the models are the shared ones
        args += ["--max-frames", FRAMES, "--no-show"]
        env["OVDEMO_OFFLINE"] = "1"
        if "--serve" in args:
            port = int(args[args.index("--serve") + 1].rsplit(":", 1)[-1])
            if not _port_free(port):
                pytest.skip(f"port {port} is in use on this machine")
    result = subprocess.run([sys.executable, "-m", "ovdemo", *args], cwd=tmp_path, env=env, capture_output=True,
                            text=True, timeout=600)
    if result.returncode != 0:
        for pattern in MISSING_MODEL:
            match = pattern.search(result.stderr)
            if match:
                pytest.skip(f"needs {match[1]}, which is not among the shared models and cannot be downloaded here")
    assert result.returncode == 0, result.stderr
    # nothing to warn about (the output writer's own fallback note aside: tests/pipeline/test_output.py owns it)
    warnings = [ln for ln in result.stderr.lower().splitlines() if "warning" in ln and "encoder" not in ln]
    assert "Traceback" not in result.stderr and not warnings, result.stderr
    for flag, value in zip(args, args[1:], strict=False):
        if flag in OUTPUT_FLAGS:
            value = value.replace("{stream}", "0")  # one file per stream: the first stream's
            assert (tmp_path / value).is_file() and (tmp_path / value).stat().st_size > 0, f"{value} not written"
    if family:
        assert "ovdemo summary" in result.stderr


def test_shell_completion_lines_work(tmp_path):
    """The completion lines in the main --help (and the README) give each shell a script, and bash completes."""
    from ovdemo.cli import COMPLETION

    readme = (REPO / "README.md").read_text()
    for line in COMPLETION:
        command = line.split("#")[0].strip()
        assert command in readme, command
        shell = re.search(r"_OVDEMO_COMPLETE=(\w+)_source", command)[1]
        script = subprocess.run([sys.executable, "-m", "ovdemo"], env={**os.environ,
                                "_OVDEMO_COMPLETE": f"{shell}_source"}, capture_output=True, text=True, timeout=60)
        assert script.returncode == 0 and "_OVDEMO_COMPLETE" in script.stdout, script.stderr
    entry = Path(sys.executable).parent / "ovdemo"
    if not entry.is_file():
        pytest.skip("the ovdemo entry point is not installed beside this Python")
    bash = f'''eval "$(_OVDEMO_COMPLETE=bash_source {entry})"
               COMP_WORDS=({entry} detect --infer-p); COMP_CWORD=2; _ovdemo_completion {entry}
               printf '%s\\n' "${{COMPREPLY[@]}}"'''
    done = subprocess.run(["bash", "-c", bash], capture_output=True, text=True, timeout=60)
    assert done.stdout.split() == ["--infer-precision"], done.stdout + done.stderr


def test_exit_codes_are_documented():
    page = CliRunner().invoke(cli, ["--help"]).output
    readme = (REPO / "README.md").read_text()
    for code, meaning in (("0", "done"), ("1", "an unexpected failure"), ("2", "bad input"), ("130", "interrupted")):
        assert re.search(rf"\b{code}\b[^.;]*{meaning}", " ".join(page.split())), (code, page)
        assert re.search(rf"`{code}` {meaning}", readme), code


COUNTING = sorted({e for e in EXAMPLES + PARSED_ONLY if "--line" in e or "--zone" in e})
COUNT_FRAMES = "250"  # one-by-one-person-detection.mp4's first walker leaves at about frame 190


@pytest.mark.parametrize("example", COUNTING)
def test_counting_example_counts(example, tmp_path):
    """Every counting line and zone of an example counts someone on its sample (in at least one of its streams):
    a first counting run that says `in 0, out 0` looks broken. `--serve` is left out (it changes nothing that is
    counted) and the first frames are enough."""
    if MODELS_DIR is None or VIDEOS_DIR is None:
        pytest.skip("the shared models and videos are not available")
    args = shlex.split(example)[1:]
    if "--serve" in args:
        at = args.index("--serve")
        del args[at:at + 2]
    for flag in ("--json", "--mot", "-o", "--output"):  # the run's files go to the test's folder
        if flag in args:
            at = args.index(flag)
            del args[at:at + 2]
    jsonl = tmp_path / "counts.jsonl"
    env = {**os.environ, "OVDEMO_MODELS_DIR": str(MODELS_DIR), "OVDEMO_SAMPLES_DIR": str(VIDEOS_DIR),
           "OVDEMO_OFFLINE": "1", "OVDEMO_HOME": str(tmp_path / "home")}
    result = subprocess.run([sys.executable, "-m", "ovdemo", *args, "--no-show", "--max-frames", COUNT_FRAMES,
                             "--json", str(jsonl)], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr
    last = {}
    for line in jsonl.read_text().splitlines():
        record = json.loads(line)
        last[record.get("stream", 0)] = record["counts"]
    lines, zones = args.count("--line"), args.count("--zone")
    for k in range(lines):
        crossed = [sum(counts["lines"][k][d].get(label, 0) for d in ("in", "out") for label in counts["lines"][k][d])
                   for counts in last.values()]
        assert max(crossed) > 0, (example, "line", k, last)
    for k in range(zones):
        assert max(counts["zones"][k]["entries"] for counts in last.values()) > 0, (example, "zone", k, last)
