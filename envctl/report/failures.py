"""The failed and errored tests of a run, from the plugin's events or, failing that, JUnit."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from envctl.report.junit import read_junit
from envctl.runs.store import EVENTS_FILE, JUNIT_FILE


@dataclass(frozen=True)
class Failure:
    nodeid: str
    outcome: str  # failed or error
    message: str
    file: str | None
    line: int | None


def _file_and_line(nodeid: str, path: object, line: object) -> tuple[str | None, int | None]:
    """The test file as the node id names it (relative to the suite's root), and the line of the
    crash when the crash was in that file."""
    file = nodeid.split("::", 1)[0] or None
    if isinstance(path, str) and file and path.endswith(file) and isinstance(line, int):
        return file, line
    return file, None


def run_failures(run_dir: Path, limit: int = 1000) -> tuple[list[Failure], int]:
    """Up to ``limit`` failures, and how many there are in all."""
    found: list[Failure] = []
    total = 0
    events = run_dir / EVENTS_FILE
    if events.exists():
        with events.open(encoding="utf-8", errors="replace") as handle:
            for raw in handle:
                try:
                    event = json.loads(raw)
                except ValueError:
                    continue
                if event.get("kind") != "result" or event.get("outcome") not in ("failed", "error"):
                    continue
                total += 1
                if len(found) < limit:
                    nodeid = str(event.get("nodeid", ""))
                    file, line = _file_and_line(nodeid, event.get("path"), event.get("line"))
                    found.append(Failure(nodeid, str(event["outcome"]), str(event.get("message") or ""),
                                         file, line))
        return found, total
    for case in read_junit(run_dir / JUNIT_FILE).failures:
        total += 1
        if len(found) < limit:
            found.append(Failure(case.nodeid, case.outcome, case.message,
                                 case.nodeid.split("::", 1)[0] or None, case.line))
    return found, total
