"""`envctl test --shards N`: N shard runs at once, each in an isolated project of its own.

The parent run records the children's ids; each child is an ordinary detached run (`--shard k/N`
in a throwaway project with no published host ports, torn down after collection). One collector
process collects them all and then finishes the parent: merged JUnit, durations for the next
split, and one state that is never better than the worst shard's (``outcome.decide_parent``).
"""

from __future__ import annotations

import dataclasses
import json
import secrets
import time
from collections.abc import Iterable, Sequence
from pathlib import Path

from envctl.files import write_private
from envctl.runs import lifecycle
from envctl.runs.exchange import read_events
from envctl.runs.ids import new_run_id
from envctl.runs.launch import RunRequest, limits_of, prepare_run
from envctl.runs.placement import EnginePlace, place
from envctl.runs.progress import Progress, read_progress
from envctl.runs.retry_infra import start_settings
from envctl.runs.spawn import spawn_collector
from envctl.runs.state import Counts, RunRecord, RunState, load_shard
from envctl.runs.store import CANCEL_FILE, START_FILE, RunStore, take_collector_lock
from envctl.settings import Settings
from envctl.units import format_size


def start_shards(settings: Settings, request: RunRequest, shards: int, *,
                 engines: Sequence[EnginePlace] | None = None, retry_infra: bool = False,
                 ) -> tuple[Path, RunRecord]:
    """Create the parent record and start every shard as a detached isolated run; with
    ``engines``, each on the engine ``placement.place`` gives it (else on this process's own)."""
    placed: list[EnginePlace | None] = list(place(shards, engines)) if engines else [None] * shards
    from envctl.env.environment import Environment  # noqa: PLC0415

    base = Environment(settings).project  # compose's name for the user's project (may raise)
    store = RunStore(settings.resolved_log_dir)
    parent_id = new_run_id()
    parent_dir = store.create(parent_id)
    # Held from here until the collector takes it: a `wait` or `stop` meanwhile sees a parent
    # being set up, never one with too few shards to take over.
    parent_fd = take_collector_lock(parent_dir)
    now = time.time()
    parent = lifecycle.create(parent_dir, RunRecord(
        id=parent_id, project=base, service=settings.test_service,
        command=[*settings.test_command, *request.pytest_args], limits=limits_of(settings, request),
        state=RunState.RUNNING, created_at=now, started_at=now, timeout=request.timeout,
        message=f"{shards} shards" + (on_engines(placed) if engines else "")))
    # Where the merged durations and the history go: the starter's settings, kept in the
    # host-only run dir.
    write_private(parent_dir / START_FILE, json.dumps(
        {"durations_file": str(settings.resolved_durations_file),
         "history_file": str(settings.resolved_history_file),
         "pytest_args": list(request.pytest_args),
         **start_settings(retry_infra, list(engines) if engines else None, settings.engine_loss_grace)}))
    child_dirs: list[Path] = []
    try:
        for k in range(1, shards + 1):
            token = secrets.token_hex(3)
            where = placed[k - 1]
            env = Environment(settings, project=f"{base}-s{k}-{token}", isolated_for=token,
                              engine=where.host if where else None, engine_name=where.name if where else None)
            child_dir, child = prepare_run(
                env, dataclasses.replace(request, shard=f"{k}/{shards}", parent=parent_id))
            child_dirs.append(child_dir)
            parent = lifecycle.add_child(parent_dir, child.id)
    except BaseException:
        # Interrupted while setting up (Ctrl-C, a bad compose file): the shards made so far are
        # cancelled, so the parent ends cancelled rather than passing with too few shards.
        for child_dir in child_dirs:
            (child_dir / CANCEL_FILE).touch(mode=0o600)
        spawn_collector(*child_dirs, parent=parent_dir, parent_fd=parent_fd)
        raise
    # One collector for all shards: it builds missing images once, starts, follows and tears
    # down every shard in a thread of its own, then finishes the parent.
    spawn_collector(*child_dirs, parent=parent_dir, parent_fd=parent_fd)
    return parent_dir, parent


def on_engines(placed: Sequence[EnginePlace | None]) -> str:
    """`` on a (2), b (1)``: how many shards each engine got, in the order named."""
    counts: dict[str, int] = {}
    for where in placed:
        if where is not None:
            counts[where.name] = counts.get(where.name, 0) + 1
    return " on " + ", ".join(f"{name} ({count})" for name, count in counts.items())


def children_of(parent: RunRecord, root: Path) -> list[tuple[Path, RunRecord]]:
    """The parent's shard runs (their directories sit beside the parent's in ``root``); one whose
    record is gone or damaged reads `lost` (``state.load_shard``)."""
    return [(root / child, load_shard(root / child, parent)) for child in parent.children]


def combined_counts(counts: Iterable[Counts]) -> Counts:
    total = Counts(total=0)
    for one in counts:
        for field in dataclasses.fields(Counts):
            value = getattr(one, field.name)
            if value is not None:
                setattr(total, field.name, (getattr(total, field.name) or 0) + value)
    return total


def _collectors(run_dir: Path) -> dict[str, str]:
    """The collectors a shard reported on their own (a module skipped at import: node id ->
    outcome): the results before its "collected" event, at the head of its events."""
    found: dict[str, str] = {}
    for event in read_events(run_dir):
        if event.kind == "collected":
            break
        if event.kind == "result" and event.nodeid and event.outcome in ("skipped", "error"):
            found[event.nodeid] = event.outcome
    return found


def shard_counts(counts: Sequence[Counts], run_dirs: Iterable[Path]) -> Counts:
    """The shards' counts (``counts``, in ``run_dirs``) as one run's, as pytest would count the
    whole run: added up (``combined_counts``), each collector once (``without_repeats``), and
    the deselected tests of the whole run only (``deselected_once``)."""
    total = without_repeats(combined_counts(counts), run_dirs)
    total.deselected = deselected_once(total, counts)
    return total


def deselected_once(total: Counts, counts: Sequence[Counts]) -> int:
    """The tests the whole run deselected (``-k``, ``-m``, ``--deselect``, ``--lf``), from its
    shards' ``counts`` and their ``total`` (collectors once). A shard counts among its
    deselected the tests the split gave the other shards, which the whole run's total holds:
    shard k's deselected + its total - the whole run's total (the collectors cancel out, and so
    do the tests ``--lf`` left out in the other shards). 0 until every shard has collected."""
    if not counts or total.total is None or any(one.total is None for one in counts):
        return 0
    return max(0, min(one.deselected + (one.total or 0) for one in counts) - total.total)


def without_repeats(counts: Counts, run_dirs: Iterable[Path]) -> Counts:
    """Shards' counts added up, less the collectors every shard reported: each shard collects
    every test, so a module skipped at import is one skipped in each shard's counts (as pytest
    counts that shard) but one in the whole run's."""
    seen: dict[str, str] = {}
    for run_dir in run_dirs:
        for nodeid, outcome in _collectors(run_dir).items():
            if nodeid in seen:
                key = "errors" if outcome == "error" else "skipped"
                setattr(counts, key, max(0, getattr(counts, key) - 1))
                counts.done = max(0, counts.done - 1)
                counts.total = None if counts.total is None else max(0, counts.total - 1)
            seen.setdefault(nodeid, outcome)
    return counts


def combined_progress(parent: RunRecord, root: Path) -> tuple[Progress, list[str]]:
    """The shards' progress as one, and a line per shard (state, done/total, test running).
    Once the parent has ended, its numbers are its record's (its shards' results merged)."""
    children = children_of(parent, root)
    progresses = [read_progress(child_dir) for child_dir, _child in children]
    lines, current, updated = [], None, None
    for (_child_dir, child), progress in zip(children, progresses, strict=True):
        counts = progress.counts
        running = f"  {progress.current}" if progress.current and not child.state.terminal else ""
        engine = f" on {child.engine_name}" if child.engine_name else ""
        if child.shipped_bytes is not None and child.shipped_seconds is not None:
            engine += f" (shipped {format_size(child.shipped_bytes)} in {child.shipped_seconds:.1f}s)"
        lines.append(f"shard {child.shard} {child.id}{engine}: {child.state.value}, "
                     f"{counts.done}/{counts.total if counts.total is not None else '?'} done, "
                     f"{counts.failed + counts.errors} failed{running}")
        current = current or (progress.current if not child.state.terminal else None)
        if progress.updated is not None:
            updated = max(updated or 0.0, progress.updated)
    if parent.state.terminal:
        total = dataclasses.replace(parent.counts)
    else:
        total = shard_counts([p.counts for p in progresses], (child_dir for child_dir, _child in children))
    return Progress(total, current, parent.started_at, updated, "plugin"), lines


def durations_file_of(parent_dir: Path) -> Path | None:
    """Where the starter's settings keep recorded durations (the next split balances on them)."""
    try:
        value = json.loads((parent_dir / START_FILE).read_text(encoding="utf-8")).get("durations_file")
    except (OSError, ValueError, AttributeError):
        return None
    return Path(value) if isinstance(value, str) else None
