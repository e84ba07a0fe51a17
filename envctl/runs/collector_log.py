"""collector.log: the collector's own lines (its stderr), which CI uploads, so never a secret."""

from __future__ import annotations

import sys


def say(text: str) -> None:
    """A line for collector.log: with every known secret cut out."""
    from envctl.log import redact  # noqa: PLC0415  # lazy: structlog is heavy

    print(redact(text), file=sys.stderr, flush=True)  # noqa: T201  # stderr is collector.log
