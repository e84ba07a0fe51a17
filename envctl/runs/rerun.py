"""`envctl test --rerun-failed`: the failed and errored node ids of a run, from its record.

Node ids come from the test container (or a JUnit file from anywhere): each is checked before
it becomes a pytest argument, so none can be an option (``-p plugin``) or an argument file."""

from __future__ import annotations

from pathlib import Path

from envctl.errors import EnvctlError, RunNotFoundError
from envctl.report.merge import merge
from envctl.runs.exchange import rerun_argument
from envctl.runs.ids import LATEST, RUN_ID_PATTERN
from envctl.runs.results import run_failures
from envctl.runs.state import RunRecord, RunState
from envctl.runs.store import RunStore
from envctl.settings import Settings


def failed_nodeids(settings: Settings, source: str) -> tuple[str, list[str], list[str]]:
    """(what was read, node ids to rerun, node ids refused) for a run id / 'latest', a
    directory or a JUnit file. Never from .pytest_cache: the record is the truth."""
    if source == LATEST or RUN_ID_PATTERN.fullmatch(source):
        run_dir = RunStore(settings.resolved_log_dir).path(source)
        record = RunRecord.load(run_dir)
        failures, _total = run_failures(run_dir, limit=100_000)
        if not failures and record.state in (RunState.FAILED, RunState.ERROR):
            raise EnvctlError(f"run {record.id} {record.state.value}, but no failed test can be read "
                              "from its results (JUnit or events)",
                              hint=f"see `envctl logs {record.id}`; {record.message}")
        label, nodeids = f"run {run_dir.name}", _unique(f.nodeid for f in failures)
    else:
        path = Path(source)
        if not path.exists():
            raise RunNotFoundError(f"{source}: not a run id, a directory or a JUnit file")
        label, nodeids = str(path), _unique(c.nodeid for c in merge([path]).failures)
    accepted = [n for n in nodeids if rerun_argument(n) is not None]
    return label, accepted, [n for n in nodeids if rerun_argument(n) is None]


def _unique(nodeids: object) -> list[str]:
    seen: dict[str, None] = {}
    for nodeid in nodeids:  # type: ignore[attr-defined]
        seen.setdefault(nodeid, None)
    return list(seen)
