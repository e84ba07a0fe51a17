"""A run's outcomes into the history of every test beside the runs, once its end is recorded.

Done by the collector that recorded the end (a taking-over one included): re-recording a run
replaces it, so a collector killed and replaced records it once. Shards are not recorded: their
parent records the whole suite. Best effort: the history never changes a run's result.
"""

from __future__ import annotations

import os
from pathlib import Path

from envctl.history import HISTORY_FILE, command_key, record
from envctl.runs.html_data import outcomes
from envctl.runs.results import run_flaky, run_results
from envctl.runs.state import RunRecord

CODE_VARIABLES = ("ENVCTL_CODE", "GITHUB_SHA", "CI_COMMIT_SHA", "CIRCLE_SHA1", "BUILDKITE_COMMIT")


def code_key(environ: dict[str, str] | None = None) -> str:
    """Which code the tests ran at, where CI says so (empty: unknown, never counts as the same)."""
    env = dict(os.environ) if environ is None else environ
    return next((env[name][:64] for name in CODE_VARIABLES if env.get(name)), "")


def record_history(run_dir: Path, run: RunRecord) -> None:
    """Add the ended top-level run in ``run_dir`` to ``<log dir>/history.jsonl``."""
    if not run.state.terminal or run.parent is not None:
        return
    cases = [case for child in run.children or [run.id]
             for case in run_results(run_dir.parent / child).cases]
    flaky = frozenset(f.nodeid for f in run_flaky(run_dir, run.children)[0])
    record(run_dir.parent / HISTORY_FILE, run.id, command_key(run.command), code_key(),
           outcomes(cases, flaky), at=run.finished_at or 0.0)
