"""report merge: one result from shard reports, with an exit code and a durations file."""

import json
from pathlib import Path

import pytest

from envctl.errors import UsageError
from envctl.pytest_plugin.envctl_shards import DURATIONS, SHARD_TESTS, split, split_properties
from envctl.report.junit import read_junit
from envctl.report.merge import exit_code, merge, write_durations, write_junit
from envctl.report.summary import merged_render
from tests.unit import pytest_numbers


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


# ---- pytest's numbers, and shards that must come from one split ----

TESTS = [f"tests/test_{f}.py::test_{i}" for f in "abc" for i in range(4)]
SKIPPED_MODULE = ('<testcase classname="" name="tests.test_gone" file="tests/test_gone.py" time="0.000">'
                  '<skipped message="collection skipped">no backend</skipped></testcase>')


def shard_report(path: Path, k: int, n: int, durations: dict[str, float], *,
                 tests: list[str] | None = None, drop: int = 0) -> Path:
    """Shard k/n's JUnit as the plugin writes it: the split's properties, the module every shard
    skips at collection, and the tests its split (on ``durations``) gave it, less ``drop``."""
    properties = split_properties(TESTS, k, n, durations)
    mine = split(TESTS, n, durations)[k - 1]
    properties[SHARD_TESTS] = str(len(mine))
    cases = "".join(f'<testcase classname="{nodeid.split("::")[0][:-3].replace("/", ".")}" '
                    f'name="{nodeid.split("::")[1]}" file="{nodeid.split("::")[0]}" time="0.1" />'
                    for nodeid in (tests if tests is not None else mine)[drop:])
    props = "".join(f'<property name="{name}" value="{value}" />' for name, value in properties.items())
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f'<testsuites><testsuite name="pytest"><properties>{props}</properties>'
                    f"{SKIPPED_MODULE}{cases}</testsuite></testsuites>")
    return path


def test_a_clean_split_merges_whole_with_no_problem(tmp_path: Path) -> None:
    """Two shards split on the same durations: every test once, the module every shard skipped
    once (pytest's number), no problem, exit 0."""
    durations = {TESTS[0]: 3.0, TESTS[5]: 2.0}
    results = merge([shard_report(tmp_path / "s1" / "junit.xml", 1, 2, durations),
                     shard_report(tmp_path / "s2" / "junit.xml", 2, 2, durations)])
    assert results.problem is None
    assert sorted(c.nodeid for c in results.cases) == sorted([*TESTS, "tests/test_gone.py"])
    assert results.counts() == {"total": 13, "done": 13, "passed": 12, "failed": 0, "errors": 0,
                                "skipped": 1, "xfailed": 0, "xpassed": 0}
    assert exit_code(results) == 0


def test_shards_split_on_different_durations_are_a_problem(tmp_path: Path) -> None:
    """Each shard restored other durations (a merge saved newer ones between their starts): the
    checksums differ, the merge says so and does not pass."""
    one = shard_report(tmp_path / "one.xml", 1, 2, {TESTS[0]: 9.0})
    two = shard_report(tmp_path / "two.xml", 2, 2, {TESTS[0]: 1.0, TESTS[1]: 9.0})
    results = merge([one, two])
    durations_one = split_properties(TESTS, 1, 2, {TESTS[0]: 9.0})[DURATIONS]
    durations_two = split_properties(TESTS, 2, 2, {TESTS[0]: 1.0, TESTS[1]: 9.0})[DURATIONS]
    assert results.problem is not None
    assert (f"the shards split on different durations (envctl.split.durations: {durations_one} in 1/2; "
            f"{durations_two} in 2/2): a test may have run in two shards or in none") in results.problem
    assert exit_code(results) == 1


def test_a_test_in_two_shards_is_a_problem(tmp_path: Path) -> None:
    """A test two shards ran is kept once and named; the merge does not pass."""
    durations = {TESTS[0]: 3.0}
    first, second = split(TESTS, 2, durations)
    one = shard_report(tmp_path / "one.xml", 1, 2, durations)
    two = shard_report(tmp_path / "two.xml", 2, 2, durations, tests=[first[0], *second])
    results = merge([one, two])
    assert results.problem == (
        f"1 test(s) in more than one shard's report, counted once: {first[0]} ({one}, {two})")
    assert [c.nodeid for c in results.cases].count(first[0]) == 1
    assert exit_code(results) == 1


def test_a_missing_shard_or_a_shard_stopped_early_is_a_problem(tmp_path: Path) -> None:
    """Shard 2/3's report is missing, and shard 3/3 reported one test less than its split gave
    it: neither passes."""
    one = shard_report(tmp_path / "one.xml", 1, 3, {})
    three = shard_report(tmp_path / "three.xml", 3, 3, {}, drop=1)
    results = merge([one, three])
    assert results.problem == (
        "no report of shard 2/3: its tests are not in the result; tests of shard 3/3 (1 of 4) are not "
        "in its report: they did not run (the shard stopped early?)")
    assert exit_code(results) == 1


def test_the_same_report_named_twice_counts_once(tmp_path: Path) -> None:
    """A folder and the report in it: one report, not a test in two shards."""
    path = shard_report(tmp_path / "s" / "junit.xml", 1, 1, {})
    results = merge([tmp_path / "s", path])
    assert (results.problem, len(results.cases)) == (None, 13)


def test_a_merge_gives_pytests_numbers_and_writes_them_back(tmp_path: Path) -> None:
    """A run with a module skipped at collection, xfails and an xpass: the merge's markdown and
    JSON give pytest's numbers, and its JUnit reads back as the same outcomes."""
    run_dir = pytest_numbers.ended_run(tmp_path / "runs")
    results = merge([run_dir])
    assert json.loads(merged_render(results, "json", 1))["counts"] == pytest_numbers.NUMBERS
    assert ("2 passed, 1 failed, 0 errors, 2 skipped, 2 xfailed, 1 xpassed of 8 "
            in merged_render(results, "md", 1))
    write_junit(results, tmp_path / "merged.xml")
    again = read_junit(tmp_path / "merged.xml")
    assert [(c.nodeid, c.outcome, c.collection) for c in again.cases] == [
        (c.nodeid, c.outcome, c.collection) for c in results.cases]
    assert again.counts() == pytest_numbers.NUMBERS
    write_durations(results, tmp_path / "durations.json")  # what ran: no skipped test, no collector
    assert sorted(json.loads((tmp_path / "durations.json").read_text())) == [
        "test_main.py::test_fail", "test_main.py::test_pass_one", "test_main.py::test_pass_two",
        "test_main.py::test_xfail_one", "test_main.py::test_xfail_two", "test_main.py::test_xpass"]


def test_a_case_keeps_its_own_properties_with_the_xpassed_mark(tmp_path: Path) -> None:
    """add_case: a case's properties (a resume's envctl.run) share one <properties> with the
    xpassed mark, so a reader still reads it xpassed."""
    import xml.etree.ElementTree as ET  # noqa: PLC0415

    from envctl.report.junit import TestCase as Case  # noqa: PLC0415
    from envctl.report.merge import add_case  # noqa: PLC0415

    root = ET.Element("testsuites")
    suite = ET.SubElement(root, "testsuite")
    add_case(suite, Case("t.py::C::x", "xpassed", 0.5, line=3), {"envctl.run": "r1"})
    add_case(suite, Case("t.py::y", "failed", 0.25, "boom", body="trace"))
    (tmp_path / "r.xml").write_bytes(ET.tostring(root))
    assert [(c.nodeid, c.outcome, c.line) for c in read_junit(tmp_path / "r.xml").cases] == \
        [("t.py::C::x", "xpassed", 3), ("t.py::y", "failed", None)]
    first = suite[0]
    assert [(p.get("name"), p.get("value")) for p in first.iter("property")] == \
        [("envctl.run", "r1"), ("envctl.outcome", "xpassed")]
    assert (len(first.findall("properties")), suite[1].find("properties")) == (1, None)
