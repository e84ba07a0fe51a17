"""A process on this machine, known by its pid and its start time: a pid is reused once its
process is gone, the pair is not. What a `test --host` run's collector knows of its runner and of
the tests' process group, read back after a kill -9 of any envctl process."""

from __future__ import annotations

import contextlib
import os
import signal
from dataclasses import dataclass
from pathlib import Path

PROC = Path("/proc")


def start_ticks(pid: int, proc: Path = PROC) -> int | None:
    """When ``pid`` started (clock ticks after boot, /proc/PID/stat's 22nd field); None when
    there is no such process (or no /proc). A zombie still has one: see ``running``."""
    try:
        raw = (proc / str(pid) / "stat").read_bytes()
    except OSError:
        return None
    # The name (field 2) is in parentheses and may hold spaces and ')': split after the last one.
    fields = raw[raw.rfind(b")") + 2:].split()
    try:
        return int(fields[19])
    except (IndexError, ValueError):
        return None


def _state_group_session(pid: int, proc: Path = PROC) -> tuple[str, int, int] | None:
    try:
        raw = (proc / str(pid) / "stat").read_bytes()
    except OSError:
        return None
    fields = raw[raw.rfind(b")") + 2:].split()
    try:
        return fields[0].decode(), int(fields[2]), int(fields[3])
    except (IndexError, ValueError, UnicodeDecodeError):
        return None


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
        if start_ticks(self.pid, proc) != self.start:
            return False
        seen = _state_group_session(self.pid, proc)
        return seen is not None and seen[0] not in ("Z", "X")

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
        pid = int(entry.name)
        seen = _state_group_session(pid, proc)
        ticks = start_ticks(pid, proc)
        if seen is None or ticks is None or seen[0] in ("Z", "X") or seen[1] != leader.pid \
                or ticks < leader.start or (session is not None and seen[2] != session):
            continue
        members.append(pid)
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
