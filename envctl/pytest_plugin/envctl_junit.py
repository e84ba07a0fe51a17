"""envctl's own JUnit report, written as the tests run (stdlib only; loaded by envctl_progress).

pytest's junitxml builds an element tree of every test and serializes it at the end: about 90 µs
a test, most of what envctl added to a 10,000-test suite. This writes the same xunit1 report
(pytest's element names, attributes and messages, so every JUnit reader, envctl's included,
reads it alike) one test case at a time into a side file, and at the end puts the suite's
header before it. A run killed before the end leaves only the side file, which nobody reads.
"""

from __future__ import annotations

import contextlib
import functools
import os
import re
import socket
import time
from datetime import datetime, timezone
from typing import Any

# XML 1.0 has no way to hold these characters: pytest writes them as "#xNN", and so does this.
_ILLEGAL = re.compile("[^\u0009\u000a\u000d\u0020-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
_TEXT = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;"})
_ATTR = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;",
                       "\n": "&#10;", "\r": "&#13;", "\t": "&#9;"})
_LOGGING = ("no", "log", "system-out", "system-err", "out-err", "all")


def _legal(text: str) -> str:
    if text.isprintable():  # nearly every name and path: no regex to run
        return text
    return _ILLEGAL.sub(lambda m: f"#x{ord(m.group()):02X}", text)


def attr(value: object) -> str:
    return _legal(str(value)).translate(_ATTR)


def text(value: object) -> str:
    return _legal(str(value)).translate(_TEXT)


def names_of(nodeid: str) -> tuple[str, str]:
    """pytest's (classname, name) for a node id: "tests/a_test.py::TestX::test_y[1]" ->
    ("tests.a_test.TestX", "test_y[1]")."""
    path, bracket, params = nodeid.partition("[")
    names = path.split("::")
    names[0] = _dotted(names[0])
    names[-1] += bracket + params
    return ".".join(names[:-1]), names[-1]


@functools.lru_cache(maxsize=4096)
def _dotted(file: str) -> str:
    """A test file as JUnit's classname starts (once per file, not per test)."""
    return re.sub(r"\.py$", "", file.replace("/", "."))


# pytest's report writes an xpassed test as a pass; envctl's marks it with a testcase property
# (as pytest's record_property writes them), so a reader counts pytest's "xpassed" as pytest does.
_XPASSED = '<properties><property name="envctl.outcome" value="xpassed" /></properties>'


class _Case:
    __slots__ = ("children", "duration", "location", "nodeid", "rerun", "xpassed")

    def __init__(self, nodeid: str, location: Any) -> None:
        self.nodeid = nodeid
        self.location = location
        self.duration = 0.0
        self.xpassed = False
        self.rerun = False  # an attempt pytest-rerunfailures runs again: no test case of its own
        self.children: list[str] = []  # <failure>, <error>, <skipped>, <system-out> ... as XML


class JUnitWriter:
    """Registered with pytest's plugin manager in the process that owns the results (xdist's
    controller, which gets every worker's reports)."""

    def __init__(self, path: str, *, suite_name: str = "pytest", logging: str = "no",
                 log_passing_tests: bool = True, call_durations_only: bool = False) -> None:
        self.path = path
        self.part = path + ".part"
        self.suite_name = suite_name
        self.logging = logging if logging in _LOGGING else "no"
        self.log_passing_tests = log_passing_tests
        self.call_durations_only = call_durations_only  # junit_duration_report = call
        self.cases: dict[str, _Case] = {}  # opened, not yet written (xdist interleaves them)
        self.counts = {"tests": 0, "errors": 0, "failures": 0, "skipped": 0}
        # The suite's <properties>, as pytest's record_testsuite_property writes them: a shard's
        # split (envctl_shards.split_properties), which `report merge` compares across shards.
        self.properties: dict[str, str] = {}
        self.started = time.time()
        self.broken = False
        self.handle = open(self.part, "w", encoding="utf-8")  # open until the end
        os.fchmod(self.handle.fileno(), 0o644)  # the host user reads it, whatever uid we are

    # pytest's hooks: a write that fails (a full disk) ends the report, never the run -----------

    def pytest_runtest_logreport(self, report: Any) -> None:
        if self.broken:  # _guarded, inline: this runs thrice a test
            return
        try:
            self._logreport(report)
        except Exception:  # the plugin must never break a run: the report is left unfinished
            self.broken = True

    def pytest_collectreport(self, report: Any) -> None:
        self._guarded(self._collectreport, report)

    def pytest_sessionfinish(self) -> None:
        self._guarded(self._finish)

    def _guarded(self, work: Any, *args: Any) -> None:
        if self.broken:
            return
        try:
            work(*args)
        except Exception:  # the plugin must never break a run: the report is left unfinished
            self.broken = True

    def _logreport(self, report: Any) -> None:
        nodeid = str(report.nodeid)
        case = self.cases.get(nodeid)
        if case is None or (case.rerun and report.when == "setup"):
            # A new attempt: before 16.6.1, pytest-rerunfailures never reported a rerun attempt's teardown.
            case = self.cases[nodeid] = _Case(nodeid, report.location)
        if report.when == "call" or not self.call_durations_only:
            case.duration += float(getattr(report, "duration", 0) or 0)
        outcome = report.outcome
        if outcome == "rerun":
            case.rerun = True
        if outcome == "failed":
            if report.when == "call":
                self._failure(case, report)
            else:
                if report.when == "teardown" and any(c.startswith("<failure") for c in case.children):
                    # A failed call and a failed teardown: two cases, as pytest (and the schema) has it.
                    self._write(self.cases.pop(nodeid))
                    case = self.cases[nodeid] = _Case(nodeid, report.location)
                self._error(case, report)
        elif outcome == "skipped":
            self._skipped(case, report)
        elif outcome == "passed" and report.when == "call" and hasattr(report, "wasxfail"):
            case.xpassed = True
        # "passed" adds nothing; a plugin's own outcome ("rerun": the test runs again) neither.
        if report.when == "teardown":
            if case.rerun:  # pytest-rerunfailures 16.6.1 on: the rerun attempt's teardown
                del self.cases[nodeid]
                return
            self._output(case, report)
            self._write(self.cases.pop(nodeid))

    def _collectreport(self, report: Any) -> None:
        if report.passed:
            return
        nodeid = str(report.nodeid)
        case = _Case(nodeid, getattr(report, "location", None))
        if report.failed:
            self._child(case, "error", "collection failure", str(report.longrepr))
        else:
            self._child(case, "skipped", "collection skipped", str(report.longrepr))
        self._write(case)

    def _finish(self) -> None:
        """Cases never torn down (a crashed xdist worker's test) are written as they are; then
        the report: the suite's header, the cases, the end, renamed into place at once."""
        for case in list(self.cases.values()):
            self._write(case)
        self.cases.clear()
        self.handle.close()
        counts = self.counts
        header = (
            '<?xml version="1.0" encoding="utf-8"?><testsuites>'
            f'<testsuite name="{attr(self.suite_name)}" errors="{counts["errors"]}" '
            f'failures="{counts["failures"]}" skipped="{counts["skipped"]}" tests="{counts["tests"]}" '
            f'time="{time.time() - self.started:.3f}" '
            f'timestamp="{datetime.fromtimestamp(self.started, timezone.utc).astimezone().isoformat()}" '
            f'hostname="{attr(socket.gethostname())}">')
        if self.properties:
            header += "<properties>" + "".join(
                f'<property name="{attr(name)}" value="{attr(value)}" />'
                for name, value in self.properties.items()) + "</properties>"
        tmp = self.path + ".tmp"
        try:
            with open(tmp, "w", encoding="utf-8") as out, open(self.part, encoding="utf-8") as body:
                os.fchmod(out.fileno(), 0o644)
                out.write(header)
                while chunk := body.read(1 << 20):
                    out.write(chunk)
                out.write("</testsuite></testsuites>")
            os.replace(tmp, self.path)
        finally:
            for leftover in (tmp, self.part):
                with contextlib.suppress(OSError):
                    os.unlink(leftover)

    # the children, as pytest's junitxml words them -------------------------------------------

    def _child(self, case: _Case, tag: str, message: str, body: str | None, kind: str = "") -> None:
        kind_attr = f' type="{attr(kind)}"' if kind else ""
        inner = f">{text(body)}</{tag}>" if body else " />"
        case.children.append(f'<{tag}{kind_attr} message="{attr(message)}"{inner}')

    def _failure(self, case: _Case, report: Any) -> None:
        if hasattr(report, "wasxfail"):
            self._child(case, "skipped", "xfail-marked test passes unexpectedly", None)
            return
        crash = getattr(report.longrepr, "reprcrash", None)
        message = crash.message if crash is not None else str(report.longrepr)
        self._child(case, "failure", message, str(report.longrepr))

    def _error(self, case: _Case, report: Any) -> None:
        crash = getattr(report.longrepr, "reprcrash", None)
        reason = crash.message if crash is not None else str(report.longrepr)
        when = "teardown" if report.when == "teardown" else "setup"
        self._child(case, "error", f'failed on {when} with "{reason}"', str(report.longrepr))

    def _skipped(self, case: _Case, report: Any) -> None:
        if hasattr(report, "wasxfail"):
            reason = str(report.wasxfail)
            self._child(case, "skipped", reason[8:] if reason.startswith("reason: ") else reason,
                        None, "pytest.xfail")
            return
        longrepr = report.longrepr
        if isinstance(longrepr, tuple) and len(longrepr) == 3:
            filename, lineno, reason = longrepr
            reason = str(reason)
            reason = reason[9:] if reason.startswith("Skipped: ") else reason
            self._child(case, "skipped", reason, f"{filename}:{lineno}: {reason}", "pytest.skip")
        else:
            self._child(case, "skipped", str(longrepr), str(longrepr), "pytest.skip")

    def _output(self, case: _Case, report: Any) -> None:
        """What the test printed, as pytest's junit_logging asks (nothing by default)."""
        if self.logging == "no" or (not self.log_passing_tests and not case.children):
            return
        def section(content: str, header: str) -> str:
            return "\n".join([header.center(80, "-"), content, ""])

        pending = ""
        if self.logging in ("log", "all"):
            pending = section(report.caplog, " Captured Log ")
        if self.logging in ("system-out", "out-err", "all"):
            case.children.append(f"<system-out>{text(pending + section(report.capstdout, ' Captured Out '))}"
                                 "</system-out>")
            pending = ""
        if self.logging in ("system-err", "out-err", "all"):
            case.children.append(f"<system-err>{text(section(report.capstderr, ' Captured Err '))}"
                                 "</system-err>")
        if pending:
            case.children.append(f"<system-out>{text(pending)}</system-out>")

    def _write(self, case: _Case) -> None:
        classname, name = names_of(case.nodeid)
        location = case.location if isinstance(case.location, tuple) and len(case.location) == 3 else (
            case.nodeid.split("::")[0], None, case.nodeid)
        line = f' line="{int(location[1])}"' if isinstance(location[1], int) else ""
        self.counts["tests"] += 1
        for child in case.children:
            for tag, key in (("<failure", "failures"), ("<error", "errors"), ("<skipped", "skipped")):
                if child.startswith(tag):
                    self.counts[key] += 1
                    break
        head = (f'<testcase classname="{attr(classname)}" name="{attr(name)}" file="{attr(location[0])}"'
                f'{line} time="{case.duration:.3f}"')
        children = ([_XPASSED] if case.xpassed else []) + case.children
        self.handle.write(f"{head}>{''.join(children)}</testcase>" if children else f"{head} />")
