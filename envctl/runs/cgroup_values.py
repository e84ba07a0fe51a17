"""The values of a `test --host` run's cgroup: ``HostCgroup`` (where it is, as the plan keeps it),
``HostUsage`` (its figures), the run id in a cgroup's name, and the places and names every part
of the cgroup code shares. Standard library only: the runner imports it before the tests start.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

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
NOT_APPLIED = "the limits are not applied"


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
