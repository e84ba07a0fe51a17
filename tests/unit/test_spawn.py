"""The collector's spawn (or fork): its own session, only its locks, and signals back to their defaults."""

from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest

from envctl import signals
from envctl.runs import collector as collector_module
from envctl.runs import spawn
from envctl.runs.store import COLLECTOR_LOG, take_collector_lock


def _ignored_mask(status: str) -> int:
    line = next(line for line in status.splitlines() if line.startswith("SigIgn:"))
    return int(line.split()[1], 16)


def test_a_collector_spawned_while_signals_are_ignored_gets_them_back(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Spawned inside a shielded cleanup (INT/TERM/HUP ignored), the collector does not inherit SIG_IGN."""
    fake = tmp_path / "fake-python"
    # Stands in for the interpreter: prints its own ignored-signal mask (stdout is collector.log).
    fake.write_text("#!/bin/sh\ngrep '^SigIgn:' /proc/$$/status\n")
    fake.chmod(stat.S_IRWXU)
    monkeypatch.setattr(sys, "executable", str(fake))
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    with signals.shielded():
        assert spawn.spawn_collector(run_dir) is True
        pid = spawn._SPAWNED[-1]
    _pid, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    mask = _ignored_mask((run_dir / COLLECTOR_LOG).read_text())
    assert [s for s in signals.HANDLED if mask & (1 << (s - 1))] == []


def test_a_collector_runs_in_a_session_of_its_own(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """setsid: a closed terminal's SIGHUP to our session never reaches the collector."""
    fake = tmp_path / "fake-python"
    fake.write_text("#!/bin/sh\nawk '{print $6}' /proc/$$/stat\n")  # field 6: the session id
    fake.chmod(stat.S_IRWXU)
    monkeypatch.setattr(sys, "executable", str(fake))
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    assert spawn.spawn_collector(run_dir) is True
    pid = spawn._SPAWNED[-1]
    os.waitpid(pid, 0)
    assert int((run_dir / COLLECTOR_LOG).read_text().split()[0]) == pid


def _forked(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """Spawn with forking allowed, the collector replaced by a stand-in that reports its state."""
    monkeypatch.setattr(spawn, "COLLECTOR_MODULE", "tests.unit.collector_stand_in")
    monkeypatch.delitem(sys.modules, "docker", raising=False)
    monkeypatch.setattr(threading, "active_count", lambda: 1)  # other tests' threads linger here
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    with spawn.fork_allowed():
        assert spawn._may_fork() is True
        assert spawn.spawn_collector(run_dir) is True
    pid = spawn._SPAWNED[-1]
    _pid, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 3  # the stand-in's main() return value
    report: dict[str, Any] = json.loads((run_dir / COLLECTOR_LOG).read_text())
    assert report["pid"] == pid
    return report


def test_a_forked_collector_is_set_up_as_a_spawned_one(tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """Forked: its own session, stdin from /dev/null, the lock handed over, signals at their defaults."""
    previous = {s: signal.getsignal(s) for s in signals.HANDLED}
    try:
        with signals.shielded():  # the caller ignores INT/TERM/HUP: the child must not
            report = _forked(tmp_path, monkeypatch)
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    assert report["sid"] == report["pid"]
    assert report["stdin"] == "/dev/null"
    assert [s for s in signals.HANDLED if report["ignored"] & (1 << (s - 1))] == []
    assert report["handlers"] == {"SIGINT": str(signal.default_int_handler), "SIGTERM": str(signal.SIG_DFL),
                                  "SIGHUP": str(signal.SIG_DFL)}
    fd = int(report["argv"][1])
    assert report["argv"] == ["--fd", str(fd), str(tmp_path / "run")]
    assert fd in report["fds"]


def test_a_forked_collector_keeps_no_descriptor_of_the_callers(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Closed in the child: a pipe the caller inherited, and the caller's own (close-on-exec) files
    and pipes, which an exec would have closed: a held lock or a captured output among them would
    otherwise stay held, or keep a reader waiting, until the run ends."""
    read_end, write_end = os.pipe()
    os.set_inheritable(write_end, True)
    own = os.open(tmp_path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        report = _forked(tmp_path, monkeypatch)
    finally:
        for fd in (write_end, read_end, own):
            os.close(fd)
    assert [fd for fd in (read_end, write_end, own) if fd in report["fds"]] == []
    lock = int(report["argv"][1])
    assert {0, 1, 2, lock} <= set(report["fds"])
    assert len(report["fds"]) <= 5  # and, at most, the one the stand-in listed /proc/self/fd with


def test_a_forked_collector_does_not_import_from_the_current_folder(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`python -m envctl` puts the current folder first on the import path; the child drops it (a
    test container can write a `shutil.py` into a mounted project)."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "path", [str(tmp_path), *sys.path])
    report = _forked(tmp_path, monkeypatch)
    assert report["path0"] != str(tmp_path)


def test_a_closed_stdout_does_not_stop_the_fork(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`envctl test --detach >&-`: no sys.stdout to flush; the collector starts all the same."""
    monkeypatch.setattr(sys, "stdout", None)
    assert _forked(tmp_path, monkeypatch)["stdin"] == "/dev/null"


def test_a_spawned_collector_never_has_the_current_folder_on_its_path() -> None:
    """The fresh interpreter runs with -P (3.11+), or drops '' itself (3.10)."""
    argv = spawn._interpreter()
    if sys.version_info >= (3, 11):
        assert argv == [sys.executable, "-P", "-m", spawn.COLLECTOR_MODULE]
    else:
        assert argv[1] == "-c" and argv[2].startswith("import sys; del sys.path[0];")


def test_only_a_command_line_forks(monkeypatch: pytest.MonkeyPatch) -> None:
    """Outside fork_allowed, with another thread alive or with the docker SDK loaded: a spawn."""
    monkeypatch.delitem(sys.modules, "docker", raising=False)
    threads = [1]
    monkeypatch.setattr(threading, "active_count", lambda: threads[0])
    assert spawn._may_fork() is False
    with spawn.fork_allowed():
        assert spawn._may_fork() is True
        monkeypatch.setitem(sys.modules, "docker", sys)
        assert spawn._may_fork() is False
        monkeypatch.delitem(sys.modules, "docker")
        threads[0] = 2
        assert spawn._may_fork() is False
        threads[0] = 1
        assert spawn._may_fork() is True
    assert spawn._may_fork() is False


def test_relative_import_path_entries_never_reach_a_collector(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`PYTHONPATH=:/x` (an empty entry: the current folder) and relative entries are dropped from
    a spawned collector's environment and from a forked one's import path; absolute ones stay."""
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(["", "src", "/opt/lib", "."]))
    assert spawn._environment()["PYTHONPATH"] == "/opt/lib"
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(["", "."]))
    assert "PYTHONPATH" not in spawn._environment()
    monkeypatch.setattr(sys, "path", ["", "src", *sys.path])
    report = _forked(tmp_path, monkeypatch)
    assert report["path0"] not in ("", "src")


def test_a_failed_fork_falls_back_to_a_spawn(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No memory for a copy of the caller: a fresh process instead, and the caller's signals are
    not left blocked."""
    def no_fork() -> int:
        raise OSError(12, "Cannot allocate memory")

    fake = tmp_path / "fake-python"
    fake.write_text("#!/bin/sh\necho spawned\n")
    fake.chmod(stat.S_IRWXU)
    monkeypatch.setattr(sys, "executable", str(fake))
    monkeypatch.setattr(os, "fork", no_fork)
    monkeypatch.delitem(sys.modules, "docker", raising=False)
    monkeypatch.setattr(threading, "active_count", lambda: 1)
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    with spawn.fork_allowed():
        assert spawn.spawn_collector(run_dir) is True
    os.waitpid(spawn._SPAWNED[-1], 0)
    assert (run_dir / COLLECTOR_LOG).read_text() == "spawned\n"
    assert [s for s in signals.HANDLED if s in signal.pthread_sigmask(signal.SIG_BLOCK, [])] == []


def _echo_python(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """An interpreter that writes its arguments to collector.log (its stdout), one a line."""
    fake = tmp_path / "fake-python"
    fake.write_text('#!/bin/sh\nfor arg in "$@"; do echo "$arg"; done\n')
    fake.chmod(stat.S_IRWXU)
    monkeypatch.setattr(sys, "executable", str(fake))


def test_nothing_to_collect_spawns_nothing(tmp_path: Path) -> None:
    """No run and no parent: False; every run already held: False, no log descriptor left open."""
    assert spawn.spawn_collector() is False
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    fd = take_collector_lock(run_dir)
    assert fd is not None
    before = sorted(spawn._open_descriptors())
    try:
        assert spawn.spawn_collector(run_dir) is False
        assert sorted(spawn._open_descriptors()) == before
    finally:
        os.close(fd)


def test_a_parent_is_handed_to_the_collector_after_its_shards(tmp_path: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """`--fd N RUN ... --parent-fd M --parent DIR`, the log in the parent's folder; both locks taken."""
    _echo_python(tmp_path, monkeypatch)
    shard, parent = tmp_path / "shard", tmp_path / "parent"
    shard.mkdir()
    parent.mkdir()
    assert spawn.spawn_collector(shard, parent=parent) is True
    os.waitpid(spawn._SPAWNED[-1], 0)
    args = (parent / COLLECTOR_LOG).read_text().splitlines()
    assert args[:3] == ["-P", "-m", "envctl.runs.collector"]
    assert [args[3], args[5], args[6], args[8]] == ["--fd", str(shard), "--parent-fd", "--parent"]
    assert args[9:] == [str(parent)]
    assert collector_module.parse_args(args[3:]) == ([(shard, int(args[4]))], (parent, int(args[7])))


def test_a_child_still_running_is_kept_to_be_reaped_later(monkeypatch: pytest.MonkeyPatch) -> None:
    """_reap keeps the pid of a collector still alive, and drops one that has ended."""
    child = subprocess.Popen(["cat"], stdin=subprocess.PIPE)  # alive until its stdin closes
    monkeypatch.setattr(spawn, "_SPAWNED", [child.pid])
    spawn._reap()
    kept = list(spawn._SPAWNED)
    assert kept == [child.pid]
    assert child.stdin is not None
    child.stdin.close()
    os.waitpid(child.pid, 0)
    child.returncode = 0  # reaped here: Popen must not wait for it again
    spawn._reap()
    kept = list(spawn._SPAWNED)
    assert kept == []
