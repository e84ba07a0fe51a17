"""A `test --host` run where a kill can land: every envctl process killed mid-run (the runner
keeps the tests going, a fresh `wait` records their result and the hook runs once), and the
runner itself killed (the run ends `lost` with the results written so far, nothing of the tests
is left running, and `test --resume` runs exactly the rest)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from envctl.runs.host_files import RunnerFile
from tests.faults.conftest import Project, answer_of, kill_all_envctl, start_detached
from tests.integration.conftest import envctl_pids

pytestmark = [pytest.mark.docker, pytest.mark.faults]

SUITE = '''
import os
import time

def test_one():
    pass

def test_two():
    pass

def test_slow():
    time.sleep(float(os.environ.get("SLOW", "0")))
'''
WAIT = 60.0


def until(done: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + WAIT
    while not done():
        if time.monotonic() > deadline:
            raise AssertionError(f"never reached: {what}")
        time.sleep(0.02)


def _running_slow(project: Project, log_dir: Path, run_id: str) -> Callable[[], bool]:
    def check() -> bool:
        try:
            snapshot = json.loads((log_dir / ".exchange" / run_id / "progress.json").read_text())
        except (OSError, ValueError):
            return False
        return bool(snapshot.get("done", 0) >= 2)
    return check


def _hosted(project: Project, tmp_path: Path) -> tuple[dict[str, str], Path, Path]:
    (project.path / "tests_host").mkdir()
    (project.path / "tests_host" / "test_host.py").write_text(SUITE)
    log_dir, out = tmp_path / "host-runs", tmp_path / "hook.out"
    env = {**project.env, "ENVCTL_LOG_DIR": str(log_dir), "SLOW": "6",
           "ENVCTL_ON_FINISH": f"sh -c 'echo \"$ENVCTL_RUN_ID $ENVCTL_RUN_STATE\" >> {out}'"}
    return env, log_dir, out


def test_every_envctl_process_killed_mid_run(make_project: Any, tmp_path: Path) -> None:
    """The tests go on under their runner; a fresh wait records passed, 3 of 3; the hook once."""
    project = make_project("hostenv")
    env, log_dir, out = _hosted(project, tmp_path)
    try:
        run_id = start_detached(project, "--host", "--", "-q", "tests_host", env=env)
        until(_running_slow(project, log_dir, run_id), "the slow test running")
        assert kill_all_envctl(str(log_dir)) >= 1
        runner = RunnerFile.load(log_dir / run_id)
        assert runner is not None
        assert runner.runner.running() is True
        answer = answer_of(project, run_id, env)
        assert (answer["state"], answer["exit"], answer["progress"]["passed"]) == ("passed", 0, 3)
        assert out.read_text().splitlines() == [f"{run_id} passed"]
    finally:
        project.envctl("down", "--volumes")


def test_the_runner_killed_mid_run(make_project: Any, tmp_path: Path) -> None:
    """lost (24) with the two results written, the slow test killed with it; then the resume runs
    the slow test alone and the whole suite reads passed."""
    project = make_project("hostenv")
    env, log_dir, out = _hosted(project, tmp_path)
    try:
        run_id = start_detached(project, "--host", "--", "-q", "tests_host", env={**env, "SLOW": "120"})
        until(_running_slow(project, log_dir, run_id), "the slow test running")
        runner = RunnerFile.load(log_dir / run_id)
        assert runner is not None
        assert runner.tests is not None
        os.kill(runner.runner.pid, signal.SIGKILL)
        answer = answer_of(project, run_id, env)
        assert (answer["state"], answer["exit"]) == ("lost", 24)
        assert (answer["progress"]["passed"], answer["progress"]["done"]) == (2, 2)
        until(lambda: not runner.tests or not runner.tests.running(), "the tests killed with their runner")
        resumed = project.envctl("test", "--resume", run_id, extra_env={**env, "SLOW": "0"})
        assert resumed.returncode == 0, resumed.output
        report = json.loads(project.envctl("report", "latest", "--format", "json", extra_env=env).stdout)
        assert (report["state"], report["counts"]["passed"], report["counts"]["total"]) == ("passed", 3, 3)
        assert [line.split()[1] for line in out.read_text().splitlines()] == ["lost", "passed"]
    finally:
        project.envctl("down", "--volumes")


def test_a_stop_at_any_moment_of_the_start(make_project: Any, tmp_path: Path) -> None:
    """`envctl stop` right after the start, and a moment later: cancelled each time, the slow
    test never left running."""
    project = make_project("hostenv")
    env, log_dir, _out = _hosted(project, tmp_path)
    try:
        for delay in (0.0, 0.4, 1.2):
            run_id = start_detached(project, "--host", "--", "-q", "tests_host", env={**env, "SLOW": "120"})
            time.sleep(delay)  # a kill point, not a wait for something: the moment is the test
            stopped = project.envctl("stop", run_id, extra_env=env)
            assert stopped.returncode == 0, stopped.output
            answer = answer_of(project, run_id, env)
            assert (answer["state"], answer["exit"]) == ("cancelled", 22), (delay, answer)
            runner = RunnerFile.load(log_dir / run_id)
            if runner is not None and runner.tests is not None:
                assert runner.tests.running() is False
    finally:
        project.envctl("down", "--volumes")


def test_logs_follow_survives_the_collectors_death(make_project: Any, tmp_path: Path) -> None:
    """`logs -f` of a host run whose collector is killed: it starts another and ends with the run."""
    project = make_project("hostenv")
    env, log_dir, _out = _hosted(project, tmp_path)
    try:
        run_id = start_detached(project, "--host", "--", "-v", "tests_host", env=env)
        following = subprocess.Popen([sys.executable, "-m", "envctl", "logs", "-f", run_id], cwd=project.path,
                                     env={**env}, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        until(_running_slow(project, log_dir, run_id), "the slow test running")
        pids = [p for p in envctl_pids(str(log_dir)) if p != following.pid]
        for pid in pids:
            os.kill(pid, signal.SIGKILL)
        out, _err = following.communicate(timeout=120)
        assert following.returncode == 0
        assert "test_slow PASSED" in out
        assert answer_of(project, run_id, env)["state"] == "passed"
    finally:
        project.envctl("down", "--volumes")
