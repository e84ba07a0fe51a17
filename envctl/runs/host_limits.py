"""The cgroup of a `test --host` run: its memory, CPU and pids limits on this machine, where the
host lets the user make a cgroup, and otherwise one line saying why the limits are not applied.

Where it goes. On cgroup v2 (a cgroup2 mount whose ``cgroup.controllers`` offers memory, cpu or
pids, e.g. ``/sys/fs/cgroup`` itself), ``<mount>/envctl/envctl-<run_id>``, the controllers
enabled in the ``cgroup.subtree_control`` of the mount and of ``envctl/`` as needed; when that is
refused (a user, not root), once under the parent of this process's own cgroup, if that parent
is the user's (a systemd user manager's slice: delegation). On cgroup v1 (this kind of machine:
one hierarchy per controller, a cgroup2 without controllers beside them),
``<hierarchy>/envctl/envctl-<run_id>`` in each of the memory, cpu and pids hierarchies, and in
cpuacct's when it is mounted apart from cpu (the CPU time is only there). The shared ``envctl``
folder is made when missing and removed with the last run's cgroup.

The limits: memory with no swap beside it (v1 ``memory.memsw.limit_in_bytes`` equal to the
limit, v2 ``memory.swap.max`` 0), so a test over the limit is OOM-killed rather than slowed down
to a crawl; CPU as a CFS quota (``cpus`` times the period); pids as ``pids.max``. A limit of 0
or less means none for that controller; its cgroup is still made, for the figures.

Nothing here raises for the machine's state: ``make`` answers a reason, ``usage`` answers None
figures, ``remove`` answers what stays. The runner process imports this module before it starts
the tests, so it takes the standard library only, and nothing heavy of it.

This module is the run's cgroup's life (made, joined, read, killed, removed, found again) and
the names the rest of envctl imports; the parts are cgroup_values (HostCgroup, HostUsage, the
shared names), cgroup_mounts (where the cgroup file systems are), cgroup_make (the making and
the limits) and cgroup_files (a cgroup's files read and written).
"""

from __future__ import annotations

import contextlib
import errno
import os
import signal
import time
from pathlib import Path
from typing import TYPE_CHECKING

from envctl.runs import cgroup_files, cgroup_mounts
from envctl.runs.cgroup_files import why
from envctl.runs.cgroup_make import CFS_PERIOD_US, DENIED, MIN_QUOTA_US, Made, make_v1, make_v2
from envctl.runs.cgroup_values import (
    CGROUP_ROOT,
    FOLDER,
    MOUNTINFO,
    NOT_APPLIED,
    OWN_CGROUP,
    PREFIX,
    RUN_ID_PATTERN,
    V1_CONTROLLERS,
    V2_CONTROLLERS,
    HostCgroup,
    HostUsage,
    run_id_of,
)

if TYPE_CHECKING:
    from envctl.runs.state import Limits

__all__ = [
    "CFS_PERIOD_US",
    "CGROUP_ROOT",
    "DENIED",
    "FOLDER",
    "KILL_ROUNDS",
    "MIN_QUOTA_US",
    "MOUNTINFO",
    "NOT_APPLIED",
    "OWN_CGROUP",
    "PREFIX",
    "REMOVE_PAUSE",
    "REMOVE_TRIES",
    "RUN_ID_PATTERN",
    "V1_CONTROLLERS",
    "V1_UNLIMITED",
    "V2_CONTROLLERS",
    "HostCgroup",
    "HostUsage",
    "cgroup_version",
    "join",
    "kill_all",
    "leftovers",
    "make",
    "pids",
    "remove",
    "run_id_of",
    "usage",
]

V1_UNLIMITED = 1 << 62  # v1 says "no limit" with its largest page count: 9223372036854771712 bytes
REMOVE_TRIES = 20  # rmdir attempts of a cgroup whose processes are being killed...
REMOVE_PAUSE = 0.05  # ...this many seconds apart: a second in all
KILL_ROUNDS = 10  # reads of the pids while killing: a process forking meanwhile is caught next round


def cgroup_version(*, root: Path = CGROUP_ROOT, mountinfo: Path = MOUNTINFO) -> int | None:
    """The cgroup version ``make`` would use on this machine; None when there is no cgroup file
    system with the memory, cpu or pids controller (or mountinfo cannot be read)."""
    try:
        chosen = cgroup_mounts.layout(cgroup_mounts.mounts(mountinfo, root))
    except OSError:
        return None
    return None if chosen is None else chosen[0]


def make(run_id: str, limits: Limits, *, root: Path = CGROUP_ROOT, mountinfo: Path = MOUNTINFO,
         own_cgroup: Path = OWN_CGROUP) -> HostCgroup | str:
    """The run's cgroup(s) made, with ``limits`` set; or a one-line reason they are not applied
    (whatever was made on the way is removed). ValueError for a malformed ``run_id`` only."""
    name = PREFIX + run_id
    if run_id_of(name) is None:
        raise ValueError(f"{run_id!r} is not a run id")
    try:
        chosen = cgroup_mounts.layout(cgroup_mounts.mounts(mountinfo, root))
    except OSError as exc:
        return f"cannot read {mountinfo}: {why(exc)}; {NOT_APPLIED}"
    if chosen is None:
        return f"no cgroup file system with the memory, cpu or pids controller under {root}; {NOT_APPLIED}"
    layout, mounts = chosen
    made = Made()
    try:
        return make_v1(made, name, limits, mounts, root) if layout == 1 \
            else make_v2(made, name, limits, mounts[0], own_cgroup)
    except OSError as exc:  # every step says what it failed at; this is the net under them
        made.undo()
        return f"cannot make the run's cgroup: {why(exc)}; {NOT_APPLIED}"


def join(cgroup: HostCgroup) -> None:
    """Move this process into each of the run's cgroups (the tests' child, as its preexec_fn,
    before it runs anything); OSError when one is refused. Plain os calls, no buffered file:
    it runs between fork and exec."""
    for procs in cgroup.procs_files():
        fd = os.open(procs, os.O_WRONLY | os.O_CLOEXEC)
        try:
            os.write(fd, b"0")
        finally:
            os.close(fd)


def usage(cgroup: HostCgroup) -> HostUsage:
    """The cgroup's figures now; a file missing or unreadable gives None for its figure."""
    paths = [Path(path) for path in cgroup.paths]
    if cgroup.version == 1:
        limit = cgroup_files.number(cgroup_files.read(paths, "memory.limit_in_bytes"))
        cpu_ns = cgroup_files.number(cgroup_files.read(paths, "cpuacct.usage"))
        return HostUsage(
            memory_current=cgroup_files.number(cgroup_files.read(paths, "memory.usage_in_bytes")),
            memory_peak=cgroup_files.number(cgroup_files.read(paths, "memory.max_usage_in_bytes")),
            memory_limit=limit if limit is not None and limit < V1_UNLIMITED else None,
            cpu_seconds=cpu_ns / 1e9 if cpu_ns is not None else None,
            pids_current=cgroup_files.number(cgroup_files.read(paths, "pids.current")),
            # memory.failcnt is no OOM count: it counts every charge that hit the limit and made
            # the kernel reclaim, which most runs near their limit do without a kill.
            oom_kills=cgroup_files.keyed(cgroup_files.read(paths, "memory.oom_control"), "oom_kill"))
    cpu_us = cgroup_files.keyed(cgroup_files.read(paths, "cpu.stat"), "usage_usec")
    return HostUsage(
        memory_current=cgroup_files.number(cgroup_files.read(paths, "memory.current")),
        memory_peak=cgroup_files.number(cgroup_files.read(paths, "memory.peak")),
        memory_limit=cgroup_files.number(cgroup_files.read(paths, "memory.max")),  # "max" reads as None
        cpu_seconds=cpu_us / 1e6 if cpu_us is not None else None,
        pids_current=cgroup_files.number(cgroup_files.read(paths, "pids.current")),
        oom_kills=cgroup_files.keyed(cgroup_files.read(paths, "memory.events"), "oom_kill"))


def pids(cgroup: HostCgroup) -> list[int]:
    """The processes in the run's cgroups, and in any cgroup the tests made below them."""
    found: set[int] = set()
    for path in cgroup.paths:
        for folder in cgroup_files.tree(Path(path)):
            found.update(cgroup_files.number_list(cgroup_files.read([folder], "cgroup.procs")))
    return sorted(found)


def kill_all(cgroup: HostCgroup) -> None:
    """SIGKILL every process in the run's cgroups (v2: ``cgroup.kill``, kernel 5.14+, which no
    fork escapes). Returns without waiting for them to be gone (``remove`` waits)."""
    if cgroup.version == 2:
        with contextlib.suppress(OSError):
            cgroup_files.write(Path(cgroup.paths[0], "cgroup.kill"), "1")
            return
    me = os.getpid()  # a caller inside the cgroup would end itself before the others
    killed: set[int] = set()
    for _ in range(KILL_ROUNDS):
        found = set(pids(cgroup)) - killed - {me}
        if not found:
            return
        for pid in found:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
        killed |= found


def remove(cgroup: HostCgroup, *, tries: int = REMOVE_TRIES, pause: float = REMOVE_PAUSE) -> str | None:
    """Remove the run's cgroups (and any the tests made below them): a cgroup still holding
    processes has them killed and is tried again, ``tries`` times ``pause`` seconds apart. Then
    the shared ``envctl`` folder, if it was the last. A one-line reason when something stays."""
    left = [Path(path) for path in cgroup.paths]
    failed: dict[Path, OSError] = {}
    for attempt in range(tries):
        busy: list[Path] = []
        for path in left:
            problem = cgroup_files.rmdir_tree(path)
            if problem is not None and problem.errno == errno.EBUSY:
                busy.append(path)  # processes in it (or dying): killed, then tried again
            elif problem is not None:
                failed[path] = problem
        left = busy
        if not left or attempt == tries - 1:
            break
        kill_all(HostCgroup(cgroup.version, tuple(str(path) for path in left)))
        time.sleep(pause)
    stayed = {*failed, *left}
    for parent in dict.fromkeys(Path(path).parent for path in cgroup.paths):
        if parent.name == FOLDER and not any(path.parent == parent for path in stayed):
            with contextlib.suppress(OSError):  # other runs' cgroups in it: it stays, rightly
                parent.rmdir()
    problems = [f"{path}: {why(exc)}" for path, exc in failed.items()]
    problems += [f"{path}: still holds processes {pids(HostCgroup(cgroup.version, (str(path),)))}"
                 for path in left]
    return f"cannot remove the run's cgroup {'; '.join(problems)}" if problems else None


def leftovers(*, root: Path = CGROUP_ROOT, mountinfo: Path = MOUNTINFO,
              own_cgroup: Path = OWN_CGROUP) -> list[HostCgroup]:
    """The runs' cgroups on this machine (for `envctl gc`, which removes those whose run has
    ended), by run id: in each hierarchy's ``envctl`` folder, and beside this process's own
    cgroup (where a user's delegated run goes)."""
    try:
        mounts = cgroup_mounts.mounts(mountinfo, root)
    except OSError:
        return []
    places = [(1, point / FOLDER) for point in cgroup_mounts.v1_points(mounts)]
    for mount in mounts:
        if mount.version == 2:
            parent = cgroup_mounts.own_parent(mount, own_cgroup)
            places += [(2, mount.point / FOLDER), *([(2, parent)] if parent is not None else [])]
    v1: dict[str, list[str]] = {}
    v2: list[tuple[str, str]] = []
    for layout, folder in dict.fromkeys(places):
        try:
            entries = sorted(folder.iterdir())
        except OSError:
            continue
        for entry in entries:
            run_id = run_id_of(entry.name)
            if run_id is None or not entry.is_dir() or entry.is_symlink():
                continue
            if layout == 1:
                v1.setdefault(run_id, []).append(str(entry))
            else:  # one directory is a whole v2 cgroup
                v2.append((run_id, str(entry)))
    found = [HostCgroup(1, tuple(paths)) for paths in v1.values()]
    found += [HostCgroup(2, (path,)) for _run_id, path in v2]
    return sorted(found, key=lambda cgroup: (cgroup.run_id, cgroup.version, cgroup.paths))
