"""Following and steering a run from any shell: reconcile, wait, stop.

A run's bookkeeping never depends on the process that started it. ``reconcile`` starts a
collector for an unfinished run that has none; ``wait`` blocks on the engine (the container's
exit), not on a file poll; ``stop`` escalates interrupt -> terminate -> kill.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING

from envctl.errors import EnvctlError, WaitTimeoutError
from envctl.runs.collector import spawn_collector
from envctl.runs.state import RunRecord
from envctl.runs.store import CANCEL_FILE, collector_alive, collector_lock

if TYPE_CHECKING:
    from envctl.docker.engine import Engine

STOP_ESCALATION = (("SIGINT", 10.0), ("SIGTERM", 5.0), ("SIGKILL", 5.0))
ISOLATED_TEARDOWN_WAIT = 60.0  # an isolated project's removal (by label, usually < 1 s)
COLLECTOR_START_GRACE = 10.0  # how long a fresh collector may take to take its lock


def reconcile(run_dir: Path) -> RunRecord:
    """The run's record; an unfinished run with no live collector gets one.

    A --shards parent has no container and no collector of its own: its unfinished shards that
    lost theirs get one (a single process for all), and once every shard has ended, the parent
    is finalized here (merged JUnit, counts, state)."""
    record = RunRecord.load(run_dir)
    if record.state.terminal:
        return record
    if record.children:
        return _reconcile_shards(run_dir, record)
    if not collector_alive(run_dir):
        spawn_collector(run_dir)
    return record


def _reconcile_shards(run_dir: Path, record: RunRecord) -> RunRecord:
    from envctl.runs import shards  # noqa: PLC0415

    children = shards.children_of(record, run_dir.parent)
    orphans = [child_dir for child_dir, child in children
               if not child.state.terminal and not collector_alive(child_dir)]
    if orphans:
        spawn_collector(*orphans, log_to=run_dir)
    return shards.finalize(run_dir, record, children)


def wait_for(run_dir: Path, *, timeout: float | None = None) -> RunRecord:
    """Block until the run has a terminal record (or ``timeout`` passes)."""
    deadline = None if timeout is None else time.monotonic() + timeout
    record = reconcile(run_dir)
    if record.children:
        return record if record.state.terminal else _wait_for_shards(run_dir, record, deadline)
    if record.state.terminal:
        if record.isolated:
            wait_until_collected(run_dir, timeout=ISOLATED_TEARDOWN_WAIT)
        return record
    if record.container is not None:
        # Block on the engine until the container exits: no polling while the tests run.
        waiter = threading.Thread(target=_wait_container, args=(record.container,), daemon=True)
        waiter.start()
        waiter.join(None if deadline is None else max(0.0, deadline - time.monotonic()))
        if waiter.is_alive():
            raise WaitTimeoutError(f"run {record.id} is still going after {timeout:g}s",
                                   hint="it goes on; wait again, or `envctl stop` it")
    # The container is done; the collector is writing the record. Wait for its lock.
    record = _wait_record(run_dir, deadline)
    if record.isolated:  # its project goes right after the record: return when it is gone
        wait_until_collected(run_dir, timeout=ISOLATED_TEARDOWN_WAIT)
    return record


def _wait_for_shards(run_dir: Path, record: RunRecord, deadline: float | None) -> RunRecord:
    from envctl.runs import shards  # noqa: PLC0415

    for child_dir, _child in shards.children_of(record, run_dir.parent):
        wait_for(child_dir, timeout=None if deadline is None else max(0.0, deadline - time.monotonic()))
    record = reconcile(run_dir)
    if not record.state.terminal:  # a shard record vanished under us: say so rather than spin
        raise WaitTimeoutError(f"run {record.id}: its shards have ended but it is not final",
                               hint="run `envctl status` on it")
    return record


def wait_until_collected(run_dir: Path, timeout: float = 120.0) -> None:
    """Until no collector holds the run (an isolated run's project is torn down after its
    record is final; a caller that promises "nothing left" waits for that too)."""
    deadline = time.monotonic() + timeout
    while collector_alive(run_dir) and time.monotonic() < deadline:
        time.sleep(0.02)  # a non-blocking flock probe costs microseconds


def _wait_container(container: str) -> None:
    from envctl.docker.engine import Engine  # noqa: PLC0415

    try:
        with Engine(timeout=None) as engine:
            engine.wait_exit(container)
    except EnvctlError:
        pass  # gone already: the collector decides what that means


def _wait_record(run_dir: Path, deadline: float | None) -> RunRecord:
    started = time.monotonic()
    while True:
        record = RunRecord.load(run_dir)
        if record.state.terminal:
            return record
        if not collector_alive(run_dir):
            if time.monotonic() - started > COLLECTOR_START_GRACE:
                spawn_collector(run_dir)
                started = time.monotonic()
        else:
            with collector_lock(run_dir, blocking=True):
                pass  # the collector released it: the record is final, or it died
            started = time.monotonic() - COLLECTOR_START_GRACE  # respawn at once if it died
            continue
        if deadline is not None and time.monotonic() > deadline:
            raise WaitTimeoutError(f"run {record.id} has ended but is not recorded yet",
                                   hint="wait again in a moment")
        time.sleep(0.05)


def stop(run_dir: Path, escalation: tuple[tuple[str, float], ...] = STOP_ESCALATION,
         record_wait: float = 60.0) -> RunRecord:
    """Cancel the run: interrupt, then terminate, then kill its container; wait for the record."""
    from envctl.docker.engine import Engine  # noqa: PLC0415

    record = reconcile(run_dir)
    if record.state.terminal:
        return record
    if record.children:  # stop the shards side by side, then finalize the parent
        from envctl.runs import shards  # noqa: PLC0415

        errors: list[EnvctlError] = []

        def stop_shard(child_dir: Path) -> None:
            try:
                stop(child_dir, escalation, record_wait)
            except EnvctlError as exc:
                errors.append(exc)

        stoppers = [threading.Thread(target=stop_shard, args=(child_dir,))
                    for child_dir, child in shards.children_of(record, run_dir.parent)
                    if not child.state.terminal]
        for thread in stoppers:
            thread.start()
        for thread in stoppers:
            thread.join()
        if errors:
            raise errors[0]
        return wait_for(run_dir, timeout=record_wait)
    (run_dir / CANCEL_FILE).touch(mode=0o600)
    if record.container is not None:
        with Engine(timeout=30) as engine:
            for signal, grace in escalation:
                if not engine.kill(record.container, signal):
                    break
                if _exited_within(engine, record.container, grace):
                    break
    return wait_for(run_dir, timeout=record_wait)


def _exited_within(engine: Engine, container: str, seconds: float) -> bool:
    try:
        return engine.wait_exit(container, timeout=seconds) is not None
    except EnvctlError:
        return True  # gone: nothing left to stop
