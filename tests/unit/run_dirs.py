"""Run directories on disk for unit tests: a project's settings and runs made through the
lifecycle, never a collector or an engine."""

from __future__ import annotations

from pathlib import Path

from envctl.runs import exchange, lifecycle
from envctl.runs.outcome import EndFacts
from envctl.runs.state import Limits, RunRecord
from envctl.settings import Settings, load_settings

RUN_ID = "20260101-000000-abcd"
OTHER_ID = "20260101-000001-abce"


def settings_at(project: Path) -> Settings:
    """The settings of a project at ``project``, its runs under ``project/runs``."""
    return load_settings(project, environ={"ENVCTL_LOG_DIR": str(project / "runs")})


def make_run(project: Path, run_id: str = RUN_ID, *, exit_code: int | None = None,
             container: str | None = "c", log: bytes = b"", compose_project: str = "p") -> Path:
    """A run in the project's log dir: running, or ended with ``exit_code`` (and cleaned)."""
    path = project / "runs" / run_id
    path.mkdir(parents=True)
    exchange.create_dirs(path)
    lifecycle.create(path, RunRecord(id=run_id, project=compose_project, service="test", command=["pytest"],
                                     limits=Limits(1 << 30, 1.0, 100), created_at=1.0e9))
    if container is not None:
        lifecycle.assign_container(path, container)
    lifecycle.mark_running(path, started_at=1.0e9)
    (path / "output.log").write_bytes(log)
    if exit_code is not None:
        lifecycle.finish(path, EndFacts(exit_code=exit_code))
        lifecycle.mark_cleaned(path)
    return path
