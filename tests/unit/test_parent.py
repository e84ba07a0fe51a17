"""A --shards parent's end in the collector: after every shard, once; shards with no collector
collected meanwhile; cleaned once their projects are gone (fake clock, no engine); the shards'
reports merged as streams, as reading each whole would merge them."""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Callable
from pathlib import Path

import pytest

from envctl.errors import EngineUnavailableError
from envctl.report import junit
from envctl.report import merge as merging
from envctl.report.junit import read_junit
from envctl.runs import lifecycle, parent, reachable, shards
from envctl.runs.outcome import EndFacts
from envctl.runs.retry_infra import start_settings
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


def test_the_parents_end_step_runs_once_recorded_before_it_is_cleaned(tmp_path: Path,
                                                                     clock: FakeClock) -> None:
    """The on_finish hook's step, then the history, see the ended parent not yet cleaned (a
    collector killed before them leaves a parent `wait` takes over)."""
    parent_dir = _run(tmp_path, PARENT, state=RunState.RUNNING, children=[S1])
    _end(_run(tmp_path, S1, shard="1/1"))
    seen: list[tuple[str, RunState, bool]] = []

    def step(name: str) -> Callable[[Path], None]:
        def record(path: Path) -> None:
            now = RunRecord.load(path)
            seen.append((name, now.state, now.cleaned))
        return record

    parent.collect_parent(parent_dir, None, lambda _run_dir: None, step("history"), step("hook"))
    assert seen == [("hook", RunState.PASSED, False), ("history", RunState.PASSED, False)]


def test_shards_not_cleaned_in_time_leave_the_parent_uncleaned(tmp_path: Path, clock: FakeClock) -> None:
    """Every shard ended but one's project is not gone by CLEANUP_WAIT: ended, not cleaned."""
    parent_dir = _run(tmp_path, PARENT, state=RunState.RUNNING, children=[S1])
    _end(_run(tmp_path, S1, shard="1/1"), cleaned=False)
    record = parent.collect_parent(parent_dir, None, lambda _run_dir: None)
    assert record is not None
    assert (record.state, record.cleaned) == (RunState.PASSED, False)
    assert clock.now == parent.CLEANUP_WAIT + parent.PARENT_POLL  # the first look past the wait


E2 = "unix:///run/e2/docker.sock"


def test_a_shard_whose_engine_stops_answering_ends_infra_error_naming_it(
        tmp_path: Path, clock: FakeClock, monkeypatch: pytest.MonkeyPatch) -> None:
    """A shard on one of several engines whose engine does not answer for ENGINE_LOSS_GRACE:
    infra-error naming the engine, the parent no better; its leftovers on that engine, which
    cannot be removed now, do not hold the parent (the shard here is cleaned, the parent is not)."""
    parent_dir = _run(tmp_path, PARENT, state=RunState.RUNNING, children=[S1, S2])
    _end(_run(tmp_path, S1, shard="1/2"))
    _run(tmp_path, S2, shard="2/2", state=RunState.RUNNING, engine=E2, engine_name="e2")
    monkeypatch.setattr(reachable, "answers", lambda host: host != E2)

    def collect(run_dir: Path) -> None:
        raise EngineUnavailableError(f"connecting to Docker: the Docker engine at {E2} does not answer")

    record = parent.collect_parent(parent_dir, None, collect)
    assert record is not None
    assert (record.state, record.cleaned) == (RunState.INFRA_ERROR, False)
    assert record.message.startswith(
        f"shard 2/2 on engine e2: infra-error its engine e2 stopped answering for 30s (connecting to "
        f"Docker: the Docker engine at {E2} does not answer)")
    assert clock.now == parent.ENGINE_LOSS_GRACE + 2 * parent.PARENT_POLL  # ended at the grace, not held


def test_the_grace_is_the_starters_setting(tmp_path: Path, clock: FakeClock,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    """engine_loss_grace = 5s, as the parent's start.json keeps it: the shard ends after 5 s and
    says so; a start.json without it, or a damaged value, gives the default 30 s."""
    parent_dir = _run(tmp_path, PARENT, state=RunState.RUNNING, children=[S1])
    (parent_dir / START_FILE).write_text(json.dumps(start_settings(False, None, 5.0)))
    _run(tmp_path, S1, shard="1/1", state=RunState.RUNNING, engine=E2, engine_name="e2")
    monkeypatch.setattr(reachable, "answers", lambda host: host != E2)

    def collect(run_dir: Path) -> None:
        raise EngineUnavailableError("gone")

    record = parent.collect_parent(parent_dir, None, collect)
    assert record is not None
    assert "its engine e2 stopped answering for 5.0s (gone)" in record.message
    assert clock.now == 5.0 + 2 * parent.PARENT_POLL
    for text in ("{}", '{"engine_loss_grace": -1}', '{"engine_loss_grace": true}', "[]", "not json"):
        (parent_dir / START_FILE).write_text(text)
        assert parent.engine_loss_grace(parent_dir) == parent.ENGINE_LOSS_GRACE


def test_a_shard_on_the_one_engine_waits_for_it_to_come_back(tmp_path: Path, clock: FakeClock) -> None:
    """With one engine (no engine named), a lost engine is no end: a later `wait` takes over."""
    parent_dir = _run(tmp_path, PARENT, state=RunState.RUNNING, children=[S1])
    _run(tmp_path, S1, shard="1/1", state=RunState.RUNNING)

    def collect(run_dir: Path) -> None:
        raise EngineUnavailableError("the Docker engine does not answer")

    with pytest.raises(EngineUnavailableError):
        parent.collect_parent(parent_dir, None, collect)
    assert RunRecord.load(parent_dir / ".." / S1).state is RunState.RUNNING


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


SPLIT = ('<properties><property name="envctl.shard" value="{k}/2"/><property name="envctl.split.durations" '
         'value="{durations}"/><property name="envctl.split.tests" value="t1"/>'
         '<property name="envctl.shard.tests" value="{tests}"/></properties>')


def _split(k: int, tests: int, durations: str = "d1") -> str:
    """The properties the plugin writes into shard k/2's report."""
    return SPLIT.format(k=k, tests=tests, durations=durations)


def _shards(root: Path, *reports: str | None, durations: Path | None = None,
            exits: tuple[int, ...] = (0, 0), counts: tuple[Counts, ...] | None = None,
            ) -> tuple[Path, list[RunRecord]]:
    """Ended shards with these JUnit reports (None: none), pytest exits and counts, and their
    parent."""
    children = []
    for k, (run_id, report) in enumerate(zip((S1, S2), reports, strict=False), 1):
        run_dir = _run(root, run_id, shard=f"{k}/{len(reports)}",
                       counts=counts[k - 1] if counts else Counts(total=2, done=2, passed=2, flaky=1))
        if report is not None:
            (run_dir / "junit.xml").write_text(f"<testsuites><testsuite>{report}</testsuite></testsuites>")
        children.append(lifecycle.finish(run_dir, EndFacts(exit_code=exits[k - 1])))
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
    assert record.message == "a shard's JUnit report holds failures its pytest did not report"
    assert record.counts == Counts(total=4, done=4, passed=1, failed=1, skipped=1, xfailed=1, flaky=2)
    cases = read_junit(parent_dir / "junit.xml", keep_text=True).cases
    assert [(c.nodeid, c.outcome) for c in cases] == [
        ("t/test_gone.py", "skipped"), ("t/test_a.py::test_a", "passed"), ("t/test_a.py::test_x", "xfailed"),
        ("t/test_a.py::test_b", "failed")]
    assert (cases[3].body, cases[3].system_out) == ("Traceback", "said")
    assert json.loads(durations.read_text()) == {"t/test_a.py::test_a": 0.5, "t/test_a.py::test_x": 0.2,
                                                 "t/test_a.py::test_b": 1.5}


def test_finalize_fails_the_parent_with_its_worst_shard(tmp_path: Path) -> None:
    """One shard's pytest exited 1: the parent failed with it, the JUnit and durations merged."""
    durations = tmp_path / "durations.json"
    parent_dir, children = _shards(tmp_path / "runs", PLAIN.format("a"), FAILED.format("b"),
                                   durations=durations, exits=(0, 1))
    record = parent.finalize(parent_dir, children)
    assert (record.state, record.exit_code, record.message) == \
        (RunState.FAILED, 1, "pytest exited 1 in shard 2/2")
    assert (record.counts.total, record.counts.passed, record.counts.failed) == (2, 1, 1)
    assert [c.nodeid for c in read_junit(parent_dir / "junit.xml").cases] == ["t/test_a.py::test_a",
                                                                             "t/test_a.py::test_b"]
    assert json.loads(durations.read_text()) == {"t/test_a.py::test_a": 0.5, "t/test_a.py::test_b": 1.5}


def test_finalize_waits_for_every_shard(tmp_path: Path) -> None:
    """A shard still running: the parent's record is left as it is, nothing merged."""
    parent_dir, children = _shards(tmp_path / "runs", PLAIN.format("a"), PLAIN.format("b"))
    running = dataclasses.replace(children[1], state=RunState.RUNNING)
    assert parent.finalize(parent_dir, [children[0], running]).state is RunState.RUNNING
    assert not (parent_dir / "junit.xml").exists()


def test_finalize_without_reports_adds_the_shards_counts(tmp_path: Path) -> None:
    """No shard left a report: no merged JUnit, the shards' own counts added up."""
    parent_dir, children = _shards(tmp_path / "runs", None, None)
    record = parent.finalize(parent_dir, children)
    assert (record.state, record.counts.total, record.counts.passed) == (RunState.PASSED, 4, 4)
    assert not (parent_dir / "junit.xml").exists()


def test_finalize_without_reports_counts_a_module_every_shard_skipped_once(tmp_path: Path) -> None:
    """No report, but each shard's events say it skipped the same module at collection: one
    skipped in the parent's counts, as pytest counts the whole run."""
    counts = (Counts(total=2, done=2, passed=1, skipped=1), Counts(total=3, done=3, passed=2, skipped=1))
    parent_dir, children = _shards(tmp_path / "runs", None, None, counts=counts)
    for child in children:
        (parent_dir.parent / child.id / "events.jsonl").write_text("".join(json.dumps(e) + "\n" for e in (
            {"kind": "result", "nodeid": "t/test_gone.py", "outcome": "skipped", "when": "collect"},
            {"kind": "collected", "total": 1})))
    record = parent.finalize(parent_dir, children)
    assert record.counts == Counts(total=4, done=4, passed=3, skipped=1)


def test_a_parent_gives_pytests_numbers(tmp_path: Path) -> None:
    """Two shards that each skipped a module at collection, with an xfail, an xpass and a
    runtime skip: the parent's counts are pytest's for the whole run (the module once, the xfail
    not again among the skipped), and its status once ended says the same."""
    root = tmp_path / "runs"
    parent_dir, children = _shards(root, GONE + PLAIN.format("a") + XFAILED.format("b"),
                                   GONE + XPASSED.format("c") + SKIPPED.format("d"))
    record = parent.finalize(parent_dir, children)
    assert (record.state, record.exit_code) == (RunState.PASSED, 0)
    assert record.counts == Counts(total=5, done=5, passed=1, failed=0, skipped=2, errors=0, xfailed=1,
                                   xpassed=1, flaky=2)
    assert shards.combined_progress(record, root)[0].counts == record.counts


def test_a_module_skipped_at_collection_in_every_shard_is_one_case_and_no_problem(tmp_path: Path) -> None:
    """Shards of one split, each reporting the module it skipped at collection: kept once,
    silently (no duplicate, no shard short of its tests), and the parent passes."""
    parent_dir, children = _shards(tmp_path / "runs", _split(1, 1) + GONE + PLAIN.format("a"),
                                   _split(2, 1) + GONE + PLAIN.format("b"))
    record = parent.finalize(parent_dir, children)
    assert (record.state, record.exit_code, record.message) == (RunState.PASSED, 0, "every shard passed")
    assert [c.nodeid for c in read_junit(parent_dir / "junit.xml").cases] == [
        "t/test_gone.py", "t/test_a.py::test_a", "t/test_a.py::test_b"]
    assert (record.counts.total, record.counts.skipped) == (3, 1)


def test_shards_that_split_on_different_durations_never_pass(tmp_path: Path) -> None:
    """Both shards passed, but they split on different durations (a test may have run twice or
    not at all): the parent fails, and its message says why."""
    parent_dir, children = _shards(tmp_path / "runs", _split(1, 1) + PLAIN.format("a"),
                                   _split(2, 1, durations="d2") + PLAIN.format("b"))
    record = parent.finalize(parent_dir, children)
    assert (record.state, record.exit_code) == (RunState.FAILED, 1)
    assert record.message == (
        "every shard passed, but the shards' reports: the shards split on different durations "
        "(envctl.split.durations: d1 in 1/2; d2 in 2/2): a test may have run in two shards or in none")


def test_a_test_two_shards_ran_is_never_a_pass(tmp_path: Path) -> None:
    """Both shards passed, but one test is in both reports: counted once, the merge's problem is
    the parent's reason, and it does not pass."""
    parent_dir, children = _shards(tmp_path / "runs", PLAIN.format("a"),
                                   PLAIN.format("a") + PLAIN.format("b"))
    record = parent.finalize(parent_dir, children)
    assert (record.state, record.exit_code, record.counts.total) == (RunState.FAILED, 1, 2)
    assert record.message == ("every shard passed, but the shards' reports: 1 test(s) in more than one "
                              "shard's report, counted once: t/test_a.py::test_a (shard 1/2, shard 2/2)")


def test_every_report_refused_is_no_pass(tmp_path: Path) -> None:
    """No case could be read (both reports declare a DOCTYPE): no merged JUnit, and the parent
    fails with the refusals as its reason, as report merge exits 1."""
    refused = '<!DOCTYPE x [<!ENTITY a "b">]><testsuites/>'
    parent_dir, children = _shards(tmp_path / "runs", "", "")
    for child in children:
        (parent_dir.parent / child.id / "junit.xml").write_text(refused)
    record = parent.finalize(parent_dir, children)
    assert (record.state, record.exit_code) == (RunState.FAILED, 1)
    assert record.message == ("every shard passed, but the shards' reports: "
                              f"shard 1/2: {junit.REFUSED_DOCTYPE}; shard 2/2: {junit.REFUSED_DOCTYPE}")
    assert not (parent_dir / "junit.xml").exists()


def test_the_parent_counts_the_tests_the_whole_run_deselected(tmp_path: Path) -> None:
    """-k left 8 of 10 tests, split 5 and 3: each shard counts the other's among its
    deselected; the parent counts the 2 the whole run deselected."""
    counts = (Counts(total=5, done=5, passed=5, deselected=5),
              Counts(total=3, done=3, passed=3, deselected=7))
    parent_dir, children = _shards(tmp_path / "runs", PLAIN.format("a"), PLAIN.format("b"), counts=counts)
    assert parent.finalize(parent_dir, children).counts.deselected == 2


@pytest.mark.parametrize("reports", [
    (PLAIN.format("a"), PLAIN.format("a") + PLAIN.format("b")),  # a test in two shards
    (GONE + FAILED.format("a"), GONE + XFAILED.format("b")),
    (GONE + PLAIN.format("a") + XFAILED.format("b"), GONE + XPASSED.format("c") + SKIPPED.format("d")),
    ("<testcase classname='t' name='test_cut'", PLAIN.format("b")),  # a report cut short
    (_split(1, 2) + GONE + PLAIN.format("a"), _split(2, 1) + GONE + PLAIN.format("b")),  # shard 1 short
    (_split(1, 1) + PLAIN.format("a"), _split(2, 1, "d2") + PLAIN.format("b")),  # split on other durations
])
def test_finalize_ends_the_parent_as_report_merge_does(tmp_path: Path, reports: tuple[str, str]) -> None:
    """The streamed end gives report merge's cases, durations, numbers and exit code for the
    shards' reports read whole (merge.combine), and its problem as the parent's reason."""
    durations = tmp_path / "durations.json"
    parent_dir, children = _shards(tmp_path / "runs", *reports, durations=durations)
    record = parent.finalize(parent_dir, children)
    combined = merging.combine([(f"shard {child.shard}",
                                 read_junit(parent_dir.parent / child.id / "junit.xml", keep_text=True))
                                for child in children])
    merging.write_junit(combined, tmp_path / "combined.xml")
    merging.write_durations(combined, tmp_path / "combined.json")
    assert record.exit_code == merging.exit_code(combined)
    assert record.counts == Counts(**combined.counts(), flaky=2)
    if combined.problem:
        assert record.message == f"every shard passed, but the shards' reports: {combined.problem}"
    assert [_facts(c) for c in read_junit(parent_dir / "junit.xml").cases] == \
        [_facts(c) for c in read_junit(tmp_path / "combined.xml").cases]
    assert json.loads(durations.read_text()) == json.loads((tmp_path / "combined.json").read_text())


def _facts(case: junit.TestCase) -> tuple[object, ...]:
    return case.nodeid, case.outcome, case.duration, case.message, case.file, case.line


def test_a_shard_whose_record_is_gone_makes_the_parent_lost(tmp_path: Path, clock: FakeClock) -> None:
    """A shard's folder removed (or its record damaged) mid-run: the parent ends lost, naming it,
    and nothing waits for it; children_of reads it lost too."""
    parent_dir = _run(tmp_path, PARENT, state=RunState.RUNNING, children=[S1, S2])
    _end(_run(tmp_path, S1, shard="1/2"))
    damaged = _run(tmp_path, S2, shard="2/2")
    (damaged / "run.json").write_text("{")
    ended = parent.collect_parent(parent_dir, None, lambda run_dir: None)
    assert ended is not None
    assert (ended.state, ended.cleaned) == (RunState.LOST, True)
    assert ended.message.startswith(f"shard {S2}: lost run {S2}: run.json is damaged (")
    (damaged / "run.json").unlink()
    assert [(child.id, child.state, child.message) for _dir, child in
            shards.children_of(RunRecord.load(parent_dir), tmp_path)] == [
        (S1, RunState.PASSED, "pytest exited 0"), (S2, RunState.LOST, "its record is gone")]
