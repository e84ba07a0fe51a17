"""`envctl test --shards N`: N shard runs at once, each in an isolated project of its own.

The parent run records the children's ids; each child is an ordinary detached run (`--shard k/N`
in a throwaway project with no published host ports, torn down after collection). The parent
shows their combined progress, then merges their JUnit reports and counts, writes the durations
file the next split balances on, and ends in one state with one exit code.
"""

from __future__ import annotations

import contextlib
import dataclasses
import secrets
import sys
import time
from collections.abc import Iterable
from pathlib import Path

from envctl.report import merge as merging
from envctl.report.junit import Results
from envctl.runs.collector import spawn_collector
from envctl.runs.ids import new_run_id
from envctl.runs.launch import RunRequest, environment_from_file, prepare_detached
from envctl.runs.progress import Progress, read_progress
from envctl.runs.state import PYTEST_STATES, Counts, Limits, RunRecord, RunState
from envctl.runs.store import JUNIT_FILE, RunStore
from envctl.settings import Settings

FOLLOW_INTERVAL = 0.1  # seconds between looks at the shards' records (a few small files each)

# When shards end differently, the parent takes the most serious: infrastructure beats tests.
SEVERITY = [RunState.LOST, RunState.INFRA_ERROR, RunState.OOM_KILLED, RunState.TIMED_OUT,
            RunState.CANCELLED, RunState.ERROR, RunState.FAILED, RunState.NO_TESTS, RunState.PASSED]


def start_shards(settings: Settings, request: RunRequest, shards: int) -> tuple[Path, RunRecord]:
    """Create the parent record and start every shard as a detached isolated run."""
    from envctl.environment import Environment  # noqa: PLC0415

    store = RunStore(settings.resolved_log_dir)
    parent_id = new_run_id()
    parent_dir = store.create(parent_id)
    base = settings.resolved_project_name
    limits = Limits(memory=request.memory or settings.memory, cpus=request.cpus or settings.cpus,
                    pids=request.pids or settings.pids)
    parent = RunRecord(id=parent_id, project=base, service=settings.test_service,
                       command=[*settings.test_command, *request.pytest_args], limits=limits,
                       state=RunState.RUNNING, created_at=time.time(), started_at=time.time(),
                       timeout=request.timeout, message=f"{shards} shards")
    parent.save(parent_dir)
    child_dirs = []
    for k in range(1, shards + 1):
        token = secrets.token_hex(3)
        env = Environment(settings, project=f"{base}-s{k}-{token}", isolated_for=token)
        child_dir, child = prepare_detached(
            env, dataclasses.replace(request, shard=f"{k}/{shards}", parent=parent_id))
        child_dirs.append(child_dir)
        parent.children.append(child.id)
        parent.save(parent_dir)
    # One collector for all shards: it builds missing images once and starts, follows and
    # tears down every shard in a thread of its own.
    spawn_collector(*child_dirs, log_to=parent_dir)
    return parent_dir, parent


def children_of(parent: RunRecord, root: Path) -> list[tuple[Path, RunRecord]]:
    """The parent's shard runs (their directories sit beside the parent's in ``root``)."""
    return [(root / child, RunRecord.load(root / child)) for child in parent.children]


def combined_counts(counts: Iterable[Counts]) -> Counts:
    total = Counts(total=0)
    for one in counts:
        for field in dataclasses.fields(Counts):
            value = getattr(one, field.name)
            if value is not None:
                setattr(total, field.name, (getattr(total, field.name) or 0) + value)
    return total


def combined_progress(parent: RunRecord, root: Path) -> tuple[Progress, list[str]]:
    """The shards' progress as one, and a line per shard (state, done/total, test running)."""
    children = children_of(parent, root)
    progresses = [read_progress(child_dir) for child_dir, _child in children]
    lines, current, updated = [], None, None
    for (_child_dir, child), progress in zip(children, progresses, strict=True):
        counts = progress.counts
        running = f"  {progress.current}" if progress.current and not child.state.terminal else ""
        lines.append(f"shard {child.shard} {child.id}: {child.state.value}, "
                     f"{counts.done}/{counts.total if counts.total is not None else '?'} done, "
                     f"{counts.failed + counts.errors} failed{running}")
        current = current or (progress.current if not child.state.terminal else None)
        if progress.updated is not None:
            updated = max(updated or 0.0, progress.updated)
    total = combined_counts(p.counts for p in progresses)
    return Progress(total, current, parent.started_at, updated, "plugin"), lines


def durations_file_of(children: list[tuple[Path, RunRecord]]) -> Path | None:
    """Where the shards' settings keep recorded durations (the next split balances on them)."""
    for child_dir, _child in children:
        with contextlib.suppress(OSError, ValueError, KeyError, TypeError):
            return environment_from_file(child_dir)[0].settings.resolved_durations_file
    return None


def finalize(parent_dir: Path, parent: RunRecord,
             children: list[tuple[Path, RunRecord]] | None = None) -> RunRecord:
    """When every shard has ended: merge, pick the parent's state, save; else return as is.

    Any process may do it (the foreground, `status`, `wait`): the result is the same, and every
    file it writes is replaced atomically. ``children``: the shards, if the caller has read them."""
    children = children_of(parent, parent_dir.parent) if children is None else children
    if any(not child.state.terminal for _d, child in children):
        return parent
    worst = min((child.state for _d, child in children), key=SEVERITY.index, default=RunState.NO_TESTS)
    reports = [d / JUNIT_FILE for d, _c in children if (d / JUNIT_FILE).exists()]
    results = merging.merge(reports) if reports else Results()
    if reports:
        merging.write_junit(results, parent_dir / JUNIT_FILE)
        durations_file = durations_file_of(children)
        if durations_file is not None:
            merging.write_durations(results, durations_file)
    code = merging.exit_code(results)
    if worst is RunState.ERROR:  # pytest itself broke in a shard: keep its code
        parent.state = RunState.ERROR
        parent.pytest_exit = max(c.pytest_exit or 0 for _d, c in children)
    elif worst in (RunState.PASSED, RunState.FAILED, RunState.NO_TESTS):
        parent.state, parent.pytest_exit = PYTEST_STATES[code], code
    else:
        parent.state = worst
        parent.message = "; ".join(f"shard {c.shard}: {c.state.value} {c.message}".strip()
                                   for _d, c in children if c.state is worst)
    parent.counts = Counts(total=len(results.cases), done=len(results.cases),
                           passed=results.count("passed"), failed=results.count("failed"),
                           errors=results.count("error"), skipped=results.count("skipped"))
    parent.finished_at = max([c.finished_at or time.time() for _d, c in children] or [time.time()])
    parent.save(parent_dir)
    return parent


def follow_shards(parent_dir: Path) -> RunRecord:
    """Show combined progress until every shard ends and is torn down, then finalize the parent."""
    from envctl.runs import control  # noqa: PLC0415

    root = parent_dir.parent
    last = ""
    try:
        while True:
            # A shard whose collector died gets a new one; once all have ended, this finalizes.
            record = control.reconcile(parent_dir)
            children = children_of(record, root)
            counts = combined_counts(read_progress(child_dir).counts for child_dir, _c in children)
            states = ", ".join(f"{c.shard} {c.state.value}" for _d, c in children)
            line = (f"envctl: shards [{states}]: {counts.done}/{counts.total or '?'} done, "
                    f"{counts.failed + counts.errors} failed")
            if line != last:
                print(line, file=sys.stderr)
                last = line
            if record.state.terminal:
                for child_dir, _child in children:
                    control.wait_until_collected(child_dir)  # their projects are torn down
                return record
            time.sleep(FOLLOW_INTERVAL)
    except KeyboardInterrupt:
        control.stop(parent_dir)  # every shard at once: interrupt, terminate, kill
        raise
