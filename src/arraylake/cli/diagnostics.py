"""``arraylake --diagnostics``: what to paste into a bug report."""

from __future__ import annotations

from arraylake.cli import output, state, system_report
from arraylake.cli.config_check import flatten


def show(as_json: bool) -> None:
    """Print the diagnostics: sections of key/value pairs, or one JSON object."""
    config = state.config()
    report = system_report.get_diagnostics(config.get("service.uri", None))
    if as_json:
        output.print_json(report)
        return
    output.details(report["system"], title="System")
    output.say("")
    output.details(report["versions"], title="Versions")
    output.say("")
    output.details(report["service"], title="Service")
    output.say("")
    output.details(flatten(report["config"]), title="Config in effect")
