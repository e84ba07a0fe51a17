"""The runner of a host run, with real child processes and no engine: the exit code kept, the
output in the log, the timeout held, a stop passed on once, a command that cannot start."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from envctl.runs import exchange, host_runner
from envctl.runs.host_files import HostExit, HostPlan, RunnerFile
from envctl.runs.host_process import ProcessId, group_members, start_ticks
from envctl.runs.store import CANCEL_FILE, OUTPUT_LOG
from tests.unit.run_dirs import RUN_ID


@pytest.fixture
def run_dir(tmp_path: Path) -> Iterator[Path]:
    """A run directory and its exchange folder; the signal handlers the runner sets put back."""
    folder = tmp_path / RUN_ID
    folder.mkdir()
    exchange.create_dirs(folder)
    handlers = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    yield folder
    for signum, handler in handlers.items():
        signal.signal(signum, handler)


def plan(run_dir: Path, script: str, *, timeout: float = 0.0) -> None:
    HostPlan((sys.executable, "-c", script), {"FROM_PLAN": "yes"}, str(run_dir), timeout,
             1 << 20).store(run_dir)


def test_the_exit_code_and_output_are_kept(run_dir: Path) -> None:
    """Output (stdout and stderr) in the log, the plan's variables seen, the code in host-exit.json."""
    plan(run_dir, "import os, sys; print('out', os.environ['FROM_PLAN']); print('err', file=sys.stderr); "
                  "sys.exit(3)")
    assert host_runner.main([str(run_dir)]) == 3
    ended = HostExit.load(run_dir)
    assert ended is not None
    assert (ended.exit_code, ended.timed_out, ended.log_error) == (3, False, None)
    assert sorted((run_dir / OUTPUT_LOG).read_text().split("\n")) == ["", "err", "out yes"]
    runner = RunnerFile.load(run_dir)
    assert runner is not None
    assert runner.tests is not None
    assert runner.tests.running() is False


def test_a_killing_signal_is_128_plus_it(run_dir: Path) -> None:
    """Tests killed by SIGKILL: 137, as a container's exit says it."""
    plan(run_dir, "import os, signal; os.kill(os.getpid(), signal.SIGKILL)")
    assert host_runner.main([str(run_dir)]) == 137


def test_the_timeout_stops_the_tests_and_leaves_the_marker(run_dir: Path) -> None:
    """Past the timeout: interrupted (pytest writes its reports), 124, timeout.json in the exchange folder."""
    script = "import time\ntry:\n    time.sleep(60)\nexcept KeyboardInterrupt:\n    print('interrupted')\n"
    plan(run_dir, script + "    raise SystemExit(2)", timeout=0.5)
    assert host_runner.main([str(run_dir)]) == host_runner.TIMED_OUT_EXIT
    ended = HostExit.load(run_dir)
    assert ended is not None
    assert (ended.exit_code, ended.timed_out) == (124, True)
    assert json.loads((exchange.box(run_dir) / exchange.TIMEOUT_FILE).read_text())["timeout"] == 0.5
    assert "interrupted" in (run_dir / OUTPUT_LOG).read_text()


def test_a_command_that_cannot_start_is_127(run_dir: Path) -> None:
    """No such program: 127, and the log says why."""
    HostPlan(("/nonexistent/pytest",), {}, str(run_dir), 0.0, 1 << 20).store(run_dir)
    assert host_runner.main([str(run_dir)]) == 127
    assert "cannot start '/nonexistent/pytest' on this machine" in (run_dir / OUTPUT_LOG).read_text()


def test_no_plan_or_a_damaged_one_is_a_usage_error(run_dir: Path) -> None:
    """Without a readable host.json the runner starts nothing and says so (exit 2)."""
    assert host_runner.main([str(run_dir)]) == 2
    (run_dir / "host.json").write_text("{")
    assert host_runner.main([str(run_dir)]) == 2
    assert host_runner.main([]) == 2
    assert not (run_dir / "host-exit.json").exists()


def test_one_sigint_reaches_the_tests_however_many_are_sent(run_dir: Path) -> None:
    """A stop interrupts once: a second SIGINT would cut pytest's reports short."""
    plan(run_dir, "import signal, time\nseen = []\nsignal.signal(signal.SIGINT, lambda *a: seen.append(1))\n"
                  "open('ready', 'w').close()\ntime.sleep(1.5)\nprint('interrupts', len(seen))")
    runner = subprocess.Popen([sys.executable, "-m", host_runner.__name__, str(run_dir)], cwd=run_dir)
    deadline = time.monotonic() + 30
    while not (run_dir / "ready").exists() and time.monotonic() < deadline:
        time.sleep(0.01)
    runner.send_signal(signal.SIGINT)
    runner.send_signal(signal.SIGINT)
    assert runner.wait(timeout=30) == 0
    assert "interrupts 1" in (run_dir / OUTPUT_LOG).read_text()


def test_what_the_tests_leave_running_goes_with_them(run_dir: Path) -> None:
    """A server a test started in the tests' group outlives pytest: the runner ends it (no cgroup)."""
    plan(run_dir, "import subprocess, sys\np = subprocess.Popen([sys.executable, '-c', 'import time; "
                  "time.sleep(120)'])\nopen('left', 'w').write(str(p.pid))")
    assert host_runner.main([str(run_dir)]) == 0
    left = int((run_dir / "left").read_text())
    runner = RunnerFile.load(run_dir)
    assert runner is not None
    assert runner.tests is not None
    assert group_members(runner.tests, runner.session) == []
    assert start_ticks(left) is None or not ProcessId(left, start_ticks(left) or 0).running()


def test_a_stop_before_the_start_starts_nothing(run_dir: Path) -> None:
    """A stop requested before the tests start (the cancel file): nothing runs, 130, said."""
    (run_dir / CANCEL_FILE).touch()
    plan(run_dir, "open('ran', 'w').close()")
    assert host_runner.main([str(run_dir)]) == host_runner.STOPPED_EXIT
    assert not (run_dir / "ran").exists()
    assert "stopped before its tests started" in (run_dir / OUTPUT_LOG).read_text()


def test_the_timeout_and_a_stop_interrupt_once_between_them(run_dir: Path) -> None:
    """The timeout's SIGINT after a stop's: pytest sees one (a second would cut its reports)."""
    script = ("import signal, time\nseen = []\nsignal.signal(signal.SIGINT, lambda *a: seen.append(1))\n"
              "open('ready', 'w').close()\ntime.sleep(2.5)\nprint('interrupts', len(seen))")
    plan(run_dir, script, timeout=1.5)
    runner = subprocess.Popen([sys.executable, "-m", host_runner.__name__, str(run_dir)], cwd=run_dir)
    deadline = time.monotonic() + 30
    while not (run_dir / "ready").exists() and time.monotonic() < deadline:
        time.sleep(0.01)
    runner.send_signal(signal.SIGINT)
    assert runner.wait(timeout=60) == host_runner.TIMED_OUT_EXIT
    assert "interrupts 1" in (run_dir / OUTPUT_LOG).read_text()


def test_stale_addresses_and_plugin_variables_are_not_inherited() -> None:
    """A shell's old ENVCTL_WEB_PORT or ENVCTL_SELECT never reaches the tests; the run's do."""
    inherited = {"PATH": "/bin", "ENVCTL_WEB_PORT": "1", "ENVCTL_SERVICES": "web", "ENVCTL_SELECT": "/x",
                 "ENVCTL_SHARD": "1/9", "ENVCTL_LOG_DIR": "/runs"}
    assert host_runner.tests_environment(inherited, {"ENVCTL_DB_PORT": "5432"}) == {
        "PATH": "/bin", "ENVCTL_LOG_DIR": "/runs", "ENVCTL_DB_PORT": "5432"}
