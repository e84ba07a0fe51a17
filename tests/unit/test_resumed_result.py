"""A resumed run's one result: the first run's finished tests joined to its own, written in run
directories made here (no container, no collector)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from envctl.report.junit import read_junit
from envctl.report.junit_stream import CaseStream
from envctl.report.resumed import case_run
from envctl.runs import lifecycle
from envctl.runs.exchange import EVENTS_FILE, JUNIT_FILE, create_dirs
from envctl.runs.remainder import read_seen, remainder_of
from envctl.runs.resumed_result import FIRST_DIR, FIRST_JUNIT, RESUME_FILE, join, prepare
from envctl.runs.state import Counts, Limits, RunRecord

FIRST, SECOND, THIRD = "20260101-000000-abcd", "20260101-000001-abce", "20260101-000002-abcf"
IDS = [f"t.py::test_{n}" for n in range(1, 6)]


def junit(*cases: tuple[str, str]) -> str:
    """A report as the plugin writes one (xunit1): (name, outcome) each."""
    body = ""
    for name, outcome in cases:
        inner = {"failed": '<failure message="boom">Traceback\nboom</failure>',
                 "skipped": '<skipped type="pytest.skip" message="later" />'}.get(outcome, "")
        body += f'<testcase classname="t" name="{name}" file="t.py" time="0.5">{inner}</testcase>'
    return (f'<?xml version="1.0" encoding="utf-8"?><testsuites><testsuite name="pytest">{body}</testsuite>'
            "</testsuites>")


def events(collected: list[str], results: list[tuple[str, str]], running: list[str] = ()) -> str:  # type: ignore[assignment]  # an empty tuple
    lines: list[dict[str, object]] = [{"kind": "session", "path": "/src"},
                                      {"kind": "collected", "total": len(collected)},
                                      {"kind": "tests", "ids": collected}]
    for nodeid, outcome in results:
        lines += [{"kind": "start", "nodeid": nodeid},
                  {"kind": "result", "nodeid": nodeid, "outcome": outcome, "when": "call", "duration": 0.5,
                   **({"message": "boom\x00!", "tail": ["E   boom"]} if outcome == "failed" else {})}]
    lines += [{"kind": "start", "nodeid": nodeid} for nodeid in running]
    return "".join(json.dumps({"t": 1.0, **line}) + "\n" for line in lines)


def a_run(root: Path, run_id: str, *, resumes: str | None = None, report: str | None = None,
          stream: str | None = None) -> Path:
    run_dir = root / run_id
    run_dir.mkdir(parents=True)
    create_dirs(run_dir)
    lifecycle.create(run_dir, RunRecord(id=run_id, project="p", service="test", command=["pytest"],
                                        limits=Limits(1 << 30, 1.0, 100), resumes=resumes))
    if report is not None:
        (run_dir / JUNIT_FILE).write_text(report)
    if stream is not None:
        (run_dir / EVENTS_FILE).write_text(stream)
    return run_dir


def resumed(root: Path, first: Path, run_id: str, report: str | None, stream: str) -> Path:
    """A resume of ``first``: prepared at its start, then its own part's results."""
    run_dir = a_run(root, run_id, resumes=first.name)
    prepare(run_dir, first, RunRecord.load(first))
    if report is not None:
        (run_dir / JUNIT_FILE).write_text(report)
    (run_dir / EVENTS_FILE).write_text(stream)
    return run_dir


def timed_out_first(root: Path) -> Path:
    """5 tests: 1 passed, 2 failed, 3 was running when the timeout interrupted it (pytest's
    report writes it as passed), 4 and 5 never started."""
    return a_run(root, FIRST, report=junit(("test_1", "passed"), ("test_2", "failed"), ("test_3", "passed")),
                 stream=events(IDS, [(IDS[0], "passed"), (IDS[1], "failed")], running=[IDS[2]]))


def runs_of(path: Path) -> list[tuple[str, str | None]]:
    with path.open("rb") as handle:
        return [(element.get("name", ""), case_run(element, lambda _run: True))
                for element in CaseStream(handle)]


def test_the_joined_report_is_the_whole_suite_each_case_with_its_run(tmp_path: Path) -> None:
    """The first run's finished tests (not the one its interrupt cut short), then the resume's;
    pytest's counts over all; the first part's failures counted apart."""
    first = timed_out_first(tmp_path)
    run_dir = resumed(tmp_path, first, SECOND,
                      junit(("test_3", "passed"), ("test_4", "passed"), ("test_5", "skipped")),
                      events(IDS[2:], [(IDS[2], "passed"), (IDS[3], "passed"), (IDS[4], "skipped")]))
    joined = join(run_dir, RunRecord.load(run_dir))
    assert joined.counts == Counts(total=5, done=5, passed=3, failed=1, skipped=1)
    assert (joined.earlier_tests, joined.earlier_failures) == (2, 1)
    assert runs_of(run_dir / JUNIT_FILE) == [("test_1", FIRST), ("test_2", FIRST), ("test_3", SECOND),
                                             ("test_4", SECOND), ("test_5", SECOND)]
    results = read_junit(run_dir / JUNIT_FILE)
    assert results.properties["envctl.resumes"] == FIRST
    assert [c.message for c in results.failures] == ["boom"]


def test_the_joined_events_keep_both_parts_behind_their_run(tmp_path: Path) -> None:
    """A `resumed` line with the token, then each part behind a `part` line naming its run."""
    first = timed_out_first(tmp_path)
    run_dir = resumed(tmp_path, first, SECOND, None, events(IDS[2:], [(IDS[2], "passed")]))
    join(run_dir, RunRecord.load(run_dir))
    lines = [json.loads(line) for line in (run_dir / EVENTS_FILE).read_text().splitlines()]
    token = json.loads((run_dir / RESUME_FILE).read_text())["token"]
    assert lines[0] == {"kind": "resumed", "run": SECOND, "resumes": FIRST, "token": token}
    parts = [(i, line["run"]) for i, line in enumerate(lines) if line["kind"] == "part"]
    assert parts == [(1, FIRST), (10, SECOND)]  # the first run's 8 lines between
    assert sum(1 for line in lines if line["kind"] == "result") == 3


def test_joining_again_changes_nothing(tmp_path: Path) -> None:
    """A collector that took over joins again: the report and events carry the token, and stay."""
    first = timed_out_first(tmp_path)
    run_dir = resumed(tmp_path, first, SECOND, junit(("test_3", "failed")),
                      events(IDS[2:], [(IDS[2], "failed")]))
    once = join(run_dir, RunRecord.load(run_dir))
    report, stream = (run_dir / JUNIT_FILE).read_bytes(), (run_dir / EVENTS_FILE).read_bytes()
    again = join(run_dir, RunRecord.load(run_dir))
    assert (again, (run_dir / JUNIT_FILE).read_bytes(), (run_dir / EVENTS_FILE).read_bytes()) == \
        (once, report, stream)
    assert again.counts == Counts(total=3, done=3, passed=1, failed=2)


def test_a_killed_first_run_without_a_report_gives_its_results_from_events(tmp_path: Path) -> None:
    """pytest killed (OOM): no JUnit, only events; the finished tests come from their result
    events, the container's text made safe for XML."""
    first = a_run(tmp_path, FIRST, stream=events(IDS[:3], [(IDS[0], "passed"), (IDS[1], "failed")]))
    run_dir = resumed(tmp_path, first, SECOND, junit(("test_3", "passed")),
                      events(IDS[2:3], [(IDS[2], "passed")]))
    joined = join(run_dir, RunRecord.load(run_dir))
    assert joined.counts == Counts(total=3, done=3, passed=2, failed=1)
    results = read_junit(run_dir / JUNIT_FILE)
    assert [(c.nodeid, c.outcome, c.message) for c in results.cases] == [
        (IDS[0], "passed", ""), (IDS[1], "failed", "boom?!"), (IDS[2], "passed", "")]
    assert results.failures[0].tail == ("E   boom",)


def test_a_resume_of_a_resume_keeps_each_case_with_the_run_it_came_from(tmp_path: Path) -> None:
    """The second part cut short too: its own remainder is resumed, and the third's report names
    all three runs."""
    first = timed_out_first(tmp_path)
    second = resumed(tmp_path, first, SECOND, junit(("test_3", "passed"), ("test_4", "passed")),
                     events(IDS[2:], [(IDS[2], "passed")], running=[IDS[3]]))
    join(second, RunRecord.load(second))
    assert remainder_of(read_seen(second)).nodeids == (IDS[3], IDS[4])
    third = resumed(tmp_path, second, THIRD, junit(("test_4", "passed"), ("test_5", "passed")),
                    events(IDS[3:], [(IDS[3], "passed"), (IDS[4], "passed")]))
    joined = join(third, RunRecord.load(third))
    assert runs_of(third / JUNIT_FILE) == [("test_1", FIRST), ("test_2", FIRST), ("test_3", SECOND),
                                           ("test_4", THIRD), ("test_5", THIRD)]
    assert (joined.counts.total, joined.counts.failed, joined.earlier_tests) == (5, 1, 3)
    assert remainder_of(read_seen(third)).nodeids == ()


def test_a_containers_own_run_marks_are_not_taken(tmp_path: Path) -> None:
    """A first run that was no resume: its report came from its container, whose envctl.run
    properties are ignored (its cases are the first run's)."""
    forged = junit(("test_1", "passed")).replace(
        'time="0.5">', f'time="0.5"><properties><property name="envctl.run" value="{THIRD}" /></properties>')
    first = a_run(tmp_path, FIRST, report=forged, stream=events(IDS[:2], [(IDS[0], "passed")]))
    run_dir = resumed(tmp_path, first, SECOND, junit(("test_2", "passed")),
                      events(IDS[1:2], [(IDS[1], "passed")]))
    join(run_dir, RunRecord.load(run_dir))
    assert runs_of(run_dir / JUNIT_FILE) == [("test_1", FIRST), ("test_2", SECOND)]


def test_the_first_runs_results_are_copied_at_the_start(tmp_path: Path) -> None:
    """prepare: the first run's report and events in resumed-from/ (not named junit.xml, which
    `report merge DIR` would read), resume.json with the run and a token."""
    first = timed_out_first(tmp_path)
    run_dir = a_run(tmp_path, SECOND, resumes=FIRST)
    prepare(run_dir, first, RunRecord.load(first))
    assert sorted(p.name for p in (run_dir / FIRST_DIR).iterdir()) == [EVENTS_FILE, FIRST_JUNIT]
    assert (run_dir / FIRST_DIR / EVENTS_FILE).read_bytes() == (first / EVENTS_FILE).read_bytes()
    data = json.loads((run_dir / RESUME_FILE).read_text())
    assert (data["resumes"], data["first_resumed"], len(data["token"])) == (FIRST, False, 32)


def test_a_damaged_resume_file_is_an_error_the_lifecycle_reports(tmp_path: Path) -> None:
    """resume.json unreadable: ValueError (the run still ends, saying why)."""
    first = timed_out_first(tmp_path)
    run_dir = resumed(tmp_path, first, SECOND, None, events(IDS[2:], []))
    (run_dir / RESUME_FILE).write_text("[]")
    with pytest.raises(ValueError, match="damaged"):
        join(run_dir, RunRecord.load(run_dir))
