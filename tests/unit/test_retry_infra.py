"""`--retry-infra`: where a shard the infrastructure ended runs again, and how its parent keeps
track (each shard once; the new run takes the old one's place; the message says so)."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from envctl.runs import lifecycle, parent, reachable
from envctl.runs.outcome import EndFacts
from envctl.runs.placement import EnginePlace
from envctl.runs.retry_infra import pick_engine, retry_shard, start_settings
from envctl.runs.state import Limits, RunRecord, RunState
from envctl.runs.store import CANCEL_FILE, START_FILE
from tests.unit.fake_engine import FakeClock
from tests.unit.test_parent import _run

PARENT, S1, S2, S3 = ("20260101-000000-aaa0", "20260101-000000-aaa1", "20260101-000000-aaa2",
                      "20260101-000000-aaa3")
HERE = EnginePlace("default", "unix:///var/run/docker.sock", 2)
E2 = EnginePlace("e2", "unix:///run/e2/docker.sock", 2)


def test_a_shard_runs_again_on_another_engine_that_answers_first() -> None:
    """The engine it ended on comes last; an engine that does not answer is passed over."""
    assert pick_engine([E2, HERE], E2.host, lambda _host: True) == HERE
    assert pick_engine([HERE, E2], E2.host, lambda host: host == E2.host) == E2  # back by now
    assert pick_engine([HERE, E2], E2.host, lambda _host: False) is None


def test_only_a_shard_lost_with_its_engine_runs_again(monkeypatch: pytest.MonkeyPatch) -> None:
    """infra-error on one of several engines that does not answer now: yes. On one that answers
    (a segfault, an exit 137: the tests'), on this process's engine, another state, no shard: no."""
    monkeypatch.setattr(reachable, "answers", lambda host: host != E2.host)
    lost = RunRecord(id=S2, project="p", service="test", command=[], limits=Limits(1, 1.0, 1), shard="2/2",
                     state=RunState.INFRA_ERROR, engine=E2.host, engine_name="e2")
    assert parent.lost_with_its_engine(lost) is True
    for other in (dataclasses.replace(lost, engine=HERE.host, engine_name="default"),
                  dataclasses.replace(lost, engine=None, engine_name=None),
                  dataclasses.replace(lost, state=RunState.FAILED),
                  dataclasses.replace(lost, state=RunState.LOST),
                  dataclasses.replace(lost, shard=None)):
        assert parent.lost_with_its_engine(other) is False


def test_nothing_runs_again_once_a_stop_was_asked(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A stop asked of the parent (or a shard cancelled): no shard is run again."""
    monkeypatch.setattr(reachable, "answers", lambda _host: False)
    parent_dir = _run(tmp_path, PARENT, state=RunState.RUNNING, children=[S1])
    lost = RunRecord.load(_run(tmp_path, S1, shard="1/1", state=RunState.INFRA_ERROR, engine=E2.host,
                               engine_name="e2"))
    (parent_dir / CANCEL_FILE).touch()
    assert parent._retried_one(parent_dir, RunRecord.load(parent_dir), [lost],
                               lambda _dir, _child: pytest.fail("run again")) is False


def test_the_new_run_takes_the_old_ones_place(tmp_path: Path) -> None:
    """replace_child: same position among the children, the old one kept in retried; twice is once."""
    parent_dir = _run(tmp_path, PARENT, state=RunState.RUNNING, children=[S1, S2])
    lifecycle.replace_child(parent_dir, S2, S3)
    record = lifecycle.replace_child(parent_dir, S2, S3)
    assert (record.children, record.retried) == ([S1, S3], [S2])


def test_a_parent_that_does_not_retry_runs_nothing_again(tmp_path: Path) -> None:
    """No --retry-infra in the parent's start file (or none at all): None, nothing made."""
    parent_dir = _run(tmp_path, PARENT, state=RunState.RUNNING, children=[S1])
    child = RunRecord.load(_run(tmp_path, S1, shard="1/1", state=RunState.INFRA_ERROR))
    assert retry_shard(parent_dir, child) is None
    (parent_dir / START_FILE).write_text(json.dumps(start_settings(False, [HERE, E2], 30.0)))
    assert retry_shard(parent_dir, child) is None
    assert RunRecord.load(parent_dir).children == [S1]


def test_each_shard_runs_again_once_and_the_parent_says_where(tmp_path: Path,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """A shard lost with e2 (which does not answer) runs again (here: a stand-in making S3);
    S3's own infra-error, here where the engine answers, is the tests' and not run again: the
    parent ends with S3's state, and says that shard 2 ran again."""
    clock = FakeClock()
    monkeypatch.setattr(parent, "monotonic", clock.monotonic)
    monkeypatch.setattr(parent, "sleep", clock.sleep)
    parent_dir = _run(tmp_path, PARENT, state=RunState.RUNNING, children=[S1, S2])
    lifecycle.finish(_run(tmp_path, S1, shard="1/2", engine=HERE.host, engine_name="default"),
                     EndFacts(exit_code=0))
    lifecycle.finish(_run(tmp_path, S2, shard="2/2", engine=E2.host, engine_name="e2"),
                     EndFacts(infra_error="its engine e2 stopped answering"))
    monkeypatch.setattr(reachable, "answers", lambda host: host != E2.host)  # e2 is gone; here answers
    asked: list[str] = []

    def retry(at: Path, child: RunRecord) -> Path | None:
        asked.append(child.id)
        new_dir = _run(tmp_path, S3, shard="2/2", parent=PARENT, engine=HERE.host, engine_name="default")
        lifecycle.finish(new_dir, EndFacts(infra_error="the test container was never created"))
        lifecycle.replace_child(at, child.id, S3)
        return new_dir

    record = parent.collect_parent(parent_dir, None, lambda _dir: None, retry=retry)
    assert record is not None
    assert asked == [S2]
    assert (record.state, record.children, record.retried) == (RunState.INFRA_ERROR, [S1, S3], [S2])
    assert record.message == (
        "shard 2/2 on engine default: infra-error the test container was never created; "
        "shard 2/2 ended infra-error on engine e2 (its engine e2 stopped answering) and ran again on default")
