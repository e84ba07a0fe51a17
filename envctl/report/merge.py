"""`envctl report merge`: shard run directories or JUnit files into one result.

One report, one summary, one exit code, and one durations file that the next split balances on.
"""

from __future__ import annotations

import json
import os
import xml.etree.ElementTree as ET  # writing only
from collections.abc import Sequence
from pathlib import Path

from envctl.errors import UsageError
from envctl.files import open_regular, write_private
from envctl.report.junit import OUTCOME_PROPERTY, XFAIL_TYPE, Results, TestCase, read_junit
from envctl.report.splits import duplicate_problem, split_problems

JUNIT_FILE = "junit.xml"  # the name a run directory's report has


def junit_inputs(inputs: list[Path]) -> list[Path]:
    """JUnit files named directly, or found under the given directories (artifact downloads)."""
    found: list[Path] = []
    for path in inputs:
        if path.is_file():
            found.append(path)
        elif path.is_dir():
            # A log dir's .exchange folders hold what test containers left: never read from there.
            found += sorted(p for p in path.rglob(JUNIT_FILE) if ".exchange" not in p.parts)
        else:
            raise UsageError(f"{path}: no such file or directory")
    if not found:
        raise UsageError("no JUnit reports among the inputs",
                         hint="pass run directories (with junit.xml) or JUnit XML files")
    return found


def merge(inputs: list[Path]) -> Results:
    reports: list[tuple[str, Results]] = []
    named = {p for p in inputs if p.is_file()}
    read: set[str] = set()
    for path in junit_inputs(inputs):
        if os.path.realpath(path) in read:  # the same report named twice (a folder and its file)
            continue
        read.add(os.path.realpath(path))
        if path in named:
            results = read_junit(path, keep_text=True)
        else:  # found in a folder (a downloaded artifact): regular files only, no links followed
            try:
                with open_regular(path) as handle:
                    results = read_junit(handle, keep_text=True)
            except OSError:
                continue
        reports.append((str(path), results))
    return combine(reports)


def combine(reports: Sequence[tuple[str, Results]]) -> Results:
    """One result from shard reports (each with a label that names it in a problem).

    Every case of each report, in order (a test that failed and then errored in teardown is two
    cases, as pytest reports it). A collector's case (a module skipped at import) is reported by
    every shard, since each collects everything: it is kept once. A test that two reports hold
    is kept once and is a problem, as is a split the shards did not share (``split_problems``);
    so is a report refused or cut short. A problem is never a pass (``exit_code``)."""
    merged = Results()
    holder: dict[str, int] = {}  # node id -> the report that holds it
    duplicated: dict[str, list[str]] = {}
    problems = [f"{label}: {results.problem}" for label, results in reports if results.problem]
    for index, (label, results) in enumerate(reports):
        for case in results.cases:
            first = holder.setdefault(case.nodeid, index)
            if first == index:
                merged.cases.append(case)
            elif not case.collection:
                labels = duplicated.setdefault(case.nodeid, [reports[first][0]])
                if label not in labels:
                    labels.append(label)
    problems += filter(None, [duplicate_problem(duplicated), *split_problems(reports)])
    merged.problem = "; ".join(problems) or None
    return merged


def exit_code(results: Results) -> int:
    """pytest's meaning: 1 if anything failed or errored (or a report could not be read whole),
    5 if nothing ran, else 0."""
    if results.problem:
        return 1
    if not results.cases:
        return 5
    return 1 if results.failures else 0


def write_junit(results: Results, path: Path) -> None:
    write_private(path, junit_text(results))


def junit_text(results: Results) -> str:
    """The merged report as JUnit XML (xunit1: each case names its file, so ids stay exact),
    with each failure's text and each test's output as the shards reported them."""
    # The suite's counts in JUnit's terms, as pytest writes them: an xfailed test is skipped.
    suite = ET.Element("testsuite", name="envctl-merged", tests=str(len(results.cases)),
                       failures=str(results.count("failed")), errors=str(results.count("error")),
                       skipped=str(results.count("skipped") + results.count("xfailed")),
                       time=f"{results.duration:.3f}")
    for case in results.cases:
        add_case(suite, case)
    root = ET.Element("testsuites")
    root.append(suite)
    return ET.tostring(root, encoding="unicode", xml_declaration=True) + "\n"


def add_case(suite: ET.Element, case: TestCase, properties: dict[str, str] | None = None) -> None:
    """``case`` as a ``<testcase>`` of ``suite``, as pytest writes one (xunit1), with its
    failure text and output, and ``properties`` of its own (a resumed run's `envctl.run`)."""
    file, _, rest = case.nodeid.partition("::")
    dotted = file.removesuffix(".py").replace("/", ".")
    parts = rest.split("::") if rest else []
    # A module's own case (skipped at collection) is named as pytest names it: no classname.
    classname, name = (".".join([dotted, *parts[:-1]]), parts[-1]) if parts else ("", dotted)
    element = ET.SubElement(suite, "testcase", classname=classname, name=name, file=file,
                            time=f"{case.duration:.4f}")
    if case.line is not None:
        element.set("line", str(case.line - 1))  # JUnit counts lines from 0
    properties = {**(properties or {}),
                  **({OUTCOME_PROPERTY: "xpassed"} if case.outcome == "xpassed" else {})}
    if properties:  # one <properties>: a reader takes the last one it sees
        listed = ET.SubElement(element, "properties")
        for key, value in properties.items():
            ET.SubElement(listed, "property", name=key, value=value)
    if case.outcome not in ("passed", "xpassed"):  # an xpassed test is a pass in JUnit; the property marks it
        tag = {"failed": "failure", "error": "error"}.get(case.outcome, "skipped")
        child = ET.SubElement(element, tag, message=case.message)
        if case.outcome == "xfailed":
            child.set("type", XFAIL_TYPE)
        elif case.outcome == "skipped" and not case.collection:  # a collector's skip has no type
            child.set("type", "pytest.skip")
        child.text = case.body or None
    for tag, text in (("system-out", case.system_out), ("system-err", case.system_err)):
        if text:
            ET.SubElement(element, tag).text = text


def write_durations(results: Results, path: Path) -> None:
    durations = {c.nodeid: round(c.duration, 4) for c in results.cases
                 if c.outcome != "skipped" and not c.collection}
    write_private(path, json.dumps(durations, indent=0, sort_keys=True))
