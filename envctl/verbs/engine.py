"""Which Docker engine this process talks to: the one place a face picks it (`--context`)."""

from __future__ import annotations


def use_context(context: str | None) -> None:
    """Point this process (and the processes it starts) at docker context ``context``; nothing
    for none or ``default`` (docker's own choice stands)."""
    if context and context != "default":
        from envctl.docker.engine import use_context as point_at  # noqa: PLC0415

        point_at(context)
