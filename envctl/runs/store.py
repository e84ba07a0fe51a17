"""Where runs live: one private directory per run under the log dir, and the collector lock."""

from __future__ import annotations

import contextlib
import fcntl
import os
import stat
import time
from collections.abc import Iterator
from pathlib import Path

from envctl.errors import DamagedRunError, RunNotFoundError
from envctl.files import private_dir, read_regular
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
HOOK_FILE = "hook.json"  # the on_finish hook's outcome (envctl.runs.hook_outcome)
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
    fd = held_fd if held_fd is not None else os.open(
        run_dir / LOCK_FILE, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW, 0o600)
    try:
        if held_fd is None:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                yield False
                return
        _name_holder(fd)
        yield True
    finally:
        os.close(fd)


HOLDER_CAP = 64  # bytes of the lock file read: "PID FD"


def _name_holder(fd: int) -> None:
    """Write this process's pid and the lock's fd into the lock file, so that a reader asks
    that process's fdinfo whether it holds the lock (``collector_alive``)."""
    with contextlib.suppress(OSError):  # only a shortcut for readers: they look it up otherwise
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode) or info.st_nlink != 1:
            return  # written only where it cannot be another file's content
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()} {fd}\n".encode(), 0)


def _named_holder_holds(run_dir: Path, lock_id: str) -> bool:
    """Whether the process the lock file names holds the lock through the fd it names, as its
    fdinfo shows: a lock line for this very file (``lock_id``, "MAJ:MIN:INODE"). False when it
    cannot tell (no name, the process gone, another pid namespace): the caller asks the kernel's
    whole table then."""
    try:
        pid_text, fd_text = read_regular(run_dir / LOCK_FILE, HOLDER_CAP).decode("ascii").split()
        pid, fd = int(pid_text), int(fd_text)
        if pid <= 0 or fd < 0:
            return False
        with open(f"/proc/{pid}/fdinfo/{fd}", "rb") as info:  # noqa: PTH123  # a kernel file
            lines = info.read(1 << 16).splitlines()
    except (OSError, ValueError):
        return False
    # "lock:\t1: FLOCK  ADVISORY  WRITE 4364 fe:00:2146385 0 EOF"
    return any(parts[:1] == [b"lock:"] and parts[2:3] == [b"FLOCK"] and lock_id.encode() in parts
               for parts in map(bytes.split, lines))


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
            _name_holder(fd)  # this process until the collector it hands the lock to names itself
            return fd


TAKE_RETRY = 0.1


def collector_alive(run_dir: Path) -> bool:
    """Whether some process holds the run's collector lock right now.

    Looking never takes the lock (which would make a spawner at that instant think a collector
    exists) nor creates the file. First the holder the lock file names is asked (its fdinfo);
    failing that, the kernel's lock table (/proc/locks), whose every read waits ~10 ms for the
    kernel (it takes a lock that waits for an RCU grace period): most of a `status`."""
    try:
        info = (run_dir / LOCK_FILE).lstat()
    except OSError:
        return False  # never locked: no collector has ever run, or the run is gone
    lock_id = f"{os.major(info.st_dev):02x}:{os.minor(info.st_dev):02x}:{info.st_ino}"
    if _named_holder_holds(run_dir, lock_id):
        return True
    holders = _flock_holders()
    if holders is not None:
        return lock_id in holders
    try:
        fd = os.open(run_dir / LOCK_FILE, os.O_RDWR | os.O_CLOEXEC | os.O_NOFOLLOW)
    except OSError:
        return False  # removed since
    try:  # a probe: it names no holder
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)
    return False


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
