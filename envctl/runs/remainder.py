"""What a run did not finish, from its events: the tests it collected (the plugin's ``tests``
events, envctl_select) less the tests it reported (``result`` events), in collection order;
and the selection a resume hands its container.

The events come from the test container: they are read as untrusted input (``exchange``'s
file rules and caps), and a node id is kept only if it can name a test exactly (``exchange.
rerun_argument``: no control characters, no option or argument file, not cut). The ids a resume
runs are never pytest arguments: the plugin compares them with what it collected.

A test counts as finished once pytest reported its outcome (its call, or a setup that failed or
skipped); a test whose outcome never came (running when the run ended) and one that never
started are left to run.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

from envctl.runs.container import IN_CONTAINER_INPUT
from envctl.runs.exchange import (
    EVENTS_FILE,
    INPUT_DIR,
    LINE_CAP,
    RESULT_CAP,
    open_result,
    rerun_argument,
)

SELECT_FILE = "select.json"  # in input/ (read-only in the container): the tests a resume runs
SELECT_VARIABLE = "ENVCTL_SELECT"  # envctl_select.SELECT_VARIABLE, spelled again (never imported)
IN_CONTAINER_SELECT = f"{IN_CONTAINER_INPUT}/{SELECT_FILE}"
IDS_CAP = 1_000_000  # node ids read from one run's events (envctl_select.IDS_CAP)
# A run collects once (a joined resume once per part): far more "collected" lines is not a run
# of ours, and each would cost memory, so past this the events are not taken as listing the run.
SEGMENTS_CAP = 1000


@dataclass
class Seen:
    """What a run's events say of its tests."""

    collected: dict[str, None] = field(default_factory=dict)  # accepted node ids, in order
    refused: dict[str, None] = field(default_factory=dict)  # ids that cannot name a test exactly
    finished: set[str] = field(default_factory=set)
    started: set[str] = field(default_factory=set)
    segments: list[list[int]] = field(default_factory=list)  # [total, ids listed] per collection
    cut: bool = False  # more collections or results than kept (SEGMENTS_CAP, IDS_CAP): not all is known

    @property
    def listed(self) -> bool:
        """Whether every collection the run made listed its ids whole (none cut, none missing)."""
        return (bool(self.segments) and not self.cut
                and all(listed >= total for total, listed in self.segments))


@dataclass(frozen=True)
class Remainder:
    """The tests a resume runs, and what else the first run's events said."""

    nodeids: tuple[str, ...]  # to run, in collection order
    refused: tuple[str, ...]  # not finished, but their ids cannot name a test exactly
    running: int  # of nodeids: started, no outcome (running when the run ended)
    collected: int
    finished: int

    @property
    def never_started(self) -> int:
        return len(self.nodeids) - self.running


def read_seen(run_dir: Path) -> Seen:
    """The run's tests as its events list them (the host's copy, else the live exchange file)."""
    seen = Seen()
    handle = open_result(run_dir, EVENTS_FILE)
    if handle is None:
        return seen
    with handle:
        read = 0
        while read < RESULT_CAP and (raw := handle.readline(LINE_CAP)):
            read += len(raw)
            _take(seen, raw)
    return seen


def _take(seen: Seen, raw: bytes) -> None:
    try:
        event = json.loads(raw)
    except (ValueError, RecursionError):
        return
    if not isinstance(event, dict):
        return
    kind, nodeid = event.get("kind"), event.get("nodeid")
    if kind == "result" and isinstance(nodeid, str):
        _finished(seen, nodeid)
    elif kind == "start" and isinstance(nodeid, str) and nodeid in seen.collected:
        seen.started.add(nodeid)  # only ever asked of a collected test: bounded as they are
    elif kind == "collected":
        if len(seen.segments) >= SEGMENTS_CAP:
            seen.cut = True
            return
        total = event.get("total")
        whole = total if isinstance(total, int) and not isinstance(total, bool) and total >= 0 else None
        seen.segments.append([IDS_CAP + 1 if whole is None else whole, 0])  # no number: never whole
    elif kind == "tests" and seen.segments and isinstance(event.get("ids"), list):
        for item in event["ids"]:
            if not isinstance(item, str) or len(seen.collected) + len(seen.refused) >= IDS_CAP:
                continue
            seen.segments[-1][1] += 1
            if rerun_argument(item) is None:
                seen.refused.setdefault(item, None)
            else:
                seen.collected.setdefault(item, None)


def _finished(seen: Seen, nodeid: str) -> None:
    """``nodeid`` into ``finished``, at most IDS_CAP of them, so what is kept does not grow with
    what the container writes beyond its ids (a collector's result comes before any collection,
    so one not collected is kept too); past the cap the events are not whole."""
    if nodeid in seen.finished:
        return
    if len(seen.finished) >= IDS_CAP:
        seen.cut = True
        return
    seen.finished.add(nodeid)


def remainder_of(seen: Seen) -> Remainder:
    """The tests ``seen`` did not finish."""
    left = tuple(n for n in seen.collected if n not in seen.finished)
    return Remainder(nodeids=left,
                     refused=tuple(n for n in seen.refused if n not in seen.finished),
                     running=sum(1 for n in left if n in seen.started),
                     collected=len(seen.collected) + len(seen.refused),
                     finished=sum(1 for n in (*seen.collected, *seen.refused) if n in seen.finished))


def write_selection(run_dir: Path, nodeids: tuple[str, ...]) -> None:
    """Hand the container the tests to run (input/, mounted read-only): readable whatever uid
    it runs as; created here, never through a link."""
    fd = os.open(run_dir / INPUT_DIR / SELECT_FILE,
                 os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        os.fchmod(handle.fileno(), 0o644)
        json.dump(list(nodeids), handle)
