"""A process known by pid and start time: alive, a zombie, a reused pid, its group signalled."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from envctl.runs.host_process import ProcessId, group_members, signal_group, start_ticks


def fake_proc(root: Path, pid: int, *, state: str = "S", group: int = 0, start: int = 100,
              name: str = "py (x) y", session: int = 1) -> None:
    """A /proc/PID/stat with the fields the module reads (the name holds spaces and a ')')."""
    (root / str(pid)).mkdir(parents=True, exist_ok=True)
    rest = [state, "1", str(group or pid), str(session)] + ["0"] * 15 + [str(start)] + ["0"] * 10
    (root / str(pid) / "stat").write_text(f"{pid} ({name}) {' '.join(rest)}\n")


def test_start_ticks_reads_the_22nd_field_after_a_tricky_name(tmp_path: Path) -> None:
    """The name may hold ') ': the fields are counted after the last ')'."""
    fake_proc(tmp_path, 42, start=12345)
    assert start_ticks(42, tmp_path) == 12345
    assert start_ticks(43, tmp_path) is None


def test_a_reused_pid_or_a_zombie_is_not_the_process(tmp_path: Path) -> None:
    """Same pid with another start time, or a zombie: not running."""
    fake_proc(tmp_path, 42, start=100)
    assert ProcessId(42, 100).running(tmp_path) is True
    assert ProcessId(42, 99).running(tmp_path) is False
    fake_proc(tmp_path, 42, start=100, state="Z")
    assert ProcessId(42, 100).running(tmp_path) is False


def test_the_group_is_its_live_members_in_the_session(tmp_path: Path) -> None:
    """Members of the leader's group, not older than it, alive, in the runner's session."""
    fake_proc(tmp_path, 50, group=50, start=100, session=40)
    fake_proc(tmp_path, 51, group=50, start=150, session=40)
    fake_proc(tmp_path, 52, group=50, start=90, session=40)
    fake_proc(tmp_path, 53, group=60, start=200, session=40)
    fake_proc(tmp_path, 54, group=50, start=160, state="Z", session=40)
    fake_proc(tmp_path, 55, group=50, start=170, session=41)
    assert sorted(group_members(ProcessId(50, 100), 40, tmp_path)) == [50, 51]
    assert sorted(group_members(ProcessId(50, 100), None, tmp_path)) == [50, 51, 55]


def test_a_reused_leader_number_is_nobodys_group(tmp_path: Path) -> None:
    """The leader's pid runs again with another start time: its group was gone by then, and a
    later group of that number (started after the old leader) is never signalled."""
    fake_proc(tmp_path, 50, group=50, start=300, session=40)
    fake_proc(tmp_path, 51, group=50, start=310, session=40)
    assert group_members(ProcessId(50, 100), 40, tmp_path) == []
    assert signal_group(ProcessId(50, 100), signal.SIGKILL, 40, tmp_path) is False


def test_from_json_refuses_what_is_not_a_process() -> None:
    """pid 0, booleans, strings, a negative start: ValueError (pid 1: envctl as a container's first
    process, as under a pid namespace of its own)."""
    assert ProcessId.from_json({"pid": 7, "start": 3}) == ProcessId(7, 3)
    assert ProcessId.from_json({"pid": 1, "start": 3}) == ProcessId(1, 3)
    for bad in ({"pid": 0, "start": 3}, {"pid": True, "start": 3}, {"pid": "7", "start": 3}, [7, 3],
                {"pid": 7, "start": -1}):
        with pytest.raises(ValueError, match="not a"):
            ProcessId.from_json(bad)


def test_signal_group_reaches_a_real_group_once_its_leader_is_gone() -> None:
    """The leader exits, its child (same group) lives on: it still gets the signal."""
    child = "import time; time.sleep(60)"
    script = f"import subprocess, sys; subprocess.Popen([sys.executable, '-c', {child!r}])"
    leader = subprocess.Popen([sys.executable, "-c", script], start_new_session=True)
    known = ProcessId.of(leader.pid)
    assert known is not None
    leader.wait(timeout=30)
    assert known.running() is False
    members = group_members(known)
    assert len(members) == 1
    assert signal_group(known, signal.SIGKILL) is True
    deadline = time.monotonic() + 30
    while group_members(known) and time.monotonic() < deadline:  # the kill lands at once; reaping may lag
        time.sleep(0.01)
    assert group_members(known) == []
