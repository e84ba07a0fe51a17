"""Shard reports merged as streams: report merge's result byte for byte (the suite tag's padding
aside), its problems and numbers, in memory near one read chunk whatever the reports' size."""

from __future__ import annotations

import errno
import io
import json
import os
import re
import tracemalloc
from pathlib import Path
from typing import BinaryIO

import pytest

from envctl.report import merge as merging
from envctl.report.junit import read_junit
from envctl.report.junit_merged import SUITE_ROOM, merge_reports
from envctl.report.junit_stream import READ_CHUNK

GONE = ('<testcase classname="" name="t.test_gone" file="t/test_gone.py" time="0.0">'
        '<skipped message="collection skipped">no backend</skipped></testcase>')
XFAILED = ('<testcase classname="t.test_a" name="test_{}" file="t/test_a.py" time="0.2">'
           '<skipped type="pytest.xfail" message="known" /></testcase>')
XPASSED = ('<testcase classname="t.test_a" name="test_{}" file="t/test_a.py" time="0.2"><properties>'
           '<property name="envctl.outcome" value="xpassed" /></properties></testcase>')
FAILED = ('<testcase classname="t.test_a" name="test_{}" file="t/test_a.py" line="3" time="0.25">'
          '<failure message="m &amp; &lt;x&gt;">trace\nback</failure><system-out>out\u00e9</system-out>'
          '</testcase>')
PLAIN = '<testcase classname="t.test_a" name="test_{}" file="t/test_a.py" time="0.5" />'
PROPERTIES = ('<properties><property name="envctl.shard" value="{}/2"/>'
              '<property name="envctl.shard.tests" value="{}"/></properties>')
ONE = (f"<testsuite>{PROPERTIES.format(1, 4)}{GONE}{PLAIN.format('a')}{XFAILED.format('b')}"
       f"{FAILED.format('e')}</testsuite>")
TWO = f"<testsuite>{PROPERTIES.format(2, 3)}{GONE}{XPASSED.format('c')}{PLAIN.format('a')}</testsuite>"


def reports(*texts: str) -> list[tuple[str, BinaryIO | None]]:
    return [(f"shard {k}/2", io.BytesIO(text.encode())) for k, text in enumerate(texts, 1)]


def unpadded(path: Path) -> bytes:
    return re.sub(rb" +>", b">", path.read_bytes(), count=1)


def test_the_merge_is_report_merges_byte_for_byte(tmp_path: Path) -> None:
    """A collector's case kept once, an xfail, an xpass, a failure with its text and output, a
    test two shards ran and shards that stopped early: combine's report, durations, numbers,
    problems and exit code."""
    merged = merge_reports(reports(ONE, TWO), tmp_path / "junit.xml", tmp_path / "durations.json")
    combined = merging.combine([(f"shard {k}/2", read_junit(io.BytesIO(text.encode()), keep_text=True))
                                for k, text in ((1, ONE), (2, TWO))])
    merging.write_junit(combined, tmp_path / "combined.xml")
    merging.write_durations(combined, tmp_path / "combined.json")
    assert unpadded(tmp_path / "junit.xml") == (tmp_path / "combined.xml").read_bytes()
    assert json.loads((tmp_path / "durations.json").read_text()) == \
        json.loads((tmp_path / "combined.json").read_text()) == \
        {"t/test_a.py::test_a": 0.5, "t/test_a.py::test_b": 0.2, "t/test_a.py::test_c": 0.2,
         "t/test_a.py::test_e": 0.25}
    assert merged.counts() == combined.counts() == {
        "total": 5, "done": 5, "passed": 1, "failed": 1, "errors": 0, "skipped": 1, "xfailed": 1,
        "xpassed": 1}
    assert "; ".join(merged.problems) == combined.problem
    assert merged.problems == [
        "1 test(s) in more than one shard's report, counted once: t/test_a.py::test_a (shard 1/2, shard 2/2)",
        "tests of shard 1/2 (1 of 4), 2/2 (1 of 3) are not in its report: they did not run "
        "(the shard stopped early?)"]
    assert merged.exit_code == merging.exit_code(combined) == 1


def test_the_suite_tag_is_rewritten_in_place_with_the_counts(tmp_path: Path) -> None:
    """The start tag keeps its room, padded with spaces: a JUnit reader sees the counts."""
    merge_reports(reports(f"<testsuite>{PLAIN.format('a')}{FAILED.format('b')}</testsuite>"),
                  tmp_path / "junit.xml")
    text = (tmp_path / "junit.xml").read_bytes()
    start = len(b"<?xml version='1.0' encoding='utf-8'?>\n<testsuites>")
    assert text[start:start + SUITE_ROOM].startswith(
        b'<testsuite name="envctl-merged" tests="2" failures="1" errors="0" skipped="0" time="0.750" ')
    assert text[start + SUITE_ROOM - 1:start + SUITE_ROOM] == b">"
    assert [c.outcome for c in read_junit(tmp_path / "junit.xml").cases] == ["passed", "failed"]


def test_memory_stays_near_a_chunk_for_a_multi_megabyte_report(tmp_path: Path) -> None:
    """Two reports of 3000 cases and a test that printed 6 MiB (16 MiB in all): the merge never
    holds more than a few read chunks."""
    cases = "".join(FAILED.replace("out\u00e9", "o" * 2000).format(i) for i in range(3000))
    loud = '<testcase classname="t.test_b" name="test_loud" time="1"><system-out>' + "x" * (6 << 20) + \
        "</system-out></testcase>"
    first = f"<testsuite>{cases}{loud}</testsuite>"
    second = f"<testsuite>{cases.replace('test_a', 'test_c')}</testsuite>"
    sources = reports(first, second)
    assert sum(len(text) for text in (first, second)) > 16 << 20
    tracemalloc.start()
    try:
        merged = merge_reports(sources, tmp_path / "junit.xml", tmp_path / "durations.json")
        _now, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert (merged.cases, merged.outcomes["failed"], merged.problems) == (6001, 6000, [])
    assert peak < 3 * READ_CHUNK


def test_no_case_writes_nothing(tmp_path: Path) -> None:
    """No report, or only empty ones: the files are left as they were, no temporary file stays."""
    (tmp_path / "durations.json").write_text("{}")
    merged = merge_reports([("shard 1/2", None), *reports("<testsuite/>")], tmp_path / "junit.xml",
                           tmp_path / "durations.json")
    assert (merged.cases, merged.exit_code) == (0, 5)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["durations.json"]


def test_a_file_that_cannot_be_written_is_said_and_the_rest_goes_on(tmp_path: Path) -> None:
    """The report's folder cannot be made (a file is in the way): said, not a problem of the
    reports (no failure); the durations are written and the numbers are whole all the same."""
    (tmp_path / "runs").write_text("a file")
    merged = merge_reports(reports(f"<testsuite>{PLAIN.format('a')}</testsuite>"),
                           tmp_path / "runs" / "junit.xml", tmp_path / "durations.json")
    assert merged.unwritten == [f"{tmp_path / 'runs' / 'junit.xml'}: File exists"]
    assert (merged.problems, merged.exit_code, merged.counts()["passed"]) == ([], 0, 1)
    assert json.loads((tmp_path / "durations.json").read_text()) == {"t/test_a.py::test_a": 0.5}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["durations.json", "runs"]


def test_a_write_that_fails_half_way_drops_that_file_alone(tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """The disk fills while the report is put in place: it is left as it was (no temporary file
    stays), the durations go on."""
    real = os.fsync
    synced: list[int] = []

    def full_at_first(fd: int) -> None:  # the report is put in place first, then the durations
        synced.append(fd)
        if len(synced) == 1:
            raise OSError(errno.ENOSPC, "No space left on device")
        real(fd)

    monkeypatch.setattr(os, "fsync", full_at_first)
    merged = merge_reports(reports(f"<testsuite>{PLAIN.format('a')}</testsuite>"), tmp_path / "junit.xml",
                           tmp_path / "durations.json")
    assert (merged.unwritten, len(synced)) == ([f"{tmp_path / 'junit.xml'}: No space left on device"], 2)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["durations.json"]


SPLIT = ('<properties><property name="envctl.shard" value="{}/2"/><property name="envctl.split.durations" '
         'value="{}"/><property name="envctl.shard.tests" value="1"/></properties>')


def test_a_module_every_shard_skipped_is_one_case_and_a_split_not_shared_a_problem(tmp_path: Path) -> None:
    """Both shards report the module they skipped at collection and the one test each was to
    run: kept once, no problem. The same reports from splits on other durations: combine's one
    problem, never a pass."""
    one = f"<testsuite>{SPLIT.format(1, 'd1')}{GONE}{PLAIN.format('a')}</testsuite>"
    two = f"<testsuite>{SPLIT.format(2, 'd1')}{GONE}{PLAIN.format('b')}</testsuite>"
    whole = merge_reports(reports(one, two), tmp_path / "junit.xml")
    assert (whole.cases, whole.outcomes["skipped"], whole.problems, whole.exit_code) == (3, 1, [], 0)
    other = f"<testsuite>{SPLIT.format(2, 'd2')}{GONE}{PLAIN.format('b')}</testsuite>"
    split = merge_reports(reports(one, other), tmp_path / "junit.xml")
    combined = merging.combine([(f"shard {k}/2", read_junit(io.BytesIO(text.encode())))
                                for k, text in ((1, one), (2, other))])
    assert split.problems == [
        "the shards split on different durations (envctl.split.durations: d1 in 1/2; d2 in 2/2): "
        "a test may have run in two shards or in none"]
    assert ("; ".join(split.problems), split.exit_code) == (combined.problem, 1)
