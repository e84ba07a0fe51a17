"""A failed or errored test, as annotations, summaries and reruns need it."""

from __future__ import annotations

from dataclasses import dataclass

from envctl.report.junit import Results


@dataclass(frozen=True)
class Failure:
    nodeid: str
    outcome: str  # failed or error
    message: str
    file: str | None
    line: int | None
    tail: tuple[str, ...] = ()  # the last lines of its traceback, when known


def file_and_line(nodeid: str, path: object, line: object) -> tuple[str | None, int | None]:
    """The test file as the node id names it (relative to the suite's root), and the line of the
    crash when the crash was in that file."""
    file = nodeid.split("::", 1)[0] or None
    if isinstance(path, str) and file and path.endswith(file) and isinstance(line, int):
        return file, line
    return file, None


def junit_failures(results: Results, limit: int = 1000) -> tuple[list[Failure], int]:
    """Up to ``limit`` failures of a JUnit report, and how many there are in all."""
    failures = results.failures
    return [Failure(case.nodeid, case.outcome, case.message, case.nodeid.split("::", 1)[0] or None,
                    case.line, case.tail) for case in failures[:limit]], len(failures)
