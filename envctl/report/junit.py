"""Reading pytest's JUnit XML into typed results (streamed, so a huge file costs little memory)."""

from __future__ import annotations

import xml.etree.ElementTree as ET  # pytest's output; expat expands no external entities, caps internal ones
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO


@dataclass(frozen=True)
class TestCase:
    nodeid: str
    outcome: str  # passed, failed, error, skipped
    duration: float
    message: str = ""
    file: str | None = None
    line: int | None = None


@dataclass
class Results:
    cases: list[TestCase] = field(default_factory=list)

    def count(self, outcome: str) -> int:
        return sum(1 for c in self.cases if c.outcome == outcome)

    @property
    def failures(self) -> list[TestCase]:
        return [c for c in self.cases if c.outcome in ("failed", "error")]

    def slowest(self, n: int = 10) -> list[TestCase]:
        return sorted(self.cases, key=lambda c: c.duration, reverse=True)[:n]

    @property
    def duration(self) -> float:
        return sum(c.duration for c in self.cases)


def nodeid_of(classname: str, name: str, file: str | None) -> str:
    """pytest's node id from JUnit's classname ("tests.test_x.TestY") and name."""
    if file:  # xunit1 reports name the file; the classname then adds only the test classes
        stem = Path(file).with_suffix("").as_posix().replace("/", ".")
        rest = classname[len(stem) + 1:] if classname.startswith(stem) else ""
        return "::".join([file, *(rest.split(".") if rest else []), name])
    parts = classname.split(".")
    for i in range(len(parts), 0, -1):
        if parts[i - 1].startswith("test"):
            module = "/".join(parts[:i]) + ".py"
            return "::".join([module, *parts[i:], name])
    return f"{classname}::{name}" if classname else name


def read_junit(source: Path | BinaryIO) -> Results:
    """Every testcase of a JUnit XML file (a path, or a file opened by the caller); missing or
    broken files give what was read."""
    results = Results()
    try:
        for _event, element in ET.iterparse(source, events=("end",)):  # noqa: S314  # see import
            if element.tag != "testcase":
                continue
            results.cases.append(_case(element))
            element.clear()
    except (OSError, ET.ParseError):
        pass
    return results


def _case(element: ET.Element) -> TestCase:
    file = element.get("file")
    nodeid = nodeid_of(element.get("classname", ""), element.get("name", ""), file)
    outcome, message = "passed", ""
    for child in element:
        if child.tag in ("failure", "error", "skipped"):
            outcome = {"failure": "failed", "error": "error", "skipped": "skipped"}[child.tag]
            message = child.get("message") or (child.text or "").strip()[:2000]
            break
    line = element.get("line")
    return TestCase(nodeid, outcome, float(element.get("time") or 0.0), message,
                    file, int(line) + 1 if line and line.isdigit() else None)
