"""`envctl env` and its MCP tool: the running environment's services and how this machine
reaches them (env/endpoints.py), in the format asked for."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from envctl.env.endpoints import Endpoints, Port, ServiceEndpoints, gather, project_endpoints
from envctl.errors import UsageError

if TYPE_CHECKING:
    from envctl.settings import Settings

__all__ = ["FORMATS", "Endpoints", "Port", "ServiceEndpoints", "check_format", "endpoints", "engine_of",
           "gather"]

FORMATS = ("text", "json", "dotenv", "sh")


def check_format(fmt: str, as_json: bool) -> str:
    """The one format asked for (``--json`` is ``--format json``); UsageError otherwise."""
    if fmt not in FORMATS:
        raise UsageError(f"--format {fmt}: expected one of {', '.join(FORMATS)}")
    if as_json and fmt not in ("text", "json"):
        raise UsageError(f"--json and --format {fmt} ask for two formats", hint="give one of them")
    return "json" if as_json else fmt


def endpoints(settings: Settings, *, probe: bool = True, host: str | None = None) -> Endpoints:
    """The running environment's services and how to reach them from here. ``host``: the
    engine's address (a DOCKER_HOST value; None: DOCKER_HOST's). ``probe``: try each TCP port
    with a GET (HTTP_TRY seconds, in parallel) to give it a URL. Starts and stops nothing."""
    from envctl.verbs.env import environment  # noqa: PLC0415

    return project_endpoints(environment(settings).project, timeout=settings.docker_timeout,
                             host=host, probe=probe)


def engine_of(environ: Mapping[str, str]) -> str | None:
    """The engine `envctl` would use in ``environ``, without changing it: DOCKER_CONTEXT's
    address (as the CLI's --context), else None (DOCKER_HOST's, or the local socket)."""
    context = environ.get("DOCKER_CONTEXT", "")
    if context in ("", "default"):
        return None
    from envctl.docker.context import context_host  # noqa: PLC0415

    return context_host(context)
