"""The plugin's memory reading in the container: its cgroup found (v2, v1, or by the path the
process names), read with pread, a test written down only when it grew memory, and nothing that
can break a run (a fake cgroup tree, no Docker)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from envctl.pytest_plugin.envctl_memory import GREW_AT, CgroupMemory, MemoryWatch, cgroup_files, growth
from envctl.runs.container import PLUGIN_DIR

MIB = 1 << 20


def tree(root: Path, files: dict[str, str], proc: str = "") -> tuple[str, str]:
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    (root / "proc_cgroup").write_text(proc)
    return str(root / "fs"), str(root / "proc_cgroup")


def test_cgroup_v2_in_the_containers_own_namespace(tmp_path: Path) -> None:
    """memory.current and memory.peak at the root the container sees."""
    root, proc = tree(tmp_path, {"fs/memory.current": "5\n", "fs/memory.peak": "9\n"}, "0::/\n")
    assert cgroup_files(root, proc) == (f"{root}/memory.current", f"{root}/memory.peak")


def test_cgroup_v2_before_kernel_5_19_has_no_peak(tmp_path: Path) -> None:
    """Without memory.peak the usage alone is read."""
    root, proc = tree(tmp_path, {"fs/memory.current": "5\n"}, "0::/\n")
    assert cgroup_files(root, proc) == (f"{root}/memory.current", None)


def test_cgroup_v1_as_docker_mounts_it(tmp_path: Path) -> None:
    """The container's memory cgroup at /sys/fs/cgroup/memory (what this machine's engine does)."""
    root, proc = tree(tmp_path, {"fs/memory/memory.usage_in_bytes": "5\n",
                                 "fs/memory/memory.max_usage_in_bytes": "9\n"},
                      "4:memory:/docker/abc\n0::/docker/abc\n")
    assert cgroup_files(root, proc) == (f"{root}/memory/memory.usage_in_bytes",
                                        f"{root}/memory/memory.max_usage_in_bytes")


def test_the_hosts_namespace_is_followed_by_the_path_the_process_names(tmp_path: Path) -> None:
    """v2 with the host's namespace: the root has no memory.current, the process's path has;
    a path with '..' is never followed."""
    root, proc = tree(tmp_path, {"fs/system.slice/docker-1.scope/memory.current": "5\n",
                                 "fs/memory.current.not": ""},
                      "0::/../../etc\n0::/system.slice/docker-1.scope\n")
    assert cgroup_files(root, proc) == (f"{root}/system.slice/docker-1.scope/memory.current", None)
    v1_root, v1_proc = tree(tmp_path / "v1", {"fs/memory/docker/abc/memory.usage_in_bytes": "5\n"},
                            "3:cpu,memory:/docker/abc\n")
    assert cgroup_files(v1_root, v1_proc) == (f"{v1_root}/memory/docker/abc/memory.usage_in_bytes", None)


def test_no_cgroup_no_reading(tmp_path: Path) -> None:
    """Nothing found (another OS, a locked-down mount): None, and reads give None."""
    assert cgroup_files(str(tmp_path / "none"), str(tmp_path / "none")) is None
    assert CgroupMemory(None).read() is None


def test_the_files_are_read_again_at_each_reading(tmp_path: Path) -> None:
    """pread from the start each time: the kernel's figure now, not the first one."""
    (tmp_path / "current").write_text("100\n")
    (tmp_path / "peak").write_text("300\n")
    memory = CgroupMemory((str(tmp_path / "current"), str(tmp_path / "peak")))
    assert memory.read() == (100, 300)
    (tmp_path / "current").write_text("250\n")
    assert memory.read() == (250, 300)
    memory.close()


def test_an_odd_reading_turns_the_reading_off(tmp_path: Path) -> None:
    """A file that does not hold a number: None now and after, its descriptors closed."""
    (tmp_path / "current").write_text("max\n")
    memory = CgroupMemory((str(tmp_path / "current"), None))
    assert (memory.read(), memory.current) == (None, None)
    assert CgroupMemory((str(tmp_path / "missing"), None)).read() is None


def test_a_test_is_written_down_only_when_it_grew_memory() -> None:
    """A MiB of growth or a peak that rose by one: the event's fields (the peak only when it
    rose); less: nothing."""
    assert growth((10, 20), (10 + GREW_AT - 1, 20)) is None
    assert growth((10, 20), (10 + GREW_AT, 20)) == {"before": 10, "after": 10 + GREW_AT}
    assert growth((10, 20), (5, 20 + GREW_AT)) == {"before": 10, "after": 5, "peak": 20 + GREW_AT}
    assert growth((10, None), (10 + GREW_AT, None)) == {"before": 10, "after": 10 + GREW_AT}


class Readings(CgroupMemory):
    """A cgroup whose readings are given in order (None: the read failed, as CgroupMemory says)."""

    def __init__(self, *readings: tuple[int, int | None] | None) -> None:
        super().__init__(None)
        self.readings = list(readings)

    def read(self) -> tuple[int, int | None] | None:
        return self.readings.pop(0)


def test_the_hooks_emit_one_event_per_test_that_grew() -> None:
    """One reading a test, at its end; its start takes the reading before it (the session's
    start, or the previous test's end). Interleaved under xdist, a test's figure holds what the
    other did meanwhile; one that grew nothing is not written; a failed reading is swallowed and
    the tests after it have no figure."""
    emitted: list[tuple[str, dict[str, Any]]] = []
    peak = 120 * MIB
    watch = MemoryWatch(lambda kind, **data: emitted.append((kind, data)),
                        Readings((0, 0), (100 * MIB, peak), (100 * MIB, peak), (100 * MIB, peak), None))
    watch.pytest_runtest_logstart("t.py::a", None)  # before: the session's start, (0, 0)
    watch.pytest_runtest_logstart("t.py::b", None)  # the same: nothing ended between
    watch.pytest_runtest_logfinish("t.py::a", None)
    watch.pytest_runtest_logfinish("t.py::b", None)
    watch.pytest_runtest_logstart("t.py::c", None)
    watch.pytest_runtest_logfinish("t.py::c", None)  # grew nothing: not written
    watch.pytest_runtest_logstart("t.py::d", None)
    watch.pytest_runtest_logfinish("t.py::d", None)  # the reading fails: nothing
    watch.pytest_runtest_logstart("t.py::e", None)  # no reading to start from: no figure
    watch.pytest_runtest_logfinish("t.py::never-started", None)
    assert emitted == [("memory", {"nodeid": "t.py::a", "before": 0, "after": 100 * MIB, "peak": peak}),
                       ("memory", {"nodeid": "t.py::b", "before": 0, "after": 100 * MIB, "peak": peak})]
    assert watch.started == {}


def test_the_progress_plugin_registers_the_memory_watch(tmp_path: Path) -> None:
    """In a real pytest, the session envctl records has the watch registered."""
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    (tmp_path / "test_m.py").write_text(
        "def test_registered(request):\n"
        "    watch = request.config.pluginmanager.get_plugin('envctl-memory')\n"
        "    assert type(watch).__name__ == 'MemoryWatch'\n")
    env = {**os.environ, "PYTEST_PLUGINS": "envctl_progress", "PYTHONPATH": str(PLUGIN_DIR),
           "ENVCTL_PROGRESS_DIR": str(run_dir)}
    result = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "test_m.py"],
                            env=env, capture_output=True, text=True, timeout=120, check=False, cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr


def test_an_error_in_the_hooks_never_reaches_pytest() -> None:
    """An emit that fails (a full disk in the exchange folder) is swallowed."""
    def refuse(kind: str, **data: object) -> None:
        raise OSError("no space left on device")

    watch = MemoryWatch(refuse, Readings((0, 0), (100 * MIB, 100 * MIB)))
    watch.pytest_runtest_logstart("t.py::a", None)
    watch.pytest_runtest_logfinish("t.py::a", None)
    assert watch.last == (100 * MIB, 100 * MIB)


def test_a_host_run_names_its_own_cgroup(tmp_path: Path) -> None:
    """On the host envctl names the run's cgroup: the machine's own is never read."""
    root, proc = tree(tmp_path, {"fs/memory/memory.usage_in_bytes": "5\n",
                                 "run/memory.usage_in_bytes": "7\n", "run/memory.max_usage_in_bytes": "8\n"},
                      "4:memory:/\n")
    run = str(tmp_path / "run")
    assert cgroup_files(root, proc, chosen=run) == (f"{run}/memory.usage_in_bytes",
                                                    f"{run}/memory.max_usage_in_bytes")
    assert cgroup_files(root, proc, chosen="off") is None
    assert cgroup_files(root, proc, chosen="relative/run") is None
