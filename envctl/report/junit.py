"""Reading pytest's JUnit XML into typed results (streamed, so a huge file costs little memory)."""

from __future__ import annotations

import math
import re
import xml.etree.ElementTree as ET  # pytest's output, refused at once if it declares a DOCTYPE (below)
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import BinaryIO, Protocol

from envctl.text import TAIL_LINES, TAIL_WIDTH, clean_text, tail_of

# pytest's own outcomes, as its summary line counts them. In JUnit an xfailed test is a
# <skipped type="pytest.xfail">; an xpassed one is a pass (pytest's report marks it nowhere), which
# envctl's own report marks with a testcase property (XPASSED below).
OUTCOMES = ("passed", "failed", "error", "skipped", "xfailed", "xpassed")
XFAIL_TYPE = "pytest.xfail"
OUTCOME_PROPERTY = "envctl.outcome"  # a testcase <property>: "xpassed" where JUnit says passed
# pytest's words for a collector's report (a module skipped at import, a file that cannot be
# collected): a case of its own, with no `type`, that every shard of a split reports alike.
COLLECTION_MESSAGES = {"skipped": "collection skipped", "error": "collection failure"}


@dataclass(frozen=True)
class TestCase:
    nodeid: str
    outcome: str  # one of OUTCOMES
    duration: float
    message: str = ""
    file: str | None = None
    line: int | None = None
    tail: tuple[str, ...] = ()  # a failure's last traceback lines (the element's text)
    # Kept only when asked (`report merge` writes them back): the failure's whole text (the
    # traceback) and what the test printed, each cut at TEXT_CAP.
    body: str = ""
    system_out: str = ""
    system_err: str = ""
    collection: bool = False  # a collector's report (a module skipped at import), not a test's


class Outcome(Protocol):
    """Anything with a node id and one of OUTCOMES (a TestCase, the HTML report's case)."""

    @property
    def nodeid(self) -> str: ...
    @property
    def outcome(self) -> str: ...


def outcome_counts(cases: Iterable[Outcome]) -> dict[str, int]:
    """pytest's numbers for ``cases``, keyed as a run's counts are: ``total`` (and ``done``) is
    the tests and collectors reported, each once, though a test that failed and then errored in
    teardown is two cases (pytest counts it "1 failed, 1 error" too)."""
    tally: Counter[str] = Counter()
    ids = set()
    for case in cases:
        tally[case.outcome] += 1
        ids.add(case.nodeid)
    return {"total": len(ids), "done": len(ids), "passed": tally["passed"], "failed": tally["failed"],
            "errors": tally["error"], "skipped": tally["skipped"], "xfailed": tally["xfailed"],
            "xpassed": tally["xpassed"]}


TAILS_CAP = 1000  # failures that keep their traceback's tail: memory stays flat at 100k failures
TEXT_CAP = 64 * 1024  # bytes of one body, system-out or system-err kept for a merge
TEXTS_CAP = 64 << 20  # bytes of such text kept in all; past it, cases keep their message only


@dataclass
class Results:
    cases: list[TestCase] = field(default_factory=list)
    suites: int = 0  # <testsuite> elements seen: none means the file is not a JUnit report
    problem: str | None = None  # why reading stopped early (not XML, unreadable); or a merge's
    properties: dict[str, str] = field(default_factory=dict)  # the suites' <properties> (capped)

    def count(self, outcome: str) -> int:
        return sum(1 for c in self.cases if c.outcome == outcome)

    def counts(self) -> dict[str, int]:
        """pytest's numbers for these cases (``outcome_counts``)."""
        return outcome_counts(self.cases)

    @property
    def failures(self) -> list[TestCase]:
        return [c for c in self.cases if c.outcome in ("failed", "error")]

    def slowest(self, n: int = 10) -> list[TestCase]:
        return sorted(self.cases, key=lambda c: c.duration, reverse=True)[:n]

    @property
    def duration(self) -> float:
        return sum(c.duration for c in self.cases)


@lru_cache(maxsize=4096)
def _dotted(file: str) -> str:
    """A test file as JUnit's classname starts: "tests/pkg/foo_test.py" -> "tests.pkg.foo_test"."""
    return Path(file).with_suffix("").as_posix().replace("/", ".")


def nodeid_of(classname: str, name: str, file: str | None) -> str:
    """pytest's node id from JUnit's classname ("tests.test_x.TestY") and name."""
    if file:  # xunit1 reports name the file; the classname then adds only the test classes
        stem = _dotted(file)
        if not classname and name == stem:  # a module's own case (skipped at collection): its file
            return file
        rest = classname[len(stem) + 1:] if classname.startswith(stem) else ""
        return "::".join([file, *(rest.split(".") if rest else []), name])
    parts = classname.split(".")
    for i in range(len(parts), 0, -1):
        if parts[i - 1].startswith("test"):
            module = "/".join(parts[:i]) + ".py"
            return "::".join([module, *parts[i:], name])
    return f"{classname}::{name}" if classname else name


JUNIT_CAP = 256 << 20  # bytes read of one report (a 100k-test report is tens of MiB)
CASES_CAP = 1_000_000
MESSAGE_CAP = 2000
NODEID_CAP = 1000
PROPERTIES_CAP = 100  # suite properties kept from one report
PROPERTY_CAP = 200  # characters of a property's name or value
_LINE = re.compile(r"[0-9]{1,8}")
# pytest never writes a DOCTYPE, and without one no entity can be declared: refusing any keeps a
# hostile report from expanding entities ("billion laughs" within expat's own 100x guard). The
# scan is on raw bytes, so the encoding must be one where "<!DOCTYPE" is those very bytes.
_DOCTYPE = b"<!DOCTYPE"
_DECLARED = re.compile(rb"""\s*<\?xml[^>]*?\bencoding\s*=\s*["']([A-Za-z0-9._-]{1,40})["']""")
_ASCII_SUPERSETS = frozenset({"utf-8", "utf8", "us-ascii", "ascii", "iso-8859-1", "latin-1", "latin1"})
REFUSED_DOCTYPE = "refused: the report declares a DOCTYPE, which pytest never writes"


def refused_encoding(start: bytes) -> str | None:
    """Why a report that starts with ``start`` is refused for its encoding, or None (the
    DOCTYPE scan is on raw bytes, so only encodings where those are ASCII's pass)."""
    if start.startswith((b"\xff\xfe", b"\xfe\xff")) or b"\x00" in start[:4]:
        return "refused: the report is UTF-16 or UTF-32, which pytest never writes"
    declared = _DECLARED.match(start.removeprefix(b"\xef\xbb\xbf"))
    if declared and declared.group(1).decode("ascii").lower() not in _ASCII_SUPERSETS:
        return f"refused: the report's encoding is {declared.group(1).decode('ascii')}, not UTF-8"
    return None


def read_junit(source: Path | BinaryIO, cap: int = JUNIT_CAP, *, keep_text: bool = False) -> Results:
    """Every testcase of a JUnit XML file (a path, or a file opened by the caller), read in
    chunks up to ``cap`` bytes and ``CASES_CAP`` cases; a missing, broken or hostile file gives
    what could be read, never an exception. ``keep_text``: each case keeps its failure text and
    output too (up to TEXT_CAP each, TEXTS_CAP in all)."""
    reader = _Reader(keep_text)
    try:
        handle = source.open("rb") if isinstance(source, Path) else source
    except OSError as exc:
        reader.results.problem = exc.strerror or str(exc)
        return reader.results
    read = 0
    before = b""  # the last bytes read: a DOCTYPE split across any number of reads is seen too
    try:
        while read < cap and len(reader.results.cases) < CASES_CAP:
            chunk = handle.read(min(1 << 20, cap - read))
            if not chunk:
                break
            refused = refused_encoding(chunk[:200]) if not read else None
            if refused or _DOCTYPE in before + chunk[:len(_DOCTYPE)] or _DOCTYPE in chunk:
                reader.results.problem = refused or REFUSED_DOCTYPE
                break
            before = (before + chunk[-len(_DOCTYPE):])[-len(_DOCTYPE):]  # reads may be shorter than it
            read += len(chunk)
            reader.feed(chunk)
    except (OSError, ET.ParseError, ValueError) as exc:
        reader.results.problem = str(exc)[:200]
    finally:
        if isinstance(source, Path):
            handle.close()
    return reader.results


class _Reader:
    """Cases out of a stream of XML chunks; each case element is emptied once read."""

    def __init__(self, keep_text: bool) -> None:
        self.results = Results()
        self.keep_text = keep_text
        self.parser: ET.XMLPullParser[ET.Element] = ET.XMLPullParser(events=("end",))
        self.tails = self.texts = 0

    def feed(self, chunk: bytes) -> None:
        self.parser.feed(chunk)
        for event in self.parser.read_events():
            element: object = event[-1] if isinstance(event, tuple) else None
            if not isinstance(element, ET.Element):
                continue
            if element.tag == "testsuite":
                self.results.suites += 1
                self._suite_properties(element)
                element.clear()
            elif element.tag == "testcase" and len(self.results.cases) < CASES_CAP:
                case = read_case(element, with_tail=self.tails < TAILS_CAP,
                             with_text=self.keep_text and self.texts < TEXTS_CAP)
                self.tails += bool(case.tail)
                self.texts += len(case.body) + len(case.system_out) + len(case.system_err)
                self.results.cases.append(case)
                element.clear()

    def _suite_properties(self, suite: ET.Element) -> None:
        """The suite's own <properties> (first child, as pytest writes them): the first of each
        name is kept, within PROPERTIES_CAP."""
        found = suite.find("properties")
        kept = self.results.properties
        for item in found if found is not None else ():
            name, value = item.get("name"), item.get("value")
            if item.tag != "property" or name is None or value is None or len(kept) >= PROPERTIES_CAP:
                continue
            kept.setdefault(clean_text(name, PROPERTY_CAP), clean_text(value, PROPERTY_CAP))


def read_case(element: ET.Element, *, with_tail: bool = True, with_text: bool = False) -> TestCase:
    """One ``<testcase>`` element as a TestCase: ``read_junit``'s reader of a case, and
    ``junit_stream``'s callers' (so a report read whole or as a stream gives the same cases).
    ``with_tail``: a failure keeps its traceback's last lines; ``with_text``: its whole text
    and output too (each cut at TEXT_CAP)."""
    file = element.get("file")
    nodeid = clean_text(nodeid_of(element.get("classname", ""), element.get("name", ""), file), NODEID_CAP)
    outcome, message, body = "passed", "", ""
    tail: tuple[str, ...] = ()
    output = {"system-out": "", "system-err": ""}
    collection = xpassed = False
    for child in element:
        if with_text and child.tag in output:
            output[child.tag] = (child.text or "")[:TEXT_CAP]
        elif child.tag == "properties":
            xpassed = any(p.get("name") == OUTCOME_PROPERTY and p.get("value") == "xpassed" for p in child)
        if child.tag in ("failure", "error", "skipped") and outcome == "passed":
            outcome = {"failure": "failed", "error": "error", "skipped": "skipped"}[child.tag]
            message = (child.get("message") or (child.text or "").strip())[:MESSAGE_CAP]
            kind = child.get("type")
            if outcome == "skipped" and kind == XFAIL_TYPE:
                outcome = "xfailed"
            collection = kind is None and child.get("message") == COLLECTION_MESSAGES.get(outcome)
            if with_tail and outcome in ("failed", "error") and child.text:
                tail = tail_of(child.text[-TAIL_LINES * (TAIL_WIDTH + 10):].strip().splitlines())
            if with_text:
                body = (child.text or "")[:TEXT_CAP]
    line = element.get("line") or ""
    return TestCase(nodeid, "xpassed" if xpassed and outcome == "passed" else outcome,
                    _seconds(element.get("time")), message,
                    clean_text(file, NODEID_CAP) if file else None,
                    int(line) + 1 if _LINE.fullmatch(line) else None, tail, body,
                    output["system-out"], output["system-err"], collection)


def _seconds(value: str | None) -> float:
    """A test's time: 0.0 for anything but a finite, non-negative number."""
    try:
        seconds = float(value or 0.0)
    except (ValueError, OverflowError):
        return 0.0
    # A test's time beyond a day is no test's: a hostile 1e308 would sum to an infinite duration.
    return seconds if math.isfinite(seconds) and 0 <= seconds <= 86400 * 7 else 0.0
