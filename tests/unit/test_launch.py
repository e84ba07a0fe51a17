"""Starting a run: what can be told about a start that a killed starter left half done."""

from __future__ import annotations

from pathlib import Path

from envctl.runs.launch import creation_under_way

NAME = "p-test-run-20260101-000000-abcd"


OUR_NS = "pid:[4026531836]"


def fake_proc(tmp_path: Path, *argvs: list[str], namespace: str = OUR_NS) -> Path:
    proc = tmp_path / "proc"
    proc.mkdir()
    (proc / "self" / "ns").mkdir(parents=True)  # not a pid: skipped
    (proc / "self" / "ns" / "pid").symlink_to(OUR_NS)
    for pid, argv in enumerate(argvs, start=100):
        (proc / str(pid) / "ns").mkdir(parents=True)
        (proc / str(pid) / "ns" / "pid").symlink_to(namespace)
        (proc / str(pid) / "cmdline").write_bytes(b"\0".join(a.encode() for a in argv) + b"\0")
    return proc


def test_a_live_compose_run_for_the_name_is_seen(tmp_path: Path) -> None:
    """`timeout ... docker compose ... run --name NAME` (either process) counts as under way."""
    proc = fake_proc(tmp_path, ["timeout", "--kill-after=5", "120", "docker", "compose", "-p", "p",
                                "run", "--detach", "--name", NAME, "test", "pytest"])
    assert creation_under_way(NAME, proc) is True


def test_other_processes_do_not_count(tmp_path: Path) -> None:
    """Another run's compose, a shell that only mentions the name: nothing under way."""
    proc = fake_proc(tmp_path, ["docker", "compose", "run", "--name", NAME + "x", "test"],
                     ["grep", NAME], ["docker", "compose", "up", "--detach"])
    assert creation_under_way(NAME, proc) is False


def test_a_process_in_another_pid_namespace_does_not_count(tmp_path: Path) -> None:
    """A test container's process named like a compose run (visible in the host's /proc) is
    not one: it is in the container's pid namespace, not ours."""
    proc = fake_proc(tmp_path, ["docker", "compose", "run", "--name", NAME, "test"],
                     namespace="pid:[4026532999]")
    assert creation_under_way(NAME, proc) is False


def test_without_proc_it_cannot_tell(tmp_path: Path) -> None:
    """No /proc (macOS): None, and the caller waits for the container as before."""
    assert creation_under_way(NAME, tmp_path / "absent") is None
