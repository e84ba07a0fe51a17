"""A run's lifecycle: the one writer of ``run.json``.

    starting -> running -> collecting -> <end state>      (docs/run-states.md)

Every transition reads the record, checks where it stands, changes it and writes it back
atomically (temp file, fsync, rename). A transition that has already happened is a no-op, so
any process may redo one after a ``kill -9`` at any point; the first end state written stays.
Writers hold the run's collector lock (``store.collector_lock``), so one process writes at a
time; readers never write. What the end state is, is decided in ``outcome``, not here.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from envctl.files import write_private
from envctl.log import redact, redact_named
from envctl.runs.outcome import EndFacts, Outcome, decide, decide_parent
from envctl.runs.state import RECORD_FILE, Counts, RunRecord, RunState

if TYPE_CHECKING:
    from envctl.runs.resumed_result import Joined


def save(run_dir: Path, record: RunRecord) -> RunRecord:
    # A message may quote compose's output, which may quote a secret (an interpolated .env value);
    # the command may hold one given on the command line. start.json keeps the real arguments
    # (the collector runs them), in the host-only run dir, and is left out of uploads.
    record.message = redact(record.message)
    record.command = [redact_named(part) for part in record.command]
    write_private(run_dir / RECORD_FILE, record.to_json())
    return record


def create(run_dir: Path, record: RunRecord) -> RunRecord:
    """The first record of a run (``starting``; a --shards parent is ``running`` at once)."""
    return save(run_dir, record)


def assign_container(run_dir: Path, name: str) -> RunRecord:
    """Name the container before it is created, so whoever takes over can always find it."""
    record = RunRecord.load(run_dir)
    if record.state is RunState.STARTING and record.container != name:
        record.container = name
        save(run_dir, record)
    return record


def note_engine_lost(run_dir: Path, at: float) -> RunRecord:
    """The collector lost the engine while the run was under way: whoever ends the run weighs
    the container's exit against it (a daemon stopping takes its containers down with it)."""
    record = RunRecord.load(run_dir)
    # Only a loss while the container runs can cut it short; one while starting is retried.
    if record.state is RunState.RUNNING and record.engine_lost_at is None:
        record.engine_lost_at = at
        save(run_dir, record)
    return record


def add_child(run_dir: Path, child_id: str) -> RunRecord:
    record = RunRecord.load(run_dir)
    if child_id not in record.children:
        record.children.append(child_id)
        save(run_dir, record)
    return record


def replace_child(run_dir: Path, old_id: str, new_id: str) -> RunRecord:
    """A --shards parent's shard ``old_id`` (ended by the infrastructure) is run again as
    ``new_id``: it takes the old one's place among the children, and the old one is kept in
    ``retried``. Idempotent."""
    record = RunRecord.load(run_dir)
    if old_id in record.children:
        record.children[record.children.index(old_id)] = new_id
        record.retried.append(old_id)
        save(run_dir, record)
    return record


def mark_shipped(run_dir: Path, size: int, seconds: float) -> RunRecord:
    """The test container's folders were shipped to its engine (which cannot see this machine's)."""
    record = RunRecord.load(run_dir)
    record.shipped_bytes, record.shipped_seconds = size, seconds
    return save(run_dir, record)


def mark_running(run_dir: Path, started_at: float | None = None) -> RunRecord:
    """The test container runs."""
    record = RunRecord.load(run_dir)
    if record.state is RunState.STARTING:
        record.state = RunState.RUNNING
        record.started_at = started_at or time.time()
        save(run_dir, record)
    return record


def mark_collecting(run_dir: Path, *, log_bytes: int, log_cut_bytes: int,
                    log_error: str | None) -> RunRecord:
    """The test container has exited (or its output ended); its results are being recorded."""
    record = RunRecord.load(run_dir)
    if record.state.terminal:
        return record
    record.state = RunState.COLLECTING
    record.started_at = record.started_at or time.time()
    record.log_bytes, record.log_cut_bytes, record.log_error = log_bytes, log_cut_bytes, log_error
    return save(run_dir, record)


def finish(run_dir: Path, facts: EndFacts, counts: Counts | None = None,
           problems: Sequence[str] = ()) -> RunRecord:
    """The run's end state, decided from ``facts``. Idempotent: an ended run stays as it ended."""
    record = RunRecord.load(run_dir)
    if record.state.terminal:
        return record
    joined = unjoined = None
    if record.resumes is not None:  # one result for the whole suite: the first run's part joined first
        joined, unjoined = _join(run_dir, record)
        facts = dataclasses.replace(facts, earlier_failures=joined.earlier_failures if joined
                                    else _earlier_failures(run_dir, record))
        if joined is not None:  # pytest's numbers over both parts; the part's flaky tests kept
            counts = dataclasses.replace(joined.counts, flaky=counts.flaky if counts else 0)
    outcome = decide(facts)
    if unjoined is not None:
        outcome = _unjoined(outcome, unjoined)
    _apply(record, outcome)
    record.container_exit = facts.exit_code
    record.dependency_events = list(facts.dependency_events)
    record.running_test = facts.running_test if outcome.state in (
        RunState.OOM_KILLED, RunState.TIMED_OUT, RunState.CANCELLED, RunState.ENV_BROKEN) else None
    if record.log_error:
        record.message += f"; the log is incomplete: {record.log_error}"
    if joined is not None:
        record.message += f"; resumes run {record.resumes}: {joined.earlier_tests} test(s) had finished there"
    if problems:
        record.message += f"; results not read: {'; '.join(problems)}"
    if counts is not None:
        record.counts = counts
    return save(run_dir, record)


def _join(run_dir: Path, record: RunRecord) -> tuple[Joined | None, str | None]:
    """The resumed run's part and the first run's, joined (runs/resumed_result.py); why not."""
    from envctl.runs.resumed_result import join  # noqa: PLC0415  # resumes only: it reads reports

    try:
        return join(run_dir, record), None
    except Exception as exc:  # whatever went wrong, the run ends; its message says so
        return None, f"the results of run {record.resumes} could not be joined: {type(exc).__name__}: {exc}"


def _earlier_failures(run_dir: Path, record: RunRecord) -> int:
    """The first part's failures as the host knows them, when its results could not be joined
    (0 when not known: the end is then never a pass all the same, see ``_unjoined``)."""
    from envctl.runs.resumed_result import earlier_failures  # noqa: PLC0415  # resumes only

    try:
        return earlier_failures(run_dir, record) or 0
    except Exception:  # a look-up that fails leaves it unknown; the run still ends
        return 0


def _unjoined(outcome: Outcome, why: str) -> Outcome:
    """A resume whose parts could not be joined: the whole suite's result is not known, so it
    never reads better than what is (a pass of its own part is an infra-error; a failure, in
    either part, stays failed), and its message says its counts are its own part's."""
    if outcome.state in (RunState.PASSED, RunState.NO_TESTS):
        return Outcome(RunState.INFRA_ERROR, f"{why}, so the whole suite's result is not known (this "
                       f"part: {outcome.message}; the counts are this part's)", None)
    return Outcome(outcome.state, f"{outcome.message}; {why} (the counts are this part's)",
                   outcome.pytest_exit)


def finish_parent(run_dir: Path, children: Sequence[RunRecord], merged_exit: int | None,
                  counts: Counts, problems: Sequence[str] = (), *, notes: Sequence[str] = ()) -> RunRecord:
    """A --shards parent's end, once every shard has ended (``problems``: the merge's, said in
    its message; ``notes``: said after it, deciding nothing, e.g. shards run again). Idempotent."""
    record = RunRecord.load(run_dir)
    if record.state.terminal:
        return record
    _apply(record, decide_parent(children, merged_exit, problems))
    if notes:
        record.message = "; ".join([record.message, *notes])
    record.counts = counts
    record.finished_at = max([c.finished_at or time.time() for c in children] or [time.time()])
    record.dependency_events = [e for c in children for e in c.dependency_events]
    return save(run_dir, record)


def mark_cleaned(run_dir: Path) -> RunRecord:
    """Its container and an isolated run's project are gone: nothing of the run is left running."""
    record = RunRecord.load(run_dir)
    if record.state.terminal and not record.cleaned:
        record.cleaned = True
        save(run_dir, record)
    return record


def _apply(record: RunRecord, outcome: Outcome) -> None:
    record.state = outcome.state
    record.message = outcome.message
    record.pytest_exit = outcome.pytest_exit
    record.finished_at = time.time()
