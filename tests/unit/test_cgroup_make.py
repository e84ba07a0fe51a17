"""A `test --host` run's cgroup made where the host allows it (v1 hierarchies, v2 with its
subtree_control, a user's delegated part) with its limits set, and a one-line reason where it
does not, all it made undone; against test_host_limits' fake cgroup file system."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest

from envctl.runs import cgroup_files
from envctl.runs.host_limits import HostCgroup, make
from tests.unit.test_host_limits import (
    DELEGATED,
    NAME,
    REAL_MKDIR,
    RUN,
    V1_FILES,
    Kernel,
    kernel,
    limits,
    mountinfo_file,
    own_cgroup_file,
    read,
    v1_machine,
    v2_machine,
)

__all__ = ["kernel"]  # the fake kernel fixture, shared with the limits' own tests


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

    reading = cgroup_files.read

    def failing(paths: list[Path], name: str) -> str | None:
        if name == "cpu.cfs_period_us":
            raise OSError(errno.EIO, os.strerror(errno.EIO))
        return reading(paths, name)

    monkeypatch.setattr(cgroup_files, "read", failing)
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


def test_no_cgroup_file_system_is_a_reason(kernel: Kernel) -> None:
    """No cgroup mount under the root (one elsewhere is not ours), no mountinfo: each said."""
    elsewhere = ["31 23 0:28 / /elsewhere/cgroup/memory rw - cgroup cgroup rw,memory"]
    assert make(RUN, limits(), root=kernel.top, mountinfo=mountinfo_file(kernel, elsewhere)) == (
        f"no cgroup file system with the memory, cpu or pids controller under {kernel.top}; "
        "the limits are not applied")
    assert make(RUN, limits(), root=kernel.top, mountinfo=kernel.top / "gone") == (
        f"cannot read {kernel.top}/gone: No such file or directory; the limits are not applied")


def test_a_malformed_run_id_is_a_value_error() -> None:
    """The name becomes a path: only a run id's shape goes into it."""
    with pytest.raises(ValueError, match="is not a run id"):
        make("../x", limits())
