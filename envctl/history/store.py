"""Every test's outcome and duration over the last runs, kept beside the runs (``<log_dir>/
history.jsonl``) so it outlives `envctl gc`.

The file is JSON lines, column by column: a header line naming the runs (oldest first), then one
line per test, ``[nodeid, letters, durations]``, with one outcome letter and one duration (in
milliseconds, or null) per run of the header. A 100,000-test suite over 30 runs is ~20 MB, and
the file is bounded both in runs and in bytes (the oldest runs go first).

It is rewritten whole on each record, atomically (temp file, fsync, rename): a kill -9 mid-write
leaves the previous file. Recorders (two collectors ending at once, a --shards parent and a
shard's collector) take turns under a lock file beside it (``history.jsonl.lock``), so none
loses another's run. A run too large for the byte cap on its own is kept cut (its failures
first) and its header entry says how many tests were left out ("cut"): the file never passes the cap.

A damaged file (cut, edited, hostile) is read line by line: a bad line is skipped, a bad header
gives an empty history; every number is checked for its type (a bool is no number) and range
before use, so reading never raises.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

from envctl.files import open_regular, private_dir, write_private
from envctl.locks import file_lock
from envctl.text import clean_text

HISTORY_FILE = "history.jsonl"
SCHEMA = "envctl/history/1"
MAX_RUNS = 30
MAX_BYTES = 64 << 20
READ_CAP = 256 << 20  # bytes read of a history file: a planted huge one costs no more
NODEID_CAP = 1000
KEY_CAP = 200
EPOCH_MAX = 1e10  # a run's end, in epoch seconds (year 2286): past it the value is damage
MS_MAX = 10**10  # one duration in milliseconds (115 days)
COUNT_MAX = 10**9  # tests left out of one run
LOCK_TIMEOUT = 30.0  # seconds to wait for another recorder (one record of 100k tests takes ~1 s)
LOCK_SUFFIX = ".lock"

# One letter per outcome; "r": passed after a rerun; "-": not in that run.
OUTCOME_LETTERS = {"passed": "p", "failed": "f", "error": "e", "skipped": "s", "xfailed": "x",
                   "xpassed": "X", "flaky": "r"}
FAILED_LETTERS = frozenset("fe")
PASSED_LETTERS = frozenset("pr")  # "r": passed after a rerun
ABSENT = "-"
_LETTERS = frozenset(OUTCOME_LETTERS.values()) | {ABSENT}


@dataclass(frozen=True)
class Outcome:
    """One test's result in the run being recorded."""

    nodeid: str
    outcome: str  # passed, failed, error, skipped, xfailed, xpassed
    duration: float
    flaky: bool = False  # passed after a rerun


@dataclass(frozen=True)
class HistoryRun:
    run_id: str
    command: str  # command_key of its command
    code: str  # e.g. the commit it tested; "" when unknown
    at: float = 0.0
    cut: int = 0  # its tests left out to keep the file under its byte cap (0: none)


@dataclass
class History:
    runs: list[HistoryRun] = field(default_factory=list)  # oldest first
    tests: dict[str, tuple[str, list[int | None]]] = field(default_factory=dict)  # letters, ms
    problem: str | None = None  # why the file was not read whole

    def last_outcomes(self, nodeid: str, last: int = 20) -> str:
        """The test's last ``last`` outcome letters, oldest first ("-": not in that run)."""
        found = self.tests.get(nodeid)
        return found[0][-last:] if found else ""

    def durations(self, nodeid: str) -> tuple[float, float] | None:
        """The test's p50 and p95 duration in seconds over the runs it ran in (None: never ran)."""
        found = self.tests.get(nodeid)
        if not found:
            return None
        letters, durations = found
        values = sorted(ms for letter, ms in zip(letters, durations, strict=True)
                        if ms is not None and letter != ABSENT)
        if not values:
            return None
        return _percentile(values, 50) / 1000, _percentile(values, 95) / 1000


def _percentile(values: list[int], percent: int) -> float:
    """Nearest-rank percentile of sorted ``values``."""
    rank = max(1, math.ceil(percent / 100 * len(values)))
    return float(values[rank - 1])


def command_key(command: Iterable[str]) -> str:
    """A short stable key for a test command (its argv): runs of the same command compare."""
    return hashlib.sha256(json.dumps(list(command)).encode("utf-8")).hexdigest()[:16]


def load(path: Path, only: Collection[str] | None = None) -> History:
    """The history in ``path``; empty if it is missing. Never raises: a damaged line is skipped, a
    link, FIFO or oversized file is not read (``problem`` says why). ``only``: keep just these
    tests; the other lines are not parsed past their node id (a failures view needs a few tests
    of 100,000: a tenth of the time)."""
    history = History()
    try:
        with open_regular(path) as handle:
            data = handle.read(READ_CAP + 1)
    except FileNotFoundError:
        return history
    except OSError as exc:
        history.problem = f"not read: {exc.strerror or exc}"
        return history
    if len(data) > READ_CAP:
        data = data[:READ_CAP]
        history.problem = f"read only its first {READ_CAP} bytes"
    lines = data.split(b"\n")
    header = _json(lines[0])
    runs = _runs(header)
    if runs is None:
        history.problem = "its header is damaged"
        return history
    history.runs = runs
    width = len(runs)
    bad = 0
    for raw in lines[1:]:
        if not raw.strip() or (only is not None and _nodeid_of(raw) not in only):
            continue
        row = _json(raw)
        if not (isinstance(row, list) and len(row) == 3 and isinstance(row[0], str) and row[0]
                and isinstance(row[1], str) and len(row[1]) == width and set(row[1]) <= _LETTERS
                and isinstance(row[2], list) and len(row[2]) == width):
            bad += 1
            continue
        # A duration: an int, never a bool (whose type is not int), in [0, MS_MAX), else unknown;
        # a 400-digit int compares without any conversion. Inline: a call per value (3 million
        # for 100k tests over 30 runs) was half the read.
        history.tests[clean_text(row[0], NODEID_CAP)] = (
            row[1], [v if type(v) is int and 0 <= v < MS_MAX else None for v in row[2]])
    if bad and history.problem is None:
        history.problem = f"{bad} damaged lines skipped"
    return history


def _nodeid_of(raw: bytes) -> str | None:
    """The node id a test's line starts with (its first JSON string, as ``load`` keys it),
    without parsing the rest of the line; None for a line that does not start with one."""
    if not raw.startswith(b'["'):
        return None
    try:
        text, _end = _DECODER.raw_decode(raw.decode("utf-8", "replace"), 1)
    except (ValueError, RecursionError):
        return None
    return clean_text(text, NODEID_CAP) if isinstance(text, str) else None


_DECODER = json.JSONDecoder()


def _json(raw: bytes) -> object:
    try:
        return json.loads(raw)
    except (ValueError, RecursionError, OverflowError):
        return None


def _number(value: object, low: float, high: float) -> float | None:
    """``value`` if it is an int or a float (never a bool) with ``low <= value < high``; None
    otherwise. Compared before any conversion: float() of a 400-digit int, or isfinite() of it,
    raises OverflowError, and NaN fails both comparisons."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value) if low <= value < high else None


def _string(value: object) -> str:
    return clean_text(value, KEY_CAP) if isinstance(value, str) else ""


def _runs(header: object) -> list[HistoryRun] | None:
    if not isinstance(header, dict) or header.get("schema") != SCHEMA:
        return None
    if not isinstance(header.get("runs"), list):
        return None
    runs = []
    for item in header["runs"]:
        if not isinstance(item, dict) or not isinstance(item.get("run"), str) or not item["run"]:
            return None
        cut = item.get("cut", 0)
        runs.append(HistoryRun(_string(item["run"]), _string(item.get("command")), _string(item.get("code")),
                               _number(item.get("at"), 0, EPOCH_MAX) or 0.0,
                               cut if isinstance(cut, int) and _number(cut, 0, COUNT_MAX) is not None else 0))
    return runs


def _duration_ms(seconds: object) -> int | None:
    """A test's duration as recorded: whole milliseconds; None for what is no duration (NaN, inf, a
    bool, a 400-digit int from a hostile report). A negative one is 0."""
    value = _number(seconds, -math.inf, MS_MAX / 1000)
    return None if value is None else round(max(0.0, value) * 1000)


def lock_path(path: Path) -> Path:
    """The lock file beside the history at ``path``."""
    return path.with_name(path.name + LOCK_SUFFIX)


def record(path: Path, run_id: str, command: str, code: str, cases: Iterable[Outcome], *,
           at: float = 0.0, max_runs: int = MAX_RUNS, max_bytes: int = MAX_BYTES,
           lock_timeout: float = LOCK_TIMEOUT) -> History:
    """Add one run's outcomes to the history at ``path`` (re-recording a run replaces it), keep
    the last ``max_runs`` runs and at most ``max_bytes``, write it atomically; the new history.

    Read, change and write happen under the lock file beside it: EnvironmentFailedError when
    another recorder held it for ``lock_timeout`` seconds; ValueError when ``max_bytes`` cannot
    hold even the run's header (nothing written)."""
    cases = list(cases)
    private_dir(path.parent)
    with file_lock(lock_path(path), timeout=lock_timeout, what="recording the test history"):
        run = HistoryRun(clean_text(run_id, KEY_CAP), clean_text(command, KEY_CAP), clean_text(code, KEY_CAP),
                         _number(at, 0, EPOCH_MAX) or 0.0)
        result = _recorded(load(path), run, cases, max_runs)
        write_private(path, _bounded_text(result, max_bytes))
    return result


def _recorded(history: History, new: HistoryRun, cases: list[Outcome], max_runs: int) -> History:
    keep = [i for i, run in enumerate(history.runs) if run.run_id != new.run_id]
    runs = [history.runs[i] for i in keep] + [new]
    now: dict[str, tuple[str, int | None]] = {}
    for case in cases:
        letter = "r" if case.flaky and case.outcome == "passed" else OUTCOME_LETTERS.get(case.outcome, ABSENT)
        now[clean_text(case.nodeid, NODEID_CAP)] = (letter, _duration_ms(case.duration))
    tests: dict[str, tuple[str, list[int | None]]] = {}
    for nodeid, (letters, durations) in history.tests.items():
        letter, ms = now.pop(nodeid, (ABSENT, None))
        tests[nodeid] = ("".join(letters[i] for i in keep) + letter, [durations[i] for i in keep] + [ms])
    absent = ABSENT * (len(runs) - 1)
    for nodeid, (letter, ms) in now.items():
        before: list[int | None] = [None] * (len(runs) - 1)
        tests[nodeid] = (absent + letter, [*before, ms])
    result = History(runs, tests)
    _trim(result, max(1, max_runs))
    return result


def _bounded_text(history: History, max_bytes: int) -> str:
    """The file's text for ``history``, at most ``max_bytes`` of UTF-8: the oldest runs go first,
    and a last run too large on its own is cut (``_cut_last``). ``history`` is changed to match."""
    text = _text(history)
    while len(text.encode("utf-8")) > max_bytes and len(history.runs) > 1:
        # Drop a quarter of the runs at a time (oldest first): a few serializations, not thirty.
        _trim(history, len(history.runs) - max(1, len(history.runs) // 4))
        text = _text(history)
    if len(text.encode("utf-8")) > max_bytes:
        _cut_last(history, max_bytes)
        text = _text(history)
    return text


def _cut_last(history: History, max_bytes: int) -> None:
    """Keep of the one run left the tests that fit in ``max_bytes`` (its failures first, then in
    order), and mark the run with how many were left out."""
    header_cap = len(_header(replace(history.runs[-1], cut=len(history.tests))).encode("utf-8")) + 1
    if header_cap > max_bytes:
        raise ValueError(f"the history's byte cap ({max_bytes}) cannot hold one run's header")
    sizes = {nodeid: len(_line(nodeid, letters, durations).encode("utf-8")) + 1
             for nodeid, (letters, durations) in history.tests.items()}
    order = sorted(history.tests, key=lambda nodeid: history.tests[nodeid][0][-1:] not in FAILED_LETTERS)
    room, kept = max_bytes - header_cap, set()
    for nodeid in order:
        if sizes[nodeid] <= room:
            room -= sizes[nodeid]
            kept.add(nodeid)
    history.runs[-1] = replace(history.runs[-1], cut=len(history.tests) - len(kept))
    history.tests = {nodeid: value for nodeid, value in history.tests.items() if nodeid in kept}


def _trim(history: History, runs: int) -> None:
    """Keep the last ``runs`` runs; drop tests that are in none of them."""
    drop = max(0, len(history.runs) - runs)
    if not drop:
        return
    history.runs = history.runs[drop:]
    kept: dict[str, tuple[str, list[int | None]]] = {}
    for nodeid, (letters, durations) in history.tests.items():
        if letters[drop:].strip(ABSENT):
            kept[nodeid] = (letters[drop:], durations[drop:])
    history.tests = kept


def _header(*runs: HistoryRun) -> str:
    entries = [{"run": r.run_id, "command": r.command, "code": r.code, "at": r.at}
               | ({"cut": r.cut} if r.cut else {}) for r in runs]
    return json.dumps({"schema": SCHEMA, "runs": entries}, separators=(",", ":"))


def _line(nodeid: str, letters: str, durations: list[int | None]) -> str:
    return json.dumps([nodeid, letters, durations], separators=(",", ":"))


def _text(history: History) -> str:
    lines = [_header(*history.runs)]
    lines += [_line(nodeid, letters, durations) for nodeid, (letters, durations) in history.tests.items()]
    return "\n".join(lines) + "\n"


View = tuple[str, float | None, float | None]  # strip, p50, p95


def views(history: History, nodeids: Iterable[str]) -> Mapping[str, View]:
    """Each test's strip and p50/p95 (what the HTML report shows), for the tests asked about."""
    out: dict[str, View] = {}
    for nodeid in nodeids:
        if nodeid in history.tests:
            percentiles = history.durations(nodeid)
            out[nodeid] = (history.last_outcomes(nodeid), *(percentiles or (None, None)))
    return out
