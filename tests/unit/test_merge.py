"""report merge: one result from shard reports, with an exit code and a durations file."""

import json
from pathlib import Path

import pytest

from envctl.errors import UsageError
from envctl.report.junit import read_junit
from envctl.report.merge import exit_code, merge, write_durations, write_junit
from envctl.report.summary import merged_render


def junit(path: Path, cases: list[tuple[str, str, str, float]]) -> Path:
    body = ""
    for classname, name, outcome, seconds in cases:
        inner = {"failed": '<failure message="bad"/>', "skipped": '<skipped message="s"/>'}.get(outcome, "")
        body += f'<testcase classname="{classname}" name="{name}" time="{seconds}">{inner}</testcase>'
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"<testsuites><testsuite>{body}</testsuite></testsuites>")
    return path


def test_merge_of_shards_equals_the_whole(tmp_path: Path) -> None:
    """Two shard dirs with junit.xml merge into all their cases; failures give exit 1."""
    junit(tmp_path / "shard1" / "junit.xml", [("tests.test_a", "test_1", "passed", 0.5)])
    junit(tmp_path / "shard2" / "junit.xml", [("tests.test_b", "test_2", "failed", 1.5),
                                               ("tests.test_b", "test_3", "skipped", 0.0)])
    results = merge([tmp_path / "shard1", tmp_path / "shard2"])
    assert [c.nodeid for c in results.cases] == ["tests/test_a.py::test_1", "tests/test_b.py::test_2",
                                                 "tests/test_b.py::test_3"]
    assert exit_code(results) == 1
    write_junit(results, tmp_path / "merged.xml")
    again = read_junit(tmp_path / "merged.xml")
    assert [(c.nodeid, c.outcome) for c in again.cases] == [(c.nodeid, c.outcome) for c in results.cases]
    write_durations(results, tmp_path / "durations.json")
    assert json.loads((tmp_path / "durations.json").read_text()) == {
        "tests/test_a.py::test_1": 0.5, "tests/test_b.py::test_2": 1.5}


def test_exit_codes(tmp_path: Path) -> None:
    """All passed: 0; nothing at all: 5."""
    ok = junit(tmp_path / "ok.xml", [("tests.test_a", "test_1", "passed", 0.1)])
    assert exit_code(merge([ok])) == 0
    empty = junit(tmp_path / "empty.xml", [])
    assert exit_code(merge([empty])) == 5


def test_missing_input_is_a_usage_error(tmp_path: Path) -> None:
    """A path that does not exist, or dirs without reports, are refused with a reason."""
    with pytest.raises(UsageError, match="no such file"):
        merge([tmp_path / "nope"])
    (tmp_path / "emptydir").mkdir()
    with pytest.raises(UsageError, match="no JUnit reports"):
        merge([tmp_path / "emptydir"])


XUNIT1 = """<testsuites><testsuite name="pytest">
<testcase classname="tests.pkg.foo_test.TestThing.TestNested" name="test_a[x-1]"
          file="tests/pkg/foo_test.py" line="9" time="0.2">
  <failure message="assert 1 == 2">def test_a():
&gt;   assert 1 == 2
E   assert 1 == 2</failure>
  <system-out>printed by the test</system-out>
  <system-err>warned by the test</system-err>
</testcase>
<testcase classname="tests.pkg.foo_test" name="test_b" file="tests/pkg/foo_test.py" line="20" time="0.1"/>
</testsuite></testsuites>"""


def test_exact_node_ids_and_failure_bodies_survive_a_merge(tmp_path: Path) -> None:
    """xunit1 reports name the file: ids are exact for `*_test.py` files, nested classes and
    packages; the merged JUnit keeps each failure's traceback and the tests' output."""
    (tmp_path / "shard").mkdir()
    (tmp_path / "shard" / "junit.xml").write_text(XUNIT1)
    results = merge([tmp_path / "shard"])
    assert [c.nodeid for c in results.cases] == [
        "tests/pkg/foo_test.py::TestThing::TestNested::test_a[x-1]", "tests/pkg/foo_test.py::test_b"]
    write_junit(results, tmp_path / "merged.xml")
    again = read_junit(tmp_path / "merged.xml", keep_text=True)
    assert [c.nodeid for c in again.cases] == [c.nodeid for c in results.cases]
    first = again.cases[0]
    assert (first.line, first.message) == (10, "assert 1 == 2")
    assert first.body == "def test_a():\n>   assert 1 == 2\nE   assert 1 == 2"
    assert (first.system_out, first.system_err) == ("printed by the test", "warned by the test")


def test_report_merge_as_junit_prints_junit(tmp_path: Path) -> None:
    """`report merge --format junit` is JUnit XML, not CSV."""
    from envctl.report.summary import merged_render  # noqa: PLC0415

    (tmp_path / "a.xml").write_text(XUNIT1)
    text = merged_render(merge([tmp_path / "a.xml"]), "junit", 1)
    assert text.startswith("<?xml version='1.0' encoding='utf-8'?>\n<testsuites>")
    (tmp_path / "printed.xml").write_text(text)
    assert [c.nodeid for c in read_junit(tmp_path / "printed.xml").cases] == [
        "tests/pkg/foo_test.py::TestThing::TestNested::test_a[x-1]", "tests/pkg/foo_test.py::test_b"]


def test_a_refused_report_is_said_and_never_passes(tmp_path: Path) -> None:
    """A shard's report with a DOCTYPE is refused: the merge says so and does not exit 0."""
    good = tmp_path / "good.xml"
    good.write_text('<testsuites><testsuite><testcase classname="tests.test_a" name="test_ok" '
                    'file="tests/test_a.py"/></testsuite></testsuites>')
    bad = tmp_path / "bad.xml"
    bad.write_text('<?xml version="1.0"?><!DOCTYPE x []><testsuites/>')
    results = merge([good, bad])
    assert results.problem == f"{bad}: refused: the report declares a DOCTYPE, which pytest never writes"
    assert exit_code(results) == 1
    assert json.loads(merged_render(results, "json", 1))["problem"] == results.problem
