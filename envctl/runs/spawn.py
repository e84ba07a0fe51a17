"""Starting the collector process: one detached process per run (or per --shards run), handed
each run's lock before it exists, so no run is ever without its collector in between."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

from envctl.runs.store import COLLECTOR_LOG, take_collector_lock
from envctl.signals import HANDLED

# Collectors started by this process. Nobody waits for them on purpose (they outlive us), but a
# long-lived caller (the Python API) reaps the finished ones so they leave no zombies behind.
# Plain pids (posix_spawn), not Popen objects: a Popen still running when the caller exits is
# reported as a ResourceWarning, and these are meant to outlive it.
_SPAWNED: list[int] = []


def _reap() -> None:
    alive = []
    for pid in _SPAWNED:
        try:
            done, _status = os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            continue
        if done == 0:
            alive.append(pid)
    _SPAWNED[:] = alive


def _inherited() -> list[int]:
    """This process's inheritable descriptors above stderr."""
    try:
        candidates = [int(entry.name) for entry in Path("/proc/self/fd").iterdir()]
    except OSError:
        candidates = list(range(3, 1024))
    found = []
    for fd in candidates:
        if fd > 2:
            try:
                if os.get_inheritable(fd):
                    found.append(fd)
            except OSError:
                continue
    return found


def spawn_collector(*run_dirs: Path, parent: Path | None = None, parent_fd: int | None = None) -> bool:
    """Start one collector for ``run_dirs`` (and, once they have ended, their --shards
    ``parent``) that survives this process, its group and its session. False when every run
    named is already held by a live collector.

    Runs already held by one are left to it; the parent waits for them. One process collects
    many runs in threads, so N shards cost one interpreter, not N. Its output goes to the
    collector.log of the parent, or of the first run.
    ``parent_fd``: the parent's lock, already taken by the caller (handed over, then closed).
    """
    _reap()
    if not run_dirs and parent is None:
        return False
    log_dir = parent or run_dirs[0]
    # The log first: nothing below may fail while this process holds locks it has not handed over.
    log = os.open(log_dir / COLLECTOR_LOG, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_NOFOLLOW, 0o600)
    held = [(run_dir, fd) for run_dir in run_dirs if (fd := take_collector_lock(run_dir)) is not None]
    if parent is not None and parent_fd is None:
        parent_fd = take_collector_lock(parent)
    if not held and parent_fd is None:
        os.close(log)
        return False
    argv = [sys.executable, "-m", "envctl.runs.collector"]
    for run_dir, fd in held:
        argv += ["--fd", str(fd), str(run_dir)]
    fds = [fd for _d, fd in held]
    if parent is not None and parent_fd is not None:
        argv += ["--parent-fd", str(parent_fd), "--parent", str(parent)]
        fds.append(parent_fd)
    try:
        for fd in fds:
            os.set_inheritable(fd, True)  # handed over: the collector holds these locks from now on
        # A session of its own (setsid): it survives this process, its group and its terminal.
        # Only the handed-over locks reach it: an inherited pipe (a caller's captured output)
        # kept open by the collector would keep that caller waiting until the run ends.
        actions: list[tuple[Any, ...]] = [(os.POSIX_SPAWN_CLOSE, fd) for fd in _inherited() if fd not in fds]
        actions += [(os.POSIX_SPAWN_OPEN, 0, os.devnull, os.O_RDONLY, 0),
                    (os.POSIX_SPAWN_DUP2, log, 1), (os.POSIX_SPAWN_DUP2, log, 2)]
        # Signals back to their defaults: a collector started during a shielded cleanup (or under
        # nohup) would otherwise inherit SIG_IGN, which survives exec, and never end on SIGTERM.
        _SPAWNED.append(os.posix_spawn(sys.executable, argv, dict(os.environ), setsid=True,
                                       setsigdef=HANDLED, file_actions=actions))
    finally:
        os.close(log)
        for fd in fds:
            os.close(fd)  # the child's copies keep the locks
    return True
