"""A resumed run's joined JUnit report: each case with its run, pytest's counts, the suite's
properties, and what is read back from it."""

from __future__ import annotations

import io
import xml.etree.ElementTree as ET  # our own report, written by the test
from pathlib import Path

from envctl.report.junit import TestCase as Case
from envctl.report.junit import read_junit
from envctl.report.junit_stream import CaseStream
from envctl.report.resumed import (
    COMBINED_PROPERTY,
    RUN_PROPERTY,
    ResumedReport,
    case_run,
    head_properties,
    is_combined,
    xml_safe,
)

FIRST, SECOND = "20260101-000000-abcd", "20260101-000001-abce"


def written(tmp_path: Path) -> Path:
    path = tmp_path / "junit.xml"
    out = ResumedReport(path, {"envctl.shard": "1/2", COMBINED_PROPERTY: "tok"})
    out.part()
    out.add(Case("t.py::a", "passed", 0.5), FIRST)
    out.add(Case("t.py::b", "failed", 0.25, "boom", body="Traceback\nboom"), FIRST)
    earlier = out.part()
    assert out.holds("t.py::a", among=earlier) and not out.holds("t.py::c", among=earlier)
    out.add(Case("t.py::c", "xpassed", 1.0), SECOND)
    out.add(Case("t.py::d", "xfailed", 0.0, "why"), SECOND)
    assert out.counts() == {"total": 4, "done": 4, "passed": 1, "failed": 1, "errors": 0, "skipped": 0,
                            "xfailed": 1, "xpassed": 1}
    out.commit()
    return path


def test_every_reader_reads_the_joined_report_as_one_run(tmp_path: Path) -> None:
    """The cases of both parts, in order, with pytest's outcomes; the suite's counts in its tag."""
    path = written(tmp_path)
    results = read_junit(path)
    assert [(c.nodeid, c.outcome) for c in results.cases] == [
        ("t.py::a", "passed"), ("t.py::b", "failed"), ("t.py::c", "xpassed"), ("t.py::d", "xfailed")]
    assert results.properties == {"envctl.shard": "1/2", COMBINED_PROPERTY: "tok"}
    suite = ET.parse(path).getroot().find("testsuite")  # noqa: S314  # the report this test wrote
    assert suite is not None
    assert {k: suite.get(k) for k in ("tests", "failures", "errors", "skipped", "time")} == \
        {"tests": "4", "failures": "1", "errors": "0", "skipped": "1", "time": "1.750"}
    assert path.stat().st_mode & 0o777 == 0o600


def test_each_case_names_its_run(tmp_path: Path) -> None:
    """envctl.run on every case, in the one <properties> that also marks an xpassed test."""
    path = written(tmp_path)
    with path.open("rb") as handle:
        runs = [case_run(element, lambda run: True) for element in CaseStream(handle)]
    assert runs == [FIRST, FIRST, SECOND, SECOND]
    with path.open("rb") as handle:
        assert [case_run(element, lambda run: run != FIRST) for element in CaseStream(handle)] == \
            [None, None, SECOND, SECOND]
    assert path.read_text().count(f'<property name="{RUN_PROPERTY}" value="{SECOND}" />') == 2


def test_a_report_knows_its_joiners_token(tmp_path: Path) -> None:
    """Joined by this token: yes; another token, no report, a report without one: no."""
    path = written(tmp_path)
    assert is_combined(path.open("rb"), "tok") is True
    assert is_combined(path.open("rb"), "other") is False
    assert is_combined(None, "tok") is False
    assert head_properties(io.BytesIO(b"<testsuites><testsuite><testcase name='x'/></testsuite>"
                                      b"</testsuites>")) == {}


def test_a_discarded_report_leaves_nothing(tmp_path: Path) -> None:
    """A join that fails leaves the report as it was and no temporary file."""
    (tmp_path / "junit.xml").write_text("old")
    out = ResumedReport(tmp_path / "junit.xml", {})
    out.add(Case("t.py::a", "passed", 0.1), FIRST)
    out.discard()
    assert [p.name for p in tmp_path.iterdir()] == ["junit.xml"]
    assert (tmp_path / "junit.xml").read_text() == "old"


def test_text_xml_cannot_hold_becomes_a_question_mark() -> None:
    """Control characters and lone surrogates (from a container's events) are replaced."""
    assert xml_safe("a\x00b\ud800c\td\n") == "a?b?c\td\n"
