"""Where runs live: one private directory per run under the log dir, and the collector lock."""

from __future__ import annotations

import contextlib
import fcntl
import os
import time
from collections.abc import Iterator
from pathlib import Path

from envctl.errors import DamagedRunError, RunNotFoundError
from envctl.files import private_dir
from envctl.runs.ids import LATEST, RUN_ID_PATTERN, complete_run_id, validate_run_id
from envctl.runs.state import RECORD_FILE, RunRecord

# The run directory (0700, the host user's; never mounted into a container). What the test
# container hands back lives in its exchange/ folder (envctl.runs.exchange).
LOCK_FILE = "collector.lock"
OUTPUT_LOG = "output.log"
TIMES_FILE = "output.times"  # when each part of the output arrived: `logs --timestamps`
CANCEL_FILE = "cancel-requested"
COLLECTOR_LOG = "collector.log"
START_FILE = "start.json"  # settings, project and request, for whoever starts or tears down
DETACHED_FILE = "detached"  # the container is started by the background process, not the caller
UNMOUNTED_RUN_DIR = "/tmp/envctl-run"  # noqa: S108  # the runner's folder in a container without mounts


class RunStore:
    """The run directories under ``root`` (the configured log dir)."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def create(self, run_id: str) -> Path:
        validate_run_id(run_id)
        private_dir(self.root)
        path = self.root / run_id
        path.mkdir(mode=0o700)
        return path

    def ids(self) -> list[str]:
        """Every run id on disk, oldest first (ids sort by time)."""
        if not self.root.is_dir():
            return []
        return sorted(p.name for p in self.root.iterdir()
                      if RUN_ID_PATTERN.fullmatch(p.name) and os.path.lexists(p / RECORD_FILE))

    def path(self, run_id: str = LATEST) -> Path:
        """The directory of ``run_id`` ("latest" = newest), validated before any path is built."""
        run_id = validate_run_id(run_id, suffix=True)
        if run_id == LATEST:
            run_id = self.latest()
        elif not RUN_ID_PATTERN.fullmatch(run_id):
            run_id = complete_run_id(run_id, self.ids())
        path = self.root / run_id
        if not os.path.lexists(path / RECORD_FILE):
            raise RunNotFoundError(f"no run {run_id} in {self.root}", hint="`envctl runs` lists the runs")
        return path

    def latest(self) -> str:
        """The newest run that is not a shard of a --shards run (damaged runs are skipped)."""
        for run_id in reversed(self.ids()):
            with contextlib.suppress(OSError, DamagedRunError):
                if RunRecord.load(self.root / run_id).parent is None:
                    return run_id
        raise RunNotFoundError(f"no runs in {self.root}", hint="start one with `envctl test`")

    def load(self, run_id: str = LATEST) -> tuple[Path, RunRecord]:
        path = self.path(run_id)
        return path, RunRecord.load(path)

    def scan(self) -> tuple[list[tuple[Path, RunRecord]], list[DamagedRunError]]:
        """Every readable run, oldest first, and an error naming each damaged one."""
        found, damaged = [], []
        for run_id in self.ids():
            try:
                found.append((self.root / run_id, RunRecord.load(self.root / run_id)))
            except DamagedRunError as exc:
                damaged.append(exc)
            except OSError:
                continue  # removed between the listing and the read
        return found, damaged

    def records(self) -> list[tuple[Path, RunRecord]]:
        """Every readable run, oldest first; damaged ones are skipped (``scan`` names them)."""
        return self.scan()[0]


@contextlib.contextmanager
def collector_lock(run_dir: Path, *, held_fd: int | None = None) -> Iterator[bool]:
    """Hold the run's collector lock while inside; yields False when another process has it.

    The kernel drops an flock when its holder dies, even by kill -9, so a dead collector never
    blocks the process that takes over. ``held_fd``: a lock already taken for this process by
    the one that spawned it (``take_collector_lock``), adopted and released on the way out.
    """
    fd = held_fd if held_fd is not None else os.open(run_dir / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        if held_fd is None:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                yield False
                return
        yield True
    finally:
        os.close(fd)


def take_collector_lock(run_dir: Path) -> int | None:
    """Take the run's collector lock for a collector about to be spawned: the fd to hand over
    (the lock lives as long as any copy of it is open), or None when a collector holds it.

    Taking it before the spawn leaves no moment in which the run looks collector-less, so a
    concurrent ``take_over`` cannot start a second collector."""
    fd = os.open(run_dir / LOCK_FILE, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW, 0o600)
    deadline = time.monotonic() + TAKE_RETRY
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            # Held for an instant by a probe (a system without /proc/locks), or by a collector.
            if time.monotonic() > deadline:
                os.close(fd)
                return None
            time.sleep(0.01)
        else:
            return fd


TAKE_RETRY = 0.1


def collector_alive(run_dir: Path) -> bool:
    """Whether some process holds the run's collector lock right now.

    Read from the kernel's lock table (/proc/locks), so looking neither takes the lock (which
    would make a spawner at that instant think a collector exists) nor creates the file."""
    try:
        info = (run_dir / LOCK_FILE).lstat()
    except OSError:
        return False  # never locked: no collector has ever run, or the run is gone
    holders = _flock_holders()
    if holders is not None:
        return f"{os.major(info.st_dev):02x}:{os.minor(info.st_dev):02x}:{info.st_ino}" in holders
    with collector_lock(run_dir) as got:
        return not got


def _flock_holders() -> set[str] | None:
    """The files flock()ed right now, as "MAJ:MIN:INODE"; None where /proc/locks is missing."""
    try:
        with open("/proc/locks", encoding="ascii", errors="replace") as table:  # noqa: PTH123  # a kernel table, read as text
            lines = table.read().splitlines()
    except OSError:
        return None
    found = set()
    for line in lines:
        parts = line.split()
        # "1: FLOCK  ADVISORY  WRITE 4364 fe:00:2146385 0 EOF"; a blocked waiter's line reads
        # "1: -> FLOCK ..." and holds nothing.
        if len(parts) >= 6 and parts[1] == "FLOCK":
            found.add(parts[5])
    return found
