"""Shard reports merged into one JUnit report (and the durations the next split balances on),
written case by case as they are read (``junit_stream``): memory holds a batch of cases at a
time and, for each test seen, a 16-byte digest of its node id (~100 bytes with its place in a
dict); never a report, nor any test's output.

The result is ``merge.combine``'s (``report merge``'s), case for case and problem for problem:
each case is read by ``junit``'s own case reader and written as ``merge.junit_text`` writes it.
Every case of a report is kept (a test that failed and then errored in teardown is two, as
pytest reports it). A test that an earlier report holds is dropped and is a problem, unless it
is a collector's case (a module skipped at import, which every shard reports); so is a split the
shards did not share (``splits``), and a report refused or cut short. A problem is never a pass.

The suite's counts are known only at the end: its start tag is written first with room to
spare, then rewritten in place, padded with the spaces XML allows inside a tag.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from envctl.files import private_dir
from envctl.report import splits
from envctl.report.junit import TEXTS_CAP, Results, TestCase, read_case
from envctl.report.junit_stream import CaseStream
from envctl.report.merge import junit_text

SUITE_ROOM = 256  # bytes kept for the suite's start tag: its counts and time take at most ~130
BATCH_CASES = 500  # cases written at once (one call of junit_text each: ~25 us a case alone)
BATCH_TEXT = 256 << 10  # characters of text held for one batch (its XML is held ~3 times while written)
HEAD = b"<?xml version='1.0' encoding='utf-8'?>\n<testsuites>"


@dataclass
class Merged:
    """What the merged report holds, why it is not whole, and what could not be written."""

    cases: int = 0  # written; a test may have two (failed, then errored in teardown)
    tests: int = 0  # distinct node ids
    outcomes: Counter[str] = field(default_factory=Counter)
    duration: float = 0.0
    problems: list[str] = field(default_factory=list)  # in the reports: never a pass
    unwritten: list[str] = field(default_factory=list)  # files not written (a full disk), and why

    def add(self, case: TestCase, *, new_test: bool) -> None:
        self.cases += 1
        self.tests += new_test
        self.outcomes[case.outcome] += 1
        self.duration += case.duration

    def counts(self) -> dict[str, int]:
        """pytest's numbers (``junit.outcome_counts``'s), keyed as a run's counts are."""
        return {"total": self.tests, "done": self.tests, "passed": self.outcomes["passed"],
                "failed": self.outcomes["failed"], "errors": self.outcomes["error"],
                "skipped": self.outcomes["skipped"], "xfailed": self.outcomes["xfailed"],
                "xpassed": self.outcomes["xpassed"]}

    @property
    def exit_code(self) -> int:
        """``merge.exit_code``'s: 1 on a problem or a failure, 5 when nothing ran, else 0."""
        if self.problems:
            return 1
        if not self.cases:
            return 5
        return 1 if self.outcomes["failed"] + self.outcomes["error"] else 0


def merge_reports(reports: Iterable[tuple[str, BinaryIO | None]], junit_out: Path,
                  durations_out: Path | None = None) -> Merged:
    """Merge ``reports`` (a label and an open report each, best opened as the iteration
    reaches it; closed here; None: no report) into ``junit_out`` and ``durations_out``, each
    replaced atomically and only when there is a case. A file that cannot be written (a full
    disk) is left as it was and said in ``unwritten``; the counts are whole all the same."""
    merged = Merged()
    holder: dict[bytes, int] = {}  # a test's digest -> the report that holds it
    duplicated: dict[str, list[str]] = {}
    read: list[splits.Report] = []  # what the split checks need of each report read
    texts = 0
    out = _Outputs(merged, junit_out, durations_out)
    for label, handle in reports:
        if handle is None:
            continue
        stream = CaseStream(handle)
        fresh, held_before = 0, set()  # this report's tests: new ones, and ones an earlier report holds
        with handle:
            for element in stream:
                # read_junit's own reader of a case: both give the same cases.
                case = read_case(element, with_tail=False, with_text=texts < TEXTS_CAP)
                digest = hashlib.blake2b(case.nodeid.encode("utf-8", "replace"), digest_size=16).digest()
                new = digest not in holder
                if holder.setdefault(digest, len(read)) != len(read):
                    if not case.collection:
                        held_before.add(digest)
                        labels = duplicated.setdefault(case.nodeid, [read[holder[digest]].label])
                        if label not in labels:
                            labels.append(label)
                    continue
                fresh += new and not case.collection
                merged.add(case, new_test=new)
                texts += len(case.body) + len(case.system_out) + len(case.system_err)
                out.write(case)
        read.append(splits.Report(label, stream.properties, fresh + len(held_before)))
        if stream.problem:
            merged.problems.append(f"{label}: {stream.problem}")
    merged.problems += filter(None, [splits.duplicate_problem(duplicated), *splits.split_problems(read)])
    out.finish()
    return merged


def cases_xml(cases: list[TestCase]) -> str:
    """The cases as ``merge.junit_text`` writes them (their suite and document cut away)."""
    text = junit_text(Results(cases=cases))
    return text[text.index("<testcase"):text.rindex("</testsuite>")]


def suite_tag(merged: Merged) -> bytes:
    """The suite's start tag, in JUnit's terms as pytest writes them (an xfailed test is
    skipped), padded to SUITE_ROOM bytes."""
    skipped = merged.outcomes["skipped"] + merged.outcomes["xfailed"]
    return (f'<testsuite name="envctl-merged" tests="{merged.cases}" '
            f'failures="{merged.outcomes["failed"]}" errors="{merged.outcomes["error"]}" '
            f'skipped="{skipped}" time="{merged.duration:.3f}"').encode("ascii").ljust(SUITE_ROOM - 1) + b">"


class _Atomic:
    """A file written under a temporary name (0600) beside ``path``, renamed over it once whole."""

    def __init__(self, path: Path) -> None:
        private_dir(path.parent)
        fd, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
        self.path, self.tmp = path, Path(name)
        self.handle: BinaryIO = os.fdopen(fd, "w+b")

    def commit(self) -> None:
        self.handle.flush()
        os.fsync(self.handle.fileno())
        self.handle.close()
        self.tmp.chmod(0o600)
        self.tmp.replace(self.path)

    def discard(self) -> None:
        with contextlib.suppress(OSError):
            self.handle.close()
        self.tmp.unlink(missing_ok=True)


class _Outputs:
    """The merged report and the durations being written; a write that fails drops that file
    (the other goes on)."""

    def __init__(self, merged: Merged, junit_out: Path, durations_out: Path | None) -> None:
        self.merged = merged
        self.report = self._open(junit_out, HEAD + suite_tag(merged))
        self.durations = self._open(durations_out, b"") if durations_out is not None else None
        self.batch: list[TestCase] = []
        self.batch_text = 0

    def write(self, case: TestCase) -> None:
        """Add ``case`` to the report (in batches) and its duration to the durations."""
        self.batch.append(case)
        self.batch_text += len(case.body) + len(case.system_out) + len(case.system_err) + len(case.message)
        if len(self.batch) >= BATCH_CASES or self.batch_text >= BATCH_TEXT:
            self._flush()
        if self.durations is not None and case.outcome != "skipped" and not case.collection:
            entry = f"{json.dumps(case.nodeid)}: {round(case.duration, 4)}".encode()
            separator = b",\n" if self.durations.handle.tell() else b"{\n"
            self.durations = self._write(self.durations, separator + entry)

    def finish(self) -> None:
        """Close the report (its suite's counts written in place) and the durations, and put
        them in place; or drop them when no case was merged."""
        if not self.merged.cases:
            for output in (self.report, self.durations):
                if output is not None:
                    output.discard()
            return
        self._flush()
        if self.report is not None:
            self.report = self._write(self.report, b"</testsuite></testsuites>\n")
        if self.report is not None:
            self.report.handle.seek(len(HEAD))
            self._commit(self._write(self.report, suite_tag(self.merged)))
        if self.durations is not None:
            self._commit(self._write(self.durations, b"\n}\n" if self.durations.handle.tell() else b"{}\n"))

    def _flush(self) -> None:
        batch, self.batch, self.batch_text = self.batch, [], 0
        if self.report is not None and batch:
            self.report = self._write(self.report, cases_xml(batch).encode("utf-8"))

    def _open(self, path: Path, start: bytes) -> _Atomic | None:
        try:
            output = _Atomic(path)
        except OSError as exc:
            self._failed(path, exc)
            return None
        return self._write(output, start)

    def _write(self, output: _Atomic, data: bytes) -> _Atomic | None:
        """``output`` once ``data`` is written to it; None once it failed (and was dropped)."""
        try:
            output.handle.write(data)
        except OSError as exc:
            output.discard()
            self._failed(output.path, exc)
            return None
        return output

    def _commit(self, output: _Atomic | None) -> None:
        if output is None:
            return
        try:
            output.commit()
        except OSError as exc:
            output.discard()
            self._failed(output.path, exc)

    def _failed(self, path: Path, exc: OSError) -> None:
        self.merged.unwritten.append(f"{path}: {exc.strerror or exc}")
