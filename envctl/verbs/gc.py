"""`envctl gc`: rotate run records, and with an age, remove stale isolated projects."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from envctl.errors import EnvctlError, UsageError

if TYPE_CHECKING:
    from envctl.settings import Settings


@dataclass(frozen=True)
class Collected:
    """What gc removed: run ids, {isolated project: what of it}, and the run ids whose host-run
    cgroups went (runs/host_run.sweep_cgroups)."""

    runs: list[str]
    projects: dict[str, str] = field(default_factory=dict)
    cgroups: list[str] = field(default_factory=list)


def collect(settings: Settings, older_than: float | None) -> Collected:
    """Rotate the runs, remove the cgroups ended host runs left and, with ``older_than``, the
    isolated projects crashed runs left."""
    from envctl.runs.host_run import sweep_cgroups  # noqa: PLC0415

    runs = rotate_runs(settings)
    cgroups = sweep_cgroups(settings.resolved_log_dir)
    projects = remove_projects(settings, older_than) if older_than is not None else {}
    return Collected(runs, projects, cgroups)


def older_than_seconds(older_than: str | None) -> float | None:
    """--older-than in seconds (None: leave the projects alone)."""
    from envctl.units import parse_duration  # noqa: PLC0415

    if older_than is None:
        return None
    try:
        return parse_duration(older_than)
    except ValueError as exc:
        raise UsageError(f"--older-than {older_than!r}: {exc}") from None


def rotate_runs(settings: Settings) -> list[str]:
    """Remove the run records past keep_runs and max_age; their ids. The exchange folders the
    host user cannot remove are purged here (a helper container), never at a run's start."""
    from envctl.runs.leftovers import purge_boxes  # noqa: PLC0415
    from envctl.runs.rotation import rotate  # noqa: PLC0415
    from envctl.runs.store import RunStore  # noqa: PLC0415

    return rotate(RunStore(settings.resolved_log_dir), keep=settings.keep_runs, max_age=settings.max_age,
                  purge=purge_boxes)


def remove_projects(settings: Settings, older_than: float) -> dict[str, str]:
    """Remove the isolated projects crashed runs left, older than ``older_than`` seconds, on
    this process's engine and each of the ``engines`` (its name after the project's)."""
    from envctl.gc import remove_stale_projects  # noqa: PLC0415

    removed = remove_stale_projects(older_than, timeout=settings.docker_timeout)
    for name, host in other_engines(settings):
        try:
            found = remove_stale_projects(older_than, timeout=settings.docker_timeout, host=host)
        except EnvctlError as exc:  # one engine down: the others are still cleaned, and it is said
            removed[f"(engine {name})"] = f"not reached: {exc.message}"
            continue
        removed.update({f"{project} on {name}": what for project, what in found.items()})
    return removed


def other_engines(settings: Settings) -> list[tuple[str, str]]:
    """(name, address) of each of the ``engines`` that is not this process's own engine."""
    import os  # noqa: PLC0415

    from envctl.docker.context import engine_address  # noqa: PLC0415
    from envctl.setting_values import engine_entry  # noqa: PLC0415

    own = os.environ.get("DOCKER_HOST") or "unix:///var/run/docker.sock"
    found: list[tuple[str, str]] = []
    for entry in settings.engines:
        name, _cpus = engine_entry(entry)
        try:
            host = engine_address(name)
        except EnvctlError:  # a context that is gone: nothing of envctl's can be reached there
            continue
        if host != own:
            found.append((name, host))
    return found
