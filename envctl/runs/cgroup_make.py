"""The making of a run's cgroup: the directories made (and undone when a later step fails), the
controllers enabled down to it (v2), its memory, CPU and pids limits written, and a step that
fails said in one line, with a hint when the user may not. ``host_limits.make`` picks the version
and the mounts; this module makes what it picked. Standard library only: the runner imports it.
"""

from __future__ import annotations

import contextlib
import errno
import math
import os
from pathlib import Path
from typing import TYPE_CHECKING

from envctl.runs import cgroup_files, cgroup_mounts
from envctl.runs.cgroup_files import why
from envctl.runs.cgroup_mounts import Mount
from envctl.runs.cgroup_values import FOLDER, NOT_APPLIED, V2_CONTROLLERS, HostCgroup

if TYPE_CHECKING:
    from envctl.runs.state import Limits

CFS_PERIOD_US = 100_000  # the kernel's default period; v1 reads the cgroup's own
MIN_QUOTA_US = 1_000  # the kernel refuses a smaller CFS quota
DENIED = (errno.EACCES, errno.EPERM, errno.EROFS)


class Refused(Exception):
    """A step that failed, said; ``denied``: the user may not (so the hint, and delegation)."""

    def __init__(self, message: str, denied: bool = False) -> None:
        super().__init__(message)
        self.denied = denied


class Made:
    """The directories made so far, removed again (newest first) when a later step fails."""

    def __init__(self) -> None:
        self.dirs: list[Path] = []

    def folder(self, path: Path) -> None:
        """A folder runs share: there already is fine."""
        try:
            path.mkdir(0o755)
        except FileExistsError:
            return
        except OSError as exc:
            raise Refused(f"cannot create a cgroup under {path.parent}: {why(exc)}", _denied(exc)) from exc
        self.dirs.append(path)

    def run(self, path: Path) -> None:
        """The run's own: there already is a failure (a run id is made once)."""
        for attempt in range(2):
            try:
                path.mkdir(0o755)
            except FileNotFoundError as exc:
                if attempt == 0 and path.parent.name == FOLDER:
                    # Another run's remove() took the empty shared folder between our mkdir of
                    # it and this one: make it again, once.
                    self.folder(path.parent)
                    continue
                raise Refused(f"cannot create a cgroup under {path.parent}: {why(exc)}") from exc
            except OSError as exc:
                raise Refused(f"cannot create a cgroup under {path.parent}: {why(exc)}",
                              _denied(exc)) from exc
            self.dirs.append(path)
            return

    def undo(self) -> None:
        for path in reversed(self.dirs):
            with contextlib.suppress(OSError):
                path.rmdir()
        self.dirs.clear()


def _required(limits: Limits) -> list[str]:
    """The controllers that have a limit to set."""
    return [controller for controller, limited in (("memory", limits.memory > 0),
                                                   ("cpu", _cpus(limits.cpus) is not None),
                                                   ("pids", limits.pids > 0)) if limited]


def _cpus(cpus: float) -> float | None:
    return cpus if math.isfinite(cpus) and cpus > 0 else None


def _quota(cpus: float, period: int) -> int:
    return max(MIN_QUOTA_US, round(cpus * period))


def make_v1(made: Made, name: str, limits: Limits, mounts: list[Mount], root: Path) -> HostCgroup | str:
    by_controller = cgroup_mounts.v1_hierarchies(mounts)
    missing = [controller for controller in _required(limits) if controller not in by_controller]
    if missing:
        return f"no cgroup v1 hierarchy of the {' and '.join(missing)} controller under {root}; {NOT_APPLIED}"
    points = cgroup_mounts.v1_points(mounts)
    dirs = {controller: by_controller[controller].point / FOLDER / name for controller in by_controller}
    try:
        for point in points:
            made.folder(point / FOLDER)
            made.run(point / FOLDER / name)
        if limits.memory > 0:
            memory = dirs["memory"]
            _set(memory / "memory.limit_in_bytes", str(limits.memory))
            if (memory / "memory.memsw.limit_in_bytes").exists():
                _set(memory / "memory.memsw.limit_in_bytes", str(limits.memory))
            else:  # no swap accounting (swapaccount=0): at least keep the cgroup off swap
                with contextlib.suppress(OSError):
                    cgroup_files.write(memory / "memory.swappiness", "0")
        cpus = _cpus(limits.cpus)
        if cpus is not None:
            period = cgroup_files.number(cgroup_files.read([dirs["cpu"]], "cpu.cfs_period_us")) \
                or CFS_PERIOD_US
            _set(dirs["cpu"] / "cpu.cfs_quota_us", str(_quota(cpus, period)))
        if limits.pids > 0:
            _set(dirs["pids"] / "pids.max", str(limits.pids))
    except Refused as refused:
        made.undo()
        hint = ("run as root, or have root make the envctl folder of each hierarchy yours once: "
                f"mkdir and chown {' '.join(str(point / FOLDER) for point in points)}")
        return _reason(refused, hint)
    return HostCgroup(1, tuple(str(point / FOLDER / name) for point in points))


def make_v2(made: Made, name: str, limits: Limits, mount: Mount, own_cgroup: Path) -> HostCgroup | str:
    offered = cgroup_files.words(mount.point / "cgroup.controllers")
    required = _required(limits)
    missing = [controller for controller in required if controller not in offered]
    if missing:
        return (f"the cgroup v2 file system at {mount.point} has no {' and '.join(missing)} controller; "
                f"{NOT_APPLIED}")
    wanted = [controller for controller in V2_CONTROLLERS if controller in offered]
    hint = ("run as root, or start envctl in a systemd user scope, whose parent cgroup is yours: "
            "systemd-run --user --scope envctl test --host ...")
    try:
        _enable(mount.point, wanted, required)
        made.folder(mount.point / FOLDER)
        _enable(mount.point / FOLDER, wanted, required)
        made.run(mount.point / FOLDER / name)
        _limit_v2(mount.point / FOLDER / name, limits)
        return HostCgroup(2, (str(mount.point / FOLDER / name),))
    except Refused as refused:
        made.undo()
        parent = cgroup_mounts.own_parent(mount, own_cgroup) if refused.denied else None
        if parent is None or not _writable(parent):
            return _reason(refused, hint)
    try:  # delegation: the user's own part of the tree
        _enable(parent, wanted, required)
        made.run(parent / name)
        _limit_v2(parent / name, limits)
    except Refused as refused:
        made.undo()
        return _reason(refused, hint)
    return HostCgroup(2, (str(parent / name),))


def _writable(parent: Path) -> bool:
    """Whether the user may make a cgroup in ``parent`` and move a process below it (v2 asks for
    write access to the cgroup.procs of the source's and destination's common ancestor)."""
    return all(os.access(path, os.W_OK) for path in
               (parent, parent / "cgroup.procs", parent / "cgroup.subtree_control"))


def _enable(folder: Path, wanted: list[str], required: list[str]) -> None:
    """The ``wanted`` controllers enabled for ``folder``'s children; a ``required`` one that
    cannot be is a Refused, another is left out (its figures are then missing)."""
    enabled = cgroup_files.words(folder / "cgroup.subtree_control")
    offered = cgroup_files.words(folder / "cgroup.controllers")
    for controller in wanted:
        if controller in enabled:
            continue  # not written again: a user may read what only root may write
        if controller not in offered:  # its parent keeps it from this part of the tree
            if controller in required:
                raise Refused(f"cannot enable the {controller} controller in {folder}: not offered there")
            continue
        try:
            cgroup_files.write(folder / "cgroup.subtree_control", f"+{controller}")
        except OSError as exc:
            if controller in required:
                raise Refused(f"cannot enable the {controller} controller in {folder}: {why(exc)}",
                              _denied(exc)) from exc


def _limit_v2(folder: Path, limits: Limits) -> None:
    if limits.memory > 0:
        _set(folder / "memory.max", str(limits.memory))
        if (folder / "memory.swap.max").exists():  # absent without swap accounting
            _set(folder / "memory.swap.max", "0")
    cpus = _cpus(limits.cpus)
    if cpus is not None:
        _set(folder / "cpu.max", f"{_quota(cpus, CFS_PERIOD_US)} {CFS_PERIOD_US}")
    if limits.pids > 0:
        _set(folder / "pids.max", str(limits.pids))


def _set(path: Path, value: str) -> None:
    try:
        cgroup_files.write(path, value)
    except OSError as exc:
        raise Refused(f"cannot set {path.name} in {path.parent}: {why(exc)}", _denied(exc)) from exc


def _reason(refused: Refused, hint: str) -> str:
    return f"{refused}; {NOT_APPLIED}" + (f" ({hint})" if refused.denied else "")


def _denied(exc: OSError) -> bool:
    return exc.errno in DENIED
