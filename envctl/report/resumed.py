"""A resumed run's one JUnit report: the cases of its parts (the tests its first run finished,
then its own), each marked with the run it came from (a testcase property ``envctl.run``), so
every reader of a run's report reads the whole suite as one run.

Written case by case into a temporary file beside the report (memory holds a batch of cases and
a 16-byte digest per test), the suite's counts then written in place in its start tag (padded
with the spaces XML allows inside a tag), and renamed over the report once whole. The suite's
properties are the first part's (a shard's split, which `report merge` compares) and
``envctl.resumes``; ``envctl.combined`` carries a token of the run's own, so the one who joins
the parts knows a report it joined already (the container never sees the token).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import tempfile
import xml.etree.ElementTree as ET  # writing only; what is read goes through junit_stream
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

from envctl.files import private_dir
from envctl.report.junit import TestCase
from envctl.report.junit_stream import CaseStream
from envctl.report.merge import add_case

RUN_PROPERTY = "envctl.run"  # a testcase's: the run it came from
RESUMES_PROPERTY = "envctl.resumes"  # the suite's: the run this one resumes
COMBINED_PROPERTY = "envctl.combined"  # the suite's: the joining run's token
HEAD = b"<?xml version='1.0' encoding='utf-8'?>\n<testsuites>"
SUITE_ROOM = 256  # bytes kept for the suite's start tag: its counts and time take at most ~130
HEAD_CAP = 1 << 20  # bytes read of a report to find its suite's properties (pytest writes them first)
BATCH_CASES = 500


def head_properties(handle: BinaryIO) -> dict[str, str]:
    """The suite properties at the head of a report (its first HEAD_CAP bytes); closed here."""
    with handle:
        stream = CaseStream(handle, cap=HEAD_CAP)
        for _element in stream:
            pass
    return stream.properties


def is_combined(handle: BinaryIO | None, token: str) -> bool:
    """Whether the report ``handle`` holds was joined by the run whose token is ``token``."""
    if handle is None:
        return False
    return head_properties(handle).get(COMBINED_PROPERTY) == token


def case_run(element: ET.Element, valid: Callable[[str], bool]) -> str | None:
    """The run a case of a joined report came from (its ``envctl.run``), if ``valid``."""
    for listed in element.iter("properties"):
        for item in listed:
            value = item.get("value")
            if item.get("name") == RUN_PROPERTY and value is not None and valid(value):
                return value
    return None


class ResumedReport:
    """The joined report being written to ``path``; ``commit`` puts it in place."""

    def __init__(self, path: Path, properties: dict[str, str]) -> None:
        private_dir(path.parent)
        fd, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
        self.path, self.tmp = path, Path(name)
        self.handle: BinaryIO = os.fdopen(fd, "w+b")
        self.ids: set[bytes] = set()
        self.outcomes: Counter[str] = Counter()
        self.cases = 0
        self.duration = 0.0
        self.batch: list[tuple[TestCase, str]] = []
        listed = ET.Element("properties")
        for name, value in properties.items():
            ET.SubElement(listed, "property", name=xml_safe(name), value=xml_safe(value))
        head = ET.tostring(listed, encoding="utf-8", xml_declaration=False) if properties else b""
        self.handle.write(HEAD + self._suite_tag() + head)

    def holds(self, nodeid: str, among: frozenset[bytes] | None = None) -> bool:
        """Whether a case of ``nodeid`` is written (``among``: by the parts before, ``part``'s)."""
        return _digest(nodeid) in (self.ids if among is None else among)

    def part(self) -> frozenset[bytes]:
        """A part begins: the tests the parts before it hold."""
        return frozenset(self.ids)

    def add(self, case: TestCase, run: str) -> None:
        self.ids.add(_digest(case.nodeid))
        self.outcomes[case.outcome] += 1
        self.cases += 1
        self.duration += case.duration
        self.batch.append((case, run))
        if len(self.batch) >= BATCH_CASES:
            self._flush()

    def counts(self) -> dict[str, int]:
        """pytest's numbers (``junit.outcome_counts``'s), keyed as a run's counts are."""
        tests = len(self.ids)
        return {"total": tests, "done": tests, "passed": self.outcomes["passed"],
                "failed": self.outcomes["failed"], "errors": self.outcomes["error"],
                "skipped": self.outcomes["skipped"], "xfailed": self.outcomes["xfailed"],
                "xpassed": self.outcomes["xpassed"]}

    def commit(self) -> None:
        try:
            self._flush()
            self.handle.write(b"</testsuite></testsuites>\n")
            self.handle.seek(len(HEAD))
            self.handle.write(self._suite_tag())
            self.handle.flush()
            os.fsync(self.handle.fileno())
            self.handle.close()
            self.tmp.chmod(0o600)
            self.tmp.replace(self.path)
        except BaseException:
            self.discard()
            raise

    def discard(self) -> None:
        with contextlib.suppress(OSError):
            self.handle.close()
        self.tmp.unlink(missing_ok=True)

    def _flush(self) -> None:
        suite = ET.Element("testsuite")
        for case, run in self.batch:
            add_case(suite, case, {RUN_PROPERTY: run})
        self.batch = []
        self.handle.write(b"".join(ET.tostring(element, encoding="utf-8", xml_declaration=False)
                                   for element in suite))

    def _suite_tag(self) -> bytes:
        """The suite's start tag, in JUnit's terms as pytest writes them (an xfailed test is
        skipped), padded to SUITE_ROOM bytes."""
        skipped = self.outcomes["skipped"] + self.outcomes["xfailed"]
        return (f'<testsuite name="pytest" tests="{self.cases}" failures="{self.outcomes["failed"]}" '
                f'errors="{self.outcomes["error"]}" skipped="{skipped}" '
                f'time="{self.duration:.3f}"').encode("ascii").ljust(SUITE_ROOM - 1) + b">"


def _digest(nodeid: str) -> bytes:
    return hashlib.blake2b(nodeid.encode("utf-8", "replace"), digest_size=16).digest()


_ILLEGAL = re.compile("[^\u0009\u000a\u000d\u0020-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def xml_safe(text: str) -> str:
    """``text`` with what XML 1.0 cannot hold (control characters, lone surrogates) as '?'."""
    return _ILLEGAL.sub("?", text)
