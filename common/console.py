"""The terminal: one stderr console for progress, the summary and warnings."""

from __future__ import annotations

from rich.console import Console, ConsoleDimensions

UNWRAPPED = 100_000  # columns of a stderr that is no terminal: a line is as long as it is, never cut


class StderrConsole(Console):
    """Rich sizes a console that is no terminal at 80 columns (or at the size of whatever else is a terminal,
    or at $COLUMNS): a log file then holds the header cut mid-sentence and paths folded over rows. Written to
    a file or a pipe, nothing is wrapped, whatever $COLUMNS says; tables take their natural width. A width
    given in code (`width=`, `console.size = ...`) stands."""

    def __init__(self, *args, width: int | None = None, **kwargs):
        super().__init__(*args, width=width, **kwargs)
        self._chosen_width = width is not None  # (rich's own width may come from $COLUMNS: a guess for a file)

    @property
    def size(self) -> ConsoleDimensions:
        if not self._chosen_width and not self.is_terminal:
            return ConsoleDimensions(UNWRAPPED, super().size.height)
        return super().size

    @size.setter
    def size(self, new_size: tuple[int, int]) -> None:
        self._chosen_width = True
        Console.size.fset(self, new_size)  # type: ignore[attr-defined]  # mypy reads a class's property as a method


console = StderrConsole(stderr=True, highlight=False)


def warn(message: str) -> None:
    """The one way library code tells the user something went less well than asked (it never exits)."""
    console.print(f"[yellow]warning:[/] {message}", soft_wrap=True)  # one line, whatever the width
