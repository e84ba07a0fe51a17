"""SIGINT, SIGTERM and SIGHUP to a foreground `envctl test`, to `envctl wait` and to `wait --ci`,
while the environment starts and while the tests run: the command exits 128 + the signal's
number within 7 s and says where the run is; a foreground test or a CI wait stops the run
(`cancelled`), a plain wait leaves it going."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from tests.faults.conftest import Project, start_detached, write_suite

pytestmark = [pytest.mark.docker, pytest.mark.faults]

SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
PHASES = ("starting", "running")
SLOW_SUITE = {"test_slow.py": "import time\ndef test_slow():\n    time.sleep(60)\n"}


def _newest_run(project: Project, before: set[str]) -> str:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        made = {p.name for p in Path(project.env["ENVCTL_LOG_DIR"]).glob("2*")} - before
        if made:
            return max(made)
        time.sleep(0.05)
    raise AssertionError("no run was made")


def _state(project: Project, run_id: str) -> str:
    path = Path(project.env["ENVCTL_LOG_DIR"]) / run_id / "run.json"
    try:
        return str(json.loads(path.read_text())["state"])
    except (OSError, ValueError):
        return "absent"


def _until_phase(project: Project, run_id: str, phase: str) -> None:
    """Starting: a moment into the (15 s) start. Running: once pytest is under way."""
    if phase == "starting":
        time.sleep(1.5)
        assert _state(project, run_id) == "starting"
        return
    deadline = time.monotonic() + 120
    while _state(project, run_id) != "running" or \
            not (Path(project.env["ENVCTL_LOG_DIR"]) / run_id / "output.log").exists():
        assert time.monotonic() < deadline, _state(project, run_id)
        time.sleep(0.05)
    time.sleep(0.5)


def _project(make_project: Any, phase: str) -> Project:
    """`runs_slow` (15 s to become healthy) to catch the start; `runs` to catch the tests."""
    project: Project = make_project("runs_slow" if phase == "starting" else "runs")
    write_suite(project, SLOW_SUITE)
    if phase == "running":
        assert project.envctl("up").returncode == 0
    return project


def _signal_and_time(proc: subprocess.Popen[str], signum: int) -> tuple[str, str, float]:
    sent = time.monotonic()
    proc.send_signal(signum)
    out, err = proc.communicate(timeout=60)
    return out, err, time.monotonic() - sent


def _ends_cancelled(project: Project, run_id: str) -> None:
    final = project.envctl("wait", run_id, "--timeout", "60s", timeout=90)
    assert final.returncode == 22, final.output
    assert _state(project, run_id) == "cancelled"


def _popen(project: Project, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "envctl", *args], cwd=project.path, env=project.env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _until_the_environment_starts(project: Project) -> None:
    deadline = time.monotonic() + 60
    while not subprocess.run(["docker", "ps", "-q", "--filter",
                              f"label=com.docker.compose.project={project.name}"],
                             capture_output=True, text=True, timeout=30, check=True).stdout.strip():
        assert time.monotonic() < deadline, "the environment never started"
        time.sleep(0.1)
    time.sleep(0.5)


@pytest.mark.parametrize("phase", PHASES)
def test_a_foreground_test_stops_its_run(make_project: Any, phase: str) -> None:
    """`envctl test`: each signal exits 128+N within 7 s. While the environment comes up (in the
    foreground) no run is started; once the tests run, the run is stopped, with its summary."""
    for signum in SIGNALS:
        project = _project(make_project, phase)
        runs = Path(project.env["ENVCTL_LOG_DIR"])
        before = {p.name for p in runs.glob("2*")}
        proc = _popen(project, "test")
        if phase == "starting":
            _until_the_environment_starts(project)
        else:
            run_id = _newest_run(project, before)
            _until_phase(project, run_id, phase)
        out, err, took = _signal_and_time(proc, signum)
        assert (proc.returncode, took < 7) == (128 + signum, True), (signum, took, out, err)
        if phase == "starting":
            assert "envctl: interrupted" in err, err
            time.sleep(1)
            assert {p.name for p in runs.glob("2*")} == before  # nothing went on to start
            continue
        assert "stopping the run" in err
        assert f"run {run_id}" in err and "cancelled" in err, err
        _ends_cancelled(project, run_id)


@pytest.mark.parametrize("phase", PHASES)
def test_a_plain_wait_leaves_the_run_going(make_project: Any, phase: str) -> None:
    """`envctl wait`: exits 128+N within 7 s saying where the run is; the run goes on."""
    project = _project(make_project, phase)
    for signum in SIGNALS:
        run_id = start_detached(project)
        _until_phase(project, run_id, phase)
        proc = _popen(project, "wait", run_id)
        time.sleep(1)
        out, err, took = _signal_and_time(proc, signum)
        assert (proc.returncode, took < 7) == (128 + signum, True), (signum, took, out, err)
        assert "stopped waiting; the run goes on" in err
        assert f"envctl: run {run_id} " in err
        assert _state(project, run_id) in ("starting", "running")
        assert project.envctl("stop", run_id, timeout=60).returncode == 0
        _ends_cancelled(project, run_id)


@pytest.mark.parametrize("phase", PHASES)
def test_a_ci_wait_cancels_the_job_run(make_project: Any, phase: str) -> None:
    """`envctl wait --ci`: a cancelled job stops the run; 128+N within 7 s; a partial summary."""
    for signum in SIGNALS:
        project = _project(make_project, phase)
        run_id = start_detached(project)
        _until_phase(project, run_id, phase)
        proc = _popen(project, "wait", run_id, "--ci")
        time.sleep(1)
        out, err, took = _signal_and_time(proc, signum)
        assert (proc.returncode, took < 7) == (128 + signum, True), (signum, took, out, err)
        assert "job cancelled" in out
        assert "cancelled" in out.split("job cancelled", 1)[1]
        _ends_cancelled(project, run_id)
