"""A JUnit report's cases read one at a time: the same cases read_junit reads, in memory that
stays near one read chunk whatever the report's size or a test's output."""

from __future__ import annotations

import io
import tracemalloc

import pytest

from envctl.report import junit, junit_stream
from envctl.report.junit import REFUSED_DOCTYPE, TEXT_CAP, read_junit
from envctl.report.junit_stream import READ_CHUNK, CaseStream

REPORT = """<?xml version="1.0" encoding="utf-8"?>
<testsuites><testsuite name="pytest" tests="5">
<properties><property name="envctl.shard" value="1/2"/>
  <property name="envctl.shard" value="2/2"/></properties>
<testcase classname="tests.test_a" name="test_ok" file="tests/test_a.py" line="4" time="0.5">
  <system-out>said &lt;this&gt;</system-out></testcase>
<testcase classname="tests.test_a.TestK" name="test_bad[1]" file="tests/test_a.py" time="1.5">
  <failure message="assert 1 == 2">Traceback
  long text</failure><system-err>warned</system-err></testcase>
<testcase classname="tests.test_b" name="test_x" file="tests/test_b.py" time="0.2">
  <skipped type="pytest.xfail" message="known"/></testcase>
<testcase classname="tests.test_b" name="test_err" file="tests/test_b.py" time="nan">
  <error>fixture broke</error></testcase>
<testcase classname="tests.test_b" name="test_up" file="tests/test_b.py" time="0.1"><properties>
  <property name="envctl.outcome" value="xpassed"/></properties></testcase>
</testsuite></testsuites>
"""


def cases_of(data: bytes, cap: int = junit.JUNIT_CAP) -> tuple[list[junit.TestCase], CaseStream]:
    stream = CaseStream(io.BytesIO(data), cap)
    return [junit.read_case(element, with_text=True) for element in stream], stream


def test_the_cases_are_read_junits() -> None:
    """Outcomes, messages, lines, texts and suite properties as read_junit gives them."""
    cases, stream = cases_of(REPORT.encode())
    expected = read_junit(io.BytesIO(REPORT.encode()), keep_text=True)
    assert cases == expected.cases
    assert [c.outcome for c in cases] == ["passed", "failed", "xfailed", "error", "xpassed"]
    assert (stream.problem, stream.suites, stream.cases) == (None, 1, 5)
    assert stream.properties == expected.properties == {"envctl.shard": "1/2"}


def test_a_tests_output_is_kept_up_to_the_cap_and_memory_stays_near_a_chunk() -> None:
    """One test printed 12 MiB: its output is cut at TEXT_CAP, and reading the report never
    holds more than a few chunks (read_junit would hold the whole element)."""
    big = 12 << 20
    data = (b"<testsuites><testsuite><testcase classname='t' name='test_loud' time='1'><system-out>"
            + b"x" * big + b"</system-out></testcase></testsuite></testsuites>")
    tracemalloc.start()
    try:
        cases, stream = cases_of(data)
        _now, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert [len(c.system_out) for c in cases] == [TEXT_CAP]
    assert stream.problem is None
    assert peak < 3 * READ_CHUNK


THIRD = REPORT.index('<testcase classname="tests.test_b" name="test_x"')  # where the third case starts


def test_a_report_cut_short_is_said_with_the_cases_before() -> None:
    """A killed pytest leaves half a report: the whole cases are read, and the cut is said."""
    cases, stream = cases_of(REPORT.encode()[:THIRD])
    assert [c.nodeid for c in cases] == ["tests/test_a.py::test_ok", "tests/test_a.py::TestK::test_bad[1]"]
    assert stream.problem == "no element found: line 10, column 0"


def test_past_the_cap_the_reading_stops_and_says_so() -> None:
    """Only ``cap`` bytes are read, and the rest is said to be left."""
    cases, stream = cases_of(REPORT.encode(), cap=THIRD)
    assert len(cases) == 2
    assert stream.problem == f"read only its first {THIRD} bytes"


@pytest.mark.parametrize(("data", "problem"), [
    (b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaa">]><testsuites/>', REFUSED_DOCTYPE),
    (b'<?xml version="1.0" encoding="UTF-16"?><testsuites/>',
     "refused: the report's encoding is UTF-16, not UTF-8"),
    (b"\xff\xfe<\x00t\x00", "refused: the report is UTF-16 or UTF-32, which pytest never writes"),
])
def test_a_hostile_report_is_refused_as_read_junit_refuses_it(data: bytes, problem: str) -> None:
    """A DOCTYPE (entities) or an encoding where the DOCTYPE scan would not see one: refused."""
    cases, stream = cases_of(data)
    assert (cases, stream.problem) == ([], problem)


def test_a_doctype_split_between_two_chunks_is_seen(monkeypatch: pytest.MonkeyPatch) -> None:
    """The scan looks across the chunk boundary."""
    monkeypatch.setattr(junit_stream, "READ_CHUNK", 16)
    data = b"<testsuites>   <!DOCTYPE x []><testsuite/></testsuites>"
    assert data.index(b"<!DOCTYPE") < 16 < data.index(b"<!DOCTYPE") + 9
    assert cases_of(data)[1].problem == REFUSED_DOCTYPE


def test_a_doctype_split_across_one_byte_chunks_is_seen(monkeypatch: pytest.MonkeyPatch) -> None:
    """A source that hands out one byte at a time cannot hide a DOCTYPE across its reads."""
    monkeypatch.setattr(junit_stream, "READ_CHUNK", 1)
    data = b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "b">]><testsuites><testsuite/></testsuites>'
    assert cases_of(data)[1].problem == REFUSED_DOCTYPE


def test_one_huge_tag_ends_the_reading(monkeypatch: pytest.MonkeyPatch) -> None:
    """A tag expat would buffer whole (a 1 MiB attribute, past a 256 KiB cap here) is refused."""
    monkeypatch.setattr(junit_stream, "TOKEN_CAP", 256 << 10)
    data = b"<testsuites><testcase name='a' message='" + b"m" * (1 << 20) + b"'/></testsuites>"
    cases, stream = cases_of(data)
    assert (cases, stream.problem) == ([], f"refused: a single tag larger than {256 << 10} bytes")


def test_a_case_keeps_at_most_its_cap_of_elements(monkeypatch: pytest.MonkeyPatch) -> None:
    """A case with thousands of nested elements keeps ELEMENTS_CAP of them; the rest is skipped,
    and the case after it is read whole."""
    monkeypatch.setattr(junit_stream, "ELEMENTS_CAP", 3)
    nest = "<p>" * 500 + "</p>" * 500
    data = (f"<testsuites><testcase classname='t' name='test_deep'>{nest}<failure message='late'/>"
            "</testcase><testcase classname='t' name='test_next'><failure message='m'/></testcase>"
            "</testsuites>").encode()
    stream = CaseStream(io.BytesIO(data))
    elements = list(stream)
    assert [len(list(e.iter())) for e in elements] == [3, 2]
    assert [junit.read_case(e).outcome for e in elements] == ["passed", "failed"]
