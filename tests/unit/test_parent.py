"""A --shards parent's end in the collector: after every shard, once; shards with no collector
collected meanwhile; cleaned once their projects are gone (fake clock, no engine)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from envctl.runs import lifecycle, parent
from envctl.runs.outcome import EndFacts
from envctl.runs.state import Limits, RunRecord, RunState
from envctl.runs.store import take_collector_lock
from tests.unit.fake_engine import FakeClock

PARENT, S1, S2 = "20260101-000000-aaa0", "20260101-000000-aaa1", "20260101-000000-aaa2"


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> FakeClock:
    """The parent's clock and pause, faked."""
    fake = FakeClock()
    monkeypatch.setattr(parent, "monotonic", fake.monotonic)
    monkeypatch.setattr(parent, "sleep", fake.sleep)
    return fake


def _run(root: Path, run_id: str, **fields: object) -> Path:
    run_dir = root / run_id
    run_dir.mkdir(parents=True)
    lifecycle.create(run_dir, RunRecord(id=run_id, project="p", service="test", command=["pytest"],
                                        limits=Limits(1, 1.0, 1), **fields))  # type: ignore[arg-type]
    return run_dir


def _end(run_dir: Path, exit_code: int = 0, *, cleaned: bool = True) -> None:
    lifecycle.finish(run_dir, EndFacts(exit_code=exit_code))
    if cleaned:
        lifecycle.mark_cleaned(run_dir)


def test_the_parent_ends_after_its_shards_and_is_cleaned_with_them(tmp_path: Path, clock: FakeClock) -> None:
    """A shard still running is collected here (it had no collector); then the parent's end."""
    parent_dir = _run(tmp_path, PARENT, state=RunState.RUNNING, children=[S1, S2])
    _end(_run(tmp_path, S1, shard="1/2"))
    second = _run(tmp_path, S2, shard="2/2")
    collected: list[str] = []

    def collect(run_dir: Path) -> None:
        collected.append(run_dir.name)
        _end(run_dir, 1)

    record = parent.collect_parent(parent_dir, None, collect)
    assert record is not None
    assert (record.state, record.cleaned) == (RunState.FAILED, True)
    assert collected == [second.name]
    assert clock.sleeps == [parent.PARENT_POLL]


def test_shards_not_cleaned_in_time_leave_the_parent_uncleaned(tmp_path: Path, clock: FakeClock) -> None:
    """Every shard ended but one's project is not gone by CLEANUP_WAIT: ended, not cleaned."""
    parent_dir = _run(tmp_path, PARENT, state=RunState.RUNNING, children=[S1])
    _end(_run(tmp_path, S1, shard="1/1"), cleaned=False)
    record = parent.collect_parent(parent_dir, None, lambda _run_dir: None)
    assert record is not None
    assert (record.state, record.cleaned) == (RunState.PASSED, False)
    assert clock.now == parent.CLEANUP_WAIT + parent.PARENT_POLL  # the first look past the wait


def test_a_parent_held_by_another_collector_is_left_alone(tmp_path: Path, clock: FakeClock) -> None:
    """Someone else finishes it: None, nothing collected."""
    parent_dir = _run(tmp_path, PARENT, state=RunState.RUNNING, children=[S1])
    fd = take_collector_lock(parent_dir)
    try:
        assert parent.collect_parent(parent_dir, None, lambda _run_dir: pytest.fail("collected")) is None
    finally:
        assert fd is not None
        os.close(fd)
    assert clock.sleeps == []
