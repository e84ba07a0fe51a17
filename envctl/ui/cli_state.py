"""The command line's process-wide state: the global options, the settings they resolve, and
JSON printing. Apart from cli.py so that the commands' module holds commands only."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from envctl import __version__


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


