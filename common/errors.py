"""User-facing errors: one line saying what is wrong and what to do."""


class DemoError(Exception):
    """A problem the user can fix; the CLI prints it as one line and exits with `exit_code`."""

    exit_code = 2

    def __init__(self, message: str, hint: str | None = None):
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return f"{self.message}: {self.hint}" if self.hint else self.message
VERBOSE = False


def one_line(text: str) -> str:
    """A message squeezed onto one line: the error output promises exactly one."""
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    return " | ".join(lines) if len(lines) <= 2 else f"{lines[0]} | {lines[-1]}"
