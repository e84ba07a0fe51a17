"""Run: one test run, as the Python API and the CLI see it.

    run = env.test(RunRequest(pytest_args=("-k", "smoke")), detach=True)
    print(run.id, run.status().progress.counts)
    record = run.wait()          # RunRecord; record.exit_code is what `envctl wait` exits with

``status`` and ``record`` only read; ``wait`` and ``stop`` take the run over if its collector
died (``control.take_over``).
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path

from envctl.runs.logfile import tail_lines
from envctl.runs.progress import Progress, read_progress
from envctl.runs.state import RunRecord
from envctl.runs.store import HOOK_FILE, OUTPUT_LOG, RunStore, collector_alive


@dataclass(frozen=True)
class RunStatus:
    """A run's record, its progress and the last lines of its output: read in constant time."""

    record: RunRecord
    progress: Progress
    last_lines: list[str]
    log_path: Path
    collector_alive: bool = True

    @property
    def elapsed(self) -> float | None:
        if self.record.started_at is None:
            return None
        return (self.record.finished_at or time.time()) - self.record.started_at

    @property
    def overdue(self) -> float | None:
        """Seconds the run is past its timeout and the host's grace (runs/deadline.py), while
        still not ended: the runner in the container did not end it."""
        from envctl.runs.deadline import overdue  # noqa: PLC0415

        return overdue(self.record)

    @property
    def limits_note(self) -> str | None:
        """Why a `test --host` run's limits are not applied (no cgroup could be made, or not yet);
        None when they are, or it ran in a container (the engine applies them)."""
        if not self.record.host:
            return None
        from envctl.runs.host_files import HostPlan  # noqa: PLC0415

        try:
            plan = HostPlan.load(self.log_path.parent)
        except ValueError as exc:
            return f"cannot tell whether the limits are applied: {exc}"
        if plan is None:
            return None if self.record.state.terminal else "not known yet: the tests have not started"
        return plan.limits_note

    @property
    def hook_problem(self) -> str | None:
        """One line when the on_finish hook did not succeed (hook.json beside the log); nothing
        while it runs under a live collector."""
        if not os.path.lexists(self.log_path.parent / HOOK_FILE):  # no hook: its reader is not loaded
            return None
        from envctl.runs.hook_outcome import read_outcome  # noqa: PLC0415

        outcome = read_outcome(self.log_path.parent)
        if outcome is None or (not outcome.finished and self.collector_alive):
            return None
        return outcome.problem()

    @property
    def orphaned(self) -> bool:
        """Unfinished with no process recording it: `envctl wait` takes it over."""
        return not self.record.state.terminal and not self.collector_alive


class Run:
    """A handle on one run directory."""

    def __init__(self, store: RunStore, run_id: str = "latest") -> None:
        self.store = store
        self.dir = store.path(run_id)
        self.id = self.dir.name

    @property
    def record(self) -> RunRecord:
        return RunRecord.load(self.dir)

    def status(self, lines: int = 10) -> RunStatus:
        """Read-only: nothing is written, started or finished by looking."""
        record = self.record
        if record.children:  # a --shards parent: the shards' progress, a line for each
            from envctl.runs.shards import combined_progress  # noqa: PLC0415

            progress, shard_lines = combined_progress(record, self.dir.parent)
            alive = collector_alive(self.dir) or any(
                collector_alive(self.dir.parent / child) for child in record.children)
            return RunStatus(record, progress, shard_lines[:lines] if lines else [],
                             self.dir / OUTPUT_LOG, alive)
        return RunStatus(record, read_progress(self.dir), tail_lines(self.dir, lines),
                         self.dir / OUTPUT_LOG, collector_alive(self.dir))

    def wait(self, timeout: float | None = None) -> RunRecord:
        from envctl.runs import control  # noqa: PLC0415  # readers never need it

        return control.wait_for(self.dir, timeout=timeout)

    def stop(self) -> RunRecord:
        from envctl.runs import control  # noqa: PLC0415

        return control.stop(self.dir)
