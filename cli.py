"""The `ovdemo` command: one subcommand per demo family, each built from its `Family` the same way."""

from __future__ import annotations

import sys
import traceback

import click

from ovdemo import __version__
from ovdemo.common import errors
from ovdemo.common.engine.family import Family
from ovdemo.common.engine.interrupt import STOP
from ovdemo.common.engine.launch import run
from ovdemo.common.errors import DemoError
from ovdemo.common.models import catalog_cli
from ovdemo.common.options import apply, help_group
from ovdemo.common.tracking.tracker import Tracking
from ovdemo.demos import FAMILIES

EXAMPLES = (
    "ovdemo detect -i one-by-one-person-detection.mp4 --output out.mp4 --json out.jsonl --no-show",
    "ovdemo track -i one-by-one-person-detection.mp4 --line 560,432,560,0 --serve 8080",
    "ovdemo face -i preview-face-demographics-walking.gif --age-gender --emotions",
    "ovdemo samples list",
    "ovdemo detect --help",
)
EXIT_CODES = """Exit codes: 0 done (also when q, Esc or the window's close button ends the run); 1 an unexpected
failure (a bug: run with --verbose and report it); 2 bad input or a failure the message explains; 130 interrupted
(Ctrl+C, SIGTERM); 129 hung up (SIGHUP: a closed terminal), outputs finished as for SIGTERM."""
# click's own completion, switched on by the _OVDEMO_COMPLETE variable (the same lines are in the README)
COMPLETION = (
    """eval "$(_OVDEMO_COMPLETE=bash_source ovdemo)"                   # bash: add to ~/.bashrc""",
    """eval "$(_OVDEMO_COMPLETE=zsh_source ovdemo)"                    # zsh: add to ~/.zshrc""",
    """_OVDEMO_COMPLETE=fish_source ovdemo > ~/.config/fish/completions/ovdemo.fish   # fish""",
)


def examples_epilog(examples) -> str | None:
    """The end of a --help page: command lines to copy (\\b keeps click from rewrapping them)."""
    return "\b\nExamples:\n" + "\n".join(f"  {e}" for e in examples) if examples else None


def family_command(family: type[Family]) -> click.Command:
    """`ovdemo <family>`: the family's options, its examples in the help, the pipeline run on them."""
    epilog = examples_epilog(family.examples)

    def command(**kwargs):
        opts = family.build_options(kwargs, cli=True)
        Tracking.check_options(opts)
        return run(family, opts)  # outputs are claimed before the family is built

    command.__doc__ = family.summary
    return click.command(name=family.name, help=family.summary, epilog=epilog)(apply(command, family.options()))


@help_group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 110},
             epilog=f"{examples_epilog(EXAMPLES)}\n\n{EXIT_CODES}\n\n\b\nShell completion:\n"
                    + "\n".join(f"  {line}" for line in COMPLETION))
@click.version_option(__version__, prog_name="ovdemo")
def cli():
    """Video analytics demos on OpenVINO: cameras, files and streams in; boxes, video and JSON out."""


for _family in FAMILIES.values():
    cli.add_command(family_command(_family) if isinstance(_family, type) else _family)
for _group in (catalog_cli.models_group, catalog_cli.samples_group):
    _group.epilog = examples_epilog(catalog_cli.EXAMPLES.get(_group.name))
    for _sub in _group.commands.values():
        _sub.epilog = examples_epilog(catalog_cli.EXAMPLES.get(f"{_group.name} {_sub.name}"))
    cli.add_command(_group)


def main(argv: list[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else argv
    errors.VERBOSE = "--verbose" in args
    if errors.VERBOSE:  # OpenCV's own diagnostics are silenced by default (see ovdemo.common)
        import cv2

        cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_WARNING)
    try:
        code = cli.main(args=args, prog_name="ovdemo", standalone_mode=False)
    except click.exceptions.Abort:
        code = STOP.exit_code
    except click.ClickException as e:
        e.show()
        code = e.exit_code
    except click.exceptions.Exit as e:
        code = e.exit_code
    except DemoError as e:
        if errors.VERBOSE:
            traceback.print_exc()
        click.echo(f"error: {errors.one_line(str(e))}", err=True)
        code = e.exit_code
    except KeyboardInterrupt:
        code = STOP.exit_code
    except Exception as e:  # a bug or an unexpected failure: still one line unless --verbose
        if STOP.requested:  # e.g. an import that a Ctrl+C cut short: the interruption is what happened
            sys.exit(STOP.exit_code)
        if errors.VERBOSE:
            traceback.print_exc()
        click.echo(f"error: {type(e).__name__}: {errors.one_line(str(e))} (run with --verbose for details)",
                   err=True)
        code = 1
    sys.exit(STOP.exit_code if STOP.requested else code if isinstance(code, int) else 0)
