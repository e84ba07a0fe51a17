"""A run's results as values: its JUnit cases and its failures, read from what the container
handed back (through ``exchange``, so never through a link, a FIFO or past a size cap)."""

from __future__ import annotations

from pathlib import Path

from envctl.report.failures import Failure, file_and_line, junit_failures
from envctl.report.junit import Results, read_junit
from envctl.runs.exchange import JUNIT_FILE, has_events, open_result, read_events


def run_results(run_dir: Path) -> Results:
    """The run's JUnit report (the host's copy once collected, the live file before)."""
    handle = open_result(run_dir, JUNIT_FILE)
    if handle is None:
        return Results()
    with handle:
        return read_junit(handle)


def run_flaky(run_dir: Path, children: list[str] | tuple[str, ...] = (),
              limit: int = 1000) -> tuple[list[Failure], int]:
    """The tests that passed after a rerun (pytest-rerunfailures), from the plugin's events; a
    --shards parent's (``children``: its shards' ids) from each shard's."""
    found: list[Failure] = []
    total = 0
    for directory in [run_dir.parent / child for child in children] or [run_dir]:
        for event in read_events(directory, containing=(b"flaky",)):
            if event.kind != "result" or not event.flaky or not event.nodeid:
                continue
            total += 1
            if len(found) < limit:
                found.append(Failure(event.nodeid, "flaky", "passed after a rerun",
                                     event.nodeid.split("::", 1)[0] or None, None))
    return found, total


def run_failures(run_dir: Path, limit: int = 1000) -> tuple[list[Failure], int]:
    """Up to ``limit`` failures, and how many there are in all: from the plugin's events when it
    wrote them (they have crash lines), else from JUnit."""
    if not has_events(run_dir):
        return junit_failures(run_results(run_dir), limit)
    found: list[Failure] = []
    total = 0
    for event in read_events(run_dir, containing=(b'"failed"', b'"error"')):
        if event.kind != "result" or event.outcome not in ("failed", "error") or not event.nodeid:
            continue
        total += 1
        if len(found) < limit:
            file, line = file_and_line(event.nodeid, event.path, event.line)
            found.append(Failure(event.nodeid, event.outcome, event.message, file, line, event.tail))
    return found, total
