"""Output helpers of the command line: one console, one way to fail."""

from __future__ import annotations

from typing import NoReturn

import typer
from rich.console import Console

# soft_wrap: long lines (paths, tokens) stay whole when output is piped or narrow.
console = Console(soft_wrap=True)
err_console = Console(stderr=True, soft_wrap=True)


def fail(message: str, code: int = 1) -> NoReturn:
    """Print one clear line on stderr and exit with ``code``."""
    err_console.print(f"[bold red]Error:[/bold red] {message}", highlight=False)
    raise typer.Exit(code)
