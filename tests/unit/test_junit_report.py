"""JUnit XML becomes results; the summary renders counts, failures and slowest tests."""

import csv
import io
import json
from pathlib import Path

from envctl.report.junit import REFUSED_DOCTYPE, nodeid_of, outcome_counts, read_junit
from envctl.report.summary import markdown, merged_render
from envctl.runs.state import Limits, RunRecord, RunState
from envctl.ui.report import render, summary_data
from tests.unit import pytest_numbers

JUNIT = """<?xml version="1.0" encoding="utf-8"?>
<testsuites><testsuite name="pytest" tests="4">
<testcase classname="tests.test_a" name="test_ok" time="0.5"/>
<testcase classname="tests.test_a.TestK" name="test_bad[1]" time="1.5">
  <failure message="assert 1 == 2">long text</failure></testcase>
<testcase classname="tests.test_b" name="test_skip" time="0.0"><skipped message="later"/></testcase>
<testcase classname="tests.test_b" name="test_err" time="0.1"><error message="fixture broke"/></testcase>
</testsuite></testsuites>
"""


def test_read_junit(tmp_path: Path) -> None:
    """Every case with its outcome, duration and message."""
    (tmp_path / "junit.xml").write_text(JUNIT)
    results = read_junit(tmp_path / "junit.xml")
    assert [c.outcome for c in results.cases] == ["passed", "failed", "skipped", "error"]
    assert results.failures[0].nodeid == "tests/test_a.py::TestK::test_bad[1]"
    assert results.failures[0].message == "assert 1 == 2"
    assert results.slowest(1)[0].duration == 1.5


def test_missing_or_broken_junit_is_empty(tmp_path: Path) -> None:
    """No file, or a truncated one, is not a crash."""
    assert read_junit(tmp_path / "none.xml").cases == []
    (tmp_path / "bad.xml").write_text("<testsuites><testcase name='x'")
    assert read_junit(tmp_path / "bad.xml").cases == []


def test_nodeid_of() -> None:
    """JUnit classnames map back to pytest node ids; a module's own case (skipped at collection)
    to its file."""
    assert nodeid_of("tests.test_a", "test_x", None) == "tests/test_a.py::test_x"
    assert nodeid_of("test_a.TestC", "test_x", None) == "test_a.py::TestC::test_x"
    assert nodeid_of("", "pkg.test_mod", "pkg/test_mod.py") == "pkg/test_mod.py"


def test_pytests_outcomes_are_read_apart(tmp_path: Path) -> None:
    """An xfail (<skipped type="pytest.xfail">) is xfailed, not skipped; envctl's xpassed mark is
    xpassed; a module skipped at collection is one skipped case, a collector's: pytest's numbers."""
    (tmp_path / "junit.xml").write_text(pytest_numbers.JUNIT)
    results = read_junit(tmp_path / "junit.xml")
    assert [(c.nodeid, c.outcome, c.collection) for c in results.cases] == [
        ("test_skipped_module.py", "skipped", True),
        *((f"test_main.py::{name}", outcome, False) for name, outcome in (
            ("test_pass_one", "passed"), ("test_pass_two", "passed"), ("test_fail", "failed"),
            ("test_skip_inside", "skipped"), ("test_xfail_one", "xfailed"), ("test_xfail_two", "xfailed"),
            ("test_xpass", "xpassed")))]
    assert results.counts() == pytest_numbers.NUMBERS


def test_a_failure_and_its_teardown_error_are_one_test() -> None:
    """Two cases of one test (pytest: "1 failed, 1 error"): both counted, the test once."""
    cases = [Case("t.py::a", "failed"), Case("t.py::a", "error"), Case("t.py::b", "passed")]
    assert outcome_counts(cases) == {"total": 2, "done": 2, "passed": 1, "failed": 1, "errors": 1,
                                     "skipped": 0, "xfailed": 0, "xpassed": 0}


class Case:
    def __init__(self, nodeid: str, outcome: str) -> None:
        self.nodeid, self.outcome = nodeid, outcome


def test_the_report_and_job_summary_give_pytests_numbers(tmp_path: Path) -> None:
    """`report` as markdown (the job summary too), JSON and CSV: pytest's numbers, the module
    skipped at collection among the skipped, xfails not counted again as skipped, the
    deselected test apart from the total."""
    run_dir = pytest_numbers.ended_run(tmp_path)
    record = RunRecord.load(run_dir)
    counts = json.loads(render(run_dir, record, "json"))["counts"]
    assert {key: counts[key] for key in pytest_numbers.NUMBERS} == pytest_numbers.NUMBERS
    assert counts["deselected"] == 1
    line = "2 passed, 1 failed, 0 errors, 2 skipped, 2 xfailed, 1 xpassed, 1 deselected of 8 in "
    assert line in render(run_dir, record, "md")
    assert line in markdown(summary_data(run_dir, record))  # the job summary
    rows = list(csv.DictReader(io.StringIO(render(run_dir, record, "csv"))))
    assert sorted(row["outcome"] for row in rows) == [
        "failed", "passed", "passed", "skipped", "skipped", "xfailed", "xfailed", "xpassed"]


def test_markdown_summary(tmp_path: Path) -> None:
    """The summary names the state, counts, failures with messages, slowest tests, limits."""
    (tmp_path / "junit.xml").write_text(JUNIT)
    record = RunRecord(id="20260101-000000-abcd", project="p", service="test", command=["pytest"],
                       limits=Limits(1 << 30, 2.0, 512), state=RunState.FAILED, pytest_exit=1,
                       started_at=10.0, finished_at=25.0)
    text = markdown(summary_data(tmp_path, record))
    assert "failed" in text
    assert "1 passed, 1 failed, 1 errors, 1 skipped of 4" in text
    assert "`tests/test_a.py::TestK::test_bad[1]` (failed): `assert 1 == 2`" in text
    assert "memory 1g, cpus 2, pids 512" in text


def test_hostile_junit_is_read_as_far_as_it_makes_sense(tmp_path: Path) -> None:
    """Bad times and lines, control characters and non-finite numbers: no exception, clean ids."""
    (tmp_path / "j.xml").write_text(
        '<testsuite>'
        '<testcase classname="t" name="a" time="x" line="\u00b2"/>'
        f'<testcase classname="t" name="b" time="nan" line="{"9" * 5000}"/>'
        '<testcase classname="t" name="c&#10;::error::x" time="inf"><failure message="m"/></testcase>'
        '<testcase classname="t" name="d" time="1.5" line="41"/>'
        '</testsuite>')
    cases = read_junit(tmp_path / "j.xml").cases
    assert [(c.nodeid, c.duration, c.line) for c in cases] == [
        ("t::a", 0.0, None), ("t::b", 0.0, None), ("t::c?::error::x", 0.0, None), ("t::d", 1.5, 42)]


def test_junit_reading_stops_at_its_cap(tmp_path: Path) -> None:
    """Past the byte cap nothing more is read (a report that never ends costs bounded memory)."""
    body = "".join(f'<testcase classname="t" name="n{i}"/>' for i in range(2000))
    (tmp_path / "j.xml").write_text(f"<testsuite>{body}</testsuite>")
    assert 0 < len(read_junit(tmp_path / "j.xml", cap=4096).cases) < 2000


def test_a_run_stopped_early_says_how_far_it_got() -> None:
    """14 of 60 collected tests ran before the job was cancelled: the summary says 46 did not;
    xfailed and xpassed tests ran."""
    data = {"run": "r", "state": "cancelled", "exit_code": 22, "message": "", "duration": 5.0,
            "counts": {"total": 60, "passed": 14, "failed": 0, "errors": 0, "skipped": 0},
            "limits": {"memory": 1 << 30, "cpus": 1.0, "pids": 10}, "failures": [], "slowest": [],
            "log": "output.log", "junit": None}
    assert "0 skipped of 60 (46 not run: stopped at 14 of 60)" in markdown(data)
    data["counts"] = {"total": 20, "passed": 14, "failed": 0, "errors": 0, "skipped": 0, "xfailed": 5,
                      "xpassed": 1}
    assert "0 skipped, 5 xfailed, 1 xpassed of 20 in 5.0s (exit code 22)" in markdown(data)


def test_a_doctype_is_refused_before_any_entity_expands(tmp_path: Path) -> None:
    """A report that declares a DOCTYPE (entities: "billion laughs") is refused, read or not."""
    entity = '<!ENTITY a "' + "x" * 90 + '">'
    cases = '<testcase classname="c" name="t"><failure message="&a;&a;">&a;&a;&a;</failure></testcase>'
    body = f"<testsuites><testsuite>{cases * 100}</testsuite></testsuites>"
    bomb = f'<?xml version="1.0"?>\n<!DOCTYPE t [{entity}]>{body}'
    (tmp_path / "junit.xml").write_text(bomb)
    results = read_junit(tmp_path / "junit.xml")
    assert (results.cases, results.problem) == ([], REFUSED_DOCTYPE)


def test_a_doctype_split_across_chunks_is_seen(tmp_path: Path) -> None:
    """The DOCTYPE scan looks across the boundary of two reads (1 MiB each)."""
    head = '<?xml version="1.0"?>' + "<!-- " + "p" * ((1 << 20) - 30) + " -->"
    (tmp_path / "junit.xml").write_text(head + "<!DOCTYPE t []><testsuites/>")
    assert read_junit(tmp_path / "junit.xml").problem == REFUSED_DOCTYPE


def test_an_encoding_that_hides_a_doctype_is_refused(tmp_path: Path) -> None:
    """UTF-16 (where "<!DOCTYPE" is other bytes) and non-ASCII declared encodings are refused."""
    (tmp_path / "u16.xml").write_bytes(JUNIT.replace("utf-8", "utf-16").encode("utf-16"))
    assert read_junit(tmp_path / "u16.xml").problem == (
        "refused: the report is UTF-16 or UTF-32, which pytest never writes")
    (tmp_path / "ebcdic.xml").write_text(JUNIT.replace("utf-8", "cp037"))
    assert read_junit(tmp_path / "ebcdic.xml").problem == (
        "refused: the report's encoding is cp037, not UTF-8")
    (tmp_path / "latin.xml").write_text(JUNIT.replace("utf-8", "ISO-8859-1"))
    assert len(read_junit(tmp_path / "latin.xml").cases) == 4


def test_container_strings_are_fenced_in_markdown(tmp_path: Path) -> None:
    """A failure message holding a link, an image or HTML stays inert text in the summary."""
    hostile = '<img src=x onerror=alert(1)> [click](https://evil.example) ![i](https://e.x/i.png)'
    escaped = hostile.replace("<", "&lt;").replace(">", "&gt;")
    junit = JUNIT.replace('message="assert 1 == 2"', f'message="{escaped}"')
    (tmp_path / "junit.xml").write_text(junit)
    text = merged_render(read_junit(tmp_path / "junit.xml"), "md", 1)
    assert f"- `tests/test_a.py::TestK::test_bad[1]` (failed): `{hostile}`" in text
