"""Exhaustion: a fork bomb held by the pids limit, a full disk where the logs go, and a gigabyte
of output through a collector whose memory stays flat. (Memory over the limit, one huge line,
invalid UTF-8 and no final newline are in tests/integration/test_runs.py.)"""

from __future__ import annotations

import json
import os
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.faults.conftest import Project, answer_of, start_detached, write_suite
from tests.integration.conftest import envctl_pids

pytestmark = [pytest.mark.docker, pytest.mark.faults]

FORK_BOMB = """
import os, time

def test_bomb():
    children = 0
    try:
        while True:
            if os.fork() == 0:
                time.sleep(3)
                os._exit(0)
            children += 1
    finally:
        print(f"forked {children} children")
"""


def test_a_fork_bomb_is_held_by_the_pids_limit(runs_project: Project) -> None:
    """--pids 64: the bomb stops at the limit, the host answers meanwhile, the run ends failed
    (the test's own error), and no process of it is left."""
    write_suite(runs_project, {"test_bomb.py": FORK_BOMB})
    run_id = start_detached(runs_project, "--pids", "64", "--", "-s")
    started = time.monotonic()
    while json.loads(runs_project.envctl("status", run_id, "--json").stdout)["state"] == "starting":
        assert time.monotonic() - started < 120
    answered = runs_project.envctl("status", run_id)  # during the bomb
    assert answered.returncode == 0, answered.output
    view = answer_of(runs_project, run_id)
    assert (view["exit"], view["state"], view["progress"]["failed"]) == (1, "failed", 1), view
    log = (Path(runs_project.env["ENVCTL_LOG_DIR"]) / run_id / "output.log").read_text()
    forked = int(log.split("forked ", 1)[1].split()[0])
    assert 0 < forked < 64
    assert "BlockingIOError" in log or "Resource temporarily unavailable" in log


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 4 MiB tmpfs to hold the run directories (root only: CI runs as root)."""
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    mount = tmp_path / "small"
    mount.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m,mode=0700", "tmpfs", str(mount)], check=True,
                   timeout=30)
    yield mount
    subprocess.run(["umount", "-l", str(mount)], check=False, timeout=30)


LOUD_THEN_FAIL = """
def test_loud():
    line = "x" * 1023 + "\\n"
    for _ in range(16 * 1024):
        print(line, end="")

def test_fails():
    assert 1 == 2
"""


def test_a_full_disk_cuts_the_log_and_keeps_the_result(runs_project: Project, small_disk: Path) -> None:
    """16 MiB of output into a 4 MiB disk: the run still ends, `failed` with exit 1, and its
    record says the log is incomplete and why."""
    env = {**runs_project.env, "ENVCTL_LOG_DIR": str(small_disk / "runs"),
           "ENVCTL_MAX_LOG_SIZE": "64MiB"}
    write_suite(runs_project, {"test_loud.py": LOUD_THEN_FAIL})
    run_id = start_detached(runs_project, "--", "-s", env=env)
    view = answer_of(runs_project, run_id, env=env)
    assert (view["exit"], view["state"]) == (1, "failed"), view
    assert "the log is incomplete" in view["message"], view["message"]
    assert "the disk holding the log is full" in view["message"]
    record = json.loads((small_disk / "runs" / run_id / "run.json").read_text())
    assert record["pytest_exit"] == 1
    assert record["log_error"]


GIGABYTE = """
import sys

def test_gigabyte():
    block = (b"y" * 1023 + b"\\n") * 1024
    for _ in range(1024):
        sys.stdout.buffer.write(block)
    sys.stdout.flush()
"""


def _peak_rss(log_dir: str, stop: threading.Event, peak: list[int]) -> None:
    while not stop.is_set():
        for pid in envctl_pids(log_dir):
            try:
                status = Path(f"/proc/{pid}/status").read_text()
            except OSError:
                continue
            for line in status.splitlines():
                if line.startswith("VmRSS:"):
                    peak[0] = max(peak[0], int(line.split()[1]) * 1024)
        time.sleep(0.2)


def test_a_gigabyte_of_output_keeps_memory_flat(runs_project: Project) -> None:
    """1 GiB through the collector: the run passes, the log is capped at its size with the cut
    said, and no envctl process grows past 200 MB."""
    write_suite(runs_project, {"test_gigabyte.py": GIGABYTE})
    env = {**runs_project.env, "ENVCTL_MAX_LOG_SIZE": "8MiB"}
    stop, peak = threading.Event(), [0]
    watcher = threading.Thread(target=_peak_rss, args=(env["ENVCTL_LOG_DIR"], stop, peak), daemon=True)
    watcher.start()
    try:
        run_id = start_detached(runs_project, "--", "-s", env=env)
        view = answer_of(runs_project, run_id, env=env)
    finally:
        stop.set()
        watcher.join()
    assert (view["exit"], view["state"]) == (0, "passed"), view
    log = Path(env["ENVCTL_LOG_DIR"]) / run_id / "output.log"
    assert log.stat().st_size < 9 << 20
    assert "bytes of output cut here" in log.read_text(errors="replace")
    assert 0 < peak[0] < 200 << 20, peak[0]
