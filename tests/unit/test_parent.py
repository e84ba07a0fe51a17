"""A --shards parent's end in the collector: after every shard, once; shards with no collector
collected meanwhile; cleaned once their projects are gone (fake clock, no engine); the shards'
reports merged as streams, as reading each whole would merge them."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from envctl.report import junit
from envctl.report.junit import read_junit
from envctl.runs import lifecycle, parent
from envctl.runs.outcome import EndFacts
from envctl.runs.state import Counts, Limits, RunRecord, RunState
from envctl.runs.store import START_FILE, take_collector_lock
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


GONE = ('<testcase classname="" name="t.test_gone" file="t/test_gone.py" time="0.0">'
        '<skipped message="collection skipped">no backend</skipped></testcase>')
PLAIN = '<testcase classname="t.test_a" name="test_{}" file="t/test_a.py" time="0.5" />'
FAILED = ('<testcase classname="t.test_a" name="test_{}" file="t/test_a.py" time="1.5">'
          '<failure message="no">Traceback</failure><system-out>said</system-out></testcase>')
XFAILED = ('<testcase classname="t.test_a" name="test_{}" file="t/test_a.py" time="0.2">'
           '<skipped type="pytest.xfail" message="known" /></testcase>')
XPASSED = ('<testcase classname="t.test_a" name="test_{}" file="t/test_a.py" time="0.2"><properties>'
           '<property name="envctl.outcome" value="xpassed" /></properties></testcase>')
SKIPPED = ('<testcase classname="t.test_a" name="test_{}" file="t/test_a.py" time="0.0">'
           '<skipped type="pytest.skip" message="later" /></testcase>')


def _shards(root: Path, *reports: str | None, durations: Path | None = None) -> tuple[Path, list[RunRecord]]:
    """Ended shards with these JUnit reports (None: none), and their parent."""
    children = []
    for k, (run_id, report) in enumerate(zip((S1, S2), reports, strict=False), 1):
        run_dir = _run(root, run_id, shard=f"{k}/{len(reports)}",
                       counts=Counts(total=2, done=2, passed=2, flaky=1))
        if report is not None:
            (run_dir / "junit.xml").write_text(f"<testsuites><testsuite>{report}</testsuite></testsuites>")
        children.append(lifecycle.finish(run_dir, EndFacts(exit_code=0)))
    parent_dir = _run(root, PARENT, state=RunState.RUNNING, children=[c.id for c in children])
    if durations is not None:
        (parent_dir / START_FILE).write_text(json.dumps({"durations_file": str(durations)}))
    return parent_dir, children


def test_finalize_merges_the_shards_reports_as_streams(tmp_path: Path) -> None:
    """One JUnit of all the shards' cases (their failure text and output kept), the durations
    for the next split, pytest's numbers (a module skipped in both shards once, the flaky count
    from the shards) and the parent failed by a failure its shards' pytest did not report."""
    durations = tmp_path / "durations.json"
    parent_dir, children = _shards(tmp_path / "runs", GONE + PLAIN.format("a") + XFAILED.format("x"),
                                   GONE + FAILED.format("b"), durations=durations)
    record = parent.finalize(parent_dir, children)
    assert (record.state, record.exit_code) == (RunState.FAILED, 1)
    assert record.counts == Counts(total=4, done=4, passed=1, failed=1, skipped=1, xfailed=1, flaky=2)
    cases = read_junit(parent_dir / "junit.xml", keep_text=True).cases
    assert [(c.nodeid, c.outcome) for c in cases] == [
        ("t/test_gone.py", "skipped"), ("t/test_a.py::test_a", "passed"), ("t/test_a.py::test_x", "xfailed"),
        ("t/test_a.py::test_b", "failed")]
    assert (cases[3].body, cases[3].system_out) == ("Traceback", "said")
    assert json.loads(durations.read_text()) == {"t/test_a.py::test_a": 0.5, "t/test_a.py::test_x": 0.2,
                                                 "t/test_a.py::test_b": 1.5}


def test_finalize_without_reports_adds_the_shards_counts(tmp_path: Path) -> None:
    """No shard left a report: no merged JUnit, the shards' own counts added up."""
    parent_dir, children = _shards(tmp_path / "runs", None, None)
    record = parent.finalize(parent_dir, children)
    assert (record.state, record.counts.total, record.counts.passed) == (RunState.PASSED, 4, 4)
    assert not (parent_dir / "junit.xml").exists()


@pytest.mark.parametrize("reports", [
    (PLAIN.format("a"), PLAIN.format("a") + PLAIN.format("b")),  # a test in two shards
    (GONE + FAILED.format("a"), GONE + XFAILED.format("b")),
    (GONE + PLAIN.format("a") + XFAILED.format("b"), GONE + XPASSED.format("c") + SKIPPED.format("d")),
    ("<testcase classname='t' name='test_cut'", PLAIN.format("b")),  # a report cut short
])
def test_finalize_ends_the_parent_as_the_shards_module_does(tmp_path: Path, reports: tuple[str, str]) -> None:
    """The streaming end gives the record, cases and durations that reading each shard's report
    whole (shards.finalize) gives; its report keeps the failures' text besides."""
    from envctl.runs import shards  # noqa: PLC0415  # the starter's module, as parent.py has it

    streamed, whole = (_shards(tmp_path / name, *reports, durations=tmp_path / f"{name}.json")
                       for name in ("streamed", "whole"))
    mine, theirs = parent.finalize(*streamed), shards.finalize(*whole)
    assert (mine.state, mine.exit_code, mine.message, mine.counts) == \
        (theirs.state, theirs.exit_code, theirs.message, theirs.counts)
    assert [_facts(c) for c in read_junit(streamed[0] / "junit.xml").cases] == \
        [_facts(c) for c in read_junit(whole[0] / "junit.xml").cases]
    assert json.loads((tmp_path / "streamed.json").read_text()) == \
        json.loads((tmp_path / "whole.json").read_text())


def _facts(case: junit.TestCase) -> tuple[object, ...]:
    return case.nodeid, case.outcome, case.duration, case.message, case.file, case.line
