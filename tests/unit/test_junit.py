"""Reading JUnit XML from a source that is not a file: every read may be as short as one byte."""

from __future__ import annotations

import io

from envctl.report.junit import REFUSED_DOCTYPE, read_junit

JUNIT = b"""<?xml version="1.0" encoding="utf-8"?>
<testsuites><testsuite name="pytest" tests="2">
<testcase classname="tests.test_a" name="test_ok" time="0.5"/>
<testcase classname="tests.test_a" name="test_bad" time="1.5"><failure message="boom">x</failure></testcase>
</testsuite></testsuites>"""


class _Trickle(io.BytesIO):
    """A source that hands out one byte per read, as a pipe or a socket may."""

    def read(self, size: int | None = -1) -> bytes:
        return super().read(1)


def test_a_doctype_split_across_one_byte_reads_is_seen() -> None:
    """The DOCTYPE scan keeps a tail across reads: nine one-byte reads still spell it."""
    report = b'<?xml version="1.0"?>\n<!DOCTYPE t [<!ENTITY a "x">]><testsuites><testsuite/></testsuites>'
    results = read_junit(_Trickle(report))
    assert (results.cases, results.problem) == ([], REFUSED_DOCTYPE)


def test_a_report_read_one_byte_at_a_time_is_read_whole() -> None:
    """One-byte reads give the same cases as one read."""
    results = read_junit(_Trickle(JUNIT))
    assert ([(c.nodeid, c.outcome) for c in results.cases], results.problem) == (
        [("tests/test_a.py::test_ok", "passed"), ("tests/test_a.py::test_bad", "failed")], None)
