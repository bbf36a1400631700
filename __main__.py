"""`python -m ovdemo` and the `ovdemo` command. Ctrl+C and SIGTERM are handled from here on: before the imports
that take seconds, so that an interruption at any moment ends the run with exit code 130 and no traceback."""

import sys

from ovdemo.common.engine.interrupt import RAISE, STOP

STOP.install()


def main(argv: list[str] | None = None) -> None:
    STOP.install()
    try:
        from ovdemo.cli import main as cli_main  # OpenVINO, OpenCV, NumPy: seconds, with signals only noted
    except BaseException:
        if STOP.requested:
            sys.exit(STOP.exit_code)
        raise
    if STOP.requested:
        sys.exit(STOP.exit_code)
    STOP.phase = RAISE  # from here on a signal interrupts at once, until a run says otherwise
    cli_main(argv)


if __name__ == "__main__":
    main()
