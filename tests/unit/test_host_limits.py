"""A `test --host` run's cgroup once made: its figures read back, a process joining it, its
processes killed, its directories removed and found again; against a fake cgroup file system
in tmp_path whose mkdir, rmdir, writes and kills behave as the kernel's do (the Kernel and the
machines here serve the test_cgroup_* modules too). One test uses this machine's real cgroups,
as root only."""

from __future__ import annotations

import errno
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from envctl.runs import cgroup_files, cgroup_mounts
from envctl.runs.host_limits import (
    CGROUP_ROOT,
    MOUNTINFO,
    HostCgroup,
    HostUsage,
    join,
    kill_all,
    leftovers,
    make,
    pids,
    remove,
    usage,
)
from envctl.runs.ids import new_run_id
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


def fake_kernel(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Kernel:
    """A Kernel at tmp_path/cgroup standing in for os.mkdir, os.rmdir, os.kill and the cgroup
    files' writes (the fixture of every cgroup test module)."""
    fake = Kernel(tmp_path / "cgroup")
    fake.top.mkdir()
    monkeypatch.setattr(os, "mkdir", fake.mkdir)
    monkeypatch.setattr(os, "rmdir", fake.rmdir)
    monkeypatch.setattr(os, "kill", fake.kill)
    monkeypatch.setattr(cgroup_files, "write", fake.write)
    return fake


@pytest.fixture
def kernel(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Kernel:
    return fake_kernel(tmp_path, monkeypatch)


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
        chosen = cgroup_mounts.layout(cgroup_mounts.mounts(MOUNTINFO, CGROUP_ROOT))
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
