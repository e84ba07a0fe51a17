"""`envctl test --rerun-failed`: the failed and errored node ids of a run, from its record."""

from __future__ import annotations

from pathlib import Path

from envctl.errors import RunNotFoundError
from envctl.report.failures import run_failures
from envctl.report.merge import merge
from envctl.runs.ids import LATEST, RUN_ID_PATTERN
from envctl.runs.store import RunStore
from envctl.settings import Settings


def failed_nodeids(settings: Settings, source: str) -> tuple[str, list[str]]:
    """(what was read, node ids) for a run id / 'latest', a directory or a JUnit file.

    Never from .pytest_cache: the run record is the truth, whichever machine ran it.
    """
    if source == LATEST or RUN_ID_PATTERN.fullmatch(source):
        run_dir = RunStore(settings.resolved_log_dir).path(source)
        failures, _total = run_failures(run_dir, limit=100_000)
        return f"run {run_dir.name}", _unique(f.nodeid for f in failures)
    path = Path(source)
    if not path.exists():
        raise RunNotFoundError(f"{source}: not a run id, a directory or a JUnit file")
    results = merge([path])
    return str(path), _unique(c.nodeid for c in results.failures)


def _unique(nodeids: object) -> list[str]:
    seen: dict[str, None] = {}
    for nodeid in nodeids:  # type: ignore[attr-defined]
        seen.setdefault(nodeid, None)
    return list(seen)
