"""`envctl report merge`: shard run directories or JUnit files into one result.

One report, one summary, one exit code, and one durations file that the next split balances on.
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET  # writing only
from pathlib import Path

from envctl.errors import UsageError
from envctl.files import open_regular, write_private
from envctl.report.junit import Results, read_junit

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
    merged = Results()
    seen: set[str] = set()
    named = {p for p in inputs if p.is_file()}
    for path in junit_inputs(inputs):
        if path in named:
            results = read_junit(path, keep_text=True)
        else:  # found in a folder (a downloaded artifact): regular files only, no links followed
            try:
                with open_regular(path) as handle:
                    results = read_junit(handle, keep_text=True)
            except OSError:
                continue
        if results.problem:  # a report refused or cut short is said, and never reads as a pass
            merged.problem = "; ".join(filter(None, [merged.problem, f"{path}: {results.problem}"]))
        for case in results.cases:
            if case.nodeid not in seen:  # the same report passed twice counts once
                seen.add(case.nodeid)
                merged.cases.append(case)
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
    suite = ET.Element("testsuite", name="envctl-merged", tests=str(len(results.cases)),
                       failures=str(results.count("failed")), errors=str(results.count("error")),
                       skipped=str(results.count("skipped")), time=f"{results.duration:.3f}")
    for case in results.cases:
        file, _, rest = case.nodeid.partition("::")
        parts = rest.split("::")
        classname = ".".join([file.removesuffix(".py").replace("/", "."), *parts[:-1]])
        element = ET.SubElement(suite, "testcase", classname=classname, name=parts[-1], file=file,
                                time=f"{case.duration:.4f}")
        if case.line is not None:
            element.set("line", str(case.line - 1))  # JUnit counts lines from 0
        if case.outcome != "passed":
            tag = {"failed": "failure", "error": "error", "skipped": "skipped"}[case.outcome]
            ET.SubElement(element, tag, message=case.message).text = case.body or None
        for tag, text in (("system-out", case.system_out), ("system-err", case.system_err)):
            if text:
                ET.SubElement(element, tag).text = text
    root = ET.Element("testsuites")
    root.append(suite)
    return ET.tostring(root, encoding="unicode", xml_declaration=True) + "\n"


def write_durations(results: Results, path: Path) -> None:
    durations = {c.nodeid: round(c.duration, 4) for c in results.cases if c.outcome != "skipped"}
    write_private(path, json.dumps(durations, indent=0, sort_keys=True))
