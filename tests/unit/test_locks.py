"""File locks: a deadline, re-entry within a thread, and a lock that outlives its holder while a
process it handed the lock to still works."""

from __future__ import annotations

import fcntl
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from envctl.errors import CancelRequestedError, EnvironmentFailedError
from envctl.locks import file_lock, held_fds


def _taken_elsewhere(path: Path) -> bool:
    """Whether another open file description holds ``path``'s flock."""
    fd = os.open(path, os.O_RDWR)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)
    return False


def test_a_lock_is_reentrant_and_lists_its_descriptor(tmp_path: Path) -> None:
    """Held twice in one thread, listed by held_fds while held, gone after."""
    lock = tmp_path / "start.lock"
    assert held_fds() == ()
    with file_lock(lock, timeout=1, what="starting"), file_lock(lock, timeout=1, what="starting"):
        (fd,) = held_fds()
        assert _taken_elsewhere(lock) is True
    assert held_fds() == ()
    assert _taken_elsewhere(lock) is False
    with pytest.raises(OSError):  # the descriptor was closed: EBADF
        os.fstat(fd)


def test_a_process_handed_the_lock_keeps_it_after_its_starter_lets_go(tmp_path: Path) -> None:
    """The lock stays taken until the process given held_fds() ends, as with a killed starter."""
    lock = tmp_path / "start.lock"
    with file_lock(lock, timeout=1, what="starting"):
        child = subprocess.Popen([sys.executable, "-c", "import sys; sys.stdin.read()"],
                                 stdin=subprocess.PIPE, pass_fds=held_fds())
    try:
        assert _taken_elsewhere(lock) is True  # the starter let go; compose (the child) has not
    finally:
        assert child.stdin is not None
        child.stdin.close()
        child.wait(timeout=30)
    assert _taken_elsewhere(lock) is False


def test_a_lock_taken_elsewhere_times_out_or_is_cancelled(tmp_path: Path) -> None:
    """Waiting ends at the deadline (EnvironmentFailedError) or at a cancel, naming the wait."""
    lock = tmp_path / "start.lock"
    other = os.open(lock, os.O_RDWR | os.O_CREAT)
    fcntl.flock(other, fcntl.LOCK_EX)
    try:
        with pytest.raises(EnvironmentFailedError, match="another envctl has been starting p for 0s"), \
                file_lock(lock, timeout=0, what="starting p"):
            pass
        with pytest.raises(CancelRequestedError, match="cancelled while waiting for another envctl"), \
                file_lock(lock, timeout=60, what="starting p", cancelled=lambda: True):
            pass
    finally:
        os.close(other)


def test_locks_are_per_thread(tmp_path: Path) -> None:
    """Another thread does not see this thread's locks."""
    seen: list[tuple[int, ...]] = []
    with file_lock(tmp_path / "a.lock", timeout=1, what="a"):
        thread = threading.Thread(target=lambda: seen.append(held_fds()))
        thread.start()
        thread.join()
        assert len(held_fds()) == 1
    assert seen == [()]
