"""The terminal: one stderr console for progress, the summary and warnings."""

from __future__ import annotations

from rich.console import Console

console = Console(stderr=True, highlight=False)


def warn(message: str) -> None:
    """The one way library code tells the user something went less well than asked (it never exits)."""
    console.print(f"[yellow]warning:[/] {message}", soft_wrap=True)  # one line, whatever the width
