"""Where the cgroup file systems are: mountinfo's cgroup mounts under the root (escapes read),
the version a run's cgroup takes, each v1 controller's hierarchy and the parent of this
process's own v2 cgroup; against test_host_limits' fake cgroup file system or plain files."""

from __future__ import annotations

from pathlib import Path

import pytest

from envctl.runs import cgroup_mounts
from envctl.runs.host_limits import HostCgroup, cgroup_version, make
from tests.unit.test_host_limits import (
    NAME,
    REAL_MKDIR,
    RUN,
    Kernel,
    kernel,
    limits,
    mountinfo_file,
    v1_machine,
    v2_machine,
)

__all__ = ["kernel"]  # the fake kernel fixture, shared with the limits' own tests


def test_v2_is_taken_over_v1_and_a_hybrid_cgroup2_is_not(kernel: Kernel) -> None:
    """cgroup_version: 2 for a cgroup2 offering the controllers, 1 for hierarchies beside a
    cgroup2 that offers none, None with no cgroup mount or no mountinfo."""
    assert cgroup_version(root=kernel.top, mountinfo=v1_machine(kernel)) == 1
    assert cgroup_version(root=kernel.top, mountinfo=v2_machine(kernel)) == 2
    no_cgroup = mountinfo_file(kernel, ["1 0 8:1 / / rw - ext4 /dev/sda1 rw"])
    assert cgroup_version(root=kernel.top, mountinfo=no_cgroup) is None
    assert cgroup_version(root=kernel.top, mountinfo=kernel.top / "nothing") is None


def test_mountinfo_escapes_are_read(kernel: Kernel) -> None:
    r"""A mount point with a space is written with \040 in mountinfo."""
    folder = kernel.top / "my memory"
    REAL_MKDIR(folder)
    mountinfo = mountinfo_file(kernel, [f"32 31 0:29 / {str(folder).replace(' ', chr(92) + '040')} rw "
                                        "- cgroup cgroup rw,memory"])
    assert make(RUN, limits(memory=0, cpus=0, pids=0), root=kernel.top, mountinfo=mountinfo) == \
        HostCgroup(1, (f"{folder}/envctl/{NAME}",))


def test_mounts_are_the_cgroup_ones_under_the_root_with_their_v1_controllers(tmp_path: Path) -> None:
    """Another fs type, a cgroup mount elsewhere and a short line are skipped; v1 keeps only
    memory, cpu, cpuacct and pids of its options, v2 none; the mount's root is read."""
    root = tmp_path / "cgroup"
    mountinfo = tmp_path / "mountinfo"
    mountinfo.write_text("\n".join([
        f"31 23 0:28 / {root} rw - tmpfs tmpfs rw",
        f"32 31 0:29 / {root}/cpu,cpuacct rw shared:1 - cgroup cgroup rw,cpu,cpuacct,nosuid",
        f"33 31 0:30 /docker/abc {root}/pids rw - cgroup cgroup rw,pids",
        "34 31 0:31 / /elsewhere/memory rw - cgroup cgroup rw,memory",
        f"35 31 0:32 / {root}/unified rw - cgroup2 cgroup2 rw,nsdelegate",
        "36 31 0:33 /",
    ]) + "\n")
    assert cgroup_mounts.mounts(mountinfo, root) == [
        cgroup_mounts.Mount(root / "cpu,cpuacct", 1, "/", frozenset({"cpu", "cpuacct"})),
        cgroup_mounts.Mount(root / "pids", 1, "/docker/abc", frozenset({"pids"})),
        cgroup_mounts.Mount(root / "unified", 2, "/", frozenset())]
    with pytest.raises(FileNotFoundError):
        cgroup_mounts.mounts(tmp_path / "gone", root)


def test_unescape_reads_octal_escapes_only() -> None:
    r"""\040 a space, \011 a tab, \134 a backslash; a lone backslash stays."""
    assert cgroup_mounts.unescape(r"/a\040b\011c\134d\e") == "/a b\tc\\d\\e"


def test_v1_points_take_a_joint_hierarchy_once_in_the_controllers_order(tmp_path: Path) -> None:
    """memory, cpu, cpuacct, pids order; "cpu,cpuacct" one place; a second mount of memory not."""
    joint = cgroup_mounts.Mount(tmp_path / "cpu,cpuacct", 1, "/", frozenset({"cpu", "cpuacct"}))
    memory = cgroup_mounts.Mount(tmp_path / "memory", 1, "/", frozenset({"memory"}))
    again = cgroup_mounts.Mount(tmp_path / "memory2", 1, "/", frozenset({"memory"}))
    assert cgroup_mounts.v1_hierarchies([joint, memory, again]) == {"cpu": joint, "cpuacct": joint,
                                                                      "memory": memory}
    assert cgroup_mounts.v1_points([joint, memory, again]) == [tmp_path / "memory", tmp_path / "cpu,cpuacct"]


@pytest.mark.parametrize(("mount_root", "line", "parent"), [
    ("/", "0::/user.slice/user-1000.slice/session-2.scope", "user.slice/user-1000.slice"),
    ("/", "0::/session-2.scope", None),
    ("/", "0::/", None),
    ("/", "0::/a/../b/c", None),
    ("/", "1:name=systemd:/user.slice/x", None),
    ("/ns", "0::/ns/app.slice/run.scope", "app.slice"),
    ("/ns", "0::/other/app.slice/run.scope", None),
])
def test_own_parent_is_below_the_mounts_top_or_none(tmp_path: Path, mount_root: str, line: str,
                                                    parent: str | None) -> None:
    """The parent of the 0:: line's cgroup, within what the mount shows; none at or above its top."""
    own = tmp_path / "own-cgroup"
    own.write_text(line + "\n")
    mount = cgroup_mounts.Mount(tmp_path / "unified", 2, mount_root, frozenset())
    assert cgroup_mounts.own_parent(mount, own) == (None if parent is None else tmp_path / "unified" / parent)
    assert cgroup_mounts.own_parent(mount, tmp_path / "gone") is None
