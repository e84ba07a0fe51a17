"""Shard reports checked for coming from one split, by the properties the plugin writes."""

from __future__ import annotations

from envctl.pytest_plugin import envctl_shards
from envctl.report import junit, splits
from envctl.report.junit import Results
from envctl.report.splits import Report, duplicate_problem, split_problems


def shard(k: int, n: int, *, durations: str = "d1", tests: str = "t1", count: int = 1,
          cases: tuple[str, ...] = ("t.py::a",)) -> Results:
    return Results(cases=[junit.TestCase(nodeid, "passed", 0.1) for nodeid in cases], suites=1,
                   properties={splits.SHARD: f"{k}/{n}", splits.DURATIONS: durations, splits.TESTS: tests,
                               splits.SHARD_TESTS: str(count)})


def test_the_host_and_the_plugin_name_the_properties_alike() -> None:
    """The plugin (stdlib only) and the host spell each property once: the same names."""
    assert splits.NAMES == (envctl_shards.SHARD, envctl_shards.DURATIONS, envctl_shards.TESTS,
                            envctl_shards.SHARD_TESTS)
    assert set(envctl_shards.split_properties(["t.py::a"], 1, 2, {})) == {
        splits.SHARD, splits.DURATIONS, splits.TESTS}


def test_the_checksums_follow_the_splits_inputs_only() -> None:
    """The same tests, durations and N give the same checksums whatever the order and whatever
    durations of other tests; another N, another duration or another test changes them."""
    props = envctl_shards.split_properties
    base = props(["a", "b"], 1, 2, {"a": 1.0, "zzz": 5.0})
    assert props(["b", "a"], 2, 2, {"a": 1.0})[splits.DURATIONS] == base[splits.DURATIONS]
    assert props(["b", "a"], 2, 2, {"a": 1.0})[splits.TESTS] == base[splits.TESTS]
    assert props(["a", "b"], 1, 3, {"a": 1.0})[splits.DURATIONS] != base[splits.DURATIONS]
    assert props(["a", "b"], 1, 2, {"a": 2.0})[splits.DURATIONS] != base[splits.DURATIONS]
    assert props(["a", "b", "c"], 1, 2, {"a": 1.0})[splits.TESTS] != base[splits.TESTS]
    assert len(base[splits.DURATIONS]) == 16


def test_reports_that_are_no_shards_are_not_checked() -> None:
    """Plain JUnit files (no envctl.shard) give no split problem."""
    assert split_problems([("a.xml", Results(cases=[junit.TestCase("t.py::a", "passed", 0.1)]))]) == []


def test_one_split_whole_is_no_problem() -> None:
    """Both shards there, the same checksums, each with the tests it was to run."""
    assert split_problems([("one", shard(1, 2)), ("two", shard(2, 2, cases=("t.py::b",)))]) == []


def test_different_totals_collected_tests_and_doubled_shards_are_named() -> None:
    """Shards of different N; shards that collected other tests; a shard there twice."""
    assert split_problems([("one", shard(1, 2)), ("two", shard(2, 3))]) == [
        "the reports come from splits into different numbers of shards: 1/2 (one), 2/3 (two)"]
    assert split_problems([("one", shard(1, 2)), ("two", shard(2, 2, tests="t2", cases=("t.py::b",)))]) == [
        "the shards split on different collected tests (envctl.split.tests: t1 in 1/2; t2 in 2/2): "
        "a test may have run in two shards or in none"]
    assert split_problems([("one", shard(1, 1)), ("again", shard(1, 1))]) == [
        "shard 1/1 is there twice (one, again)"]


def test_a_shard_short_of_its_tests_is_said_from_its_cases_or_its_count() -> None:
    """Shard 1/2 was to run 3 tests: a report read whole with one (a collector's case apart),
    or a streamed one whose count says 1, names it; 3 tests is no problem."""
    short = shard(1, 2, count=3, cases=("t.py::a", "t.py::gone"))
    short.cases[1] = junit.TestCase("t.py::gone", "skipped", 0.0, collection=True)
    expected = ["tests of shard 1/2 (2 of 3) are not in its report: they did not run "
                "(the shard stopped early?)"]
    assert split_problems([("one", short), ("two", shard(2, 2, cases=("t.py::b",)))]) == expected
    streamed = [Report("one", shard(1, 2, count=3).properties, 1), Report("two", shard(2, 2).properties, 1)]
    assert split_problems(streamed) == expected
    assert split_problems([Report("one", shard(1, 2, count=3).properties, 3),
                           Report("two", shard(2, 2).properties, 1)]) == []


def test_a_report_read_whole_counts_its_tests_once_and_not_its_collectors() -> None:
    """A test that failed and then errored in teardown is one test; a module skipped at
    collection is none."""
    results = Results(cases=[junit.TestCase("t.py::a", "failed", 0.1),
                             junit.TestCase("t.py::a", "error", 0.1),
                             junit.TestCase("t.py", "skipped", 0.0, collection=True)])
    assert Report.of("one", results) == Report("one", {}, 1)


def test_a_property_that_is_no_shard_is_said() -> None:
    """envctl.shard that is not K/N (the report is the container's): named, not trusted."""
    report = Results(properties={splits.SHARD: "7/2"})
    assert split_problems([("x.xml", report)]) == ["x.xml: envctl.shard '7/2' is not a shard (K/N)"]


def test_many_duplicates_are_counted_past_the_first_five() -> None:
    """Seven tests in two shards: five named, the rest counted."""
    duplicated = {f"t.py::{i}": ["one", "two"] for i in range(7)}
    assert duplicate_problem(duplicated) == (
        "7 test(s) in more than one shard's report, counted once: t.py::0 (one, two), t.py::1 (one, two), "
        "t.py::2 (one, two), t.py::3 (one, two), t.py::4 (one, two) and 2 more")
    assert duplicate_problem({}) is None
