"""A run's outcomes into the history of every test, once its end is recorded, and what the
history says of a run (new failures, old ones, flaky tests) for its readers.

Recorded by the collector that recorded the end (a taking-over one included): re-recording a run
replaces it, so a collector killed and replaced records it once. Shards are not recorded: their
parent records the whole suite. Best effort: the history never changes a run's result.

The history file is the run's starter's ``history_file`` setting (kept in the host-only
start.json); a run directory without one (downloaded from an artifact) has it beside the runs.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import replace
from pathlib import Path

from envctl.errors import EnvctlError
from envctl.files import read_regular
from envctl.history import HISTORY_FILE, Outcome, command_key, load, record
from envctl.history.verdict import Verdict, code_key, merged_run_id, verdict
from envctl.report.junit import Results
from envctl.report.merge import junit_inputs
from envctl.runs.html_data import outcomes
from envctl.runs.results import run_flaky, run_results
from envctl.runs.state import RunRecord
from envctl.runs.store import START_FILE, collector_alive

START_CAP = 1 << 20  # start.json: settings, project and request, far below this
RECORDED_WAIT = 60.0  # seconds `wait_recorded` waits for a collector to write the history


def history_file_of(run_dir: Path) -> Path:
    """Where the run in ``run_dir`` is recorded: its starter's ``history_file`` setting (a
    --shards parent's start.json names the file itself), else ``history.jsonl`` beside it."""
    from envctl.settings import Settings  # noqa: PLC0415

    try:
        data = json.loads(read_regular(run_dir / START_FILE, START_CAP))
    except (OSError, ValueError):
        return run_dir.parent / HISTORY_FILE
    if not isinstance(data, dict):
        return run_dir.parent / HISTORY_FILE
    if isinstance(data.get("history_file"), str) and data["history_file"]:
        return Path(data["history_file"])
    if isinstance(data.get("settings"), dict):
        try:
            return Settings.from_json(data["settings"]).resolved_history_file
        except (EnvctlError, ValueError, TypeError, KeyError, AttributeError):
            pass  # an older or damaged start.json: the default place
    return run_dir.parent / HISTORY_FILE


def record_history(run_dir: Path, run: RunRecord) -> None:
    """Add the ended top-level run in ``run_dir`` to its history file."""
    if not run.state.terminal or run.parent is not None:
        return
    cases = [case for child in run.children or [run.id]
             for case in run_results(run_dir.parent / child).cases]
    flaky = frozenset(f.nodeid for f in run_flaky(run_dir, run.children)[0])
    record(history_file_of(run_dir), run.id, command_key(run.command), code_key(),
           outcomes(cases, flaky), at=run.finished_at or 0.0)


def run_verdict(run_dir: Path, run: RunRecord, current: Iterable[Outcome], *, only: bool = False) -> Verdict:
    """What the run's history says of it, given its ``current`` outcomes (all of them for its
    flaky tests; its failures are enough for their marks). ``only``: read the history of the
    ``current`` tests only (a few failures: the rest of the file is not parsed)."""
    current = list(current)
    history = load(history_file_of(run_dir), {c.nodeid for c in current} if only else None)
    return verdict(history, current, run_id=run.id, command=command_key(run.command), code=code_key(),
                   before=run.finished_at)


def report_verdict(run_dir: Path, run: RunRecord, results: Results, flaky: Iterable[str] = ()) -> Verdict:
    """``run_verdict`` of a run's whole JUnit results (``flaky``: its tests passed after a rerun)."""
    return run_verdict(run_dir, run, outcomes(results.cases, frozenset(flaky)))


def merged_verdict(inputs: Sequence[Path], results: Results, history_file: Path, *,
                   environ: dict[str, str] | None = None) -> Verdict | None:
    """`report merge` of run directories (``inputs``, as `report merge` was given them): what
    the history says of the merged suite, after recording it (once: the same runs give the same
    id) unless a --shards parent recorded it already. None when a report has no run record beside
    it (a bare JUnit file) or the runs ran different commands: there is nothing to compare with."""
    records: list[RunRecord] = []
    for junit in junit_inputs(list(inputs)):
        try:
            records.append(RunRecord.load(junit.parent))
        except (EnvctlError, OSError):
            return None
    commands = {tuple(r.command) for r in records}
    if len(commands) != 1:
        return None
    command = command_key(next(iter(commands)))
    run_id = merged_run_id(r.id for r in records)
    code = code_key(environ)
    at = max((r.finished_at or 0.0 for r in records), default=0.0) or time.time()
    problem = None
    if all(r.parent is None for r in records):
        try:
            record(history_file, run_id, command, code, outcomes(results.cases), at=at)
        except (EnvctlError, OSError, ValueError) as exc:
            problem = f"the merged run was not recorded: {exc}"
    found = verdict(load(history_file), outcomes(results.cases), run_id=run_id, command=command, code=code,
                    before=at)
    return replace(found, problem=found.problem or problem)


def wait_recorded(run_dir: Path, timeout: float = RECORDED_WAIT, *,
                  alive: Callable[[Path], bool] = collector_alive,
                  clock: Callable[[], float] = time.monotonic,
                  sleep: Callable[[float], None] = time.sleep) -> bool:
    """Wait until the run's collector has gone (it records the history last, after the run is
    cleaned up), at most ``timeout`` seconds; whether it has. A job that saves the history file
    (the GitHub Action) calls it first, or it might save the history without this run."""
    deadline = clock() + timeout
    while alive(run_dir):
        if clock() >= deadline:
            return False
        sleep(0.1)
    return True


def main(argv: list[str]) -> int:
    """``python -m envctl.runs.history RUN_DIR``: ``wait_recorded``, for the GitHub Action."""
    if len(argv) != 1:
        sys.stderr.write("usage: python -m envctl.runs.history RUN_DIR\n")
        return 2
    if not wait_recorded(Path(argv[0])):
        sys.stderr.write(f"envctl: the collector of {argv[0]} is still going; the history may lack the run\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
