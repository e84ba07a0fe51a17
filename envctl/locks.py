"""A lock between envctl processes (and threads), on a file: taken with a deadline, re-entrant
within a thread, and dropped by the kernel when its holder dies, even by kill -9."""

from __future__ import annotations

import contextlib
import fcntl
import os
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from envctl.errors import CancelRequestedError, EnvironmentFailedError

_held = threading.local()  # the lock files this thread holds, how deeply, and their descriptors


def held_fds() -> tuple[int, ...]:
    """The descriptors of the locks this thread holds now: a process that creates containers
    under a lock (``compose up``, ``compose run``) is handed them, so the lock outlives a
    starter killed while that process still works (an flock is dropped only when every process
    holding its descriptor has closed it)."""
    return tuple(_held.__dict__.get("fds", {}).values())


@contextlib.contextmanager
def file_lock(path: Path, *, timeout: float, what: str,
              cancelled: Callable[[], bool] | None = None) -> Iterator[None]:
    """Hold ``path``'s flock inside; EnvironmentFailedError naming ``what`` after ``timeout``,
    CancelRequestedError as soon as ``cancelled`` says so while waiting."""
    depth: dict[Path, int] = _held.__dict__.setdefault("depth", {})
    if depth.get(path):
        depth[path] += 1
        try:
            yield
        finally:
            depth[path] -= 1
        return
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if cancelled is not None and cancelled():
                    raise CancelRequestedError(f"cancelled while waiting for another envctl {what}") from None
                if time.monotonic() > deadline:
                    raise EnvironmentFailedError(
                        f"another envctl has been {what} for {timeout:.0f}s",
                        hint="wait for it to finish, or look for a stuck envctl process") from None
                time.sleep(0.05)
        depth[path] = 1
        fds: dict[Path, int] = _held.__dict__.setdefault("fds", {})
        fds[path] = fd
        try:
            yield
        finally:
            del depth[path]
            del fds[path]
    finally:
        os.close(fd)
