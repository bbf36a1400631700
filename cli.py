"""The `ovdemo` command: one subcommand per demo family."""

from __future__ import annotations

import sys
import traceback

import click
from ovdemo import __version__
from ovdemo.common import catalog_cli, errors
from ovdemo.common.errors import DemoError
from ovdemo.demos import action, detect, face, pose, segment, text, track


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 110})
@click.version_option(__version__, prog_name="ovdemo")
def cli():
    """Video analytics demos on OpenVINO: cameras, files and streams in; boxes, video and JSON out."""


cli.add_command(detect.command)
cli.add_command(face.command)
cli.add_command(track.command)
cli.add_command(pose.command)
cli.add_command(segment.command)
cli.add_command(text.command)
cli.add_command(action.command)
cli.add_command(catalog_cli.models_group)
cli.add_command(catalog_cli.samples_group)


def main(argv: list[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else argv
    errors.VERBOSE = "--verbose" in args
    if errors.VERBOSE:  # OpenCV's own diagnostics are silenced by default (see ovdemo.common)
        import cv2

        cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_WARNING)
    try:
        code = cli.main(args=args, prog_name="ovdemo", standalone_mode=False)
    except click.exceptions.Abort:
        code = 130
    except click.ClickException as e:
        e.show()
        code = e.exit_code
    except click.exceptions.Exit as e:
        code = e.exit_code
    except DemoError as e:
        if errors.VERBOSE:
            traceback.print_exc()
        click.echo(f"error: {e}", err=True)
        code = e.exit_code
    except KeyboardInterrupt:
        code = 130
    except Exception as e:  # a bug or an unexpected failure: still one line unless --verbose
        if errors.VERBOSE:
            traceback.print_exc()
        click.echo(f"error: {type(e).__name__}: {e} (run with --verbose for details)", err=True)
        code = 1
    sys.exit(code if isinstance(code, int) else 0)
