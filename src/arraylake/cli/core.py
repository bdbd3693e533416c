"""The machinery every command shares: global options on every command, and one way errors end a run.

Expected failures (an ``ArraylakeError``, a bad name, an unreachable service, a bad config value, a usage
mistake) print one ``Error: ...`` line on stderr and exit non-zero (2 for usage mistakes, 1 otherwise);
``--debug`` shows the traceback instead.
"""

from __future__ import annotations

import functools
import importlib
import inspect
import os
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Annotated, Any, ClassVar

import typer
from rich.markup import escape
from typer.core import TyperGroup

from arraylake.cli import state
from arraylake.cli.clicklib import ClickException
from arraylake.cli.output import err_console, one_line
from arraylake.exceptions import ArraylakeError

EXPECTED_ERRORS: tuple[type[BaseException], ...] = (ArraylakeError, ValueError, OSError)
# Errors of libraries that are imported only by the commands that need them: (module, class name).
EXPECTED_LIBRARY_ERRORS = (("httpx", "HTTPError"), ("icechunk", "IcechunkError"))
CONTEXT_SETTINGS = {"help_option_names": ["-h", "--help"]}


ServiceUri = Annotated[
    str | None,
    typer.Option(
        "--service-uri",
        metavar="URL",
        help="The Arraylake service to talk to (config service.uri).",
        rich_help_panel="Global options",
        show_default=False,
    ),
]
ConfigPairs = Annotated[
    list[str] | None,
    typer.Option(
        "--config",
        "-c",
        metavar="KEY=VALUE",
        help="Set a config value for this command only (repeatable).",
        rich_help_panel="Global options",
        show_default=False,
    ),
]
Debug = Annotated[
    bool,
    typer.Option("--debug", help="Show the full traceback of an error.", rich_help_panel="Global options"),
]
_GLOBAL_PARAMETERS = [
    inspect.Parameter("al_ctx", inspect.Parameter.KEYWORD_ONLY, annotation=typer.Context),
    inspect.Parameter("al_service_uri", inspect.Parameter.KEYWORD_ONLY, default=None, annotation=ServiceUri),
    inspect.Parameter("al_config", inspect.Parameter.KEYWORD_ONLY, default=None, annotation=ConfigPairs),
    inspect.Parameter("al_debug", inspect.Parameter.KEYWORD_ONLY, default=False, annotation=Debug),
]


def apply_global_options(
    ctx: typer.Context, service_uri: str | None, pairs: Sequence[str] | None, debug: bool
) -> None:
    """Record ``--debug`` and set ``--config``/``--service-uri`` for the rest of this command."""
    state.state.ctx = ctx
    state.state.debug = state.state.debug or debug
    overrides = dict(state.parse_pair(pair) for pair in pairs or ())
    if service_uri:
        overrides["service.uri"] = service_uri
    state.override(overrides)


def takes_global_options[**P, R](func: Callable[P, R]) -> Callable[P, R]:
    """``func`` as a command that also accepts ``--service-uri``, ``--config`` and ``--debug``."""
    signature = inspect.signature(func, eval_str=True)

    @functools.wraps(func)
    def command(*args: Any, **kwargs: Any) -> Any:
        apply_global_options(
            kwargs.pop("al_ctx"),
            kwargs.pop("al_service_uri"),
            kwargs.pop("al_config"),
            kwargs.pop("al_debug"),
        )
        return func(*args, **kwargs)

    command.__signature__ = signature.replace(  # type: ignore[attr-defined]
        parameters=[*signature.parameters.values(), *_GLOBAL_PARAMETERS]
    )
    command.__annotations__ = {
        **{name: p.annotation for name, p in signature.parameters.items()},
        **{p.name: p.annotation for p in _GLOBAL_PARAMETERS},
    }
    return command  # type: ignore[return-value]


class ArraylakeTyper(typer.Typer):
    """A command group with ``-h``, help when called bare, and (unless told otherwise) commands that take
    the global options."""

    def __init__(self, *, global_options: bool = True, **kwargs: Any):
        kwargs.setdefault("no_args_is_help", True)
        kwargs.setdefault("context_settings", CONTEXT_SETTINGS)
        kwargs.setdefault("rich_markup_mode", "markdown")
        kwargs.setdefault("pretty_exceptions_enable", False)
        super().__init__(**kwargs)
        self._global_options = global_options

    def command(self, *args: Any, **kwargs: Any) -> Any:
        register = super().command(*args, **kwargs)
        if not self._global_options:
            return register
        return lambda func: register(takes_global_options(func))


def _usage_line(exc: ClickException) -> str:
    message = one_line(exc.format_message())
    ctx = getattr(exc, "ctx", None)
    if ctx is None:
        return message
    return f"{message} (see '{ctx.command_path} -h')"


def expected_errors() -> tuple[type[BaseException], ...]:
    """The errors that end a run with one line; a library not imported yet cannot have raised one."""
    loaded = [
        getattr(sys.modules[module], name)
        for module, name in EXPECTED_LIBRARY_ERRORS
        if module in sys.modules
    ]
    return (*EXPECTED_ERRORS, *loaded)


def quiet_icechunk() -> None:
    """Icechunk's warnings are for library users, not for the command line: errors only, unless asked."""
    if "ICECHUNK_LOG" in os.environ or state.state.debug:
        return
    icechunk = sys.modules.get("icechunk")
    if icechunk is None:
        os.environ["ICECHUNK_LOG"] = "error"  # read by icechunk when a command imports it
    else:
        icechunk.set_logs_filter("error")


def report(exc: BaseException) -> None:
    """One line on stderr for an expected failure."""
    icechunk = sys.modules.get("icechunk")
    if icechunk is not None and isinstance(exc, icechunk.IcechunkError):
        message = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    else:
        message = str(exc) or type(exc).__name__
    err_console.print(f"[bold red]Error:[/bold red] {escape(one_line(message))}", highlight=False)


@dataclass(frozen=True)
class LazyGroup:
    """A command group in a module of its own, imported only when the group runs (start-up stays quick);
    ``summary`` is its line in the root's help, the first paragraph of the group's own help."""

    module: str
    summary: str


@functools.cache
def load_group(module: str) -> Any:
    """The click group of the ``app`` in ``module``."""
    return typer.main.get_command(importlib.import_module(module).app)


class RootGroup(TyperGroup):
    """The ``arraylake`` command: runs a command and turns every expected failure into one line.

    Its groups are lazy (``lazy``, set by a subclass): the root's help lists them by their
    summaries; anything else that asks for a group (running it, completion) imports its module.
    """

    lazy: ClassVar[Mapping[str, LazyGroup]] = {}
    _summaries_only = False

    def list_commands(self, ctx: Any) -> list[str]:
        return [*super().list_commands(ctx), *(name for name in self.lazy if name not in self.commands)]

    def get_command(self, ctx: Any, cmd_name: str) -> Any:
        found = super().get_command(ctx, cmd_name)
        if found is None and cmd_name in self.lazy:
            if self._summaries_only:
                return TyperGroup(name=cmd_name, help=self.lazy[cmd_name].summary)
            found = load_group(self.lazy[cmd_name].module)
            self.add_command(found, cmd_name)
        return found

    def format_help(self, ctx: Any, formatter: Any) -> None:
        self._summaries_only = True
        try:
            super().format_help(ctx, formatter)
        finally:
            self._summaries_only = False

    def resolve_command(self, ctx: Any, args: list[str]) -> Any:
        if args and args[0] not in self.lazy:
            for name in self.lazy:  # every group, for "did you mean ...?"
                self.get_command(ctx, name)
        return super().resolve_command(ctx, args)

    def main(  # type: ignore[override]
        self,
        args: Sequence[str] | None = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        **extra: Any,
    ) -> Any:
        state.start()
        quiet_icechunk()
        if not standalone_mode:
            return super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        try:
            code = super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        except ClickException as exc:
            if type(exc).__name__ == "NoArgsIsHelpError":
                sys.exit(exc.exit_code)  # the help has been printed
            # usage errors (exit code 2) point at the command's help
            line = _usage_line(exc) if exc.exit_code == 2 else one_line(exc.format_message())
            err_console.print(f"[bold red]Error:[/bold red] {escape(line)}", highlight=False)
            sys.exit(exc.exit_code)
        except typer.Abort:
            err_console.print("Aborted.")
            sys.exit(1)
        except expected_errors() as exc:
            if state.state.debug:
                raise
            report(exc)
            sys.exit(1)
        sys.exit(code if isinstance(code, int) else 0)
