"""A resumed run's one result: the tests its first run finished, then its own, as one run's JUnit
report and events (docs/run-states.md, "Resuming a run").

When a resume starts, the first run's results are copied into its run directory (``resumed-
from/``: host-only, out of reach of rotation and of the container) beside ``resume.json`` (the
run it resumes, and a token of its own). When it ends, its lifecycle joins them (``join``):

- ``junit.xml``: the first run's cases of the tests it finished (those its events report an
  outcome for: a test its interrupt cut short is left out, though pytest wrote it as passed),
  then this run's, each with the run it came from (``envctl.run``); a finished test the first
  run's JUnit lacks (a killed pytest writes none) is taken from its result event.
- ``events.jsonl``: a ``resumed`` line, then the first run's events and this run's, each part
  behind a ``part`` line naming its run, so a later resume of this run reads them all.

Joining is idempotent: a report or events file that already carries this run's token was joined
already (a collector that took over redoes the end). Counts are pytest's, over the joined cases.
"""

from __future__ import annotations

import json
import os
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from envctl.errors import EnvctlError
from envctl.files import open_regular, private_dir, read_regular, write_private
from envctl.report.junit import JUNIT_CAP, MESSAGE_CAP, TestCase, read_case
from envctl.report.junit_stream import CaseStream
from envctl.report.resumed import (
    COMBINED_PROPERTY,
    RESUMES_PROPERTY,
    ResumedReport,
    case_run,
    head_properties,
    is_combined,
    xml_safe,
)
from envctl.runs.exchange import (
    EVENTS_FILE,
    JUNIT_FILE,
    LINE_CAP,
    RESULT_CAP,
    Event,
    open_result,
    read_events,
)
from envctl.runs.ids import RUN_ID_PATTERN
from envctl.runs.remainder import read_seen
from envctl.runs.state import Counts, RunRecord
from envctl.text import clean_text

RESUME_FILE = "resume.json"
FIRST_DIR = "resumed-from"  # the first run's results, copied when the resume starts
FIRST_JUNIT = "first-junit.xml"  # not junit.xml: `report merge DIR` reads every junit.xml under DIR
RESUME_CAP = 64 << 10


@dataclass(frozen=True)
class Joined:
    """What the joined result says: pytest's counts over both parts, and the first part's."""

    counts: Counts
    earlier_tests: int  # tests the first run finished
    earlier_failures: int  # of them, failed or errored


def prepare(run_dir: Path, first_dir: Path, first: RunRecord) -> None:
    """At the resume's start: the first run's results copied in, and resume.json written."""
    private_dir(run_dir / FIRST_DIR)
    for name, copy, cap in ((JUNIT_FILE, FIRST_JUNIT, JUNIT_CAP), (EVENTS_FILE, EVENTS_FILE, RESULT_CAP)):
        handle = open_result(first_dir, name)
        if handle is None:
            continue
        with handle, (run_dir / FIRST_DIR / copy).open("wb") as out:
            (run_dir / FIRST_DIR / copy).chmod(0o600)
            copied = 0
            while copied < cap and (chunk := handle.read(min(1 << 20, cap - copied))):
                out.write(chunk)
                copied += len(chunk)
    write_private(run_dir / RESUME_FILE, json.dumps({
        "resumes": first.id, "first_resumed": first.resumes is not None, "token": secrets.token_hex(16),
        "first_failures": _failures(first)}))


def _failures(first: RunRecord) -> int:
    """The first run's failed and errored tests, as its record (host-only) counts them."""
    return first.counts.failed + first.counts.errors


def earlier_failures(run_dir: Path, record: RunRecord) -> int | None:
    """When the parts cannot be joined: how many tests failed or errored in the run this one
    resumes, as known on the host (resume.json, written at the start from the first run's
    record; else that record itself, if it is still there); None when it is not known."""
    try:
        known = json.loads(read_regular(run_dir / RESUME_FILE, RESUME_CAP)).get("first_failures")
        if isinstance(known, int) and not isinstance(known, bool) and known >= 0:
            return known
    except (OSError, ValueError, RecursionError, AttributeError):
        pass  # damaged or gone: the first run's own record is the other host-side word
    if record.resumes is None or RUN_ID_PATTERN.fullmatch(record.resumes) is None:
        return None
    try:
        return _failures(RunRecord.load(run_dir.parent / record.resumes))
    except (OSError, EnvctlError):
        return None


def _resume_file(run_dir: Path) -> dict[str, object]:
    data = json.loads(read_regular(run_dir / RESUME_FILE, RESUME_CAP))
    if not isinstance(data, dict) or not isinstance(data.get("token"), str):
        raise ValueError(f"{RESUME_FILE} is damaged")
    return data


def join(run_dir: Path, record: RunRecord) -> Joined:
    """Join the first run's results and this run's (idempotent); OSError or ValueError when
    they cannot be."""
    resume = _resume_file(run_dir)
    token, first = str(resume["token"]), str(record.resumes)
    first_joined = resume.get("first_resumed") is True  # its report and events are a joined run's
    if is_combined(open_result(run_dir, JUNIT_FILE), token):
        joined = _counted(run_dir, record.id)
    else:
        joined = _join_reports(run_dir, record.id, first, token, trust_runs=first_joined)
    if not _events_joined(run_dir, token):
        _join_events(run_dir, record.id, first, token, first_joined=first_joined)
    return joined


def _join_reports(run_dir: Path, run_id: str, first: str, token: str, *, trust_runs: bool) -> Joined:
    first_dir = run_dir / FIRST_DIR
    first_seen, own_seen = read_seen(first_dir), read_seen(run_dir)
    if first_seen.cut or own_seen.cut:  # which tests finished is not all known: no whole result
        raise ValueError("the events hold more collections or results than envctl reads")
    handle = _open(first_dir / FIRST_JUNIT)
    properties = head_properties(handle) if handle else {}
    properties.pop(COMBINED_PROPERTY, None)  # the first run's own token, if it was joined
    properties |= {RESUMES_PROPERTY: first, COMBINED_PROPERTY: token}
    out = ResumedReport(run_dir / JUNIT_FILE, properties)
    try:
        def valid(run: str) -> bool:  # a joined report's own marks; never the container's
            return trust_runs and RUN_ID_PATTERN.fullmatch(run) is not None

        _add_cases(out, _open(first_dir / FIRST_JUNIT), first_seen.finished, first, valid)
        _add_missing(out, first_dir, first_seen.finished, first)
        earlier = out.counts()
        _add_cases(out, open_result(run_dir, JUNIT_FILE), own_seen.finished, run_id, lambda _run: False)
        _add_missing(out, run_dir, own_seen.finished, run_id)
        out.commit()
    except BaseException:
        out.discard()
        raise
    return Joined(_counts(out.counts()), earlier["total"], earlier["failed"] + earlier["errors"])


def _add_cases(out: ResumedReport, handle: BinaryIO | None, finished: set[str], run: str,
               valid: Callable[[str], bool]) -> None:
    """The cases of the report ``handle`` holds whose test finished, as coming from ``run``
    (or from the run a case names itself, when ``valid`` trusts it). A test an earlier part
    holds is not taken again; two cases of one test in this report are (a failed call, then a
    failed teardown)."""
    if handle is None:
        return
    earlier = out.part()
    with handle:
        for element in CaseStream(handle):
            case = read_case(element, with_tail=False, with_text=True)
            if case.nodeid in finished and not out.holds(case.nodeid, among=earlier):
                out.add(case, case_run(element, valid) or run)


def _add_missing(out: ResumedReport, run_dir: Path, finished: set[str], run: str) -> None:
    """The finished tests a report lacks (a killed pytest writes none), from their result events."""
    if all(out.holds(nodeid) for nodeid in finished):
        return
    for event in read_events(run_dir, containing=(b'"result"',)):
        if event.kind == "result" and event.nodeid in finished and not out.holds(event.nodeid):
            case = case_of_event(event)
            if case is not None:
                out.add(case, run)


def case_of_event(event: Event) -> TestCase | None:
    """A test case from a result event (the container's words: made safe for XML)."""
    if event.nodeid is None or event.outcome is None:
        return None
    file = event.nodeid.split("::", 1)[0] or None
    tail = tuple(xml_safe(line) for line in event.tail)
    return TestCase(xml_safe(event.nodeid), event.outcome, event.duration or 0.0,
                    xml_safe(clean_text(event.message, MESSAGE_CAP)), xml_safe(file) if file else None,
                    event.line, tail, body="\n".join(tail))


def _counted(run_dir: Path, run_id: str) -> Joined:
    """The counts of a report joined already."""
    handle = open_result(run_dir, JUNIT_FILE)
    tally: dict[str, int] = {"failed": 0, "error": 0}
    ids: set[str] = set()
    earlier: set[str] = set()
    outcomes: list[str] = []
    if handle is not None:
        with handle:
            for element in CaseStream(handle):
                case = read_case(element, with_tail=False)
                ids.add(case.nodeid)
                outcomes.append(case.outcome)
                if case_run(element, lambda run: run != run_id) is not None:
                    earlier.add(case.nodeid)
                    tally[case.outcome] = tally.get(case.outcome, 0) + 1
    counts = {"total": len(ids), "done": len(ids), "passed": outcomes.count("passed"),
              "failed": outcomes.count("failed"), "errors": outcomes.count("error"),
              "skipped": outcomes.count("skipped"), "xfailed": outcomes.count("xfailed"),
              "xpassed": outcomes.count("xpassed")}
    return Joined(_counts(counts), len(earlier), tally["failed"] + tally["error"])


def _counts(values: dict[str, int]) -> Counts:
    return Counts(**values)


def _events_joined(run_dir: Path, token: str) -> bool:
    handle = open_result(run_dir, EVENTS_FILE)
    if handle is None:
        return False
    with handle:
        first = handle.readline(LINE_CAP)
    try:
        data = json.loads(first)
    except (ValueError, RecursionError):
        return False
    return isinstance(data, dict) and data.get("kind") == "resumed" and data.get("token") == token


def _join_events(run_dir: Path, run_id: str, first: str, token: str, *, first_joined: bool) -> None:
    """events.jsonl: a ``resumed`` line, the first run's events behind a ``part`` line (unless
    it was joined already: then its own lines name its parts), then this run's."""
    out = run_dir / f".{EVENTS_FILE}.joined"
    with out.open("wb") as sink:
        out.chmod(0o600)
        sink.write(json.dumps({"kind": "resumed", "run": run_id, "resumes": first, "token": token}).encode()
                   + b"\n")
        for run, handle in ((first, _open(run_dir / FIRST_DIR / EVENTS_FILE)),
                            (run_id, open_result(run_dir, EVENTS_FILE))):
            if not (run == first and first_joined):
                sink.write(json.dumps({"kind": "part", "run": run}).encode() + b"\n")
            if handle is None:
                continue
            with handle:
                written = 0
                while written < RESULT_CAP and (line := handle.readline(LINE_CAP)):
                    sink.write(line if line.endswith(b"\n") else line + b"\n")
                    written += len(line)
        sink.flush()
        os.fsync(sink.fileno())
    out.replace(run_dir / EVENTS_FILE)


def _open(path: Path) -> BinaryIO | None:
    try:
        return open_regular(path)
    except OSError:
        return None
