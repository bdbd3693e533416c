"""Output of the command line: rich tables and trees for people, JSON for scripts, one way to fail.

Colours follow rich: off when the output is not a terminal, and whenever ``NO_COLOR`` is set.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import datetime
from enum import Enum
from typing import TYPE_CHECKING, Any, NoReturn
from uuid import UUID

import typer
from rich.console import Console, RenderableType
from rich.markup import escape
from rich.table import Column, Table

from arraylake.cli.system_report import MASK

if TYPE_CHECKING:
    from rich.progress import Progress, TaskID

# soft_wrap: long lines (paths, tokens) stay whole when output is piped or narrow.
console = Console(soft_wrap=True)
PIPE_WIDTH = 240
err_console = Console(stderr=True, soft_wrap=True)


def one_line(message: str) -> str:
    """A message squeezed onto one line."""
    return " ".join(message.split())


def fail(message: str, code: int = 1) -> NoReturn:
    """Print one clear line on stderr and exit with ``code``."""
    err_console.print(f"[bold red]Error:[/bold red] {escape(one_line(message))}", highlight=False)
    raise typer.Exit(code)


def warn(message: str) -> None:
    err_console.print(f"[yellow]Warning:[/yellow] {escape(one_line(message))}", highlight=False)


def note(message: str) -> None:
    """A plain line on stderr about work in progress (a retry), out of the way of the output."""
    err_console.print(escape(one_line(message)), style="dim", highlight=False)


def say(message: str) -> None:
    """A line for people, on stdout; ``message`` is rich markup."""
    console.print(message, highlight=False)


def jsonable(value: Any) -> Any:
    """Plain JSON data from models, datetimes, UUIDs and sets; secrets stay masked."""
    from pydantic import BaseModel, SecretStr  # loaded already by whatever made the models

    if isinstance(value, BaseModel):
        return jsonable(value.model_dump(mode="python"))
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, set | frozenset):
        return sorted(jsonable(v) for v in value)
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    if isinstance(value, SecretStr):
        return MASK
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, UUID):
        return str(value)
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return str(value)


def print_json(value: Any) -> None:
    """``value`` as indented JSON on stdout, without any markup or wrapping."""
    sys.stdout.write(json.dumps(jsonable(value), indent=2) + "\n")


def when(value: datetime | None) -> str:
    """A timestamp for tables: UTC, to the minute."""
    return value.strftime("%Y-%m-%d %H:%M") if value else ""


def cell(value: Any) -> str:
    """A table cell: compact JSON for mappings and lists, empty for None."""
    if value is None:
        return ""
    if isinstance(value, Mapping | list | tuple):
        return json.dumps(jsonable(value), separators=(", ", ": ")) if value else ""
    if isinstance(value, datetime):
        return when(value)
    if isinstance(value, Enum):
        return str(value.value)
    return str(value)


def column(header: str) -> Column:
    """A column that folds long values rather than cutting them; ids are never split."""
    if header in ID_COLUMNS:
        return Column(header, no_wrap=True)
    return Column(header, overflow="fold")


ID_COLUMNS = frozenset({"Id", "Snapshot", "Branch", "Tag", "Name", "Nickname"})


def table(columns: Sequence[str], rows: Iterable[Sequence[Any]], *, title: str | None = None) -> None:
    """A rich table on stdout; an empty one says so instead."""
    grid = Table(*(column(c) for c in columns), title=title, title_justify="left", header_style="bold")
    for row in rows:
        grid.add_row(*(escape(cell(v)) for v in row))
    if grid.row_count == 0:
        say(f"[dim]{escape(title or 'nothing')}: none[/dim]" if title else "[dim]none[/dim]")
        return
    show(grid)


def details(pairs: Mapping[str, Any], *, title: str | None = None) -> None:
    """Key/value pairs, one per line, as a borderless table."""
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold")
    grid.add_column()
    for key, value in pairs.items():
        grid.add_row(escape(key), escape(cell(value)))
    if title:
        say(f"[bold]{escape(title)}[/bold]")
    show(grid)


def show(renderable: RenderableType) -> None:
    """A table, tree or grid on stdout; piped, it is as wide as its content (up to a limit)."""
    if console.is_terminal or "COLUMNS" in os.environ:
        console.print(renderable)
    else:
        Console(soft_wrap=True, width=PIPE_WIDTH).print(renderable)


@contextmanager
def spinner(message: str) -> Iterator[None]:
    """A spinner on stderr while long work runs (shown only on a terminal)."""
    with err_console.status(escape(message)):
        yield


class StepBar:
    """A progress bar over a known list of steps (migrations, objects to delete)."""

    def __init__(self, progress: Progress, description: str) -> None:
        self._progress = progress
        self._description = description
        self._task: TaskID | None = None

    def start(self, steps: Sequence[object]) -> None:
        self._task = self._progress.add_task(self._description, total=len(steps))

    def advance(self, step: object = None) -> None:
        if self._task is not None:
            self._progress.advance(self._task)


@contextmanager
def progress_bar(description: str) -> Iterator[StepBar]:
    """A progress bar on stderr (only on a terminal): ``start`` it with the steps, then ``advance``."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=err_console, transient=True) as progress:
        yield StepBar(progress, escape(description))


@contextmanager
def count_bar(description: str, unit: str) -> Iterator[Callable[[int], None]]:
    """A progress bar of unknown length on stderr (only on a terminal), fed with a running count."""
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.completed:,.0f} " + escape(unit)),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=err_console, transient=True) as progress:
        task = progress.add_task(escape(description), total=None)
        yield lambda count: progress.update(task, completed=count)
