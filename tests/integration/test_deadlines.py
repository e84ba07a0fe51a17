"""Waits keep their deadline, and stop and signals work, while the environment is still coming
up (issue 9, item 5): a sidecar that turns healthy only after 15 s."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from tests.integration.conftest import compose_pids

pytestmark = pytest.mark.docker


def start_on_a_slow_environment(make_project: Any) -> tuple[Any, str]:
    project = make_project("runs_slow")
    result = project.envctl("test", "--detach")
    assert result.returncode == 0, result.output
    return project, result.stdout.strip().splitlines()[-1]


def record_of(project, run_id: str) -> dict[str, object]:  # type: ignore[no-untyped-def]
    path = Path(project.env["ENVCTL_LOG_DIR"]) / run_id / "run.json"
    data: dict[str, object] = json.loads(path.read_text())
    return data


def test_wait_timeout_returns_at_its_deadline_while_starting(make_project) -> None:  # type: ignore[no-untyped-def]
    """`wait --timeout 2s` returns 25 after about 2 s, not when the environment is up."""
    project, run_id = start_on_a_slow_environment(make_project)
    waited = project.envctl("wait", run_id, "--timeout", "2s", timeout=60)
    assert waited.returncode == 25, waited.output
    assert waited.seconds < 5
    assert waited.stderr.startswith(f"envctl: run {run_id} starting: 0/? done")
    final = project.envctl("wait", run_id, timeout=180)
    assert final.returncode == 0, final.output


def test_stop_while_starting_cancels_quickly(make_project) -> None:  # type: ignore[no-untyped-def]
    """`stop` during the start: cancelled within seconds; no test container was made."""
    project, run_id = start_on_a_slow_environment(make_project)
    time.sleep(1)
    stopped = project.envctl("stop", run_id, timeout=60)
    assert stopped.returncode == 0, stopped.output
    assert stopped.seconds < 8
    waited = project.envctl("wait", run_id, "--timeout", "30s", timeout=60)
    assert waited.returncode == 22, waited.output
    assert record_of(project, run_id)["state"] == "cancelled"
    ps = subprocess.run(["docker", "ps", "-a", "--filter", f"label=io.envctl.run={run_id}", "-q"],
                        capture_output=True, text=True, timeout=30, check=True)
    assert ps.stdout.strip() == ""


@pytest.mark.parametrize(("signum", "code"), [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_wait_ci_honours_a_signal_while_starting(make_project, signum: int, code: int) -> None:  # type: ignore[no-untyped-def]
    """`wait --ci` exits 143/130 within 7 s of the signal, with a partial summary, while the
    environment is still starting; the run ends cancelled."""
    project, run_id = start_on_a_slow_environment(make_project)
    proc = subprocess.Popen([sys.executable, "-m", "envctl", "wait", run_id, "--ci"], cwd=project.path,
                            env=project.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    time.sleep(2)
    sent = time.monotonic()
    proc.send_signal(signum)
    out, err = proc.communicate(timeout=30)
    assert time.monotonic() - sent < 7, (out, err)
    assert proc.returncode == code, (out, err)
    assert "job cancelled" in out
    final = project.envctl("wait", run_id, "--timeout", "60s", timeout=90)
    assert final.returncode == 22, final.output


def compose_builds(project: str) -> list[int]:
    """The pids of `compose build` processes of ``project`` on this machine."""
    return compose_pids("build", project)


def test_stop_during_an_image_build_cancels_within_seconds(make_project) -> None:  # type: ignore[no-untyped-def]
    """A build may take 30 minutes: `stop` ends it (and compose) within seconds, not after it."""
    project = make_project("runs")
    (project.path / "Dockerfile").write_text("FROM python:3.11-slim\nRUN sleep 300\n")
    compose_file = project.path / "compose.yaml"
    compose_file.write_text(compose_file.read_text().replace(
        "envctltest-pytest:1", f"envctltest-slow-build-{project.name}:1"))
    assert project.envctl("up", "sidecar").returncode == 0
    started = project.envctl("test", "--detach")
    assert started.returncode == 0, started.output
    run_id = started.stdout.strip().splitlines()[-1]
    deadline = time.monotonic() + 120
    while not compose_builds(project.name) and time.monotonic() < deadline:
        time.sleep(0.2)  # polling for the build to begin, bounded by the deadline
    assert compose_builds(project.name), "the build never started"
    stopped = project.envctl("stop", run_id, timeout=60)
    assert stopped.returncode == 0, stopped.output
    assert stopped.seconds < 15
    assert record_of(project, run_id)["state"] == "cancelled"
    assert compose_builds(project.name) == []
    images = subprocess.run(["docker", "image", "ls", "-q", f"envctltest-slow-build-{project.name}"],
                            capture_output=True, text=True, timeout=30, check=True)
    assert images.stdout.strip() == ""


def test_a_timeout_holds_when_the_tests_stop_the_runner(runs_project) -> None:  # type: ignore[no-untyped-def]
    """With `init: true` the runner is not PID 1 and the tests can stop it (SIGSTOP: a kill
    would end the init, and the container with it): the collector holds the deadline too, and
    the run ends timed-out, not hanging."""
    compose_file = runs_project.path / "compose.yaml"
    compose_file.write_text(compose_file.read_text().replace(
        "    working_dir: /suite\n", "    working_dir: /suite\n    init: true\n"))
    (runs_project.path / "suite" / "test_escape.py").write_text(
        "import os, signal, time\n"
        "def test_escape():\n"
        "    os.kill(os.getppid(), signal.SIGSTOP)  # the runner, which holds the timeout\n"
        "    time.sleep(600)\n")
    result = runs_project.envctl("test", "--timeout", "1s", timeout=240)
    assert result.returncode == 20, result.output
    record = json.loads(max((Path(runs_project.env["ENVCTL_LOG_DIR"])).glob("*/run.json"),
                            key=lambda p: p.stat().st_mtime).read_text())
    assert record["state"] == "timed-out"
    assert record["message"].startswith("the run passed its timeout and envctl stopped it")
