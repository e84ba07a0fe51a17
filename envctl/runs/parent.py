"""A --shards parent's end, in the collector process: once every shard has ended (collecting any
that has no collector), merge them and record the parent's end; once their projects are gone,
say so.

The shards' reports are merged as streams (``report.junit_merged``): the parent holds one test
case at a time, never a shard's report (up to a million cases each, at the JUnit cap).
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable
from pathlib import Path

from envctl.errors import DamagedRunError, EngineUnavailableError
from envctl.report.junit_merged import merge_reports
from envctl.runs import lifecycle, reachable
from envctl.runs.collector_log import say
from envctl.runs.exchange import JUNIT_FILE, open_result
from envctl.runs.outcome import EndFacts
from envctl.runs.retry_infra import GRACE_KEY
from envctl.runs.state import Counts, RunRecord, RunState, load_shard
from envctl.runs.store import CANCEL_FILE, START_FILE, collector_lock
from envctl.settings import Settings
from envctl.units import format_duration

PARENT_POLL = 0.5  # seconds between looks at the shards' records
CLEANUP_WAIT = 60.0  # how long a parent waits for its shards' projects to go
# How long a shard's engine (one of several) may not answer before the shard is ended
# infra-error: a daemon restart or a dropped SSH connection that comes back within it is a blip.
# The `engine_loss_grace` setting, kept in the parent's start.json; its default when it says none.
ENGINE_LOSS_GRACE = Settings.engine_loss_grace

# The clock and the pause between looks, looked up at each call: a unit test fakes them.
monotonic: Callable[[], float] = time.monotonic
sleep: Callable[[float], None] = time.sleep


def collect_parent(parent_dir: Path, held_fd: int | None, collect: Callable[[Path], object],
                   record_history: Callable[[Path], None] = lambda _dir: None,
                   on_end: Callable[[Path], object] = lambda _dir: None, *,
                   retry: Callable[[Path, RunRecord], Path | None] = lambda _dir, _child: None,
                   ) -> RunRecord | None:
    """Finish the parent once its shards have ended; None when another collector holds it.
    ``collect``: collects one shard (the collector's own step: a no-op while another holds it);
    ``on_end``: the end's step once recorded, before the parent is marked cleaned (the
    on_finish hook: a collector killed before it leaves a parent that `wait` takes over);
    ``record_history``: adds the ended parent to the tests' history, also before it is cleaned
    (once `wait` returns, the history holds it); ``retry``: runs a shard the infrastructure
    ended once more (`--retry-infra`), its new run's folder (None: not run again)."""
    with collector_lock(parent_dir, held_fd=held_fd) as mine:
        if not mine:
            return None
        records = _children_when(parent_dir, lambda c: c.state.terminal, None, collect, retry)
        record = finalize(parent_dir, records)
        if record.state.terminal:
            on_end(parent_dir)
            record_history(parent_dir)
        records = _children_when(parent_dir, lambda c: c.cleaned, monotonic() + CLEANUP_WAIT, collect)
        if record.state.terminal and all(child.cleaned for child in records):
            record = lifecycle.mark_cleaned(parent_dir)
        return record


def _children_when(parent_dir: Path, done: Callable[[RunRecord], bool], deadline: float | None,
                   collect: Callable[[Path], object],
                   retry: Callable[[Path, RunRecord], Path | None] | None = None) -> list[RunRecord]:
    """The shards' records once ``done`` holds for each (or the deadline passes); a shard with
    no collector is collected here meanwhile; one whose record is gone is `lost`. A shard on one
    of several engines whose engine does not answer for ENGINE_LOSS_GRACE ends infra-error,
    naming it (with one engine, the run waits for it to come back: a later `wait` takes over).
    With ``retry``, a shard the infrastructure ended is run once more (it takes that shard's
    place among the parent's children)."""
    grace = engine_loss_grace(parent_dir)
    unanswered: dict[Path, float] = {}  # shard -> since when its engine has not answered
    unreachable: set[str] = set()  # ended shards whose engine does not answer: not waited on
    while True:
        try:
            parent = RunRecord.load(parent_dir)
            children = [parent_dir.parent / child for child in parent.children]
            records = [load_shard(child, parent) for child in children]
        except DamagedRunError:  # a record unreadable just now (load_shard): look again
            sleep(PARENT_POLL)
            continue
        if retry is not None and _retried_one(parent_dir, parent, records, retry):
            continue
        if all(done(child) or child.id in unreachable for child in records) \
                or (deadline is not None and monotonic() > deadline):
            return records
        for child_dir, child in zip(children, records, strict=True):
            if done(child) or child.id in unreachable:
                continue
            if child.state.terminal and reachable.on_a_lost_engine(child):
                # Ended on an engine that is gone: nothing to clean there now (`down` and `gc`
                # remove it once the engine answers again), and nothing to hold the parent for.
                unreachable.add(child.id)
                continue
            try:
                collect(child_dir)  # a no-op while another collector holds it
            except EngineUnavailableError as exc:
                if child.engine_name is None:
                    raise
                since = unanswered.setdefault(child_dir, monotonic())
                if monotonic() - since >= grace and not child.state.terminal:
                    _engine_lost(child_dir, child, exc.message, grace)
            else:
                unanswered.pop(child_dir, None)
        sleep(PARENT_POLL)


def lost_with_its_engine(child: RunRecord) -> bool:
    """Whether a shard ended infra-error on one of several engines that does not answer now: an
    end its engine made, which --retry-infra runs again. A crash of the tests' own (a segfault,
    an exit 137) on an engine that answers is no such end."""
    return child.state is RunState.INFRA_ERROR and child.shard is not None and \
        reachable.on_a_lost_engine(child)


def _retried_one(parent_dir: Path, parent: RunRecord, records: list[RunRecord],
                 retry: Callable[[Path, RunRecord], Path | None]) -> bool:
    """Run again the first shard lost with its engine that was not run again already (each
    shard once; none once a stop was asked); whether one was."""
    if (parent_dir / CANCEL_FILE).exists() or any(c.state is RunState.CANCELLED for c in records):
        return False
    again = {record.shard for record in _retried_records(parent_dir, parent)}
    for child in records:
        if child.shard not in again and lost_with_its_engine(child):
            if retry(parent_dir, child) is not None:
                say(f"collector {parent_dir.name}: shard {child.shard} ended {child.state.value}: run again")
                return True
            again.add(child.shard)  # nowhere to run it: it stands as it ended
    return False


def _retried_records(parent_dir: Path, parent: RunRecord) -> list[RunRecord]:
    return [load_shard(parent_dir.parent / old, parent) for old in parent.retried]


def retry_notes(parent_dir: Path, parent: RunRecord, children: list[RunRecord]) -> list[str]:
    """What the parent says of the shards run again: where each ended and where it ran again."""
    now = {child.shard: child for child in children}
    notes = []
    for old in _retried_records(parent_dir, parent):
        new = now.get(old.shard)
        where = f" on engine {old.engine_name}" if old.engine_name else ""
        again = f" on {new.engine_name}" if new is not None and new.engine_name else ""
        notes.append(f"shard {old.shard} ended {old.state.value}{where} ({old.message}) and ran again{again}")
    return notes


def engine_loss_grace(parent_dir: Path) -> float:
    """The seconds a shard's engine may not answer, as the parent's starter's settings said."""
    try:
        value = json.loads((parent_dir / START_FILE).read_text(encoding="utf-8")).get(GRACE_KEY)
    except (OSError, ValueError, AttributeError):
        return ENGINE_LOSS_GRACE
    if isinstance(value, (int, float)) and not isinstance(value, bool) and 0 < value < math.inf:
        return float(value)
    return ENGINE_LOSS_GRACE


def _engine_lost(child_dir: Path, child: RunRecord, why: str, grace: float) -> None:
    """End a shard whose engine is gone: infra-error, never a test result (its container and
    results are on that engine; once it answers again, the clean-up removes them)."""
    with collector_lock(child_dir) as mine:
        if mine:
            for_ = format_duration(grace)
            say(f"collector {child_dir.name}: engine {child.engine_name} lost for {for_}: {why}")
            lifecycle.finish(child_dir, EndFacts(
                infra_error=f"its engine {child.engine_name} stopped answering for {for_} ({why})"))


def finalize(parent_dir: Path, children: list[RunRecord]) -> RunRecord:
    """Once every shard has ended: merge their reports as `report merge` does (a test in two
    shards, a split the shards did not share or a shard that stopped early is a problem, said
    in the parent's message and never a pass; a module skipped at collection in every shard is
    one case), with the durations the next split balances on, and record the parent's end with
    pytest's numbers for the run."""
    # Lazy: shards brings the launch code and settings, which a collector of one run never needs.
    from envctl.runs.shards import durations_file_of, shard_counts  # noqa: PLC0415

    if any(not child.state.terminal for child in children):
        return RunRecord.load(parent_dir)
    reports = ((f"shard {child.shard or child.id}", open_result(parent_dir.parent / child.id, JUNIT_FILE))
               for child in children)  # opened one at a time, as the merge reaches each
    merged = merge_reports(reports, parent_dir / JUNIT_FILE, durations_file_of(parent_dir))
    for problem in merged.problems:
        say(f"collector {parent_dir.name}: the shards' reports: {problem}")
    for unwritten in merged.unwritten:
        say(f"collector {parent_dir.name}: not written: {unwritten}")
    counts = shard_counts([c.counts for c in children], (parent_dir.parent / child.id for child in children))
    if merged.cases:
        # JUnit has neither flaky tests (passed after a rerun) nor deselected ones: the shards'
        # own counts say them.
        counts = Counts(**merged.counts(), flaky=counts.flaky, deselected=counts.deselected)
    # A problem without a case (every report refused) is no pass either: report merge exits 1.
    merged_exit = merged.exit_code if merged.cases or merged.problems else None
    notes = retry_notes(parent_dir, RunRecord.load(parent_dir), children)
    return lifecycle.finish_parent(parent_dir, children, merged_exit, counts, merged.problems, notes=notes)
