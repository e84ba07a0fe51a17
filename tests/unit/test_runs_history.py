"""An ended run's outcomes go into its history file (the starter's setting, or beside the runs); shards
and unended runs do not; what the history says of a run, of a merge of shard runs; the wait for a
collector's record."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from envctl.files import write_private
from envctl.history import HISTORY_FILE, Outcome, command_key, load, record
from envctl.history.verdict import merged_run_id
from envctl.report import merge as merging
from envctl.runs import lifecycle
from envctl.runs.history import (
    history_file_of,
    main,
    merged_verdict,
    record_history,
    run_verdict,
    wait_recorded,
)
from envctl.runs.state import Limits, RunRecord, RunState
from envctl.runs.store import START_FILE
from envctl.settings import Settings, load_settings

JUNIT = """<testsuites><testsuite>
<testcase classname="tests.test_a" name="test_ok" file="tests/test_a.py" time="0.5"/>
<testcase classname="tests.test_a" name="test_bad" file="tests/test_a.py" time="1.5">
<failure message="boom">x</failure></testcase></testsuite></testsuites>"""
OTHER_JUNIT = """<testsuites><testsuite>
<testcase classname="tests.test_b" name="test_c" file="tests/test_b.py" time="0.5"/>
</testsuite></testsuites>"""


def _run(tmp_path: Path, run_id: str, state: RunState, parent: str | None = None) -> Path:
    run_dir = tmp_path / run_id
    run_dir.mkdir(parents=True)
    (run_dir / "junit.xml").write_text(JUNIT)
    lifecycle.save(run_dir, RunRecord(id=run_id, project="p", service="test", command=["pytest", "-q"],
                                      limits=Limits(1, 1.0, 1), state=state, parent=parent,
                                      finished_at=100.0))
    return run_dir


def test_an_ended_run_is_recorded_with_each_test(tmp_path: Path) -> None:
    """Each case's outcome and duration, under the run's command; again it replaces, not adds."""
    run_dir = _run(tmp_path, "20260101-000000-abcd", RunState.FAILED)
    record_history(run_dir, RunRecord.load(run_dir))
    record_history(run_dir, RunRecord.load(run_dir))
    history = load(tmp_path / HISTORY_FILE)
    assert history.last_outcomes("tests/test_a.py::test_bad") == "f"
    assert history.last_outcomes("tests/test_a.py::test_ok") == "p"


def test_shards_and_running_runs_are_not_recorded(tmp_path: Path) -> None:
    """A shard (its parent records the suite) and a run still going leave no history."""
    shard = _run(tmp_path, "20260101-000000-aaaa", RunState.FAILED, parent="20260101-000000-bbbb")
    running = _run(tmp_path, "20260101-000000-cccc", RunState.RUNNING)
    record_history(shard, RunRecord.load(shard))
    record_history(running, RunRecord.load(running))
    assert not (tmp_path / HISTORY_FILE).exists()


def _start(run_dir: Path, settings: Settings) -> None:
    """The run's start.json, as launch writes it: the starter's settings."""
    write_private(run_dir / START_FILE, json.dumps({"settings": settings.to_json(), "project": "p",
                                                    "request": {}}))


def test_the_history_file_is_the_starters_setting(tmp_path: Path) -> None:
    """A run started with history_file set is recorded there; a --shards parent's start.json
    names the file; without start.json (an artifact) it is beside the runs."""
    chosen = tmp_path / "elsewhere" / "h.jsonl"
    settings = load_settings(tmp_path, environ={"ENVCTL_LOG_DIR": str(tmp_path / "runs"),
                                                "ENVCTL_HISTORY_FILE": str(chosen)})
    run_dir = _run(tmp_path / "runs", "20260101-000000-abcd", RunState.FAILED)
    _start(run_dir, settings)
    assert history_file_of(run_dir) == chosen
    record_history(run_dir, RunRecord.load(run_dir))
    assert load(chosen).last_outcomes("tests/test_a.py::test_bad") == "f"
    assert not (tmp_path / "runs" / HISTORY_FILE).exists()
    parent = _run(tmp_path / "runs", "20260101-000000-bbbb", RunState.FAILED)
    write_private(parent / START_FILE, json.dumps({"durations_file": "d.json", "history_file": "/x/h.jsonl"}))
    assert history_file_of(parent) == Path("/x/h.jsonl")
    bare = _run(tmp_path / "runs", "20260101-000000-cccc", RunState.FAILED)
    assert history_file_of(bare) == tmp_path / "runs" / HISTORY_FILE
    (bare / START_FILE).write_text('{"settings": {"project_dir": 3}}')
    assert history_file_of(bare) == tmp_path / "runs" / HISTORY_FILE


def test_a_runs_verdict_compares_with_the_last_run_of_its_command(tmp_path: Path) -> None:
    """The run's failures against the run recorded before it, recorded or not yet."""
    older = _run(tmp_path, "20251231-000000-aaaa", RunState.PASSED)
    (older / "junit.xml").write_text(JUNIT.replace('<failure message="boom">x</failure>', ""))
    record_history(older, RunRecord.load(older))
    run_dir = _run(tmp_path, "20260101-000000-abcd", RunState.FAILED)
    record = RunRecord.load(run_dir)
    current = [Outcome("tests/test_a.py::test_bad", "failed", 1.5)]
    before = run_verdict(run_dir, record, current)
    record_history(run_dir, record)
    assert run_verdict(run_dir, record, current) == before
    assert (before.previous, before.new, before.mark("tests/test_a.py::test_bad")) == (
        "20251231-000000-aaaa", ("tests/test_a.py::test_bad",), "new")


def _shard(root: Path, run_id: str, shard: str, junit: str, *, command: list[str],
           parent: str | None = None) -> Path:
    run_dir = root / run_id
    run_dir.mkdir(parents=True)
    (run_dir / "junit.xml").write_text(junit)
    lifecycle.save(run_dir, RunRecord(id=run_id, project="p", service="test", command=command,
                                      limits=Limits(1, 1.0, 1), state=RunState.FAILED, shard=shard,
                                      parent=parent, finished_at=100.0))
    return run_dir


def test_a_merge_of_shard_runs_is_recorded_once_and_judged(tmp_path: Path) -> None:
    """`report merge` of two shards' run directories (a CI matrix) records the merged suite in
    the history under one id however often it runs, and says what is new."""
    history = tmp_path / "history.jsonl"
    record(history, "earlier", command_key(["pytest", "-q"]), "c1",
           [Outcome("tests/test_a.py::test_bad", "passed", 1.0)])
    results = merging.merge([
        _shard(tmp_path / "a", "20260101-000000-aaaa", "1/2", JUNIT, command=["pytest", "-q"]),
        _shard(tmp_path / "b", "20260101-000000-bbbb", "2/2", OTHER_JUNIT, command=["pytest", "-q"])])
    inputs = [tmp_path / "a", tmp_path / "b"]
    found = merged_verdict(inputs, results, history, environ={"GITHUB_SHA": "c1"})
    again = merged_verdict(inputs, results, history, environ={"GITHUB_SHA": "c1"})
    assert found == again
    assert found is not None
    assert (found.previous, found.new, found.flaky) == ("earlier", ("tests/test_a.py::test_bad",),
                                                        ("tests/test_a.py::test_bad",))
    runs = load(history).runs
    assert [r.run_id for r in runs] == ["earlier", merged_run_id(["20260101-000000-aaaa",
                                                                  "20260101-000000-bbbb"])]
    assert (runs[1].code, runs[1].at) == ("c1", 100.0)
    assert load(history).last_outcomes("tests/test_b.py::test_c") == "-p"


def test_a_merge_records_nothing_its_parent_recorded_or_cannot_compare(tmp_path: Path) -> None:
    """Shards of a --shards parent (which recorded the suite) are judged, not recorded; bare
    JUnit files and shards of different commands have nothing to compare with."""
    history = tmp_path / "history.jsonl"
    children = [_shard(tmp_path / "p", f"20260101-000000-aaa{k}", f"{k}/2", JUNIT, command=["pytest"],
                       parent="20260101-000000-ffff") for k in (1, 2)]
    found = merged_verdict(children, merging.merge(children), history)
    assert found is not None and found.previous is None
    assert not history.exists()
    bare = tmp_path / "bare.xml"
    bare.write_text(JUNIT)
    assert merged_verdict([bare], merging.merge([bare]), history) is None
    mixed = [_shard(tmp_path / "m", "20260101-000000-ccc1", "1/2", JUNIT, command=["pytest"]),
             _shard(tmp_path / "m", "20260101-000000-ccc2", "2/2", OTHER_JUNIT, command=["pytest", "-x"])]
    assert merged_verdict(mixed, merging.merge(mixed), history) is None
    assert not history.exists()


def test_wait_recorded_waits_for_the_collector_within_its_deadline(tmp_path: Path) -> None:
    """The wait ends when the collector's lock is free, or at its deadline (a fake clock)."""
    now = [0.0]
    looks = iter([True, True, False])
    assert wait_recorded(tmp_path, 5.0, alive=lambda _d: next(looks), clock=lambda: now[0],
                         sleep=lambda s: now.__setitem__(0, now[0] + s)) is True
    assert now[0] == 0.2
    assert wait_recorded(tmp_path, 1.0, alive=lambda _d: True, clock=lambda: now[0],
                         sleep=lambda s: now.__setitem__(0, now[0] + s)) is False
    assert round(now[0], 1) == 1.2


def test_the_actions_entry_point(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`python -m envctl.runs.history RUN_DIR`: 0 once no collector holds the run; 2 for a usage error."""
    assert main([str(tmp_path)]) == 0
    assert main([]) == 2
    assert "usage: python -m envctl.runs.history RUN_DIR" in capsys.readouterr().err
