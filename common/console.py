"""The terminal: one stderr console for progress, the summary and warnings."""

from __future__ import annotations

from rich.console import Console, ConsoleDimensions

UNWRAPPED = 100_000  # columns of a stderr that is no terminal: a line is as long as it is, never cut


class StderrConsole(Console):
    """Rich sizes a console that is no terminal at 80 columns (or at the size of whatever else is a terminal,
    or at $COLUMNS): a log file then holds the header cut mid-sentence and paths folded over rows. Written to
    a file or a pipe, nothing is wrapped; tables take their natural width."""

    @property
    def size(self) -> ConsoleDimensions:
        if self._width is None and not self.is_terminal:
            return ConsoleDimensions(UNWRAPPED, super().size.height)
        return super().size

    @size.setter
    def size(self, new_size: tuple[int, int]) -> None:
        Console.size.fset(self, new_size)


console = StderrConsole(stderr=True, highlight=False)


def warn(message: str) -> None:
    """The one way library code tells the user something went less well than asked (it never exits)."""
    console.print(f"[yellow]warning:[/] {message}", soft_wrap=True)  # one line, whatever the width
