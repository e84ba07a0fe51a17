"""`report --format junit` streams the run's JUnit report a chunk at a time: the same text as a
whole read, never the whole file in memory, never past the cap its copy has."""

from __future__ import annotations

import io
import tracemalloc
from pathlib import Path

import jsonschema
import pytest

from envctl.report.summary import markdown
from envctl.runs import exchange
from envctl.runs.state import Counts, Limits, RunRecord, RunState
from envctl.schemas import load as load_schema
from envctl.ui import report
from envctl.ui.report import JUNIT_CHUNK, render, stream_junit
from tests.unit.test_parent import _run

RECORD = RunRecord(id="20260101-000000-abcd", project="p", service="test", command=["pytest"],
                   limits=Limits(1, 1.0, 1), state=RunState.PASSED)


class Counted(io.StringIO):
    """stdout that keeps only how much was written to it."""

    def __init__(self) -> None:
        super().__init__()
        self.size = 0

    def write(self, text: str) -> int:
        self.size += len(text)
        return len(text)


@pytest.fixture
def run_dir(tmp_path: Path) -> Path:
    path = tmp_path / RECORD.id
    path.mkdir()
    exchange.create_dirs(path)
    return path


def test_the_report_is_written_as_read_with_a_character_split_between_chunks(
        run_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Chunks of 4 bytes cut the two-byte "é" and the four-byte emoji: the text comes out whole,
    a byte that is no UTF-8 replaced; render itself returns nothing."""
    monkeypatch.setattr(report, "JUNIT_CHUNK", 4)
    (run_dir / "junit.xml").write_bytes("<testsuites name='é😀'/>\n".encode() + b"\xff")
    out = io.StringIO()
    assert render(run_dir, RECORD, "junit", out) == ""
    assert out.getvalue() == "<testsuites name='é😀'/>\n\ufffd"


def test_a_multi_megabyte_report_is_never_held_whole(run_dir: Path) -> None:
    """24 MiB go out with memory near two chunks (the bytes read and their text)."""
    size = 24 << 20
    with (run_dir / "junit.xml").open("wb") as handle:
        for _ in range(size // (1 << 20)):
            handle.write(b"<testcase name='t'/>".ljust(1 << 20))
    out = Counted()
    tracemalloc.start()
    try:
        copied = stream_junit(run_dir, out)
        _now, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert (copied, out.size) == (size, size)
    assert peak < 3 * JUNIT_CHUNK


def test_the_live_report_of_a_run_still_going_stops_at_the_cap(run_dir: Path,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    """Before collection the container's own file is read: at most the cap its copy would have."""
    monkeypatch.setattr(report, "JUNIT_COPY_CAP", 10)
    (exchange.box(run_dir) / "junit.xml").write_text("<testsuites/>" * 100)
    out = io.StringIO()
    assert stream_junit(run_dir, out) == 10
    assert out.getvalue() == "<testsuite"


def test_no_report_writes_nothing(run_dir: Path) -> None:
    """No JUnit yet (or one refused, a link): nothing, and no error."""
    (exchange.box(run_dir) / "junit.xml").symlink_to("/etc/passwd")
    out = io.StringIO()
    assert (stream_junit(run_dir, out), out.getvalue()) == (0, "")


TEARDOWN = ('<testsuites><testsuite>'
            '<testcase classname="t" name="test_a" file="t.py" time="0.1"><failure message="no"/></testcase>'
            '<testcase classname="t" name="test_a" file="t.py" time="0.1">'
            '<error message="teardown"/></testcase>'
            '<testcase classname="t" name="test_b" file="t.py" time="0.1"/>'
            '</testsuite></testsuites>')


def test_a_failure_and_its_teardown_error_count_one_test_in_the_summary(run_dir: Path) -> None:
    """pytest's "1 failed, 1 passed, 1 error" of 2 tests: the summary's total is 2, not the 3
    cases; what the record alone knows (flaky, deselected) stays."""
    (run_dir / "junit.xml").write_text(TEARDOWN)
    record = RunRecord(id=RECORD.id, project="p", service="test", command=["pytest"],
                       limits=Limits(1, 1.0, 1), state=RunState.FAILED, pytest_exit=1,
                       counts=Counts(total=2, done=2, passed=1, failed=1, errors=1, flaky=1, deselected=4))
    assert report.summary_data(run_dir, record)["counts"] == {
        "total": 2, "done": 2, "passed": 1, "failed": 1, "errors": 1, "skipped": 0, "xfailed": 0,
        "xpassed": 0, "flaky": 1, "deselected": 4}


def test_a_run_cut_short_keeps_the_collected_total(run_dir: Path) -> None:
    """10 tests collected, 2 in the JUnit (the run timed out): 2 done of 10."""
    (run_dir / "junit.xml").write_text(TEARDOWN)
    record = RunRecord(id=RECORD.id, project="p", service="test", command=["pytest"],
                       limits=Limits(1, 1.0, 1), state=RunState.TIMED_OUT,
                       counts=Counts(total=10, done=3, passed=1, failed=1))
    counts = report.summary_data(run_dir, record)["counts"]
    assert (counts["total"], counts["done"]) == (10, 2)


def test_the_summary_carries_the_resources_and_the_memory_growth(run_dir: Path) -> None:
    """The sampled figures and the tests that grew memory, in the JSON report, valid under its
    schema; null and empty for a run never sampled."""
    import json  # noqa: PLC0415

    import jsonschema  # noqa: PLC0415

    from envctl.report.usage import Resources, Usage  # noqa: PLC0415
    from envctl.runs.resource_files import write_resources  # noqa: PLC0415
    from envctl.schemas import load  # noqa: PLC0415

    assert (report.summary_data(run_dir, RECORD)["resources"],
            report.summary_data(run_dir, RECORD)["memory_growth"]) == (None, [])
    write_resources(run_dir, Resources(at=1.0, test=Usage(memory=5, peak=9, limit=10)))
    (exchange.box(run_dir) / exchange.EVENTS_FILE).write_text(json.dumps(
        {"kind": "memory", "nodeid": "t.py::a", "before": 1, "after": 4, "peak": 50}) + "\n")
    data = json.loads(render(run_dir, RECORD, "json"))
    jsonschema.Draft202012Validator(load("report")).validate(data)
    assert data["resources"]["warnings"] == [
        "the test container's memory peaked at 9 B, 90% of its 10 B limit"]
    assert data["memory_growth"] == [{"test": "t.py::a", "grew": 9, "before": 1, "after": 4, "peak": 10}]


def test_a_parents_report_names_each_shards_engine_and_its_earlier_try(tmp_path: Path) -> None:
    """`report` of a --shards parent over two engines: each shard's engine, state and counts; the
    shard run again by --retry-infra says where it ran first and how that ended; the markdown
    table has an engine column; the JSON keeps to the schema."""
    ids = ["20260101-000000-aaa0", "20260101-000000-aaa1", "20260101-000000-aaa2", "20260101-000000-aaa3"]
    parent_dir = _run(tmp_path, ids[0], state=RunState.PASSED, pytest_exit=0, children=[ids[1], ids[3]],
                      retried=[ids[2]])
    _run(tmp_path, ids[1], shard="1/2", state=RunState.PASSED, engine="unix:///a.sock", engine_name="default",
         pytest_exit=0, counts=Counts(total=2, done=2, passed=2))
    _run(tmp_path, ids[2], shard="2/2", state=RunState.INFRA_ERROR, engine="unix:///b.sock", engine_name="e2",
         message="its engine e2 stopped answering")
    _run(tmp_path, ids[3], shard="2/2", state=RunState.PASSED, engine="unix:///a.sock", engine_name="default",
         pytest_exit=0, counts=Counts(total=1, done=1, passed=1))
    data = report.summary_data(parent_dir, RunRecord.load(parent_dir))
    assert data["engine"] is None
    rows = data["shards"]
    assert [(s["shard"], s["run"], s["engine"], s["state"], s["counts"]["passed"]) for s in rows] == [
        ("1/2", ids[1], "default", "passed", 2), ("2/2", ids[3], "default", "passed", 1)]
    assert data["shards"][0]["earlier"] == []
    assert data["shards"][1]["earlier"] == [{"run": ids[2], "engine": "e2", "state": "infra-error",
                                             "message": "its engine e2 stopped answering"}]
    jsonschema.validate(data, load_schema("report"))
    lines = markdown(data).splitlines()
    assert "| shard | run | engine | state | exit | results |" in lines
    assert (f"| 2/2 | `{ids[3]}` | `default` | passed | 0 | 1 passed, 0 failed, 0 errors, 0 skipped; "
            f"first ran as `{ids[2]}` on `e2`: infra-error |") in lines


def test_a_run_on_a_named_engine_says_it_and_has_no_shards(run_dir: Path) -> None:
    """A single run records its engine by name: the report says it, and lists no shards."""
    record = RunRecord(id=RECORD.id, project="p", service="test", command=["pytest"],
                       limits=Limits(1, 1.0, 1), state=RunState.PASSED,
                       engine="ssh://ci@build-1", engine_name="build-1")
    data = report.summary_data(run_dir, record)
    assert (data["engine"], data["shards"]) == ("build-1", [])
    text = markdown(data)
    assert "Engine: `build-1`\n" in text
    assert "### Shards" not in text
