"""`envctl up`, `down`, `ps` and their MCP tools: the compose project as values."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from envctl.env.environment import Environment
    from envctl.settings import Settings

Progress = Callable[[str, Any], None]  # (service, its verdict) as readiness changes


def environment(settings: Settings, *, isolated: bool = False) -> Environment:
    """The configured project, or a throwaway one of its own (--isolated)."""
    from envctl.env.environment import Environment  # noqa: PLC0415

    return Environment.isolated(settings) if isolated else Environment(settings)


@dataclass(frozen=True)
class UpOptions:
    """The options of `envctl up`."""

    services: tuple[str, ...] = ()
    build: bool | None = None
    keep_on_failure: bool = False


def up(env: Environment, options: UpOptions, on_progress: Progress | None = None,
       cancelled: Callable[[], bool] | None = None) -> list[Any]:
    """Bring the services up and wait until every one is ready; their readiness reports.
    Raises EnvironmentFailedError, explained, when one fails; CancelRequestedError once
    ``cancelled`` says so (the half-started project is removed as after a failure)."""
    if on_progress is not None:
        env.on_progress = on_progress
    if cancelled is None:
        return env.up(list(options.services), build=options.build, keep_on_failure=options.keep_on_failure)
    return env.up(list(options.services), build=options.build, keep_on_failure=options.keep_on_failure,
                  cancelled=cancelled)


def ready_line(reports: list[Any]) -> str:
    """`service (phase)` for each service brought up."""
    return ", ".join(f"{r.service} ({r.phase.value})" for r in reports)


def down(settings: Settings, *, volumes: bool = False) -> str:
    """Remove the project's containers and networks (and volumes); the project's name."""
    env = environment(settings)
    env.down(volumes=volumes)
    if settings.engines:  # shards' projects on the other engines, of runs that are over
        from envctl.docker import labels  # noqa: PLC0415
        from envctl.errors import EnvctlError  # noqa: PLC0415
        from envctl.gc import remove_idle_isolated  # noqa: PLC0415
        from envctl.log import get_logger  # noqa: PLC0415
        from envctl.verbs.gc import other_engines  # noqa: PLC0415

        keep = unended_projects(settings)
        for name, host in other_engines(settings):
            try:
                remove_idle_isolated(env.project, timeout=settings.docker_timeout, host=host, keep=keep,
                                     checkout=labels.checkout_of(str(settings.project_dir)))
            except EnvctlError as exc:  # one engine gone: the others are still cleaned
                get_logger("envctl.down").warning("an engine was not cleaned", engine=name,
                                                  error=exc.message)
    return env.project


def unended_projects(settings: Settings) -> frozenset[str]:
    """The projects of this checkout's runs that have not ended: their collectors still need
    them (an exited shard's container holds its reports until they are copied out)."""
    from envctl.runs.store import RunStore  # noqa: PLC0415

    records, _damaged = RunStore(settings.resolved_log_dir).scan()
    return frozenset(record.project for _path, record in records if not record.state.terminal)


@dataclass(frozen=True)
class Services:
    """The project and its services' states."""

    project: str
    rows: list[Any]


def ps(settings: Settings) -> Services:
    """The project's services, their state and health."""
    env = environment(settings)
    return Services(env.project, env.ps())
