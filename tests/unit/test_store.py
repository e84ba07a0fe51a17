"""The collector lock: taken by a spawner, handed to the collector, dropped when it dies."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from envctl.runs import store
from envctl.runs.collector import parse_args
from envctl.runs.store import RunStore, collector_alive, collector_lock, take_collector_lock


def test_a_taken_lock_cannot_be_taken_twice(tmp_path: Path) -> None:
    """While a spawner holds the lock, the run counts as collected and nobody else gets it."""
    fd = take_collector_lock(tmp_path)
    assert fd is not None
    try:
        assert collector_alive(tmp_path)
        assert take_collector_lock(tmp_path) is None
    finally:
        os.close(fd)
    assert not collector_alive(tmp_path)


def test_a_handed_over_lock_lives_as_long_as_the_child(tmp_path: Path) -> None:
    """The spawner closes its copy; the child's inherited fd keeps the lock until it exits."""
    fd = take_collector_lock(tmp_path)
    assert fd is not None
    child = subprocess.Popen([sys.executable, "-c", "import sys; sys.stdin.read()"],
                             stdin=subprocess.PIPE, pass_fds=[fd])
    os.close(fd)
    try:
        assert collector_alive(tmp_path)
    finally:
        assert child.stdin is not None
        child.stdin.close()
        child.wait(timeout=30)
    assert not collector_alive(tmp_path)


def test_an_adopted_lock_is_released_on_exit(tmp_path: Path) -> None:
    """collector_lock(held_fd=...) yields True at once and releases the lock afterwards."""
    fd = take_collector_lock(tmp_path)
    assert fd is not None
    with collector_lock(tmp_path, held_fd=fd) as mine:
        assert mine
        assert collector_alive(tmp_path)
    assert not collector_alive(tmp_path)


def test_collector_arguments_pair_each_run_with_its_handed_over_lock() -> None:
    """`--fd N DIR` gives the run its lock; a bare DIR takes its own."""
    assert parse_args(["--fd", "5", "/r/a", "/r/b", "--fd", "7", "/r/c"]) == ([
        (Path("/r/a"), 5), (Path("/r/b"), None), (Path("/r/c"), 7)], None)
    assert parse_args(["--fd", "5", "/r/a", "--parent-fd", "6", "--parent", "/r/p"]) == (
        [(Path("/r/a"), 5)], (Path("/r/p"), 6))


def test_looking_for_a_collector_neither_takes_the_lock_nor_creates_it(tmp_path: Path) -> None:
    """collector_alive reads the kernel's lock table: a spawner at the same instant still gets
    the lock, and a run dir that never had a collector gets no lock file."""
    assert collector_alive(tmp_path) is False
    assert not (tmp_path / "collector.lock").exists()
    fd = take_collector_lock(tmp_path)
    assert fd is not None
    try:
        assert collector_alive(tmp_path) is True
        assert take_collector_lock(tmp_path) is None
    finally:
        os.close(fd)
    assert collector_alive(tmp_path) is False


def test_folders_are_private_under_any_umask(tmp_path: Path) -> None:
    """Under `umask 000`, every folder envctl creates, parents included, is 0700, and state
    files 0600; a parent that existed (the project) is left as it was."""
    from envctl.files import write_private  # noqa: PLC0415

    tmp_path.chmod(0o755)
    old = os.umask(0)
    try:
        store = RunStore(tmp_path / ".envctl" / "runs")
        run_dir = store.create("20260101-000000-abcd")
        written = write_private(tmp_path / ".envctl" / "state" / "x.json", "{}")
    finally:
        os.umask(old)
    for folder in (tmp_path / ".envctl", tmp_path / ".envctl" / "runs", run_dir, written.parent):
        assert folder.stat().st_mode & 0o777 == 0o700, folder
    assert written.stat().st_mode & 0o777 == 0o600
    assert tmp_path.stat().st_mode & 0o777 == 0o755


def test_a_crash_log_is_created_exclusively(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The crash log is a new file with a name no one can guess ahead, never one planted there."""
    from envctl import boundary  # noqa: PLC0415

    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path))
    target = tmp_path / "elsewhere"
    crashes = tmp_path / "envctl" / "crashes"
    crashes.mkdir(parents=True)
    for second in range(3):  # links at every name a predictable scheme would use
        (crashes / f"crash-x{second}.log").symlink_to(target)
    path = boundary._write_crash(RuntimeError("boom"))
    assert path.parent == crashes
    assert not path.is_symlink()
    assert path.stat().st_mode & 0o777 == 0o600
    assert "RuntimeError: boom" in path.read_text()
    assert not target.exists()


def test_the_holder_names_itself_and_a_reader_asks_it_alone(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The lock file names the holder's pid and fd; its fdinfo answers, the lock table is not read."""
    def no_table() -> set[str]:
        raise AssertionError("/proc/locks read")

    fd = take_collector_lock(tmp_path)
    assert fd is not None
    try:
        assert (tmp_path / "collector.lock").read_text() == f"{os.getpid()} {fd}\n"
        monkeypatch.setattr(store, "_flock_holders", no_table)
        assert collector_alive(tmp_path) is True
    finally:
        os.close(fd)


@pytest.mark.parametrize("named", ["", "garbage\n", "1 0\n", "999999999 3\n", "-5 3\n", "9" * 100])
def test_a_wrong_or_stale_name_falls_back_to_the_lock_table(tmp_path: Path, named: str) -> None:
    """A name that does not hold the lock (empty, damaged, another process, gone) is not
    believed either way: the kernel's table says held while held, and free once free."""
    fd = take_collector_lock(tmp_path)
    assert fd is not None
    try:
        (tmp_path / "collector.lock").write_text(named)
        assert collector_alive(tmp_path) is True
    finally:
        os.close(fd)
    assert collector_alive(tmp_path) is False


def test_without_the_lock_table_a_probe_answers_and_names_no_one(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No /proc/locks: a probe takes and drops the lock; it writes no name, and a removed
    lock file reads as no collector."""
    monkeypatch.setattr(store, "_flock_holders", lambda: None)
    fd = take_collector_lock(tmp_path)
    assert fd is not None
    try:
        (tmp_path / "collector.lock").write_text("")
        assert collector_alive(tmp_path) is True
    finally:
        os.close(fd)
    assert collector_alive(tmp_path) is False
    assert (tmp_path / "collector.lock").read_text() == ""
    (tmp_path / "collector.lock").unlink()
    (tmp_path / "collector.lock").symlink_to(tmp_path / "elsewhere")  # lstat sees it; open refuses
    assert collector_alive(tmp_path) is False


def test_a_lock_file_that_is_a_link_is_neither_followed_nor_written(tmp_path: Path) -> None:
    """A symlinked collector.lock is refused; a hard-linked one is locked but its content kept."""
    precious = tmp_path / "precious"
    precious.write_text("keep me\n")
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    (run_dir / "collector.lock").symlink_to(precious)
    with pytest.raises(OSError), collector_lock(run_dir):
        pass
    (run_dir / "collector.lock").unlink()
    os.link(precious, run_dir / "collector.lock")
    with collector_lock(run_dir) as mine:
        assert mine is True
    assert precious.read_text() == "keep me\n"
