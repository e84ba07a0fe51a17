"""A JUnit report's test cases read one at a time, in memory that grows with neither the
report's size nor a test's output.

``junit.read_junit`` keeps every case of a report (a million at its cap), and its parser builds
each case's element whole, output included, before it is cut. Here the parser's target builds
only the case being read, capped: each text at ``TEXT_CAP`` (expat hands text over in pieces,
so what is past the cap is never held), each attribute at ``ATTRIBUTE_CAP``, and
``ELEMENTS_CAP`` elements in a case. The caller reads each element as ``read_junit`` would
(``junit``'s own case reader), so both give the same cases.

A report is refused for the reasons ``read_junit`` refuses one (a DOCTYPE, a UTF-16 or
non-ASCII-superset encoding); a single tag larger than ``TOKEN_CAP`` (which expat would buffer
whole) ends the reading.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET  # DOCTYPEs (the one way to declare entities) refused before parsing
from collections.abc import Iterator
from typing import BinaryIO

from envctl.report import junit
from envctl.report.junit import CASES_CAP, JUNIT_CAP, REFUSED_DOCTYPE, TEXT_CAP, refused_encoding
from envctl.text import clean_text

READ_CHUNK = 1 << 20  # bytes read from the report at a time
FEED_SLICE = 64 << 10  # bytes handed to the parser at a time: what it may buffer between two looks
TOKEN_CAP = 16 << 20  # bytes fed with no tag or text coming out: one tag that large is no pytest's
ATTRIBUTE_CAP = 8000  # characters of one attribute kept (node ids are cut at 1000, messages at 2000)
ELEMENTS_CAP = 256  # elements of one case kept (its outcome, output, properties)

_DOCTYPE = b"<!DOCTYPE"


class _Text:
    """An element's text, kept up to ``TEXT_CAP`` characters."""

    def __init__(self) -> None:
        self.parts: list[str] = []
        self.size = 0

    def add(self, text: str) -> None:
        if self.size < TEXT_CAP:
            self.parts.append(text[:TEXT_CAP - self.size])
            self.size += len(self.parts[-1])


class _Target:
    """The parser's target: the case being read (a capped element), the cases read since the
    last look, the suites seen and their properties. It holds no stack of what it ignores, only
    depths: a deep nest of elements costs nothing."""

    def __init__(self) -> None:
        self.depth = 0
        self.case_depth = 0  # the open case's depth (0: none)
        self.stack: list[tuple[ET.Element, _Text]] = []  # the open case's open elements that are kept
        self.skip_from = 0  # in the open case: where a subtree past ELEMENTS_CAP began (0: none)
        self.kept = 0
        self.done: list[ET.Element] = []
        self.suites = 0
        self.suite_depth = 0
        self.properties_depth = 0  # an open suite's first <properties> (0: none open)
        self.properties_read = False
        self.properties: dict[str, str] = {}
        self.calls = 0  # callbacks so far: none for a long while means one huge tag is buffered

    def start(self, tag: str, attrib: dict[str, str]) -> None:
        self.calls += 1
        self.depth += 1
        if self.case_depth:
            if self.skip_from or self.kept >= ELEMENTS_CAP:
                self.skip_from = self.skip_from or self.depth
                return
            self.stack.append((ET.SubElement(self.stack[-1][0], tag, _capped(attrib)), _Text()))
            self.kept += 1
        elif tag == "testcase":
            self.case_depth, self.kept = self.depth, 1
            self.stack = [(ET.Element(tag, _capped(attrib)), _Text())]
        elif tag == "testsuite":
            self.suites += 1
            self.suite_depth, self.properties_read = self.depth, False
        elif tag == "properties" and self.depth == self.suite_depth + 1 and not self.properties_read:
            self.properties_depth = self.depth
        elif tag == "property" and self.properties_depth and self.depth == self.properties_depth + 1:
            self._property(attrib.get("name"), attrib.get("value"))

    def data(self, text: str) -> None:
        self.calls += 1
        if self.stack and not self.skip_from:
            element, kept = self.stack[-1]
            if not len(element):  # its text; what follows a child is that child's tail
                kept.add(text)

    def end(self, _tag: str) -> None:
        self.calls += 1
        if self.skip_from:
            self.skip_from = 0 if self.depth == self.skip_from else self.skip_from
        elif self.case_depth:
            element, kept = self.stack.pop()
            element.text = "".join(kept.parts) or None
            if not self.stack:
                self.done.append(element)
                self.case_depth = 0
        elif self.depth == self.properties_depth:
            self.properties_depth, self.properties_read = 0, True
        elif self.depth == self.suite_depth:
            self.suite_depth = 0
        self.depth -= 1

    def close(self) -> None:
        return None

    def _property(self, name: str | None, value: str | None) -> None:
        """A suite property, as ``read_junit`` keeps them: the first of each name, within
        PROPERTIES_CAP."""
        if name is not None and value is not None and len(self.properties) < junit.PROPERTIES_CAP:
            cap = junit.PROPERTY_CAP
            self.properties.setdefault(clean_text(name, cap), clean_text(value, cap))


def _capped(attrib: dict[str, str]) -> dict[str, str]:
    return {key: value[:ATTRIBUTE_CAP] for key, value in attrib.items()}


class CaseStream:
    """The ``<testcase>`` elements of one report, read in ``READ_CHUNK``s up to ``cap`` bytes
    and ``CASES_CAP`` cases. Once the iteration has ended: ``problem`` says why the reading
    stopped early, ``suites`` counts the ``<testsuite>`` elements and ``properties`` holds
    theirs (as ``read_junit``'s results do)."""

    def __init__(self, handle: BinaryIO, cap: int = JUNIT_CAP) -> None:
        self.handle = handle
        self.cap = cap
        self.problem: str | None = None
        self.suites = 0
        self.properties: dict[str, str] = {}
        self.cases = 0

    def __iter__(self) -> Iterator[ET.Element]:
        target = _Target()
        parser = ET.XMLParser(target=target)  # noqa: S314  # no DOCTYPE reaches it (below)
        read, before, quiet = 0, b"", 0
        try:
            while self.problem is None:
                chunk = self.handle.read(min(READ_CHUNK, self.cap - read + 1))
                if not chunk:
                    parser.close()  # a report cut short (a killed pytest) is said
                    break
                if read + len(chunk) > self.cap:
                    self.problem = f"read only its first {self.cap} bytes"
                    chunk = chunk[:self.cap - read]
                refused = refused_encoding(chunk[:200]) if not read else None
                if refused or _DOCTYPE in before + chunk[:len(_DOCTYPE)] or _DOCTYPE in chunk:
                    self.problem = refused or REFUSED_DOCTYPE
                    break
                # The last bytes read, across chunks however short (a pipe's may be 1 byte).
                before, read = (before + chunk)[-len(_DOCTYPE):], read + len(chunk)
                for start in range(0, len(chunk), FEED_SLICE):
                    calls = target.calls
                    parser.feed(chunk[start:start + FEED_SLICE])
                    quiet = quiet + FEED_SLICE if target.calls == calls else 0
                    if quiet > TOKEN_CAP:
                        self.problem = f"refused: a single tag larger than {TOKEN_CAP} bytes"
                        break
                    yield from self._taken(target)
                    if self.cases >= CASES_CAP:
                        self.problem = f"read only its first {CASES_CAP} test cases"
                        break
        except (OSError, ET.ParseError, ValueError) as exc:
            self.problem = str(exc)[:200]
        self.suites, self.properties = target.suites, target.properties
        yield from self._taken(target)

    def _taken(self, target: _Target) -> Iterator[ET.Element]:
        elements, target.done = target.done, []
        for element in elements[:CASES_CAP - self.cases]:
            self.cases += 1
            yield element
