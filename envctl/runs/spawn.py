"""Starting the collector process: one detached process per run (or per --shards run), handed
each run's lock before it exists, so no run is ever without its collector in between."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from envctl.runs.store import COLLECTOR_LOG, take_collector_lock

# Collectors started by this process. Nobody waits for them on purpose (they outlive us), but a
# long-lived caller (the Python API) reaps the finished ones so they leave no zombies behind.
_SPAWNED: list[subprocess.Popen[bytes]] = []


def spawn_collector(*run_dirs: Path, parent: Path | None = None, log_to: Path | None = None) -> bool:
    """Start one collector for ``run_dirs`` (and, once they have ended, their --shards
    ``parent``) that survives this process, its group and its session. False when every run
    named is already held by a live collector.

    Runs already held by one are left to it; the parent waits for them. One process collects
    many runs in threads, so N shards cost one interpreter, not N. ``log_to``: the run directory
    whose collector.log gets its output (default: the parent's, or the first run's).
    """
    _SPAWNED[:] = [proc for proc in _SPAWNED if proc.poll() is None]
    held = [(run_dir, fd) for run_dir in run_dirs if (fd := take_collector_lock(run_dir)) is not None]
    parent_fd = take_collector_lock(parent) if parent is not None else None
    if not held and parent_fd is None:
        return False
    argv = [sys.executable, "-m", "envctl.runs.collector"]
    for run_dir, fd in held:
        argv += ["--fd", str(fd), str(run_dir)]
    fds = [fd for _d, fd in held]
    if parent is not None and parent_fd is not None:
        argv += ["--parent-fd", str(parent_fd), "--parent", str(parent)]
        fds.append(parent_fd)
    log_dir = log_to or parent or held[0][0]
    log = os.fdopen(os.open(log_dir / COLLECTOR_LOG,
                            os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_NOFOLLOW, 0o600), "ab")
    try:
        _SPAWNED.append(subprocess.Popen(
            argv, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True, close_fds=True, pass_fds=fds,
        ))
    finally:
        log.close()
        for fd in fds:
            os.close(fd)  # the child's copies keep the locks
    return True
