"""What every `vrprobe` command shares on the terminal: the stderr console, errors, progress."""

from __future__ import annotations

from collections.abc import Callable, Iterable

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

console = Console(stderr=True, soft_wrap=True)


def fail(message: str) -> typer.Exit:
    """Print ``message`` as an error and return the exit (code 2) for the caller to raise."""
    console.print(f"[red]error:[/] {message}")
    return typer.Exit(code=2)


def progress_bar(label: str) -> Callable[[Iterable, int], Iterable]:
    """A progress callback ``(items, total) -> items`` that draws a bar titled ``label``."""

    def track(items: Iterable, total: int) -> Iterable:
        columns = (TextColumn(f"[bold]{label}"), BarColumn(), MofNCompleteColumn())
        with Progress(*columns, TimeRemainingColumn(), console=console, transient=False) as bar:
            yield from bar.track(items, total=total)

    return track
