"""Whether shard reports come from one split, read from the properties each shard's JUnit carries.

Each CI shard splits the same collected tests on the durations it restored for itself: a merge
that saved newer durations between two shards' starts makes them split differently, and a test
runs in two shards or in none. So the plugin writes into each shard's JUnit suite ``<properties>``
which shard it is, checksums of what its split was computed from (the durations of the tests
split, with N; the tests split) and how many tests the shard was to run; ``report merge``
compares them.

The names are the plugin's (``envctl/pytest_plugin/envctl_shards.py``, stdlib only): each side
spells them once, and tests/unit/test_splits.py checks that both agree.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from envctl.ci_shard import parse_shard
from envctl.report.junit import Results

SHARD = "envctl.shard"  # "K/N"
DURATIONS = "envctl.split.durations"  # sha256 (16 hex) of the collected tests' durations and N
TESTS = "envctl.split.tests"  # sha256 (16 hex) of the node ids split among the shards, sorted
SHARD_TESTS = "envctl.shard.tests"  # how many tests this shard was to run
NAMES = (SHARD, DURATIONS, TESTS, SHARD_TESTS)
SHOWN = 5  # tests or shards named in one problem; the rest are counted


@dataclass(frozen=True)
class Report:
    """What the split checks need of one report: its label (it names the report in a
    problem), its suite properties, and how many distinct tests it holds (collectors' cases
    apart). A streamed merge keeps this much of a report, never its cases."""

    label: str
    properties: Mapping[str, str]
    tests: int

    @classmethod
    def of(cls, label: str, results: Results) -> Report:
        """The report read whole (``read_junit``)."""
        return cls(label, results.properties, len({c.nodeid for c in results.cases if not c.collection}))


Shard = tuple[Report, int, int]  # the report, K, N


def split_problems(reports: Sequence[Report | tuple[str, Results]]) -> list[str]:
    """Why the shards among ``reports`` (each a ``Report``, or a label and the report read
    whole) are not one split run whole: they split on different durations or tests, a shard's
    report is missing or doubled, or tests that were split are in no shard's report. Reports
    without the properties are not shards."""
    shards: list[Shard] = []
    problems = []
    for given in reports:
        report = given if isinstance(given, Report) else Report.of(*given)
        value = report.properties.get(SHARD)
        if value is None:
            continue
        try:
            k, n = parse_shard(value)
        except ValueError:
            problems.append(f"{report.label}: {SHARD} {value!r} is not a shard (K/N)")
            continue
        shards.append((report, k, n))
    if not shards:
        return problems
    if len({n for _report, _k, n in shards}) > 1:
        return [*problems, "the reports come from splits into different numbers of shards: "
                + _listed(f"{k}/{n} ({report.label})" for report, k, n in shards)]
    return problems + _presence(shards) + _agreement(shards) + _short(shards)


def _presence(shards: list[Shard]) -> list[str]:
    """Each of the N shards there once."""
    n = shards[0][2]
    present: dict[int, list[str]] = {}
    for report, k, _n in shards:
        present.setdefault(k, []).append(report.label)
    problems = [f"shard {k}/{n} is there twice ({', '.join(labels)})"
                for k, labels in sorted(present.items()) if len(labels) > 1]
    missing = [f"{k}/{n}" for k in range(1, n + 1) if k not in present]
    if missing:
        problems.append(f"no report of shard {_listed(missing)}: its tests are not in the result")
    return problems


def _agreement(shards: list[Shard]) -> list[str]:
    """The same checksums of the split's inputs in every shard."""
    problems = []
    for name, what in ((DURATIONS, "durations"), (TESTS, "collected tests")):
        groups: dict[str, list[str]] = {}
        for report, k, n in shards:
            groups.setdefault(report.properties.get(name, "none"), []).append(f"{k}/{n}")
        if len(groups) > 1:
            problems.append(f"the shards split on different {what} ({name}: "
                            + "; ".join(f"{value} in {', '.join(ks)}" for value, ks in groups.items())
                            + "): a test may have run in two shards or in none")
    return problems


def _short(shards: list[Shard]) -> list[str]:
    """Each shard's report with every test its split gave it."""
    short = []
    for report, k, n in shards:
        expected = report.properties.get(SHARD_TESTS, "")
        if expected.isdigit() and report.tests < int(expected):
            short.append(f"{k}/{n} ({int(expected) - report.tests} of {int(expected)})")
    if not short:
        return []
    return [f"tests of shard {_listed(short)} are not in its report: they did not run "
            "(the shard stopped early?)"]


def duplicate_problem(duplicated: dict[str, list[str]]) -> str | None:
    """``duplicated``: each test held by more than one report, with those reports' labels."""
    if not duplicated:
        return None
    shown = [f"{nodeid} ({', '.join(labels)})" for nodeid, labels in list(duplicated.items())[:SHOWN]]
    return (f"{len(duplicated)} test(s) in more than one shard's report, counted once: "
            + _listed(shown, len(duplicated)))


def _listed(items: Iterable[str], total: int | None = None) -> str:
    """The first SHOWN items, and how many more."""
    listed = list(items)
    total = len(listed) if total is None else total
    text = ", ".join(listed[:SHOWN])
    return text + (f" and {total - SHOWN} more" if total > SHOWN else "")
