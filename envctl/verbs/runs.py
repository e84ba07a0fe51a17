"""The read verbs of runs (`status`, `runs`, `failures`) and `stop`: a run found by id in the
settings' log directory, and what each answers."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from envctl.runs.run import Run, RunStatus
from envctl.runs.state import RunRecord
from envctl.runs.store import RunStore

if TYPE_CHECKING:
    from envctl.errors import DamagedRunError
    from envctl.settings import Settings


def store(settings: Settings) -> RunStore:
    return RunStore(settings.resolved_log_dir)


def open_run(settings: Settings, run_id: str = "latest") -> Run:
    """The run ``run_id`` ('latest': the newest) of this project's log directory."""
    return Run(store(settings), run_id)


def status(settings: Settings, run_id: str = "latest", *, lines: int = 10) -> RunStatus:
    """Where a run is; reads only."""
    return open_run(settings, run_id).status(lines=lines)


def stop(settings: Settings, run_id: str = "latest") -> RunRecord:
    """Cancel a run: interrupt, terminate, kill its container; the record as it is then."""
    return open_run(settings, run_id).stop()


@dataclass(frozen=True)
class History:
    """The runs of the log directory (oldest first) and the ones too damaged to read."""

    records: list[RunRecord]
    damaged: list[DamagedRunError]


def history(settings: Settings, *, limit: int | None = None) -> History:
    """The run history; with ``limit``, only the newest ``limit`` runs."""
    found, damaged = store(settings).scan()
    records = [record for _path, record in found]
    if limit is not None:
        records = records[-limit:] if limit > 0 else []
    return History(records, damaged)


def failures(settings: Settings, run_id: str = "latest", *, limit: int | None = None,
             tail: int = 6) -> dict[str, Any]:
    """The failures view (envctl/failures/1) of a run."""
    from envctl.ui.views import run_failures_view  # noqa: PLC0415

    return run_failures_view(open_run(settings, run_id), limit=limit, tail=tail)
