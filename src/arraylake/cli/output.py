"""Output helpers of the command line: one console, one way to fail."""

from __future__ import annotations

from typing import NoReturn

import typer
from rich.console import Console

console = Console()
err_console = Console(stderr=True)


def fail(message: str, code: int = 1) -> NoReturn:
    """Print one clear line on stderr and exit with ``code``."""
    err_console.print(f"[bold red]Error:[/bold red] {message}", highlight=False)
    raise typer.Exit(code)
