"""Where the cgroup file systems are: the cgroup mounts under the root (from mountinfo), the
version a run's cgroup takes (v2 when a cgroup2 offers memory, cpu or pids, else v1's
hierarchies), each v1 controller's hierarchy, and the parent of this process's own v2 cgroup
(a user's delegated part of the tree). Standard library only: the runner imports it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from envctl.runs import cgroup_files
from envctl.runs.cgroup_values import V1_CONTROLLERS, V2_CONTROLLERS


@dataclass(frozen=True)
class Mount:
    point: Path
    version: int
    root: str  # the cgroup the mount shows at its point: "/" unless namespaced or bind-mounted
    controllers: frozenset[str]  # v1: those of V1_CONTROLLERS in its options; v2: none here


def mounts(mountinfo: Path, root: Path) -> list[Mount]:
    """The cgroup mounts at or under ``root``, in mountinfo's order. OSError if it is unreadable."""
    found = []
    for line in cgroup_files.read_text(mountinfo).splitlines():
        # "36 25 0:32 / /sys/fs/cgroup/cpu,cpuacct rw,nosuid - cgroup cgroup rw,cpu,cpuacct":
        # optional fields come before " - ", the fs type, source and super options after it.
        before, sep, after = line.partition(" - ")
        fields, tail = before.split(" "), after.split(" ")
        if not sep or len(fields) < 5 or len(tail) < 3 or tail[0] not in ("cgroup", "cgroup2"):
            continue
        point = Path(unescape(fields[4]))
        if point != root and root not in point.parents:
            continue  # another namespace's view, or a container's bind mount elsewhere
        layout = 2 if tail[0] == "cgroup2" else 1
        options = frozenset(tail[2].split(",")) & frozenset(V1_CONTROLLERS) if layout == 1 else frozenset()
        found.append(Mount(point, layout, unescape(fields[3]), options))
    return found


def unescape(field: str) -> str:
    """mountinfo writes a space, tab, newline or backslash in a path as \\ooo."""
    return re.sub(r"\\([0-7]{3})", lambda match: chr(int(match.group(1), 8)), field)


def layout(found: list[Mount]) -> tuple[int, list[Mount]] | None:
    """v2 when a cgroup2 mount offers memory, cpu or pids (a controller lives in one version
    only: a hybrid machine's cgroup2 offers none of them); else v1's hierarchies of them."""
    for mount in found:
        offered = cgroup_files.words(mount.point / "cgroup.controllers") if mount.version == 2 else set()
        if offered & set(V2_CONTROLLERS):
            return 2, [mount]
    hierarchies = [mount for mount in found if mount.version == 1 and mount.controllers]
    return (1, hierarchies) if hierarchies else None


def v1_hierarchies(found: list[Mount]) -> dict[str, Mount]:
    """Each of V1_CONTROLLERS' hierarchy (its first mount: a hierarchy mounted twice is one)."""
    by_controller: dict[str, Mount] = {}
    for mount in found:
        for controller in sorted(mount.controllers):
            by_controller.setdefault(controller, mount)
    return by_controller


def v1_points(found: list[Mount]) -> list[Path]:
    """Where the run's v1 cgroups go, in V1_CONTROLLERS' order: one place per hierarchy (a
    "cpu,cpuacct" mount is one)."""
    by_controller = v1_hierarchies(found)
    return list(dict.fromkeys(by_controller[controller].point for controller in V1_CONTROLLERS
                              if controller in by_controller))


def own_parent(mount: Mount, own_cgroup: Path) -> Path | None:
    """The parent of this process's v2 cgroup, when it lies below the mount's top."""
    try:
        lines = cgroup_files.read_text(own_cgroup).splitlines()
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
