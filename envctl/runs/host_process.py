"""A process on this machine, known by its pid and its start time: a pid is reused once its
process is gone, the pair is not. What a `test --host` run's collector knows of its runner and of
the tests' process group, read back after a kill -9 of any envctl process."""

from __future__ import annotations

import contextlib
import os
import signal
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

PROC = Path("/proc")


class _Stat(NamedTuple):
    """What /proc/PID/stat says of a process that this module reads."""

    state: str  # "Z" or "X": ended, awaiting its parent
    group: int
    session: int
    start: int  # clock ticks after boot

    @property
    def ended(self) -> bool:
        return self.state in ("Z", "X")


def _stat(pid: int, proc: Path = PROC) -> _Stat | None:
    """``pid``'s stat, read once; None when there is no such process (or no /proc)."""
    try:
        raw = (proc / str(pid) / "stat").read_bytes()
    except OSError:
        return None
    # The name (field 2) is in parentheses and may hold spaces and ')': split after the last one.
    fields = raw[raw.rfind(b")") + 2:].split()
    try:
        return _Stat(fields[0].decode(), int(fields[2]), int(fields[3]), int(fields[19]))
    except (IndexError, ValueError, UnicodeDecodeError):
        return None


def start_ticks(pid: int, proc: Path = PROC) -> int | None:
    """When ``pid`` started (clock ticks after boot, /proc/PID/stat's 22nd field); None when
    there is no such process (or no /proc). A zombie still has one: see ``running``."""
    seen = _stat(pid, proc)
    return None if seen is None else seen.start


def own_commands(proc: Path = PROC) -> list[list[bytes]] | None:
    """The command lines (argv) of this user's processes in this pid namespace (None: cannot tell,
    no /proc). A test container's processes are visible here too, and one named like envctl's
    must never count as envctl's."""
    if not proc.is_dir():
        return None
    try:
        ours: Path | None = (proc / "self" / "ns" / "pid").readlink()
    except OSError:
        ours = None
    found = []
    for entry in proc.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if entry.stat().st_uid != os.getuid() or (
                    ours is not None and (entry / "ns" / "pid").readlink() != ours):
                continue
            found.append((entry / "cmdline").read_bytes().split(b"\0"))
        except OSError:
            continue
    return found


def boot_id(proc: Path = PROC) -> str | None:
    """This boot's id: a pid and start time from another boot name nothing alive now."""
    try:
        return (proc / "sys" / "kernel" / "random" / "boot_id").read_text(encoding="ascii").strip() or None
    except OSError:
        return None


@dataclass(frozen=True)
class ProcessId:
    """``pid`` as it was when it started at ``start``."""

    pid: int
    start: int

    @classmethod
    def of(cls, pid: int, proc: Path = PROC) -> ProcessId | None:
        ticks = start_ticks(pid, proc)
        return None if ticks is None else cls(pid, ticks)

    def running(self, proc: Path = PROC) -> bool:
        """The same process, and not a zombie (one that has ended and awaits its parent)."""
        seen = _stat(self.pid, proc)
        return seen is not None and seen.start == self.start and not seen.ended

    def reap(self) -> None:
        """Collect its exit if it is our child (a collector that started it), so it is no zombie."""
        with contextlib.suppress(ChildProcessError, OSError):
            os.waitpid(self.pid, os.WNOHANG)

    def to_json(self) -> dict[str, int]:
        return {"pid": self.pid, "start": self.start}

    @classmethod
    def from_json(cls, data: object) -> ProcessId:
        """ValueError when ``data`` is not a pid (1 or more: envctl may be a container's first
        process) and a start time."""
        if not isinstance(data, dict):
            raise ValueError("not a process")
        pid, start = data.get("pid"), data.get("start")
        if not (isinstance(pid, int) and not isinstance(pid, bool) and pid >= 1
                and isinstance(start, int) and not isinstance(start, bool) and start >= 0):
            raise ValueError("not a pid and a start time")
        return cls(pid, start)


def group_members(leader: ProcessId, session: int | None = None, proc: Path = PROC) -> list[int]:
    """The live processes of the group ``leader`` led (in ``session``, when given: the runner's
    own session, which the tests' group is in). A number the kernel handed out again is
    nobody's: if the leader's pid runs with another start time, the group was gone by then, and
    nothing is returned. Members start no earlier than their leader."""
    current = start_ticks(leader.pid, proc)
    if current is not None and current != leader.start:
        return []
    members = []
    try:
        entries = list(proc.iterdir())
    except OSError:
        return []
    for entry in entries:
        if not entry.name.isdigit():
            continue
        seen = _stat(int(entry.name), proc)
        if seen is None or seen.ended or seen.group != leader.pid or seen.start < leader.start \
                or (session is not None and seen.session != session):
            continue
        members.append(int(entry.name))
    return members


def signal_group(leader: ProcessId, signum: int, session: int | None = None, proc: Path = PROC) -> bool:
    """Send ``signum`` to the group ``leader`` led; whether any process of it was there."""
    members = group_members(leader, session, proc)
    if members and leader.running(proc):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(leader.pid, signum)
            return True
    for pid in members:  # the leader is gone: its group may live on (workers, a forked server)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signum)
    return bool(members)


def kill_group(leader: ProcessId, session: int | None = None, proc: Path = PROC) -> None:
    signal_group(leader, signal.SIGKILL, session, proc)
