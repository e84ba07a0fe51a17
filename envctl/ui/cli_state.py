"""The command line's process-wide state: the global options, the settings they resolve, and
printing (JSON, what `stop` says). Apart from cli.py so that the commands' module holds
commands only."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from envctl import __version__

if TYPE_CHECKING:
    from envctl.runs.state import RunRecord


class Globals:
    """The global options, as the root callback set them."""

    project_dir: Path | None = None
    verbosity: int = 0
    log_format: str | None = None


GLOBALS = Globals()


def version(value: bool) -> None:
    if value:
        print(f"envctl {__version__}")
        import typer  # noqa: PLC0415

        raise typer.Exit(0)


def settings(**flags: Any) -> Any:
    """Resolve settings (flags win) and configure logging from them."""
    from envctl import log  # noqa: PLC0415
    from envctl.env.project import redact_secrets  # noqa: PLC0415
    from envctl.settings import load_settings  # noqa: PLC0415

    settings = load_settings(GLOBALS.project_dir, flags={"log_format": GLOBALS.log_format, **flags})
    log.configure(log_format=settings.log_format, verbosity=GLOBALS.verbosity)
    redact_secrets(settings)
    return settings


def print_json(data: object) -> None:
    print(json.dumps(data, indent=2, default=str))


def print_stopped(record: RunRecord, *, as_json: bool) -> None:
    """What `envctl stop` says of the run it stopped: its record (--json), and a line."""
    if as_json:
        from envctl.ui.views import run_view  # noqa: PLC0415

        print_json(run_view(record))
    if record.state.terminal:
        print(f"envctl: run {record.id}: {record.state.value}", file=sys.stderr)
    else:
        print(f"envctl: run {record.id}: stop requested; it is still {record.state.value} and ends "
              f"cancelled once the step under way stops (`envctl wait {record.id}`)", file=sys.stderr)


