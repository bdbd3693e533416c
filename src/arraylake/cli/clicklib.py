"""The click exception class that typer's commands raise (recent typer carries its own copy of click)."""

try:
    from typer._click import ClickException
except ImportError:  # pragma: no cover (typer before it carried click)
    from click import ClickException  # type: ignore[assignment]

__all__ = ["ClickException"]
