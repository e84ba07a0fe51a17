"""How much the test container's memory grew while each test ran, read from its own cgroup at
the test's start and end (stdlib only; registered by envctl_progress on the session it records).

The container's memory cgroup is where Docker shows it: cgroup v2 in the container's own
namespace (``/sys/fs/cgroup/memory.current``, and ``memory.peak`` from kernel 5.19), cgroup v1
(``/sys/fs/cgroup/memory/memory.usage_in_bytes`` and ``memory.max_usage_in_bytes``), or, in the
host's namespace, the path ``/proc/self/cgroup`` names. The files are opened once and read with
``pread``, once a test (at its end; its start takes the reading before it). A test is written
down (a "memory" event) only when the usage grew by a MiB or more or it raised the cgroup's peak
by as much (the new peak is then written too: what a test allocates and frees before its end
shows only there); a 100,000-test run of small tests adds nothing. Under xdist the controller
reads the one cgroup the workers share, so a test's figure includes what the others did
meanwhile. Anything missing or odd turns the reading off; it never breaks a run, and the host
reads what it writes as untrusted.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable
from typing import Any

ROOT = "/sys/fs/cgroup"
PROC_CGROUP = "/proc/self/cgroup"
GREW_AT = 1 << 20  # bytes: a test whose memory grew less (and set no new peak) is not written
_PENDING_CAP = 1024  # tests started and not finished that are remembered (a crashed worker's never end)


CHOSEN_VARIABLE = "ENVCTL_MEMORY_CGROUP"  # a host run's: its memory cgroup's folder, or "off"


def cgroup_files(root: str = ROOT, proc_cgroup: str = PROC_CGROUP,
                 chosen: str | None = None) -> tuple[str, str | None] | None:
    """This process's memory cgroup: (its usage file, its peak file or None); None if none.
    ``chosen``: the folder envctl named (a `test --host` run on this machine, where the first
    candidates would be the whole machine's), "off" for none."""
    if chosen is not None:
        if chosen == "off" or not chosen.startswith("/"):
            return None
        for current, peak in ((f"{chosen}/memory.current", f"{chosen}/memory.peak"),
                              (f"{chosen}/memory.usage_in_bytes", f"{chosen}/memory.max_usage_in_bytes")):
            if os.path.isfile(current):
                return current, peak if os.path.isfile(peak) else None
        return None
    candidates = [(f"{root}/memory.current", f"{root}/memory.peak"),
                  (f"{root}/memory/memory.usage_in_bytes", f"{root}/memory/memory.max_usage_in_bytes")]
    try:
        with open(proc_cgroup, encoding="ascii", errors="replace") as handle:
            lines = handle.read(64 * 1024).splitlines()
    except OSError:
        lines = []
    for line in lines:
        _hierarchy, _sep, rest = line.partition(":")
        controllers, _sep, path = rest.partition(":")
        if not path.startswith("/") or ".." in path:
            continue
        if controllers == "":
            candidates.append((f"{root}{path}/memory.current", f"{root}{path}/memory.peak"))
        elif "memory" in controllers.split(","):
            candidates.append((f"{root}/memory{path}/memory.usage_in_bytes",
                               f"{root}/memory{path}/memory.max_usage_in_bytes"))
    for current, peak in candidates:
        if os.path.isfile(current):
            return current, peak if os.path.isfile(peak) else None
    return None


class CgroupMemory:
    """The cgroup's usage and peak in bytes, read on demand; None once a read failed."""

    def __init__(self, files: tuple[str, str | None] | None) -> None:
        self.current: int | None = None
        self.peak: int | None = None
        if files is None:
            return
        try:
            self.current = os.open(files[0], os.O_RDONLY | os.O_CLOEXEC)
            self.peak = os.open(files[1], os.O_RDONLY | os.O_CLOEXEC) if files[1] else None
        except OSError:
            self.close()

    def read(self) -> tuple[int, int | None] | None:
        if self.current is None:
            return None
        try:
            current = int(os.pread(self.current, 32, 0))
            peak = int(os.pread(self.peak, 32, 0)) if self.peak is not None else None
        except (OSError, ValueError):
            self.close()
            return None
        return current, peak

    def close(self) -> None:
        for fd in (self.current, self.peak):
            if fd is not None:
                with contextlib.suppress(OSError):
                    os.close(fd)
        self.current = self.peak = None


def growth(before: tuple[int, int | None], after: tuple[int, int | None]) -> dict[str, int] | None:
    """The event's fields when the usage grew by GREW_AT or more, or the peak rose by as much
    (then the new peak too: a test that allocates and frees shows there, not in its usage)."""
    grew = after[0] - before[0]
    rose = after[1] is not None and before[1] is not None and after[1] - before[1] >= GREW_AT
    if grew < GREW_AT and not rose:
        return None
    fields = {"before": before[0], "after": after[0]}
    if rose and after[1] is not None:
        fields["peak"] = after[1]
    return fields


class MemoryWatch:
    """pytest hooks: a "memory" event through ``emit`` for each test that grew the memory.

    The cgroup is read once a test, at its end: a test's start takes the last reading (the
    previous test's end, or the session's start), since nothing of the test runs between its
    logstart and the one before's logfinish (its fixtures come after). That halves the cost: a
    reading is two ``pread``s, about 2-4 us in a container on this machine's kind."""

    def __init__(self, emit: Callable[..., None], memory: CgroupMemory | None = None) -> None:
        self.emit = emit
        chosen = os.environ.get(CHOSEN_VARIABLE)
        self.memory = memory if memory is not None else CgroupMemory(cgroup_files(chosen=chosen))
        self.started: dict[str, tuple[int, int | None]] = {}
        self.last = self.memory.read()

    def pytest_runtest_logstart(self, nodeid: str, location: Any) -> None:
        try:  # not contextlib.suppress: it costs as much as the rest of the hook
            if self.last is not None:
                if len(self.started) >= _PENDING_CAP:
                    self.started.pop(next(iter(self.started)))
                self.started[nodeid] = self.last
        except Exception:  # noqa: S110  # the plugin must never break a run
            pass

    def pytest_runtest_logfinish(self, nodeid: str, location: Any) -> None:
        try:
            before = self.started.pop(nodeid, None)
            after = self.last = self.memory.read()
            fields = growth(before, after) if before is not None and after is not None else None
            if fields is not None:
                self.emit("memory", nodeid=nodeid, **fields)
        except Exception:  # noqa: S110  # the plugin must never break a run
            pass
