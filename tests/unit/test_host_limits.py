"""A `test --host` run's cgroup: made where the host allows it (v1 hierarchies, v2 with its
subtree_control, a user's delegated part), a reason where it does not, the figures read back,
its processes killed and its directories removed; against a fake cgroup file system in tmp_path
whose mkdir, rmdir, writes and kills behave as the kernel's do. One test uses this machine's
real cgroups, as root only."""

from __future__ import annotations

import errno
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from envctl.runs import host_limits
from envctl.runs.host_limits import (
    HostCgroup,
    HostUsage,
    cgroup_version,
    join,
    kill_all,
    leftovers,
    make,
    pids,
    remove,
    usage,
)
from envctl.runs.ids import RUN_ID_PATTERN, new_run_id
from envctl.runs.state import Limits

RUN = "20260807-143022-ab12"
NAME = f"envctl-{RUN}"
MIB = 1 << 20
V1_UNLIMITED = "9223372036854771712"
REAL_MKDIR, REAL_RMDIR = os.mkdir, os.rmdir
V1_FILES = {  # what the kernel puts in a new v1 cgroup, by controller
    "memory": {"memory.limit_in_bytes": V1_UNLIMITED, "memory.memsw.limit_in_bytes": V1_UNLIMITED,
               "memory.usage_in_bytes": "0\n", "memory.max_usage_in_bytes": "0\n",
               "memory.swappiness": "60\n",
               "memory.oom_control": "oom_kill_disable 0\nunder_oom 0\noom_kill 0\n"},
    "cpu": {"cpu.cfs_period_us": "100000\n", "cpu.cfs_quota_us": "-1\n",
            "cpu.stat": "nr_periods 0\nnr_throttled 0\nthrottled_time 0\n"},
    "cpuacct": {"cpuacct.usage": "0\n"},
    "pids": {"pids.max": "max\n", "pids.current": "0\n"},
}
V2_FILES = {  # and in a new v2 cgroup, by controller enabled in its parent ("" for the core's)
    "": {"cgroup.procs": "", "cgroup.subtree_control": "\n", "cgroup.kill": "",
         "cpu.stat": "usage_usec 0\nuser_usec 0\nsystem_usec 0\n"},
    "memory": {"memory.max": "max\n", "memory.swap.max": "max\n", "memory.current": "0\n",
               "memory.peak": "0\n", "memory.events": "low 0\nhigh 0\nmax 0\noom 0\noom_kill 0\n"},
    "cpu": {"cpu.max": "max 100000\n"},
    "pids": {"pids.max": "max\n", "pids.current": "0\n"},
}
V2_OFFERED = "cpuset cpu io memory hugetlb pids rdma misc\n"
DELEGATED = "user.slice/user-1000.slice/user@1000.service/app.slice"


class Kernel:
    """The fake cgroup file system's kernel: a mkdir fills the new directory with its
    controllers' files, an rmdir takes them (EBUSY while processes or child cgroups are in it),
    a write sets a file (subtree_control adds to it; cgroup.kill kills), a kill leaves every
    cgroup.procs."""

    def __init__(self, top: Path) -> None:
        self.top = top
        self.denied: set[Path] = set()  # folders where a mkdir is EACCES (the suite runs as root)
        self.refused: dict[Path, int] = {}  # files whose write fails, with this errno
        self.writes: list[tuple[str, str]] = []  # (path under top, value), in order
        self.killed: list[tuple[int, int]] = []
        self.unkillable: set[int] = set()

    def mkdir(self, path: Any, mode: int = 0o777, **_kwargs: Any) -> None:
        folder = Path(path)
        if folder.parent in self.denied:
            raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), str(folder))
        REAL_MKDIR(folder, mode)
        for name, text in self.files_of(folder).items():
            (folder / name).write_text(text)

    def files_of(self, folder: Path) -> dict[str, str]:
        hierarchy = folder.relative_to(self.top).parts[0]
        if hierarchy != "unified2":  # v1: the hierarchy's folder names its controllers
            files = {"cgroup.procs": ""}
            for controller in hierarchy.split(","):
                files |= V1_FILES.get(controller, {})
            return files
        enabled = (folder.parent / "cgroup.subtree_control").read_text().split()
        files = {**V2_FILES[""], "cgroup.controllers": " ".join(enabled) + "\n"}
        for controller in enabled:
            files |= V2_FILES.get(controller, {})
        return files

    def rmdir(self, path: Any, **_kwargs: Any) -> None:
        folder = Path(path)
        if not folder.is_dir():
            raise FileNotFoundError(errno.ENOENT, os.strerror(errno.ENOENT), str(folder))
        if any(entry.is_dir() for entry in folder.iterdir()) or (folder / "cgroup.procs").read_text().split():
            raise OSError(errno.EBUSY, os.strerror(errno.EBUSY), str(folder))
        for entry in folder.iterdir():
            entry.unlink()
        REAL_RMDIR(folder)

    def write(self, path: Path, value: str) -> None:
        if path in self.refused:
            raise OSError(self.refused[path], os.strerror(self.refused[path]), str(path))
        if not path.is_file():
            raise FileNotFoundError(errno.ENOENT, os.strerror(errno.ENOENT), str(path))
        self.writes.append((str(path.relative_to(self.top)), value))
        if path.name == "cgroup.subtree_control":
            assert value[0] == "+"
            path.write_text(" ".join(sorted({*path.read_text().split(), value[1:]})) + "\n")
        elif path.name == "cgroup.kill":
            for procs in path.parent.rglob("cgroup.procs"):
                for pid in procs.read_text().split():
                    self.kill(int(pid), signal.SIGKILL)
        else:
            path.write_text(value)

    def kill(self, pid: int, signum: int) -> None:
        self.killed.append((pid, signum))
        if pid in self.unkillable:
            return
        for procs in self.top.rglob("cgroup.procs"):
            left = [word for word in procs.read_text().split() if word != str(pid)]
            procs.write_text("".join(f"{word}\n" for word in left))

    def made(self) -> list[str]:
        """Every directory under the top, as a path below it."""
        return sorted(str(path.relative_to(self.top)) for path in self.top.rglob("*") if path.is_dir())


@pytest.fixture
def kernel(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Kernel]:
    fake = Kernel(tmp_path / "cgroup")
    fake.top.mkdir()
    monkeypatch.setattr(os, "mkdir", fake.mkdir)
    monkeypatch.setattr(os, "rmdir", fake.rmdir)
    monkeypatch.setattr(os, "kill", fake.kill)
    monkeypatch.setattr(host_limits, "_write", fake.write)
    yield fake


def v1_machine(kernel: Kernel,
               hierarchies: tuple[str, ...] = ("cpu", "cpuacct", "cpuset", "memory", "pids")) -> Path:
    """This machine's layout: one v1 hierarchy per controller (and name=systemd), a cgroup2
    without controllers beside them; the mountinfo file."""
    lines = ["31 23 0:28 / {top} rw,relatime - tmpfs tmpfs rw,mode=755"]
    for number, hierarchy in enumerate(hierarchies):
        folder = kernel.top / hierarchy
        REAL_MKDIR(folder)
        (folder / "cgroup.procs").write_text("1\n")
        for controller in hierarchy.split(","):
            for name, text in V1_FILES.get(controller, {}).items():
                (folder / name).write_text(text)
        lines.append(f"{32 + number} 31 0:{29 + number} / {folder} rw,nosuid,relatime shared:{number} "
                     f"- cgroup cgroup rw,{hierarchy}")
    for name, options in (("systemd", "rw,xattr,name=systemd"), ("unified", "rw")):
        REAL_MKDIR(kernel.top / name)
        (kernel.top / name / "cgroup.controllers").write_text("hugetlb\n")
        fstype = "cgroup2 cgroup2" if name == "unified" else "cgroup cgroup"
        lines.append(f"50 31 0:40 / {kernel.top / name} rw,nosuid - {fstype} {options}")
    return mountinfo_file(kernel, lines)


def v2_machine(kernel: Kernel, *, enabled: str = "\n", offered: str = V2_OFFERED) -> Path:
    """A unified machine: one cgroup2 mount (named unified2 here) offering the controllers."""
    folder = kernel.top / "unified2"
    REAL_MKDIR(folder)
    for name, text in {"cgroup.controllers": offered, "cgroup.subtree_control": enabled,
                       "cgroup.procs": "1\n", "cpu.stat": "usage_usec 5\n"}.items():
        (folder / name).write_text(text)
    return mountinfo_file(kernel, [f"25 1 0:26 / {folder} rw,nosuid,nodev - cgroup2 cgroup2 rw,nsdelegate"])


def mountinfo_file(kernel: Kernel, lines: list[str]) -> Path:
    path = kernel.top.parent / "mountinfo"
    path.write_text("\n".join(line.replace("{top}", str(kernel.top)) for line in lines) + "\n")
    return path


def own_cgroup_file(kernel: Kernel, line: str) -> Path:
    path = kernel.top.parent / "own-cgroup"
    path.write_text(line + "\n")
    return path


def read(kernel: Kernel, path: str) -> str:
    return (kernel.top / path).read_text()


def limits(memory: int = 64 * MIB, cpus: float = 1.5, pids: int = 100) -> Limits:
    return Limits(memory=memory, cpus=cpus, pids=pids)


def test_the_run_id_pattern_is_the_one_of_run_ids() -> None:
    """Spelled again to keep the runner stdlib-only, it stays the same as envctl.runs.ids'."""
    assert host_limits.RUN_ID_PATTERN.pattern == RUN_ID_PATTERN.pattern
    assert host_limits.RUN_ID_PATTERN.flags == RUN_ID_PATTERN.flags


# -- cgroup v1 ----------------------------------------------------------------------------------------


def test_v1_makes_one_cgroup_per_hierarchy_and_sets_each_limit(kernel: Kernel) -> None:
    """memory, cpu, cpuacct (the CPU time) and pids, each <hierarchy>/envctl/envctl-<run>; the
    memory limit with no swap beside it, the quota as cpus times the period, pids.max."""
    made = make(RUN, limits(), root=kernel.top, mountinfo=v1_machine(kernel))
    top = kernel.top
    assert made == HostCgroup(1, (f"{top}/memory/envctl/{NAME}", f"{top}/cpu/envctl/{NAME}",
                                  f"{top}/cpuacct/envctl/{NAME}", f"{top}/pids/envctl/{NAME}"))
    assert kernel.writes == [(f"memory/envctl/{NAME}/memory.limit_in_bytes", "67108864"),
                             (f"memory/envctl/{NAME}/memory.memsw.limit_in_bytes", "67108864"),
                             (f"cpu/envctl/{NAME}/cpu.cfs_quota_us", "150000"),
                             (f"pids/envctl/{NAME}/pids.max", "100")]
    assert read(kernel, f"memory/envctl/{NAME}/memory.limit_in_bytes") == "67108864"
    assert "cpuset/envctl" not in kernel.made()  # no limit there, and a cpuset cgroup needs setting up


def test_v1_takes_a_cpu_cpuacct_hierarchy_once_and_its_own_period(kernel: Kernel,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """A "cpu,cpuacct" mount is one place; the quota follows the cgroup's cfs_period_us."""
    mountinfo = v1_machine(kernel, ("cpu,cpuacct", "memory", "pids"))
    monkeypatch.setitem(V1_FILES["cpu"], "cpu.cfs_period_us", "50000\n")
    made = make(RUN, limits(cpus=0.5), root=kernel.top, mountinfo=mountinfo)
    top = kernel.top
    assert made == HostCgroup(1, (f"{top}/memory/envctl/{NAME}", f"{top}/cpu,cpuacct/envctl/{NAME}",
                                  f"{top}/pids/envctl/{NAME}"))
    assert read(kernel, f"cpu,cpuacct/envctl/{NAME}/cpu.cfs_quota_us") == "25000"


def test_v1_without_swap_accounting_keeps_the_cgroup_off_swap(kernel: Kernel,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """No memory.memsw.limit_in_bytes (swapaccount=0): the limit, and swappiness 0."""
    mountinfo = v1_machine(kernel)
    monkeypatch.delitem(V1_FILES["memory"], "memory.memsw.limit_in_bytes")
    made = make(RUN, limits(cpus=0, pids=0), root=kernel.top, mountinfo=mountinfo)
    assert isinstance(made, HostCgroup)
    assert kernel.writes == [(f"memory/envctl/{NAME}/memory.limit_in_bytes", "67108864"),
                             (f"memory/envctl/{NAME}/memory.swappiness", "0")]


def test_no_limit_is_set_for_zero_and_the_cgroups_are_made_for_the_figures(kernel: Kernel) -> None:
    """memory 0, cpus 0 (or not finite), pids -1: nothing written, the cgroups still made."""
    made = make(RUN, limits(memory=0, cpus=float("nan"), pids=-1), root=kernel.top,
                mountinfo=v1_machine(kernel))
    assert isinstance(made, HostCgroup)
    assert len(made.paths) == 4
    assert kernel.writes == []


def test_a_tiny_cpu_limit_is_the_kernels_smallest_quota(kernel: Kernel) -> None:
    """cpus 0.001 would be a 100 us quota; the kernel takes 1000 us at least."""
    made = make(RUN, limits(cpus=0.001), root=kernel.top, mountinfo=v1_machine(kernel))
    assert isinstance(made, HostCgroup)
    assert read(kernel, f"cpu/envctl/{NAME}/cpu.cfs_quota_us") == "1000"


def test_v1_without_the_hierarchy_of_a_limit_says_so_and_makes_nothing(kernel: Kernel) -> None:
    """A pids limit and no pids hierarchy: the reason; with no pids limit, the others made."""
    mountinfo = v1_machine(kernel, ("cpu", "memory"))
    assert make(RUN, limits(), root=kernel.top, mountinfo=mountinfo) == (
        f"no cgroup v1 hierarchy of the pids controller under {kernel.top}; the limits are not applied")
    assert kernel.made() == ["cpu", "memory", "systemd", "unified"]
    made = make(RUN, limits(pids=0), root=kernel.top, mountinfo=mountinfo)
    assert made == HostCgroup(1, (f"{kernel.top}/memory/envctl/{NAME}", f"{kernel.top}/cpu/envctl/{NAME}"))


def test_v1_refused_to_a_user_says_why_with_the_hint_and_undoes_what_it_made(kernel: Kernel) -> None:
    """EACCES in the last hierarchy: the reason with the hint, and the three cgroups (and
    envctl folders) made before it removed."""
    mountinfo = v1_machine(kernel)
    kernel.denied.add(kernel.top / "pids")
    top = kernel.top
    assert make(RUN, limits(), root=top, mountinfo=mountinfo) == (
        f"cannot create a cgroup under {top}/pids: Permission denied; the limits are not applied "
        "(run as root, or have root make the envctl folder of each hierarchy yours once: mkdir and chown "
        f"{top}/memory/envctl {top}/cpu/envctl {top}/cpuacct/envctl {top}/pids/envctl)")
    assert kernel.made() == ["cpu", "cpuacct", "cpuset", "memory", "pids", "systemd", "unified"]


def test_v1_keeps_an_envctl_folder_it_found_when_it_undoes(kernel: Kernel) -> None:
    """The shared folder was there (another run's, or root's hand-over): it stays."""
    mountinfo = v1_machine(kernel)
    REAL_MKDIR(kernel.top / "memory" / "envctl")
    kernel.denied.add(kernel.top / "pids")
    assert isinstance(make(RUN, limits(), root=kernel.top, mountinfo=mountinfo), str)
    assert kernel.made() == ["cpu", "cpuacct", "cpuset", "memory", "memory/envctl", "pids", "systemd",
                             "unified"]


def test_a_limit_the_kernel_refuses_is_a_reason_without_the_hint(kernel: Kernel) -> None:
    """EINVAL on the quota: said, no root hint (root would not help), all undone."""
    mountinfo = v1_machine(kernel)
    kernel.refused[kernel.top / "cpu" / "envctl" / NAME / "cpu.cfs_quota_us"] = errno.EINVAL
    assert make(RUN, limits(), root=kernel.top, mountinfo=mountinfo) == (
        f"cannot set cpu.cfs_quota_us in {kernel.top}/cpu/envctl/{NAME}: Invalid argument; "
        "the limits are not applied")
    assert kernel.made() == ["cpu", "cpuacct", "cpuset", "memory", "pids", "systemd", "unified"]


def test_an_unforeseen_os_error_midway_is_a_reason_and_undone(kernel: Kernel,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """An OSError no step names (EIO reading the period): the net's reason, nothing left."""
    mountinfo = v1_machine(kernel)

    reading = host_limits._read

    def failing(paths: list[Path], name: str) -> str | None:
        if name == "cpu.cfs_period_us":
            raise OSError(errno.EIO, os.strerror(errno.EIO))
        return reading(paths, name)

    monkeypatch.setattr(host_limits, "_read", failing)
    assert make(RUN, limits(), root=kernel.top, mountinfo=mountinfo) == (
        "cannot make the run's cgroup: Input/output error; the limits are not applied")
    assert kernel.made() == ["cpu", "cpuacct", "cpuset", "memory", "pids", "systemd", "unified"]


def test_a_cgroup_of_the_same_run_already_there_is_refused(kernel: Kernel) -> None:
    """The run's cgroup is made once: one already there is not taken over."""
    mountinfo = v1_machine(kernel)
    assert isinstance(make(RUN, limits(), root=kernel.top, mountinfo=mountinfo), HostCgroup)
    assert make(RUN, limits(), root=kernel.top, mountinfo=mountinfo) == (
        f"cannot create a cgroup under {kernel.top}/memory/envctl: File exists; the limits are not applied")


# -- cgroup v2 ----------------------------------------------------------------------------------------


def test_v2_enables_the_controllers_down_to_the_run_and_sets_each_limit(kernel: Kernel) -> None:
    """<mount>/envctl/envctl-<run>: +memory +cpu +pids in the mount's and envctl's
    subtree_control, then memory.max, memory.swap.max 0, cpu.max, pids.max."""
    made = make(RUN, limits(), root=kernel.top, mountinfo=v2_machine(kernel))
    assert made == HostCgroup(2, (f"{kernel.top}/unified2/envctl/{NAME}",))
    run = f"unified2/envctl/{NAME}"
    assert kernel.writes == [("unified2/cgroup.subtree_control", "+memory"),
                             ("unified2/cgroup.subtree_control", "+cpu"),
                             ("unified2/cgroup.subtree_control", "+pids"),
                             ("unified2/envctl/cgroup.subtree_control", "+memory"),
                             ("unified2/envctl/cgroup.subtree_control", "+cpu"),
                             ("unified2/envctl/cgroup.subtree_control", "+pids"),
                             (f"{run}/memory.max", "67108864"), (f"{run}/memory.swap.max", "0"),
                             (f"{run}/cpu.max", "150000 100000"), (f"{run}/pids.max", "100")]


def test_v2_writes_no_controller_already_enabled(kernel: Kernel) -> None:
    """What systemd enabled at the top is read, not written again."""
    mountinfo = v2_machine(kernel, enabled="cpu memory pids\n")
    made = make(RUN, limits(memory=0), root=kernel.top, mountinfo=mountinfo)
    assert isinstance(made, HostCgroup)
    assert [path for path, _value in kernel.writes] == [
        "unified2/envctl/cgroup.subtree_control", "unified2/envctl/cgroup.subtree_control",
        "unified2/envctl/cgroup.subtree_control", f"unified2/envctl/{NAME}/cpu.max",
        f"unified2/envctl/{NAME}/pids.max"]


def test_v2_without_a_controller_a_limit_needs_says_so(kernel: Kernel) -> None:
    """cgroup.controllers without pids and a pids limit: the reason, nothing made."""
    mountinfo = v2_machine(kernel, offered="cpu memory\n")
    assert make(RUN, limits(), root=kernel.top, mountinfo=mountinfo) == (
        f"the cgroup v2 file system at {kernel.top}/unified2 has no pids controller; "
        "the limits are not applied")
    assert kernel.made() == ["unified2"]


def test_v2_refused_to_a_user_goes_under_the_parent_of_its_own_cgroup(kernel: Kernel) -> None:
    """The top refused (EACCES), the own cgroup's parent is the user's (a systemd user scope's
    slice): the run's cgroup there, its controllers enabled there."""
    mountinfo = v2_machine(kernel, enabled="cpu memory pids\n")
    slice_dir = kernel.top / "unified2" / DELEGATED
    slice_dir.mkdir(parents=True)
    kernel.denied.add(kernel.top / "unified2")
    for name, text in {"cgroup.controllers": "cpu memory pids\n", "cgroup.subtree_control": "memory pids\n",
                       "cgroup.procs": ""}.items():
        (slice_dir / name).write_text(text)
    own = own_cgroup_file(kernel, f"0::/{DELEGATED}/run-r1.scope")
    made = make(RUN, limits(), root=kernel.top, mountinfo=mountinfo, own_cgroup=own)
    assert made == HostCgroup(2, (f"{slice_dir}/{NAME}",))
    assert kernel.writes[0] == (f"unified2/{DELEGATED}/cgroup.subtree_control", "+cpu")
    assert read(kernel, f"unified2/{DELEGATED}/{NAME}/memory.max") == "67108864"
    assert "unified2/envctl" not in kernel.made()


def test_v2_refused_with_no_parent_of_the_users_says_why_with_the_hint(
        kernel: Kernel, monkeypatch: pytest.MonkeyPatch) -> None:
    """The own cgroup at the top ("0::/") has no parent to use; one the user may not write
    is not tried either: the first refusal, with the delegation hint."""
    mountinfo = v2_machine(kernel, enabled="cpu memory pids\n")
    kernel.denied.add(kernel.top / "unified2")
    reason = (f"cannot create a cgroup under {kernel.top}/unified2: Permission denied; the limits are not "
              "applied (run as root, or start envctl in a systemd user scope, whose parent cgroup is yours: "
              "systemd-run --user --scope envctl test --host ...)")
    own = own_cgroup_file(kernel, "0::/")
    assert make(RUN, limits(), root=kernel.top, mountinfo=mountinfo, own_cgroup=own) == reason
    kernel.denied.clear()
    (kernel.top / "unified2" / "user.slice" / "session-2.scope").mkdir(parents=True)
    kernel.denied.add(kernel.top / "unified2")
    own = own_cgroup_file(kernel, "0::/user.slice/session-2.scope")
    monkeypatch.setattr(os, "access", lambda path, mode: False)  # root-owned user.slice, for a user
    assert make(RUN, limits(), root=kernel.top, mountinfo=mountinfo, own_cgroup=own) == reason
    assert kernel.writes == []


def test_v2_busy_top_is_a_reason_without_the_hint_nor_delegation(kernel: Kernel) -> None:
    """EBUSY (a namespaced top with processes in it): root would not help, no hint."""
    mountinfo = v2_machine(kernel)
    kernel.refused[kernel.top / "unified2" / "cgroup.subtree_control"] = errno.EBUSY
    assert make(RUN, limits(), root=kernel.top, mountinfo=mountinfo) == (
        f"cannot enable the memory controller in {kernel.top}/unified2: Device or resource busy; "
        "the limits are not applied")


def test_v2_is_taken_over_v1_and_a_hybrid_cgroup2_is_not(kernel: Kernel) -> None:
    """cgroup_version: 2 for a cgroup2 offering the controllers, 1 for hierarchies beside a
    cgroup2 that offers none, None with no cgroup mount or no mountinfo."""
    assert cgroup_version(root=kernel.top, mountinfo=v1_machine(kernel)) == 1
    assert cgroup_version(root=kernel.top, mountinfo=v2_machine(kernel)) == 2
    no_cgroup = mountinfo_file(kernel, ["1 0 8:1 / / rw - ext4 /dev/sda1 rw"])
    assert cgroup_version(root=kernel.top, mountinfo=no_cgroup) is None
    assert cgroup_version(root=kernel.top, mountinfo=kernel.top / "nothing") is None


def test_no_cgroup_file_system_is_a_reason(kernel: Kernel) -> None:
    """No cgroup mount under the root (one elsewhere is not ours), no mountinfo: each said."""
    elsewhere = ["31 23 0:28 / /elsewhere/cgroup/memory rw - cgroup cgroup rw,memory"]
    assert make(RUN, limits(), root=kernel.top, mountinfo=mountinfo_file(kernel, elsewhere)) == (
        f"no cgroup file system with the memory, cpu or pids controller under {kernel.top}; "
        "the limits are not applied")
    assert make(RUN, limits(), root=kernel.top, mountinfo=kernel.top / "gone") == (
        f"cannot read {kernel.top}/gone: No such file or directory; the limits are not applied")


def test_mountinfo_escapes_are_read(kernel: Kernel) -> None:
    r"""A mount point with a space is written with \040 in mountinfo."""
    folder = kernel.top / "my memory"
    REAL_MKDIR(folder)
    mountinfo = mountinfo_file(kernel, [f"32 31 0:29 / {str(folder).replace(' ', chr(92) + '040')} rw "
                                        "- cgroup cgroup rw,memory"])
    assert make(RUN, limits(memory=0, cpus=0, pids=0), root=kernel.top, mountinfo=mountinfo) == \
        HostCgroup(1, (f"{folder}/envctl/{NAME}",))


def test_a_malformed_run_id_is_a_value_error() -> None:
    """The name becomes a path: only a run id's shape goes into it."""
    with pytest.raises(ValueError, match="is not a run id"):
        make("../x", limits())


# -- the value ----------------------------------------------------------------------------------------


def test_to_json_and_back(kernel: Kernel) -> None:
    """The plan's form: version and paths, read back the same (with the run id checked)."""
    cgroup = HostCgroup(1, (f"{kernel.top}/memory/envctl/{NAME}", f"{kernel.top}/pids/envctl/{NAME}"))
    assert cgroup.to_json() == {"version": 1, "paths": list(cgroup.paths)}
    assert HostCgroup.from_json(cgroup.to_json(), run_id=RUN, root=kernel.top) == cgroup
    assert cgroup.run_id == RUN
    assert cgroup.procs_files() == (f"{kernel.top}/memory/envctl/{NAME}/cgroup.procs",
                                    f"{kernel.top}/pids/envctl/{NAME}/cgroup.procs")


@pytest.mark.parametrize(("data", "message"), [
    (["/sys/fs/cgroup/memory/envctl/envctl-20260807-143022-ab12"], "not a cgroup"),
    ({"version": 1}, "not a cgroup"),
    ({"version": 1, "paths": [], "extra": 1}, "not a cgroup"),
    ({"version": True, "paths": [f"/sys/fs/cgroup/memory/envctl/{NAME}"]}, "not a number"),
    ({"version": 3, "paths": [f"/sys/fs/cgroup/memory/envctl/{NAME}"]}, "neither 1 nor 2"),
    ({"version": 1, "paths": "/sys/fs/cgroup/memory/envctl/envctl-20260807-143022-ab12"}, "not a list"),
    ({"version": 1, "paths": [7]}, "not a list"),
    ({"version": 1, "paths": []}, "0 cgroup paths"),
    ({"version": 2, "paths": ["/sys/fs/cgroup/a/envctl-20260807-143022-ab12",
                              "/sys/fs/cgroup/b/envctl-20260807-143022-ab12"]}, "2 cgroup paths"),
    ({"version": 1, "paths": ["sys/fs/cgroup/memory/envctl/envctl-20260807-143022-ab12"]}, "not absolute"),
    ({"version": 1, "paths": ["/sys/fs/cgroup/memory/../../../tmp/envctl-20260807-143022-ab12"]},
     "not absolute and normal"),
    ({"version": 2, "paths": ["/tmp/envctl/envctl-20260807-143022-ab12"]}, "is not under /sys/fs/cgroup"),
    ({"version": 2, "paths": ["/sys/fs/cgroupx/envctl-20260807-143022-ab12"]}, "is not under /sys/fs/cgroup"),
    ({"version": 2, "paths": ["/sys/fs/cgroup/system.slice"]}, "envctl-<run id>"),
    ({"version": 2, "paths": ["/sys/fs/cgroup/envctl/envctl-latest"]}, "envctl-<run id>"),
    ({"version": 1, "paths": ["/sys/fs/cgroup/memory/envctl/envctl-20260807-143022-ab12",
                              "/sys/fs/cgroup/pids/envctl/envctl-20260807-143022-ffff"]}, "envctl-<run id>"),
    ({"version": 2, "paths": ["/sys/fs/cgroup/envctl/envctl-20260807-143022-ffff"]},
     "not run 20260807-143022-ab12"),
])
def test_from_json_refuses_what_is_not_a_runs_cgroup(data: object, message: str) -> None:
    """Wrong shapes, relative or unnormal paths, paths outside the cgroup root, other names or
    another run's: ValueError."""
    with pytest.raises(ValueError, match=message):
        HostCgroup.from_json(data, run_id=RUN)


def test_memory_dir_is_the_one_with_the_memory_files(kernel: Kernel) -> None:
    """v1: the memory hierarchy's directory (not by its name: by its files); v2: the one."""
    made = make(RUN, limits(), root=kernel.top, mountinfo=v1_machine(kernel, ("cpu", "pids", "memory")))
    assert isinstance(made, HostCgroup)
    assert made.memory_dir() == f"{kernel.top}/memory/envctl/{NAME}"
    assert HostCgroup(1, (f"{kernel.top}/cpu/envctl/{NAME}",)).memory_dir() is None
    assert HostCgroup(2, (f"{kernel.top}/unified2/envctl/{NAME}",)).memory_dir() == \
        f"{kernel.top}/unified2/envctl/{NAME}"


# -- the figures ----------------------------------------------------------------------------------------


def test_v1_usage_reads_each_figure(kernel: Kernel) -> None:
    """usage_in_bytes, max_usage_in_bytes, the limit, cpuacct.usage in ns, pids.current and
    memory.oom_control's oom_kill."""
    made = make(RUN, limits(), root=kernel.top, mountinfo=v1_machine(kernel))
    assert isinstance(made, HostCgroup)
    figures = {"memory": {"memory.usage_in_bytes": "286720\n", "memory.max_usage_in_bytes": "67108864\n",
                          "memory.oom_control": "oom_kill_disable 0\nunder_oom 0\noom_kill 2\n"},
               "cpuacct": {"cpuacct.usage": "1067355078\n"}, "pids": {"pids.current": "8\n"}}
    for path, text in figures.items():
        for name, value in text.items():
            (kernel.top / path / "envctl" / NAME / name).write_text(value)
    assert usage(made) == HostUsage(memory_current=286720, memory_peak=67108864, memory_limit=67108864,
                                    cpu_seconds=1.067355078, pids_current=8, oom_kills=2)


def test_v1_usage_without_files_or_limit_is_none_figures(kernel: Kernel) -> None:
    """No limit (the kernel's largest number), an old kernel's oom_control without oom_kill, no
    cpuacct or pids hierarchy: None for each, no error; a cgroup gone: all None."""
    made = make(RUN, limits(cpus=0, pids=0, memory=0), root=kernel.top,
                mountinfo=v1_machine(kernel, ("memory",)))
    assert isinstance(made, HostCgroup)
    run = kernel.top / "memory" / "envctl" / NAME
    (run / "memory.oom_control").write_text("oom_kill_disable 0\nunder_oom 0\n")  # before 4.13
    (run / "memory.failcnt").write_text("12\n")  # limit hits, not OOM kills
    assert usage(made) == HostUsage(memory_current=0, memory_peak=0, memory_limit=None, cpu_seconds=None,
                                    pids_current=None, oom_kills=None)
    gone = HostCgroup(1, (f"{kernel.top}/memory/envctl/envctl-20260807-143022-ffff",))
    assert usage(gone) == HostUsage(None, None, None, None, None, None)


def test_v2_usage_reads_each_figure(kernel: Kernel) -> None:
    """memory.current, memory.peak, memory.max, cpu.stat's usage_usec, pids.current and
    memory.events' oom_kill."""
    made = make(RUN, limits(), root=kernel.top, mountinfo=v2_machine(kernel))
    assert isinstance(made, HostCgroup)
    run = kernel.top / "unified2" / "envctl" / NAME
    (run / "memory.current").write_text("4096\n")
    (run / "memory.peak").write_text("67104768\n")
    (run / "memory.events").write_text("low 0\nhigh 0\nmax 31\noom 1\noom_kill 1\noom_group_kill 0\n")
    (run / "cpu.stat").write_text("usage_usec 2500000\nuser_usec 2000000\nsystem_usec 500000\n")
    (run / "pids.current").write_text("3\n")
    assert usage(made) == HostUsage(memory_current=4096, memory_peak=67104768, memory_limit=67108864,
                                    cpu_seconds=2.5, pids_current=3, oom_kills=1)


def test_v2_usage_of_an_old_kernel_or_no_limit(kernel: Kernel) -> None:
    """memory.max "max" is no limit; no memory.peak (before 5.19) nor pids files: None."""
    made = make(RUN, limits(memory=0, pids=0, cpus=0), root=kernel.top,
                mountinfo=v2_machine(kernel, offered="cpu memory\n"))
    assert isinstance(made, HostCgroup)
    (Path(made.paths[0]) / "memory.peak").unlink()
    assert usage(made) == HostUsage(memory_current=0, memory_peak=None, memory_limit=None, cpu_seconds=0.0,
                                    pids_current=None, oom_kills=0)


# -- joining, killing, removing ---------------------------------------------------------------------------


def test_join_writes_0_into_each_procs_file(kernel: Kernel) -> None:
    """"0" (this process) into every cgroup.procs; a cgroup gone is an OSError."""
    made = make(RUN, limits(), root=kernel.top, mountinfo=v1_machine(kernel))
    assert isinstance(made, HostCgroup)
    join(made)
    assert [Path(procs).read_text() for procs in made.procs_files()] == ["0", "0", "0", "0"]
    with pytest.raises(FileNotFoundError):
        join(HostCgroup(2, (f"{kernel.top}/unified2/envctl/{NAME}",)))


def test_v1_kill_all_kills_every_process_in_the_tree_but_its_caller(kernel: Kernel) -> None:
    """The pids of every hierarchy and of cgroups the tests made below, SIGKILLed once each;
    the caller's own pid (were it inside) spared."""
    made = make(RUN, limits(), root=kernel.top, mountinfo=v1_machine(kernel))
    assert isinstance(made, HostCgroup)
    memory = kernel.top / "memory" / "envctl" / NAME
    kernel.mkdir(memory / "nested")
    (memory / "cgroup.procs").write_text(f"101\n102\n{os.getpid()}\n")
    (memory / "nested" / "cgroup.procs").write_text("103\n")
    (kernel.top / "pids" / "envctl" / NAME / "cgroup.procs").write_text("101\n102\n")
    assert pids(made) == sorted([101, 102, 103, os.getpid()])
    kill_all(made)
    assert sorted(kernel.killed) == [(101, signal.SIGKILL), (102, signal.SIGKILL), (103, signal.SIGKILL)]
    assert pids(made) == [os.getpid()]


def test_v2_kill_all_writes_cgroup_kill_and_falls_back_to_kills(kernel: Kernel) -> None:
    """cgroup.kill's "1" when there is one (kernel 5.14+); SIGKILLs one by one without it."""
    made = make(RUN, limits(), root=kernel.top, mountinfo=v2_machine(kernel))
    assert isinstance(made, HostCgroup)
    run = Path(made.paths[0])
    (run / "cgroup.procs").write_text("201\n202\n")
    kill_all(made)
    assert kernel.writes[-1] == (f"unified2/envctl/{NAME}/cgroup.kill", "1")
    assert pids(made) == []
    (run / "cgroup.kill").unlink()
    (run / "cgroup.procs").write_text("203\n")
    kill_all(made)
    assert kernel.killed == [(201, signal.SIGKILL), (202, signal.SIGKILL), (203, signal.SIGKILL)]


def test_remove_kills_what_is_left_and_removes_the_cgroups_and_the_last_folder(kernel: Kernel) -> None:
    """A populated cgroup (and one the tests made below it): killed, then every directory gone,
    the shared envctl folders with them; a second remove is quiet."""
    mountinfo = v1_machine(kernel)
    made = make(RUN, limits(), root=kernel.top, mountinfo=mountinfo)
    assert isinstance(made, HostCgroup)
    kernel.mkdir(Path(made.paths[0]) / "nested")
    (Path(made.paths[0]) / "nested" / "cgroup.procs").write_text("301\n")
    (Path(made.paths[3]) / "cgroup.procs").write_text("301\n")
    assert remove(made, pause=0) is None
    assert kernel.killed == [(301, signal.SIGKILL)]
    assert kernel.made() == ["cpu", "cpuacct", "cpuset", "memory", "pids", "systemd", "unified"]
    assert remove(made, pause=0) is None


def test_remove_leaves_the_folder_of_other_runs(kernel: Kernel) -> None:
    """Another run's cgroup in the envctl folder: ours goes, the folder stays."""
    mountinfo = v2_machine(kernel)
    other = make("20260807-143022-ffff", limits(), root=kernel.top, mountinfo=mountinfo)
    made = make(RUN, limits(), root=kernel.top, mountinfo=mountinfo)
    assert isinstance(made, HostCgroup)
    assert isinstance(other, HostCgroup)
    assert remove(made, pause=0) is None
    assert kernel.made() == ["unified2", "unified2/envctl", "unified2/envctl/envctl-20260807-143022-ffff"]


def test_remove_says_what_stays(kernel: Kernel) -> None:
    """A process that outlives SIGKILL (stuck in the kernel): tried `tries` times, then said;
    the envctl folder it is in stays."""
    made = make(RUN, limits(), root=kernel.top, mountinfo=v2_machine(kernel))
    assert isinstance(made, HostCgroup)
    (Path(made.paths[0]) / "cgroup.procs").write_text("401\n")
    kernel.unkillable.add(401)
    assert remove(made, tries=3, pause=0) == (
        f"cannot remove the run's cgroup {made.paths[0]}: still holds processes [401]")
    assert [value for path, value in kernel.writes if path.endswith("cgroup.kill")] == ["1", "1"]
    assert kernel.made() == ["unified2", "unified2/envctl", f"unified2/envctl/{NAME}"]


def test_leftovers_finds_the_runs_cgroups_by_run(kernel: Kernel) -> None:
    """v1: one HostCgroup per run across the hierarchies; other names skipped."""
    mountinfo = v1_machine(kernel)
    later = make("20260807-143023-ffff", limits(), root=kernel.top, mountinfo=mountinfo)
    made = make(RUN, limits(), root=kernel.top, mountinfo=mountinfo)
    kernel.mkdir(kernel.top / "memory" / "envctl" / "envctl-latest")
    kernel.mkdir(kernel.top / "memory" / "envctl" / "someone-else")
    assert leftovers(root=kernel.top, mountinfo=mountinfo) == [made, later]
    assert leftovers(root=kernel.top, mountinfo=kernel.top / "gone") == []


def test_leftovers_finds_a_delegated_run_beside_the_own_cgroup(kernel: Kernel) -> None:
    """v2: the envctl folder's and the one beside this process's cgroup, each its own."""
    mountinfo = v2_machine(kernel)
    assert isinstance(make(RUN, limits(), root=kernel.top, mountinfo=mountinfo), HostCgroup)
    beside = kernel.top / "unified2" / DELEGATED / "envctl-20260807-143022-ffff"
    beside.mkdir(parents=True)
    own = own_cgroup_file(kernel, f"0::/{DELEGATED}/run-r1.scope")
    assert leftovers(root=kernel.top, mountinfo=mountinfo, own_cgroup=own) == [
        HostCgroup(2, (f"{kernel.top}/unified2/envctl/{NAME}",)), HostCgroup(2, (str(beside),))]


# -- this machine ------------------------------------------------------------------------------------------


def _real_memory_cgroup() -> bool:
    """Root, on a machine with a memory controller whose cgroup file system is writable."""
    if os.geteuid() != 0:
        return False
    try:
        chosen = host_limits._layout(host_limits._mounts(host_limits.MOUNTINFO, host_limits.CGROUP_ROOT))
    except OSError:
        return False
    if chosen is None:
        return False
    layout, mounts = chosen
    memory = [mount.point for mount in mounts
              if "memory" in mount.controllers or (layout == 2 and "memory" in (
                  mount.point / "cgroup.controllers").read_text().split())]
    return bool(memory) and os.access(memory[0], os.W_OK)


@pytest.mark.skipif(not _real_memory_cgroup(), reason="needs root and a writable cgroup memory controller")
def test_a_real_cgroup_oom_kills_a_test_over_its_memory_limit() -> None:
    """This machine's cgroup, 64 MiB: a child joining it that takes 256 MiB is SIGKILLed, the
    OOM kill counted, the peak within the limit; remove leaves nothing."""
    limit = 64 * MIB
    made = make(new_run_id(), Limits(memory=limit, cpus=0, pids=0))
    assert isinstance(made, HostCgroup), made
    try:
        ended = subprocess.run([sys.executable, "-c", "x = bytearray(256 << 20)"], check=False,
                               preexec_fn=lambda: join(made),  # the real runner's way in
                               capture_output=True, timeout=60)
        figures = usage(made)
    finally:
        left = remove(made)
    assert ended.returncode == -signal.SIGKILL
    assert figures.memory_limit == limit
    assert figures.oom_kills in (None, 1)  # None: a kernel before 4.13 (v1) shows no count
    assert figures.memory_peak is None or figures.memory_peak <= limit
    assert figures.pids_current in (None, 0)
    assert left is None
    assert [path for path in made.paths if Path(path).exists()] == []
    assert made not in leftovers()
