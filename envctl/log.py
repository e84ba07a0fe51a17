"""structlog, configured once by the CLI: readable lines on a TTY, JSON lines otherwise.

Log lines go to stderr so stdout stays for results (run ids, JSON records, reports).
Any key whose name looks secret is masked before a line is written.
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import MutableMapping
from typing import Any, TextIO

_SECRET_KEY = re.compile(r"(pass(word)?|secret|token|api[_-]?key|credential|auth)", re.IGNORECASE)
MASK = "***"


def mask_secrets(_logger: object, _method: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    """Never let a value under a secret-looking key reach a log line."""
    for key in list(event):
        if key != "event" and _SECRET_KEY.search(key):
            event[key] = MASK
    return event


def level_for(verbosity: int) -> int:
    """-q -> warnings only, default -> info, -v -> debug."""
    if verbosity < 0:
        return logging.WARNING
    if verbosity == 0:
        return logging.INFO
    return logging.DEBUG


def configure(*, log_format: str = "auto", verbosity: int = 0, stream: TextIO | None = None) -> None:
    """Set structlog up for this process. ``log_format`` is auto, console or json."""
    import structlog  # noqa: PLC0415  # lazy: structlog pulls in rich's traceback module

    stream = stream or sys.stderr
    as_json = log_format == "json" or (log_format == "auto" and not stream.isatty())
    processors: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        mask_secrets,
    ]
    if as_json:
        processors += [structlog.processors.format_exc_info, structlog.processors.JSONRenderer()]
    else:
        processors += [structlog.dev.ConsoleRenderer(colors=stream.isatty())]
    structlog.configure(
        processors=processors,
        wrapper_class=structlog.make_filtering_bound_logger(level_for(verbosity)),
        logger_factory=structlog.PrintLoggerFactory(file=stream),
        cache_logger_on_first_use=False,
    )


def get_logger(name: str) -> Any:
    """A structlog logger bound to ``name`` (configured or not: defaults print to stderr)."""
    import structlog  # noqa: PLC0415  # lazy, see configure

    return structlog.get_logger(name)
