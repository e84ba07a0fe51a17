"""What the test container hands back, read as untrusted input.

The container runs the user's test code (in CI: a pull request's). It gets exactly one folder,
its exchange folder ``<log_dir>/.exchange/<run_id>/`` (mounted read-write), for what it hands
back: JUnit, the plugin's events and progress snapshot, and the runner's timeout marker. What
the host gives it to read (the attach gate, recorded durations) sits in the run's ``input/``,
mounted read-only. Nothing else of the run directory is visible to it, and the exchange folder
is not inside the run directory: what the tests leave there (links, FIFOs, folders the host user
cannot empty) is never part of the run directory a CI job uploads as an artifact.

Every file here is opened without following links, only if it is a regular file with a single
link, and read under a size cap; FIFOs and devices are refused before they are opened. Text from
it is parsed into typed values on the way in, node ids are stripped of control characters (they
end up in terminal lines and CI workflow commands), and nothing read here is ever taken as a
setting, a path or a command-line option.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import re
import stat
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from envctl.files import open_regular, private_dir, read_regular
from envctl.runs.ids import RUN_ID_PATTERN
from envctl.runs.result_copy import copy_capped
from envctl.text import clean_text, has_control, tail_of

EXCHANGE_ROOT = ".exchange"  # in the log dir (0700), beside the run dirs: <log_dir>/.exchange/<run_id>
INPUT_DIR = "input"  # in the run dir, mounted read-only: the attach gate and the recorded durations
JUNIT_FILE = "junit.xml"
EVENTS_FILE = "events.jsonl"
PROGRESS_FILE = "progress.json"
TIMEOUT_FILE = "timeout.json"
CLOCK_FILE = "clock.json"  # when the runner's clock started (envctl_runner.CLOCK_FILE)
ATTACHED_FILE = "attached"  # in input/: the collector is attached, the runner may start pytest
DURATIONS_FILE = "durations.json"  # in input/: what the shard split balances on
RESULT_FILES = (JUNIT_FILE, EVENTS_FILE, PROGRESS_FILE)  # copied into the run dir when collected

PROGRESS_CAP = 1 << 20
TIMEOUT_CAP = 64 << 10
RESULT_CAP = 512 << 20  # events of a 100k-test suite are tens of MiB
# What the JUnit reader reads (report.junit.JUNIT_CAP, spelled again so that a reader's start does
# not load the XML parser; a unit test keeps the two equal): a larger copy would never be read whole.
JUNIT_COPY_CAP = 256 << 20
RESULT_CAPS = {JUNIT_FILE: JUNIT_COPY_CAP, EVENTS_FILE: RESULT_CAP, PROGRESS_FILE: PROGRESS_CAP}
LINE_CAP = 1 << 20  # one event line
TEXT_CAP = 4000  # a failure message kept from an event
NODEID_CAP = 1000
COUNT_CAP = 10**9

OUTCOMES = ("passed", "failed", "skipped", "error", "xfailed", "xpassed")
COUNT_KEYS = ("total", "done", "passed", "failed", "skipped", "errors", "xfailed", "xpassed", "flaky",
              "deselected")


def box(run_dir: Path) -> Path:
    """The run's exchange folder."""
    return run_dir.parent / EXCHANGE_ROOT / run_dir.name


def create_dirs(run_dir: Path) -> None:
    """The exchange folder, writable by whatever uid the container runs as, inside the host
    user's 0700 ``.exchange`` (so no other host user reaches it); ``input/``, readable by it."""
    private_dir(run_dir.parent / EXCHANGE_ROOT)
    for path, mode in ((box(run_dir), 0o777), (run_dir / INPUT_DIR, 0o755)):
        path.mkdir(mode=mode, exist_ok=True)
        path.chmod(mode)  # mkdir's mode is cut by the umask


def remove_box(run_dir: Path) -> bool:
    """Remove the run's exchange folder (with the run); whether it is gone (what a non-root
    container left may not be: ``orphan_boxes`` finds it again)."""
    return remove_folder(box(run_dir))


def clean_nodeid(value: object) -> str | None:
    """A node id from the container, safe to show on one line; None if it is no string."""
    if not isinstance(value, str) or not value:
        return None
    return clean_text(value, NODEID_CAP)


_ARGUMENT_START = re.compile(r"[A-Za-z0-9_.]")


def rerun_argument(nodeid: str) -> str | None:
    """``nodeid`` if it can be handed to pytest as a test to run: never an option (``-p...``),
    an argument file (``@file``), an absolute path, or anything with control characters."""
    if not nodeid or len(nodeid) > NODEID_CAP or has_control(nodeid):
        return None
    if not _ARGUMENT_START.match(nodeid):
        return None
    return nodeid


def open_result(run_dir: Path, name: str) -> BinaryIO | None:
    """A result file: the host's copy once the run is collected, else the live exchange file;
    None when neither is there or the one there is refused."""
    for path in (run_dir / name, box(run_dir) / name):
        try:
            return open_regular(path)
        except FileNotFoundError:
            continue
        except OSError:
            return None
    return None


def exchange_file_exists(run_dir: Path, name: str) -> bool:
    """Whether the container left ``name`` as a regular file (a link or FIFO does not count)."""
    try:
        read_regular(box(run_dir) / name, TIMEOUT_CAP)
    except OSError:
        return False
    return True


def runner_clock(run_dir: Path) -> float | None:
    """When the runner's clock started (epoch seconds), as the container says it; None when it
    has not said (yet), or says something that is not a time. The caller clamps it."""
    try:
        data = json.loads(read_regular(box(run_dir) / CLOCK_FILE, TIMEOUT_CAP))
    except (OSError, ValueError, RecursionError):
        return None
    started = data.get("started") if isinstance(data, dict) else None
    if isinstance(started, bool) or not isinstance(started, (int, float)) or not math.isfinite(started):
        return None
    return float(started)


def copy_results(run_dir: Path) -> list[str]:
    """Copy the container's results into the run dir (host-owned from then on), each under its
    cap and the disk reserve (``result_copy``); what was refused or cut.

    Idempotent: a collector that takes over copies again, atomically replacing a copy."""
    refused = []
    for name in RESULT_FILES:
        problem = copy_capped(box(run_dir) / name, run_dir / name, RESULT_CAPS[name])
        if problem:
            refused.append(f"{name}: {problem}")
    return refused


def clear(run_dir: Path) -> None:
    """Empty the exchange folder once the container is gone and its results are copied: what
    the tests left there (links to host files, FIFOs) must not outlive the run, where a CI
    artifact upload of the run directory would follow them."""
    _clear_folder(box(run_dir))


def _rmtree(path: str) -> None:
    import shutil  # noqa: PLC0415  # clean-up alone needs it: a reader's start is spared it

    shutil.rmtree(path)


# Looked up at each call: a unit test fakes a tree the host user cannot remove (they run as root).
remove_tree: Callable[[str], None] = _rmtree


def replaced(folder: Path) -> bool:
    """Whether an exchange folder is no longer the plain folder envctl made: a link (or file) in
    its place, or the exchange root it is in a link. Both lie in the log dir, which a bind of the
    test service could once show the container (the log dir's own path is the user's, and may
    hold links): a link there must never lead clean-up elsewhere."""
    try:
        is_link_or_file = not stat.S_ISDIR(os.lstat(folder).st_mode)
    except FileNotFoundError:
        return folder.parent.is_symlink()
    except OSError:
        return True
    return is_link_or_file or folder.parent.is_symlink()


def _unlink_replacement(folder: Path) -> None:
    """Remove what was put in a folder's place: the link itself, never what it points to."""
    from envctl.log import get_logger  # noqa: PLC0415  # rare: not on a reader's path

    get_logger("envctl.exchange").warning("an exchange folder was replaced: not followed",
                                          folder=str(folder))
    if not folder.parent.is_symlink():  # else even unlink would act elsewhere
        with contextlib.suppress(OSError):
            folder.unlink()  # a folder reached through a link is refused here (IsADirectoryError)


def _clear_folder(folder: Path) -> None:
    if replaced(folder):
        _unlink_replacement(folder)
        return
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return
    for entry in entries:
        with contextlib.suppress(OSError):
            if entry.is_dir(follow_symlinks=False):
                remove_tree(entry.path)  # never follows links inside
            else:
                Path(entry.path).unlink()


def remove_folder(folder: Path) -> bool:
    """Empty and remove an exchange folder; whether it is gone. What a non-root container left
    (a 0700 folder of its uid) cannot be removed by the host user: ``leftovers`` removes it.
    A link put in its place is removed, not followed."""
    _clear_folder(folder)
    if replaced(folder):  # reached through a link: what is there is not the exchange folder
        return not os.path.lexists(folder)
    try:
        folder.rmdir()
    except FileNotFoundError:
        return True
    except OSError:
        return False
    return True


def orphan_boxes(log_dir: Path) -> list[Path]:
    """The exchange folders in ``log_dir`` whose run directory is gone: what could not be
    removed with its run, left for the next rotation to try again."""
    try:
        entries = list(os.scandir(log_dir / EXCHANGE_ROOT))
    except OSError:
        return []
    return sorted(Path(entry.path) for entry in entries
                  if RUN_ID_PATTERN.fullmatch(entry.name) and entry.is_dir(follow_symlinks=False)
                  and not os.path.lexists(log_dir / entry.name))


@dataclass(frozen=True)
class Snapshot:
    """The plugin's progress snapshot, validated."""

    counts: dict[str, int | None]
    current: str | None
    started: float | None
    updated: float | None
    running: tuple[str, ...] = ()  # every test running now (one per xdist worker)
    flaky_tests: tuple[str, ...] = ()  # tests that passed after a rerun (the first 50)


def read_snapshot(run_dir: Path) -> Snapshot | None:
    """The plugin's last progress snapshot: the host's copy once collected, else the live one."""
    handle = open_result(run_dir, PROGRESS_FILE)
    if handle is None:
        return None
    try:
        with handle:
            raw = handle.read(PROGRESS_CAP + 1)
        data = json.loads(raw) if len(raw) <= PROGRESS_CAP else None
    except (OSError, ValueError, RecursionError):
        return None
    if not isinstance(data, dict):
        return None
    counts: dict[str, int | None] = {key: _count(data.get(key)) for key in COUNT_KEYS}
    if data.get("total") is None:
        counts["total"] = None
    return Snapshot(counts, clean_nodeid(data.get("current")), _time(data.get("started")),
                    _time(data.get("updated")), _nodeids(data.get("running")),
                    _nodeids(data.get("flaky_tests")))


def _nodeids(value: object) -> tuple[str, ...]:
    """A list of node ids from the container: strings only, cleaned, at most RUNNING_CAP."""
    if not isinstance(value, list):
        return ()
    return tuple(clean_text(item, 300) for item in value[:RUNNING_CAP] if isinstance(item, str) and item)


@dataclass(frozen=True)
class Event:
    """One line of the plugin's events stream, validated."""

    kind: str
    nodeid: str | None = None
    outcome: str | None = None
    message: str = ""
    path: str | None = None
    line: int | None = None
    duration: float | None = None
    tail: tuple[str, ...] = ()  # the last lines of a failure's traceback
    flaky: bool = False  # passed after a rerun
    exitstatus: int | None = None  # the session's, on its "finish" event


RUNNING_CAP = 32  # node ids in a list from the container (the tests running now, the flaky ones)


def read_events(run_dir: Path, *, tail_bytes: int | None = None,
                containing: tuple[bytes, ...] = ()) -> Iterator[Event]:
    """The events the plugin wrote (the whole stream, or its last ``tail_bytes``); with
    ``containing``, only the lines that hold one of those byte strings are parsed (a cheap pre-filter: a 100k
    test run has 200k lines, and most readers want a few of them)."""
    handle = open_result(run_dir, EVENTS_FILE)
    if handle is None:
        return
    with handle:
        if tail_bytes is not None:
            size = handle.seek(0, os.SEEK_END)
            if size > tail_bytes:
                handle.seek(size - tail_bytes - 1)
                if handle.read(1) != b"\n":
                    handle.readline(LINE_CAP)  # the rest of a line cut by the seek
            else:
                handle.seek(0)
        read = 0
        while read < RESULT_CAP and (raw := handle.readline(LINE_CAP)):
            read += len(raw)
            if containing and not any(part in raw for part in containing):
                continue
            event = parse_event(raw)
            if event is not None:
                yield event


def has_events(run_dir: Path) -> bool:
    handle = open_result(run_dir, EVENTS_FILE)
    if handle is None:
        return False
    handle.close()
    return True


def parse_event(raw: bytes) -> Event | None:
    try:
        data: Any = json.loads(raw)
    except (ValueError, RecursionError):
        return None
    if not isinstance(data, dict) or not isinstance(data.get("kind"), str):
        return None
    outcome = data.get("outcome")
    line = data.get("line")
    duration = data.get("duration")
    return Event(
        kind=clean_text(data["kind"], 32),
        nodeid=clean_nodeid(data.get("nodeid")),
        outcome=outcome if outcome in OUTCOMES else None,
        message=str(data.get("message") or "")[:TEXT_CAP],
        path=clean_text(data["path"], NODEID_CAP) if isinstance(data.get("path"), str) else None,
        line=line if isinstance(line, int) and not isinstance(line, bool) and 0 < line < 10**8 else None,
        duration=_time(duration),
        tail=_tail(data.get("tail")),
        flaky=data.get("flaky") is True and outcome == "passed",
        exitstatus=_code(data.get("exitstatus")),
    )


def _code(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 256 else None


def _tail(value: object) -> tuple[str, ...]:
    """A traceback's last lines: strings only, each cleaned to one line and cut."""
    if not isinstance(value, list):
        return ()
    return tail_of([line for line in value if isinstance(line, str)])


def session_root(run_dir: Path) -> str | None:
    """pytest's rootdir in the container (an absolute path), from the session's first event."""
    for index, event in enumerate(read_events(run_dir)):
        if event.kind == "session":
            return event.path if event.path and event.path.startswith("/") else None
        if index > 8:
            break
    return None


def running_test(run_dir: Path, max_bytes: int = 64 * 1024) -> str | None:
    """The test that had started and not reported when the run stopped (from the events)."""
    finished: set[str] = set()
    last_started: str | None = None
    for event in read_events(run_dir, tail_bytes=max_bytes):
        # An interrupted test (timeout, cancel) has a start and no result, even though the
        # session then finished: so "finish" does not end the search.
        if event.kind == "start" and event.nodeid:
            last_started = event.nodeid
        elif event.kind == "result" and event.nodeid:
            finished.add(event.nodeid)
    return None if last_started is None or last_started in finished else last_started


def session_exit(run_dir: Path, max_bytes: int = 4096) -> int | None:
    """The exit status pytest's session ended with, as the plugin recorded it (None: it never
    reached its end: killed, or stopped with the container)."""
    found = None
    for event in read_events(run_dir, tail_bytes=max_bytes, containing=(b'"finish"',)):
        if event.kind == "finish":
            found = event.exitstatus
    return found


DURATIONS_CAP = 64 << 20  # bytes of a recorded durations file (100k tests take a few MiB)


def seed_durations(run_dir: Path, durations: Path) -> bool:
    """Hand the recorded durations to the container (read-only) for the shard split: only a
    regular file of at most DURATIONS_CAP bytes, never through a link (a container that can
    write the project folder, or a restored cache, could point it at a private host file)."""
    try:
        data = read_regular(durations, DURATIONS_CAP)
    except OSError:
        return False  # missing, a link, a FIFO or too large: the split counts tests instead
    fd = os.open(run_dir / INPUT_DIR / DURATIONS_FILE,
                 os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644)
    with os.fdopen(fd, "wb") as handle:
        os.fchmod(handle.fileno(), 0o644)  # readable by the container's user, whatever the umask
        handle.write(data)
    return True


def gate_open(run_dir: Path) -> bool:
    """Whether a collector has let the runner start pytest."""
    return (run_dir / INPUT_DIR / ATTACHED_FILE).exists()


def open_gate(run_dir: Path) -> None:
    """Let the runner in the container start pytest: the collector is attached."""
    fd = os.open(run_dir / INPUT_DIR / ATTACHED_FILE,
                 os.O_WRONLY | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644)
    os.close(fd)


def _count(value: object) -> int:
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= COUNT_CAP:
        return value
    return 0


EPOCH_MAX = 1e10  # the year 2286: a time from the container past it (or before 1970) is no time


def _time(value: object) -> float | None:
    if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value) \
            and 0 <= value < EPOCH_MAX:
        return float(value)
    return None
