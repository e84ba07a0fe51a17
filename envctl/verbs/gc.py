"""`envctl gc`: rotate run records, and with an age, remove stale isolated projects."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from envctl.errors import UsageError

if TYPE_CHECKING:
    from envctl.settings import Settings


@dataclass(frozen=True)
class Collected:
    """What gc removed: run ids, and {isolated project: what of it}."""

    runs: list[str]
    projects: dict[str, str] = field(default_factory=dict)


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
    """Remove the isolated projects crashed runs left, older than ``older_than`` seconds."""
    from envctl.gc import remove_stale_projects  # noqa: PLC0415

    return remove_stale_projects(older_than, timeout=settings.docker_timeout)
