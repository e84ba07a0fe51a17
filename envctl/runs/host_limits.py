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
"""

from __future__ import annotations

import contextlib
import errno
import math
import os
import re
import signal
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from envctl.runs.state import Limits

CGROUP_ROOT = Path("/sys/fs/cgroup")
MOUNTINFO = Path("/proc/self/mountinfo")
OWN_CGROUP = Path("/proc/self/cgroup")
FOLDER = "envctl"  # the folder of the runs' cgroups in a hierarchy, beside Docker's "docker"
PREFIX = "envctl-"
# envctl.runs.ids.RUN_ID_PATTERN, spelled again: importing it would bring envctl.errors into the
# runner (a unit test keeps the two equal).
RUN_ID_PATTERN = re.compile(r"\d{8}-\d{6}-[0-9a-f]{4}", re.ASCII)
V1_CONTROLLERS = ("memory", "cpu", "cpuacct", "pids")  # in the order of HostCgroup.paths
V2_CONTROLLERS = ("memory", "cpu", "pids")
V1_UNLIMITED = 1 << 62  # v1 says "no limit" with its largest page count: 9223372036854771712 bytes
CFS_PERIOD_US = 100_000  # the kernel's default period; v1 reads the cgroup's own
MIN_QUOTA_US = 1_000  # the kernel refuses a smaller CFS quota
NOT_APPLIED = "the limits are not applied"
DENIED = (errno.EACCES, errno.EPERM, errno.EROFS)
REMOVE_TRIES = 20  # rmdir attempts of a cgroup whose processes are being killed...
REMOVE_PAUSE = 0.05  # ...this many seconds apart: a second in all
KILL_ROUNDS = 10  # reads of the pids while killing: a process forking meanwhile is caught next round
_READ_CAP = 1 << 20  # bytes of one cgroup file read (cgroup.procs of thousands of processes fits)


@dataclass(frozen=True)
class HostCgroup:
    """The cgroup(s) made for one run: ``version`` 1 or 2; ``paths``, the run's directories,
    named ``envctl-<run_id>`` (one on v2, one per hierarchy on v1)."""

    version: int
    paths: tuple[str, ...]

    def __post_init__(self) -> None:
        if self.version not in (1, 2):
            raise ValueError(f"cgroup version {self.version!r} is neither 1 nor 2")
        if not self.paths or (self.version == 2 and len(self.paths) != 1) \
                or len(self.paths) > len(V1_CONTROLLERS) or len(set(self.paths)) != len(self.paths):
            raise ValueError(f"{len(self.paths)} cgroup paths for cgroup v{self.version}")
        names = set()
        for path in self.paths:
            if not path.startswith("/") or os.path.normpath(path) != path or "\0" in path:
                raise ValueError(f"cgroup path {path!r} is not absolute and normal")
            names.add(Path(path).name)
        if len(names) != 1 or run_id_of(names.pop()) is None:
            raise ValueError(f"cgroup paths {list(self.paths)!r} are not one run's envctl-<run id>")

    @property
    def run_id(self) -> str:
        return Path(self.paths[0]).name[len(PREFIX):]

    def procs_files(self) -> tuple[str, ...]:
        """The files a process writes "0" into to join the run's cgroups."""
        return tuple(f"{path}/cgroup.procs" for path in self.paths)

    def memory_dir(self) -> str | None:
        """The directory with the memory controller's files (what the plugin reads per test)."""
        for path in self.paths:
            if self.version == 2 or Path(path, "memory.usage_in_bytes").is_file():
                return path
        return None

    def to_json(self) -> dict[str, object]:
        return {"version": self.version, "paths": list(self.paths)}

    @classmethod
    def from_json(cls, data: object, *, run_id: str | None = None, root: Path = CGROUP_ROOT) -> HostCgroup:
        """ValueError unless ``data`` is a version and absolute, normal paths under ``root``, each
        named ``envctl-<run id>`` (``run_id``'s, when given): a damaged or planted plan must not
        point the runner, or the clean-up's rmdir and SIGKILLs, anywhere else."""
        if not isinstance(data, dict) or set(data) != {"version", "paths"}:
            raise ValueError("not a cgroup: expected exactly a version and paths")
        version, paths = data["version"], data["paths"]
        if not isinstance(version, int) or isinstance(version, bool):
            raise ValueError(f"cgroup version {version!r} is not a number")
        if not isinstance(paths, list) or not all(isinstance(path, str) for path in paths):
            raise ValueError("cgroup paths are not a list of strings")
        cgroup = cls(version, tuple(paths))
        for path in paths:
            if root not in Path(path).parents:
                raise ValueError(f"cgroup path {path!r} is not under {root}")
        if run_id is not None and cgroup.run_id != run_id:
            raise ValueError(f"cgroup paths {paths!r} are not run {run_id}'s")
        return cgroup


@dataclass(frozen=True)
class HostUsage:
    """A run's cgroup figures; None for what this kernel does not show (or is gone)."""

    memory_current: int | None  # bytes, page cache included: what the limit counts
    memory_peak: int | None  # v1 memory.max_usage_in_bytes, v2 memory.peak (kernel 5.19+)
    memory_limit: int | None  # None as well when there is no limit
    cpu_seconds: float | None  # CPU time used by the cgroup's processes, dead ones included
    pids_current: int | None
    oom_kills: int | None  # processes the OOM killer took in the cgroup (v1: kernel 4.13+)


def run_id_of(name: str) -> str | None:
    """The run id in a cgroup's name ``envctl-<run id>``; None for any other name."""
    run_id = name[len(PREFIX):] if name.startswith(PREFIX) else ""
    return run_id if RUN_ID_PATTERN.fullmatch(run_id) else None


def cgroup_version(*, root: Path = CGROUP_ROOT, mountinfo: Path = MOUNTINFO) -> int | None:
    """The cgroup version ``make`` would use on this machine; None when there is no cgroup file
    system with the memory, cpu or pids controller (or mountinfo cannot be read)."""
    try:
        chosen = _layout(_mounts(mountinfo, root))
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
        chosen = _layout(_mounts(mountinfo, root))
    except OSError as exc:
        return f"cannot read {mountinfo}: {_why(exc)}; {NOT_APPLIED}"
    if chosen is None:
        return f"no cgroup file system with the memory, cpu or pids controller under {root}; {NOT_APPLIED}"
    layout, mounts = chosen
    made = _Made()
    try:
        return _make_v1(made, name, limits, mounts, root) if layout == 1 \
            else _make_v2(made, name, limits, mounts[0], own_cgroup)
    except OSError as exc:  # every step says what it failed at; this is the net under them
        made.undo()
        return f"cannot make the run's cgroup: {_why(exc)}; {NOT_APPLIED}"


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
        limit = _number(_read(paths, "memory.limit_in_bytes"))
        cpu_ns = _number(_read(paths, "cpuacct.usage"))
        return HostUsage(
            memory_current=_number(_read(paths, "memory.usage_in_bytes")),
            memory_peak=_number(_read(paths, "memory.max_usage_in_bytes")),
            memory_limit=limit if limit is not None and limit < V1_UNLIMITED else None,
            cpu_seconds=cpu_ns / 1e9 if cpu_ns is not None else None,
            pids_current=_number(_read(paths, "pids.current")),
            # memory.failcnt is no OOM count: it counts every charge that hit the limit and made
            # the kernel reclaim, which most runs near their limit do without a kill.
            oom_kills=_keyed(_read(paths, "memory.oom_control"), "oom_kill"))
    cpu_us = _keyed(_read(paths, "cpu.stat"), "usage_usec")
    return HostUsage(
        memory_current=_number(_read(paths, "memory.current")),
        memory_peak=_number(_read(paths, "memory.peak")),
        memory_limit=_number(_read(paths, "memory.max")),  # "max" reads as None
        cpu_seconds=cpu_us / 1e6 if cpu_us is not None else None,
        pids_current=_number(_read(paths, "pids.current")),
        oom_kills=_keyed(_read(paths, "memory.events"), "oom_kill"))


def pids(cgroup: HostCgroup) -> list[int]:
    """The processes in the run's cgroups, and in any cgroup the tests made below them."""
    found: set[int] = set()
    for path in cgroup.paths:
        for folder in _tree(Path(path)):
            found.update(_number_list(_read([folder], "cgroup.procs")))
    return sorted(found)


def kill_all(cgroup: HostCgroup) -> None:
    """SIGKILL every process in the run's cgroups (v2: ``cgroup.kill``, kernel 5.14+, which no
    fork escapes). Returns without waiting for them to be gone (``remove`` waits)."""
    if cgroup.version == 2:
        with contextlib.suppress(OSError):
            _write(Path(cgroup.paths[0], "cgroup.kill"), "1")
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
            problem = _rmdir_tree(path)
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
    problems = [f"{path}: {_why(exc)}" for path, exc in failed.items()]
    problems += [f"{path}: still holds processes {pids(HostCgroup(cgroup.version, (str(path),)))}"
                 for path in left]
    return f"cannot remove the run's cgroup {'; '.join(problems)}" if problems else None


def leftovers(*, root: Path = CGROUP_ROOT, mountinfo: Path = MOUNTINFO,
              own_cgroup: Path = OWN_CGROUP) -> list[HostCgroup]:
    """The runs' cgroups on this machine (for `envctl gc`, which removes those whose run has
    ended), by run id: in each hierarchy's ``envctl`` folder, and beside this process's own
    cgroup (where a user's delegated run goes)."""
    try:
        mounts = _mounts(mountinfo, root)
    except OSError:
        return []
    places = [(1, point / FOLDER) for point in _v1_points(mounts)]
    for mount in mounts:
        if mount.version == 2:
            parent = _own_parent(mount, own_cgroup)
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


# -- where the cgroup file systems are ------------------------------------------------------------


@dataclass(frozen=True)
class _Mount:
    point: Path
    version: int
    root: str  # the cgroup the mount shows at its point: "/" unless namespaced or bind-mounted
    controllers: frozenset[str]  # v1: those of V1_CONTROLLERS in its options; v2: none here


def _mounts(mountinfo: Path, root: Path) -> list[_Mount]:
    """The cgroup mounts at or under ``root``, in mountinfo's order. OSError if it is unreadable."""
    mounts = []
    for line in _read_text(mountinfo).splitlines():
        # "36 25 0:32 / /sys/fs/cgroup/cpu,cpuacct rw,nosuid - cgroup cgroup rw,cpu,cpuacct":
        # optional fields come before " - ", the fs type, source and super options after it.
        before, sep, after = line.partition(" - ")
        fields, tail = before.split(" "), after.split(" ")
        if not sep or len(fields) < 5 or len(tail) < 3 or tail[0] not in ("cgroup", "cgroup2"):
            continue
        point = Path(_unescape(fields[4]))
        if point != root and root not in point.parents:
            continue  # another namespace's view, or a container's bind mount elsewhere
        layout = 2 if tail[0] == "cgroup2" else 1
        options = frozenset(tail[2].split(",")) & frozenset(V1_CONTROLLERS) if layout == 1 else frozenset()
        mounts.append(_Mount(point, layout, _unescape(fields[3]), options))
    return mounts


def _unescape(field: str) -> str:
    """mountinfo writes a space, tab, newline or backslash in a path as \\ooo."""
    return re.sub(r"\\([0-7]{3})", lambda match: chr(int(match.group(1), 8)), field)


def _layout(mounts: list[_Mount]) -> tuple[int, list[_Mount]] | None:
    """v2 when a cgroup2 mount offers memory, cpu or pids (a controller lives in one version
    only: a hybrid machine's cgroup2 offers none of them); else v1's hierarchies of them."""
    for mount in mounts:
        if mount.version == 2 and _words(mount.point / "cgroup.controllers") & set(V2_CONTROLLERS):
            return 2, [mount]
    hierarchies = [mount for mount in mounts if mount.version == 1 and mount.controllers]
    return (1, hierarchies) if hierarchies else None


def _v1_hierarchies(mounts: list[_Mount]) -> dict[str, _Mount]:
    """Each of V1_CONTROLLERS' hierarchy (its first mount: a hierarchy mounted twice is one)."""
    by_controller: dict[str, _Mount] = {}
    for mount in mounts:
        for controller in sorted(mount.controllers):
            by_controller.setdefault(controller, mount)
    return by_controller


def _v1_points(mounts: list[_Mount]) -> list[Path]:
    """Where the run's v1 cgroups go, in V1_CONTROLLERS' order: one place per hierarchy (a
    "cpu,cpuacct" mount is one)."""
    by_controller = _v1_hierarchies(mounts)
    return list(dict.fromkeys(by_controller[controller].point for controller in V1_CONTROLLERS
                              if controller in by_controller))


def _own_parent(mount: _Mount, own_cgroup: Path) -> Path | None:
    """The parent of this process's v2 cgroup, when it lies below the mount's top."""
    try:
        lines = _read_text(own_cgroup).splitlines()
    except OSError:
        return None
    for line in lines:
        if not line.startswith("0::/"):
            continue
        path = line[3:]
        if mount.root != "/":  # the mount shows a subtree: the path must be within it
            if not path.startswith(mount.root.rstrip("/") + "/"):
                return None
            path = path[len(mount.root.rstrip("/")):]
        parts = [part for part in path.split("/") if part]
        if ".." in parts or "." in parts or len(parts) < 2:
            return None  # the parent would be the mount's top (tried first) or above it
        return mount.point.joinpath(*parts[:-1])
    return None


# -- making -----------------------------------------------------------------------------------------


class _Refused(Exception):
    """A step that failed, said; ``denied``: the user may not (so the hint, and delegation)."""

    def __init__(self, message: str, denied: bool = False) -> None:
        super().__init__(message)
        self.denied = denied


class _Made:
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
            raise _Refused(f"cannot create a cgroup under {path.parent}: {_why(exc)}", _denied(exc)) from exc
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
                raise _Refused(f"cannot create a cgroup under {path.parent}: {_why(exc)}") from exc
            except OSError as exc:
                raise _Refused(f"cannot create a cgroup under {path.parent}: {_why(exc)}",
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


def _make_v1(made: _Made, name: str, limits: Limits, mounts: list[_Mount], root: Path) -> HostCgroup | str:
    by_controller = _v1_hierarchies(mounts)
    missing = [controller for controller in _required(limits) if controller not in by_controller]
    if missing:
        return f"no cgroup v1 hierarchy of the {' and '.join(missing)} controller under {root}; {NOT_APPLIED}"
    points = _v1_points(mounts)
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
                    _write(memory / "memory.swappiness", "0")
        cpus = _cpus(limits.cpus)
        if cpus is not None:
            period = _number(_read([dirs["cpu"]], "cpu.cfs_period_us")) or CFS_PERIOD_US
            _set(dirs["cpu"] / "cpu.cfs_quota_us", str(_quota(cpus, period)))
        if limits.pids > 0:
            _set(dirs["pids"] / "pids.max", str(limits.pids))
    except _Refused as refused:
        made.undo()
        hint = ("run as root, or have root make the envctl folder of each hierarchy yours once: "
                f"mkdir and chown {' '.join(str(point / FOLDER) for point in points)}")
        return _reason(refused, hint)
    return HostCgroup(1, tuple(str(point / FOLDER / name) for point in points))


def _make_v2(made: _Made, name: str, limits: Limits, mount: _Mount, own_cgroup: Path) -> HostCgroup | str:
    offered = _words(mount.point / "cgroup.controllers")
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
    except _Refused as refused:
        made.undo()
        parent = _own_parent(mount, own_cgroup) if refused.denied else None
        if parent is None or not _writable(parent):
            return _reason(refused, hint)
    try:  # delegation: the user's own part of the tree
        _enable(parent, wanted, required)
        made.run(parent / name)
        _limit_v2(parent / name, limits)
    except _Refused as refused:
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
    cannot be is a _Refused, another is left out (its figures are then missing)."""
    enabled = _words(folder / "cgroup.subtree_control")
    offered = _words(folder / "cgroup.controllers")
    for controller in wanted:
        if controller in enabled:
            continue  # not written again: a user may read what only root may write
        if controller not in offered:  # its parent keeps it from this part of the tree
            if controller in required:
                raise _Refused(f"cannot enable the {controller} controller in {folder}: not offered there")
            continue
        try:
            _write(folder / "cgroup.subtree_control", f"+{controller}")
        except OSError as exc:
            if controller in required:
                raise _Refused(f"cannot enable the {controller} controller in {folder}: {_why(exc)}",
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
        _write(path, value)
    except OSError as exc:
        raise _Refused(f"cannot set {path.name} in {path.parent}: {_why(exc)}", _denied(exc)) from exc


def _reason(refused: _Refused, hint: str) -> str:
    return f"{refused}; {NOT_APPLIED}" + (f" ({hint})" if refused.denied else "")


def _denied(exc: OSError) -> bool:
    return exc.errno in DENIED


def _why(exc: OSError) -> str:
    return os.strerror(exc.errno) if exc.errno else str(exc)


# -- reading, writing, removing ---------------------------------------------------------------------


def _write(path: Path, value: str) -> None:
    """One write(2) of ``value``, as the kernel takes a cgroup setting; never creates the file
    (a setting this kernel lacks is an error, not a new file)."""
    fd = os.open(path, os.O_WRONLY | os.O_CLOEXEC)
    try:
        os.write(fd, value.encode())
    finally:
        os.close(fd)


def _read_text(path: Path) -> str:
    with path.open("rb") as handle:
        return handle.read(_READ_CAP).decode("utf-8", "surrogateescape")


def _read(paths: list[Path], name: str) -> str | None:
    """The file ``name`` of the first of ``paths`` that has it; None when none does."""
    for path in paths:
        try:
            return _read_text(path / name)
        except FileNotFoundError:
            continue
        except OSError:
            return None
    return None


def _number(text: str | None) -> int | None:
    """A file's one number; None for "max", nothing, or anything else."""
    try:
        return int(text.strip()) if text is not None else None
    except ValueError:
        return None


def _number_list(text: str | None) -> list[int]:
    return [int(word) for word in (text or "").split() if word.isdigit()]


def _keyed(text: str | None, key: str) -> int | None:
    """The number on the line ``<key> <number>`` of a flat keyed file (cpu.stat, memory.events)."""
    for line in (text or "").splitlines():
        words = line.split()
        if len(words) == 2 and words[0] == key:
            return _number(words[1])
    return None


def _words(path: Path) -> set[str]:
    return set((_read([path.parent], path.name) or "").split())


def _tree(top: Path) -> list[Path]:
    """``top`` and the cgroups below it, deepest first (the order rmdir takes them in)."""
    found: list[Path] = []
    try:
        children = [entry for entry in top.iterdir() if entry.is_dir() and not entry.is_symlink()]
    except OSError:
        children = []
    for child in children:
        found += _tree(child)
    return [*found, top]


def _rmdir_tree(top: Path) -> OSError | None:
    """rmdir of ``top`` and every cgroup below it; the first failure (gone already is none)."""
    for folder in _tree(top):
        try:
            folder.rmdir()
        except FileNotFoundError:
            continue
        except OSError as exc:
            return exc
    return None
