"""Rotation keeps the last N runs, drops old ones, and never a running run or the latest."""

import time

from envctl.runs import lifecycle
from envctl.runs.rotation import rotate
from envctl.runs.state import Limits, RunRecord, RunState
from envctl.runs.store import RunStore


def make(store: RunStore, stamp: str, state: RunState, created: float) -> str:
    run_id = f"20260101-{stamp}-abcd"
    path = store.create(run_id)
    lifecycle.save(path, RunRecord(id=run_id, project="p", service="test", command=["pytest"],
                                   limits=Limits(1, 1.0, 1), state=state, created_at=created))
    return run_id


def test_keep_n_newest(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """Five finished runs, keep 3: the two oldest go."""
    store = RunStore(tmp_path)
    now = time.time()
    ids = [make(store, f"00000{i}", RunState.PASSED, now) for i in range(5)]
    assert rotate(store, keep=3, max_age=86400, now=now) == ids[:2]
    assert store.ids() == ids[2:]


def test_running_and_latest_are_never_removed(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """A running run survives keep=1 and max age; so does the latest."""
    store = RunStore(tmp_path)
    old = time.time() - 10 * 86400
    running = make(store, "000001", RunState.RUNNING, old)
    make(store, "000002", RunState.FAILED, old)
    latest = make(store, "000003", RunState.PASSED, old)
    rotate(store, keep=1, max_age=86400)
    assert store.ids() == [running, latest]


def test_max_age(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """Runs past the max age go even when under the count."""
    store = RunStore(tmp_path)
    now = time.time()
    old = make(store, "000001", RunState.PASSED, now - 3 * 86400)
    make(store, "000002", RunState.PASSED, now)
    make(store, "000003", RunState.PASSED, now)
    assert rotate(store, keep=10, max_age=86400, now=now) == [old]
